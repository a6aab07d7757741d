using System.Diagnostics;
using System.Globalization;

namespace Vit.Training;

/// <summary>
/// Plain-text training progress for logs, redirected output and code that drives a
/// <see cref="Trainer"/>: a line every <see cref="Interval"/> during an epoch (batch, running loss
/// and accuracy, images/s, the epoch's remaining time) and one line per finished epoch. No ANSI
/// codes, no carriage returns: every line stands alone in a file.
/// </summary>
/// <example>
/// <code>
/// using var trainer = new Trainer(model, train, test, options, Normalization.Cifar10);
/// ProgressLines.Attach(trainer, Console.Out);   // a line every 5 s, and one per epoch
/// trainer.Run("runs/tiny");
/// </code>
/// </example>
public sealed class ProgressLines
{
    private readonly TextWriter _output;
    private readonly int _epochs;
    private readonly Func<TimeSpan> _clock;
    private TimeSpan _epochStart, _lastLine;
    private int _epoch = -1, _firstBatch;

    /// <summary>Writes progress of a run of <paramref name="epochs"/> epochs to <paramref name="output"/>.</summary>
    /// <param name="output">Where the lines go.</param>
    /// <param name="epochs">The run's epochs (for <c>epoch 3/8</c>).</param>
    /// <param name="interval">The least time between two lines within an epoch; 5 seconds when null.</param>
    public ProgressLines(TextWriter output, int epochs, TimeSpan? interval = null)
        : this(output, epochs, interval, StartClock())
    {
    }

    internal ProgressLines(TextWriter output, int epochs, TimeSpan? interval, Func<TimeSpan> clock)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfLessThan(epochs, 1);
        _output = output;
        _epochs = epochs;
        _clock = clock;
        Interval = interval ?? TimeSpan.FromSeconds(5);
        ArgumentOutOfRangeException.ThrowIfLessThan(Interval, TimeSpan.Zero);
    }

    private static Func<TimeSpan> StartClock()
    {
        var clock = Stopwatch.StartNew();
        return () => clock.Elapsed;
    }

    /// <summary>The least time between two progress lines within an epoch.</summary>
    public TimeSpan Interval { get; }

    /// <summary>Prints <paramref name="trainer"/>'s progress to <paramref name="output"/>: sets its <see cref="Trainer.BatchCompleted"/> and <see cref="Trainer.EpochCompleted"/>.</summary>
    /// <returns>The printer, whose <see cref="Batch"/> and <see cref="Epoch"/> can also be called from callbacks of one's own.</returns>
    public static ProgressLines Attach(Trainer trainer, TextWriter output, TimeSpan? interval = null)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        var lines = new ProgressLines(output, trainer.Options.Epochs, interval);
        trainer.BatchCompleted = lines.Batch;
        trainer.EpochCompleted = lines.Epoch;
        return lines;
    }

    /// <summary>After a micro-batch: a line when <see cref="Interval"/> has passed since the last one (or the epoch's start).</summary>
    public void Batch(BatchProgress p)
    {
        TimeSpan now = _clock();
        if (p.Epoch != _epoch)
        {
            // The clock starts at the epoch's first report (a resumed epoch starts mid-way).
            _epoch = p.Epoch;
            _firstBatch = p.Batch;
            _epochStart = _lastLine = now;
        }
        if (now - _lastLine < Interval || p.Batch >= p.Batches || p.Batch == _firstBatch) return;
        _lastLine = now;
        double remaining = (now - _epochStart).TotalSeconds / (p.Batch - _firstBatch) * (p.Batches - p.Batch);
        _output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  epoch {p.Epoch}/{_epochs} batch {p.Batch}/{p.Batches}  loss {p.Loss:F4} acc {p.Accuracy * 100:F1}%  {p.ImagesPerSecond:F1} img/s  lr {p.LearningRate:0.00e+0}  epoch ends in {Duration(remaining)}"));
        _output.Flush();
    }

    /// <summary>After an epoch: its line (train and test loss and accuracy, images/s, minutes so far).</summary>
    public void Epoch(EpochMetrics m)
    {
        _epoch = -1;
        _output.WriteLine(EpochLine(m, _epochs));
        _output.Flush();
    }

    /// <summary>The line for a finished epoch.</summary>
    public static string EpochLine(EpochMetrics m, int epochs) =>
        string.Create(CultureInfo.InvariantCulture,
            $"epoch {m.Epoch}/{epochs}  train loss {m.TrainLoss:F4} acc {m.TrainAccuracy * 100:F1}%  {Test(m)}  lr {m.LearningRate:0.00e+0}  {m.ImagesPerSecond:F1} img/s  {m.Seconds / 60:F1} min");

    private static string Test(EpochMetrics m) => double.IsFinite(m.TestLoss)
        ? string.Create(CultureInfo.InvariantCulture, $"test loss {m.TestLoss:F4} acc {m.TestAccuracy * 100:F1}%")
        : "no test set";

    /// <summary><c>45 s</c>, <c>3:05 min</c>, <c>1:02 h</c>.</summary>
    public static string Duration(double seconds)
    {
        long s = (long)Math.Round(Math.Max(seconds, 0));
        return s < 60 ? $"{s} s" : s < 3600 ? $"{s / 60}:{s % 60:00} min" : $"{s / 3600}:{s % 3600 / 60:00} h";
    }
}
