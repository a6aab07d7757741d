using System.Globalization;
using System.Net;
using System.Text;

namespace Vit.Training;

/// <summary>
/// Self-contained SVG charts: the training curves (loss and accuracy per epoch, train and test)
/// and a confusion matrix. No script, no external files; opens in any browser.
/// </summary>
public static class SvgPlot
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>Two panels side by side: loss and accuracy against epoch.</summary>
    public static string TrainingCurves(IReadOnlyList<EpochMetrics> rows, string title)
    {
        var sb = new StringBuilder();
        const int w = 920, h = 380;
        sb.Append(C, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        sb.Append(C, $"<text x=\"{w / 2}\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>\n");
        var epochs = rows.Select(r => (double)r.Epoch).ToArray();
        Panel(sb, 50, 40, 380, 290, "loss", epochs,
            [("train", "#1f77b4", rows.Select(r => r.TrainLoss).ToArray()), ("test", "#d62728", rows.Select(r => r.TestLoss).ToArray())], fromZero: false);
        Panel(sb, 510, 40, 380, 290, "accuracy", epochs,
            [("train", "#1f77b4", rows.Select(r => r.TrainAccuracy).ToArray()), ("test", "#d62728", rows.Select(r => r.TestAccuracy).ToArray())], fromZero: true);
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    /// <summary>A confusion matrix: rows are labels, columns predictions, shaded by the row's fraction.</summary>
    public static string ConfusionMatrix(Evaluation e, IReadOnlyList<string> names, string title)
    {
        int k = e.ClassCount;
        int cell = k <= 10 ? 44 : k <= 20 ? 26 : 9;
        int left = k <= 20 ? 110 : 30, top = k <= 20 ? 110 : 50;
        int w = left + k * cell + 30, h = top + k * cell + 40;
        var sb = new StringBuilder();
        sb.Append(C, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"11\">\n");
        sb.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        sb.Append(C, $"<text x=\"{w / 2}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">{Escape(title)}</text>\n");
        for (int label = 0; label < k; label++)
        {
            long total = e.ClassImages(label);
            for (int p = 0; p < k; p++)
            {
                long n = e.Confusion[label * k + p];
                double f = total == 0 ? 0 : (double)n / total;
                int shade = (int)Math.Round(255 * (1 - f));
                string fill = label == p ? $"rgb({shade},{Math.Min(255, shade + 40)},{shade})" : $"rgb(255,{shade},{shade})";
                sb.Append(C, $"<rect x=\"{left + p * cell}\" y=\"{top + label * cell}\" width=\"{cell}\" height=\"{cell}\" fill=\"{fill}\" stroke=\"#ccc\"><title>{Escape(Name(names, label))} → {Escape(Name(names, p))}: {n}</title></rect>\n");
                if (k <= 20)
                    sb.Append(C, $"<text x=\"{left + p * cell + cell / 2}\" y=\"{top + label * cell + cell / 2 + 4}\" text-anchor=\"middle\" fill=\"{(f > 0.6 ? "white" : "black")}\">{n}</text>\n");
            }
            if (k <= 20)
            {
                sb.Append(C, $"<text x=\"{left - 6}\" y=\"{top + label * cell + cell / 2 + 4}\" text-anchor=\"end\">{Escape(Name(names, label))}</text>\n");
                sb.Append(C, $"<text transform=\"translate({left + label * cell + cell / 2},{top - 6}) rotate(-60)\">{Escape(Name(names, label))}</text>\n");
            }
        }
        sb.Append(C, $"<text x=\"{left + k * cell / 2}\" y=\"{h - 10}\" text-anchor=\"middle\">predicted (columns) · label (rows) · accuracy {(e.Accuracy * 100).ToString("F1", C)}% on {e.Images} images</text>\n");
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private static string Name(IReadOnlyList<string> names, int i) => i < names.Count ? names[i] : i.ToString(C);

    private static void Panel(StringBuilder sb, double x0, double y0, double width, double height, string name, double[] xs,
        (string Label, string Color, double[] Ys)[] series, bool fromZero)
    {
        var finite = series.SelectMany(s => s.Ys).Where(double.IsFinite).ToArray();
        double yMin = finite.Length == 0 ? 0 : finite.Min(), yMax = finite.Length == 0 ? 1 : finite.Max();
        if (fromZero) { yMin = 0; yMax = Math.Max(yMax, 1e-9); if (yMax <= 1) yMax = Math.Min(1, Math.Ceiling(yMax * 10 + 0.5) / 10); }
        if (yMax - yMin < 1e-9) { yMax += 0.5; yMin -= 0.5; }
        double pad = (yMax - yMin) * 0.05;
        if (!fromZero) { yMin -= pad; yMax += pad; }
        double xMin = xs.Length == 0 ? 0 : xs.Min(), xMax = xs.Length == 0 ? 1 : xs.Max();
        if (xMax - xMin < 1e-9) { xMin -= 1; xMax += 1; }
        double X(double v) => x0 + (v - xMin) / (xMax - xMin) * width;
        double Y(double v) => y0 + height - (v - yMin) / (yMax - yMin) * height;

        sb.Append(C, $"<rect x=\"{x0}\" y=\"{y0}\" width=\"{width}\" height=\"{height}\" fill=\"none\" stroke=\"#444\"/>\n");
        for (int t = 0; t <= 4; t++)
        {
            double v = yMin + (yMax - yMin) * t / 4;
            sb.Append(C, $"<line x1=\"{x0}\" x2=\"{x0 + width}\" y1=\"{Y(v):F1}\" y2=\"{Y(v):F1}\" stroke=\"#eee\"/>");
            sb.Append(C, $"<text x=\"{x0 - 4}\" y=\"{Y(v) + 4:F1}\" text-anchor=\"end\">{v.ToString(Math.Abs(yMax - yMin) < 0.1 ? "F3" : "F2", C)}</text>\n");
        }
        int ticks = (int)Math.Min(10, Math.Max(1, xMax - xMin));
        for (int t = 0; t <= ticks; t++)
        {
            double v = xMin + (xMax - xMin) * t / ticks;
            sb.Append(C, $"<text x=\"{X(v):F1}\" y=\"{y0 + height + 16}\" text-anchor=\"middle\">{v.ToString("0.#", C)}</text>\n");
        }
        sb.Append(C, $"<text x=\"{x0 + width / 2}\" y=\"{y0 + height + 32}\" text-anchor=\"middle\">epoch</text>\n");
        sb.Append(C, $"<text x=\"{x0 + 8}\" y=\"{y0 + 16}\" font-weight=\"bold\">{name}</text>\n");
        int legend = 0;
        foreach (var (label, color, ys) in series)
        {
            var points = new StringBuilder();
            for (int i = 0; i < xs.Length && i < ys.Length; i++)
                if (double.IsFinite(ys[i])) points.Append(C, $"{X(xs[i]):F1},{Y(ys[i]):F1} ");
            if (points.Length == 0) continue;
            sb.Append(C, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{points.ToString().TrimEnd()}\"/>\n");
            for (int i = 0; i < xs.Length && i < ys.Length; i++)
                if (double.IsFinite(ys[i]))
                    sb.Append(C, $"<circle cx=\"{X(xs[i]):F1}\" cy=\"{Y(ys[i]):F1}\" r=\"2.5\" fill=\"{color}\"><title>{label} {name}, epoch {xs[i]}: {ys[i].ToString("F4", C)}</title></circle>\n");
            sb.Append(C, $"<line x1=\"{x0 + width - 90}\" x2=\"{x0 + width - 70}\" y1=\"{y0 + 14 + legend * 16}\" y2=\"{y0 + 14 + legend * 16}\" stroke=\"{color}\" stroke-width=\"2\"/>");
            sb.Append(C, $"<text x=\"{x0 + width - 64}\" y=\"{y0 + 18 + legend * 16}\">{label}</text>\n");
            legend++;
        }
    }

    private static string Escape(string s) => WebUtility.HtmlEncode(s);
}
