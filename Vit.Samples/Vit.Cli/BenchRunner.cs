using System.Diagnostics;
using Vit.Backends;
using Vit.Backends.Cpu;

namespace Vit.Cli;

/// <summary>One <see cref="BenchRunner"/> measurement: the fields of <c>vit bench --json</c>.</summary>
/// <param name="Model">The preset name.</param>
/// <param name="Mode"><c>forward</c> or <c>train</c>.</param>
/// <param name="Batch">Images per step.</param>
/// <param name="Threads">Worker-pool threads, the caller included.</param>
/// <param name="Backend">The backend that ran it (<c>cpu</c> or <c>opencl</c>).</param>
/// <param name="ImagesPerSecond">Batch over the median step time.</param>
/// <param name="MsPerBatch">The median step time in milliseconds.</param>
/// <param name="GflopsPerSecond">Matrix-product FLOPs (2 per multiply-add) per second at the median.</param>
/// <param name="Runs">The number of timed steps.</param>
public sealed record BenchResult(string Model, string Mode, int Batch, int Threads, string Backend,
    double ImagesPerSecond, double MsPerBatch, double GflopsPerSecond, int Runs);

/// <summary>
/// The engine of <c>vit bench</c>: builds a preset on seeded random images, warms it up, then
/// times steps for a given duration and reports the median. Argument parsing lives in the CLI.
/// </summary>
public static class BenchRunner
{
    /// <summary>Measures <paramref name="preset"/> in <paramref name="mode"/>.</summary>
    /// <param name="preset">The model.</param>
    /// <param name="mode"><c>forward</c> (inference) or <c>train</c> (ForwardBackward, then <paramref name="optimizerStep"/>, then ZeroGradients).</param>
    /// <param name="batch">Images per step.</param>
    /// <param name="threads">Worker threads; 0 keeps the current <see cref="WorkerPool.Shared"/> (physical cores by default).</param>
    /// <param name="duration">How long to time steps after the warm-up (at least 3 steps are timed).</param>
    /// <param name="optimizerStep">Called after each training step's backward pass; null for none.</param>
    /// <returns>The median over the timed steps.</returns>
    /// <exception cref="ArgumentException">The mode is neither forward nor train, or the batch is not positive.</exception>
    public static BenchResult Run(Preset preset, Vit.Backends.Backend backend, string mode, int batch, int threads, TimeSpan duration, Action<IVisionTransformer>? optimizerStep)
    {
        bool train = mode switch
        {
            "forward" => false,
            "train" => true,
            _ => throw new ArgumentException($"The bench mode must be 'forward' or 'train', found '{mode}'.", nameof(mode)),
        };
        if (batch < 1) throw new ArgumentException($"The batch must be at least 1, found {batch}.", nameof(batch));
        if (train && preset.Config.Classes == 0)
            throw new ArgumentException($"Model '{preset.Name}' has no classes, so it cannot be trained.", nameof(preset));
        if (threads > 0) WorkerPool.Configure(threads);

        var c = preset.Config;
        Cli.CheckBatch(preset.Config, preset.Summary, batch, training: mode == "train");
        using var model = preset.Create(0, batch, backend);
        var rng = new Vit.Numerics.Rng(1);
        var images = new float[(long)batch * c.Channels * c.ImageSize * c.ImageSize];
        for (int i = 0; i < images.Length; i++) images[i] = (float)rng.NextNormal();
        var labels = new int[batch];
        for (int i = 0; i < batch; i++) labels[i] = c.Classes == 0 ? 0 : i % c.Classes;
        var output = new float[batch * model.OutputWidth];

        void Step()
        {
            if (!train) { model.Forward(images, batch, output); return; }
            model.ForwardBackward(images, labels, batch);
            optimizerStep?.Invoke(model);
            model.ZeroGradients();
        }

        // Warm-up: buffers, JIT tiers (a few steps, or about a second for the large models).
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 3 || (i < 40 && warm.Elapsed < TimeSpan.FromSeconds(1)); i++) Step();

        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < 3 || total.Elapsed < duration)
        {
            long start = Stopwatch.GetTimestamp();
            Step();
            times.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        times.Sort();
        // A step too short for the clock would make every rate infinite.
        double median = Math.Max(times[times.Count / 2], 1.0 / System.Diagnostics.Stopwatch.Frequency);
        double flopsPerImage = train ? preset.Summary.TrainingFlopsPerImage : preset.Summary.ForwardFlopsPerImage;
        return new BenchResult(preset.Name, mode, batch, WorkerPool.Shared.Threads, backend.Name,
            batch / median, median * 1e3, flopsPerImage * batch / median / 1e9, times.Count);
    }
}
