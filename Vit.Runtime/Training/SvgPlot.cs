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

    /// <summary>Two panels side by side: loss and accuracy (in percent) against epoch, on axes with round tick values.</summary>
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
        // Accuracy in percent, as the console prints it.
        Panel(sb, 510, 40, 380, 290, "accuracy (%)", epochs,
            [("train", "#1f77b4", rows.Select(r => r.TrainAccuracy * 100).ToArray()), ("test", "#d62728", rows.Select(r => r.TestAccuracy * 100).ToArray())], fromZero: true);
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
        double low = finite.Length == 0 ? 0 : finite.Min(), high = finite.Length == 0 ? 1 : finite.Max();
        if (fromZero) low = Math.Min(0, low);
        var yTicks = Ticks(low, high, 5);
        double yMin = yTicks[0], yMax = yTicks[^1];
        double xLow = xs.Length == 0 ? 1 : xs.Min(), xHigh = xs.Length == 0 ? 1 : xs.Max();
        var xTicks = Ticks(xLow, xHigh, 10, minStep: 1); // whole epochs
        double xMin = xTicks[0], xMax = xTicks[^1];
        double X(double v) => x0 + (v - xMin) / (xMax - xMin) * width;
        double Y(double v) => y0 + height - (v - yMin) / (yMax - yMin) * height;

        sb.Append(C, $"<rect x=\"{x0}\" y=\"{y0}\" width=\"{width}\" height=\"{height}\" fill=\"none\" stroke=\"#444\"/>\n");
        foreach (double v in yTicks)
        {
            sb.Append(C, $"<line x1=\"{x0}\" x2=\"{x0 + width}\" y1=\"{Y(v):F1}\" y2=\"{Y(v):F1}\" stroke=\"#eee\"/>");
            sb.Append(C, $"<text x=\"{x0 - 4}\" y=\"{Y(v) + 4:F1}\" text-anchor=\"end\">{Label(v)}</text>\n");
        }
        foreach (double v in xTicks)
            sb.Append(C, $"<text x=\"{X(v):F1}\" y=\"{y0 + height + 16}\" text-anchor=\"middle\">{Label(v)}</text>\n");
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

    /// <summary>
    /// Round tick values covering [<paramref name="low"/>, <paramref name="high"/>]: multiples of a
    /// step of 1, 2, 2.5 or 5 × 10^k (at least <paramref name="minStep"/>), about
    /// <paramref name="count"/> of them, the first at or below <paramref name="low"/> and the last at or
    /// above <paramref name="high"/>.
    /// </summary>
    internal static double[] Ticks(double low, double high, int count, double minStep = 0)
    {
        if (!(high - low > 1e-12)) { low -= 0.5; high += 0.5; }
        double raw = Math.Max((high - low) / Math.Max(1, count - 1), minStep);
        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = new[] { 1, 2, 2.5, 5, 10 }.Select(m => m * magnitude).First(m => m >= raw * (1 - 1e-9));
        double first = Math.Floor(low / step + 1e-9) * step, last = Math.Ceiling(high / step - 1e-9) * step;
        int n = (int)Math.Round((last - first) / step);
        // Rounded to the step's decimals, so 0.30000000000000004 prints as 0.3.
        int decimals = Math.Max(0, (int)-Math.Floor(Math.Log10(step) - 1e-9) + (step / magnitude == 2.5 ? 1 : 0));
        return Enumerable.Range(0, n + 1).Select(i => Math.Round(first + i * step, Math.Min(decimals, 15))).ToArray();
    }

    private static string Label(double v) => v.ToString("0.###", C);

    private static string Escape(string s) => WebUtility.HtmlEncode(s);
}
