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
/// <param name="Ranks">Data-parallel ranks under mpirun (1 otherwise); <paramref name="Batch"/> is per rank, <paramref name="ImagesPerSecond"/> and <paramref name="GflopsPerSecond"/> are for all ranks.</param>
/// <param name="AllReduceWaitMs">Training under mpirun: the median time per step spent waiting for the gradient all-reduce after backward (what overlap did not hide).</param>
/// <param name="Buckets">Training under mpirun: the gradient buckets, as (first float, floats), in the order they are reduced.</param>
/// <param name="Freeze">Training on a frozen backbone (<c>--freeze</c>): each step is <c>ForwardBackwardFrozen</c> and the head's optimizer step.</param>
/// <param name="Profile">With a profile requested: every kernel call of the timed steps (<see cref="KernelProfile"/>).</param>
/// <param name="MeanStepMs">The mean step time in milliseconds (what the profile's shares are of).</param>
public sealed record BenchResult(string Model, string Mode, int Batch, int Threads, string Backend,
    double ImagesPerSecond, double MsPerBatch, double GflopsPerSecond, int Runs, int Ranks = 1, double AllReduceWaitMs = 0,
    IReadOnlyList<(long Start, int Count)>? Buckets = null, bool Freeze = false, KernelProfile? Profile = null, double MeanStepMs = 0)
{
    /// <summary>With a profile: the mean step's time outside every kernel call (staging, the optimizer step, the model's own code).</summary>
    public double BetweenKernelsMs => Profile is null ? 0 : MeanStepMs - Profile.TotalSeconds * 1e3 / Runs;
}

/// <summary>
/// The engine of <c>vit bench</c>: builds a preset on seeded random images, warms it up, then
/// times steps for a given duration and reports the median. Argument parsing lives in the CLI.
/// </summary>
public static class BenchRunner
{
    /// <summary>Measures <paramref name="preset"/> in <paramref name="mode"/>.</summary>
    /// <param name="preset">The model.</param>
    /// <param name="mode"><c>forward</c> (inference) or <c>train</c> (ForwardBackward, or ForwardBackwardFrozen with <paramref name="freeze"/>, then <paramref name="optimizerStep"/>, then ZeroGradients).</param>
    /// <param name="batch">Images per step.</param>
    /// <param name="threads">Worker threads; 0 keeps the current <see cref="WorkerPool.Shared"/> (physical cores by default).</param>
    /// <param name="duration">How long to time steps after the warm-up (at least 3 steps are timed).</param>
    /// <param name="optimizerStep">Called after each training step's backward pass; null for none.</param>
    /// <returns>The median over the timed steps.</returns>
    /// <exception cref="ArgumentException">The mode is neither forward nor train, or the batch is not positive.</exception>
    /// <param name="communicator">Under mpirun: every rank runs the same number of steps, and training steps all-reduce their gradients (as <c>vit train</c> does).</param>
    /// <param name="dataParallel">Buckets and overlap of the all-reduce.</param>
    /// <param name="freeze">
    /// Train mode: the step of <c>vit train --freeze</c>, the backbone as inference and the head alone
    /// forward and backward (<c>ForwardBackwardFrozen</c>); <paramref name="optimizerStep"/> should then
    /// update the head alone (<c>Optimizer.HeadOnly</c>), and under mpirun only the head's gradients are reduced.
    /// </param>
    /// <param name="precision">fp32, or bf16 Linear products (<see cref="Precision.Bf16"/>; in train mode, mixed precision).</param>
    /// <param name="profile">Time every kernel call of the timed steps (the CPU backend only; the warm-up is not recorded).</param>
    /// <exception cref="ArgumentException">A profile is asked of a backend other than the CPU's.</exception>
    public static BenchResult Run(Preset preset, Vit.Backends.Backend backend, string mode, int batch, int threads, TimeSpan duration, Action<IVisionTransformer>? optimizerStep,
        Vit.Training.Communicator? communicator = null, Vit.Training.DataParallelOptions? dataParallel = null, bool freeze = false, Precision precision = Precision.Fp32,
        bool profile = false)
    {
        bool train = mode switch
        {
            "forward" => false,
            "train" => true,
            _ => throw new ArgumentException($"The bench mode must be 'forward' or 'train', found '{mode}'.", nameof(mode)),
        };
        if (batch < 1) throw new ArgumentException($"The batch must be at least 1, found {batch}.", nameof(batch));
        if (freeze && !train) throw new ArgumentException("A frozen backbone (freeze) applies to the train mode only.", nameof(freeze));
        if (train && preset.Config.Classes == 0)
            throw new ArgumentException($"Model '{preset.Name}' has no classes, so it cannot be trained.", nameof(preset));
        if (profile && backend.Name != "cpu")
            throw new ArgumentException($"A kernel profile times the cpu backend's kernels only (the {backend.Name} backend's kernels return before the device has run them).", nameof(profile));
        if (threads > 0) WorkerPool.Configure(threads);

        var c = preset.Config;
        Cli.CheckBatch(preset.Config, preset.Summary, batch, training: train, frozen: freeze);
        using var model = preset.Create(0, batch, backend);
        model.Memory.Precision = precision;
        model.Memory.KeepPackedWeights = !train; // inference keeps its weights packed, as vit forward, eval and predict do
        var rng = new Vit.Numerics.Rng(1);
        var images = new float[(long)batch * c.Channels * c.ImageSize * c.ImageSize];
        for (int i = 0; i < images.Length; i++) images[i] = (float)rng.NextNormal();
        var labels = new int[batch];
        for (int i = 0; i < batch; i++) labels[i] = c.Classes == 0 ? 0 : i % c.Classes;
        var output = new float[batch * model.OutputWidth];
        var reducer = communicator is not null && train
            ? new Vit.Training.GradientReducer(communicator, model.Memory,
                freeze ? [.. model.Memory.Table.Parameters.Where(Vit.Training.Optimizer.HeadOnly)] : model.Memory.Table.Parameters,
                dataParallel ?? new Vit.Training.DataParallelOptions())
            : null;

        void Step()
        {
            if (!train) { model.Forward(images, batch, output); return; }
            if (reducer is not null)
            {
                reducer.Begin();
                model.Memory.GradientObserver = reducer;
            }
            if (freeze) model.ForwardBackwardFrozen(images, labels, batch);
            else model.ForwardBackward(images, labels, batch);
            model.Memory.GradientObserver = null;
            reducer?.Finish();
            optimizerStep?.Invoke(model);
            model.ZeroGradients();
        }

        // Warm-up: buffers, JIT tiers (a few steps, or about a second for the large models).
        var warm = Stopwatch.StartNew();
        int warmSteps = 0;
        for (; warmSteps < 3 || (communicator is null && warmSteps < 40 && warm.Elapsed < TimeSpan.FromSeconds(1)); warmSteps++) Step();

        // The ranks run the same number of timed steps (each training step is a collective): rank 0's estimate.
        long? steps = null;
        if (communicator is not null)
        {
            Span<ulong> count = [(ulong)Math.Clamp(duration.TotalSeconds / (warm.Elapsed.TotalSeconds / warmSteps), 3, 100_000)];
            communicator.Broadcast(count);
            steps = (long)count[0];
        }
        var times = new List<double>();
        var waits = new List<double>();
        var kernels = profile ? new KernelProfile() : null;
        model.Memory.Profile = kernels;
        var total = Stopwatch.StartNew();
        while (steps is { } n ? times.Count < n : times.Count < 3 || total.Elapsed < duration)
        {
            double waitedBefore = reducer?.WaitSeconds ?? 0;
            long start = Stopwatch.GetTimestamp();
            Step();
            times.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
            waits.Add((reducer?.WaitSeconds ?? 0) - waitedBefore);
        }
        model.Memory.Profile = null;
        double meanMs = times.Average() * 1e3;
        times.Sort();
        waits.Sort();
        // A step too short for the clock would make every rate infinite.
        double median = Math.Max(times[times.Count / 2], 1.0 / System.Diagnostics.Stopwatch.Frequency);
        int ranks = communicator?.Size ?? 1;
        double flopsPerImage = !train ? preset.Summary.ForwardFlopsPerImage : freeze ? preset.Summary.FrozenTrainingFlopsPerImage : preset.Summary.TrainingFlopsPerImage;
        return new BenchResult(preset.Name, mode, batch, WorkerPool.Shared.Threads, backend.Name,
            batch * ranks / median, median * 1e3, flopsPerImage * batch * ranks / median / 1e9, times.Count, ranks, waits[waits.Count / 2] * 1e3, reducer?.Buckets, freeze,
            kernels, meanMs);
    }
}
