using System.Globalization;
using System.Text;
using Vit.IO;

namespace Vit.Training;

/// <summary>
/// <c>metrics.csv</c>: one row per epoch. Rewritten whole through a temporary file and a rename
/// after every epoch, so a crash never leaves half a row, and a resumed run drops rows past its
/// checkpoint before appending.
/// </summary>
public static class MetricsLog
{
    /// <summary>The header row.</summary>
    public const string Header = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,lr,images_per_second,seconds,step";

    /// <summary>Reads the rows of an existing file; an absent file is an empty log.</summary>
    /// <exception cref="InvalidDataException">The file is not a metrics log.</exception>
    public static List<EpochMetrics> Read(string path)
    {
        var rows = new List<EpochMetrics>();
        if (!File.Exists(path)) return rows;
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0) return rows;
        if (lines[0] != Header)
            throw new InvalidDataException($"'{path}' is not a vit metrics log: its first line is '{lines[0]}', expected '{Header}'.");
        var c = CultureInfo.InvariantCulture;
        for (int i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            var f = lines[i].Split(',');
            double D(int j) => f[j].Length == 0 ? double.NaN : double.Parse(f[j], NumberStyles.Float, c); // empty: no test set
            if (f.Length != 9 || !int.TryParse(f[0], NumberStyles.Integer, c, out int epoch))
                throw new InvalidDataException($"'{path}' line {i + 1}: expected 9 comma-separated values ({Header}), found '{lines[i]}'.");
            try
            {
                rows.Add(new EpochMetrics(epoch, D(1), D(2), D(3), D(4), D(5), D(6), D(7), long.Parse(f[8], NumberStyles.Integer, c)));
            }
            catch (FormatException)
            {
                throw new InvalidDataException($"'{path}' line {i + 1}: a value is not a number: '{lines[i]}'.");
            }
        }
        return rows;
    }

    /// <summary>Writes all rows (atomically).</summary>
    public static void Write(string path, IEnumerable<EpochMetrics> rows)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder().Append(Header).Append('\n');
        foreach (var m in rows)
            sb.Append(string.Join(",",
                m.Epoch.ToString(c), m.TrainLoss.ToString("R", c), m.TrainAccuracy.ToString("R", c), Blank(m.TestLoss),
                Blank(m.TestAccuracy), m.LearningRate.ToString("R", c), m.ImagesPerSecond.ToString("F2", c),
                m.Seconds.ToString("F2", c), m.Step.ToString(c))).Append('\n');
        AtomicFile.WriteAllText(path, sb.ToString());

        // A run without a test set has no test loss or accuracy: an empty field, not "NaN".
        static string Blank(double value) => double.IsNaN(value) ? "" : value.ToString("R", CultureInfo.InvariantCulture);
    }
}
