using Vit.Backends;
using Vit.Backends.OpenCL;
using Vit.Data;
using Vit.Memory;
using Vit.Numerics;
using Vit.Tests.Model;
using Vit.Tests.OpenCL;
using Vit.Training;
using Xunit;
using Xunit.Abstractions;

namespace Vit.Tests.Training;

/// <summary>Shared pieces of the frozen-backbone tests: inputs, the head's parameters, the comparison.</summary>
internal static class Frozen
{
    /// <summary>
    /// The frozen step against the full one (dropout off): |frozen − full| ≤ Atol·max|full| + Rtol·|full|
    /// per element (Rtol is about 170 float ulps). The two run the same products in the same order, except
    /// that inference fuses each block's attn.proj and mlp.fc2 with their residual adds (the sum is
    /// rounded in another order), so the features differ in their last bits, which the head and the
    /// softmax carry on. Measured: the worst element of the four models uses 30% of this (TokenReprEps;
    /// the test logs each model's share).
    /// </summary>
    public const double Rtol = 2e-5, Atol = 2e-6;

    public static float[] Images(IVisionTransformer m, int batch, int seed)
    {
        var c = m.Config;
        var rng = new Rng((ulong)seed);
        var x = new float[batch * c.Channels * c.ImageSize * c.ImageSize];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextNormal();
        return x;
    }

    public static int[] Labels(int batch, int classes) => Enumerable.Range(0, batch).Select(i => (i * 7 + 3) % classes).ToArray();

    public static bool IsHead(ParameterInfo p) => Optimizer.HeadOnly(p);

    /// <summary>
    /// Asserts <paramref name="actual"/> is within tolerance of <paramref name="expected"/>, naming the
    /// worst element; returns the largest |Δ| as a fraction of what was allowed (≤ 1).
    /// </summary>
    public static double Close(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, string what, double rtol = Rtol, double atol = Atol)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = 0;
        foreach (float v in expected) scale = Math.Max(scale, Math.Abs(v));
        double worst = 0;
        int at = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double allowed = atol * scale + rtol * Math.Abs(expected[i]);
            double used = allowed > 0 ? Math.Abs(actual[i] - expected[i]) / allowed : actual[i] == expected[i] ? 0 : double.PositiveInfinity;
            if (!(used <= worst)) (worst, at) = (used, i);
        }
        Assert.True(worst <= 1,
            $"{what}[{at}]: {actual[at]:R} vs {expected[at]:R} (|Δ| = {Math.Abs(actual[at] - expected[at]):G3}, allowed {atol * scale + rtol * Math.Abs(expected[at]):G3})");
        return worst;
    }

    public static IVisionTransformer Create(string model, int seed, int batch, Backend? backend = null)
    {
        backend ??= Backend.Cpu;
        return model switch
        {
            "token" => new TinyToken(seed, batch, backend),
            "mean" => new HeadDimMean(seed, batch, backend),
            "mean, pre-logits" => new MeanReprNoQkvBias(seed, batch, backend),
            "token, pre-logits" => new TokenReprEps(seed, batch, backend),
            "cifar" => new SmallCifarPlain(seed, batch, backend),
            "regularized" => new TinyRegularized(seed, batch, backend),
            _ => throw new ArgumentException(model),
        };
    }
}

/// <summary>
/// <c>ForwardBackwardFrozen</c>, the training step of <c>vit train --freeze</c>: the backbone as
/// inference, the head alone as training. It must give the full step's loss and head gradients
/// (dropout off), write no backbone gradient, leave the optimizer without state for the backbone,
/// train like a full run whose backbone gradients are discarded, and allocate nothing once warm.
/// </summary>
public sealed class FrozenTrainingTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData("token")]
    [InlineData("mean")]
    [InlineData("mean, pre-logits")]
    [InlineData("token, pre-logits")]
    public void The_frozen_step_gives_the_full_steps_loss_probabilities_and_head_gradients(string model)
    {
        const int batch = 3;
        using var m = Frozen.Create(model, seed: 4, batch);
        m.Memory.LabelSmoothing = 0.1f;
        var images = Frozen.Images(m, batch, 5);
        var labels = Frozen.Labels(batch, m.Config.Classes);

        m.ZeroGradients();
        float full = m.ForwardBackward(images, labels, batch);
        var fullProbs = m.TrainingProbabilities.ToArray();
        var head = m.ParameterList.Where(Frozen.IsHead).ToArray();
        var fullGrads = head.ToDictionary(p => p.Name, p => m.Gradient(p.Name).ToArray());

        m.ZeroGradients();
        float frozen = m.ForwardBackwardFrozen(images, labels, batch);
        Assert.True(m.Memory.LastTrainingFrozen);
        Assert.True(Math.Abs(frozen - full) <= Frozen.Rtol * Math.Abs(full), $"loss: frozen {frozen:R} vs full {full:R}");
        double worst = Frozen.Close(m.TrainingProbabilities, fullProbs, "probabilities");
        foreach (var p in head)
        {
            Assert.Contains(fullGrads[p.Name], v => v != 0);
            worst = Math.Max(worst, Frozen.Close(m.Gradient(p.Name), fullGrads[p.Name], p.Name + ".grad"));
        }
        Assert.Equal(model.Contains("pre-logits", StringComparison.Ordinal) ? 4 : 2, head.Length);
        log.WriteLine($"{model}: loss {frozen:R} vs {full:R}; the worst element used {worst:P0} of its tolerance");
    }

    [Fact]
    public void The_frozen_step_runs_the_backbone_as_inference_even_with_dropout_on()
    {
        const int batch = 4;
        using var m = new TinyRegularized(seed: 2, maxBatch: batch);
        var images = Frozen.Images(m, batch, 6);
        var labels = Frozen.Labels(batch, TinyRegularized.Classes);
        var rng = m.DropoutRng.State;
        float first = m.ForwardBackwardFrozen(images, labels, batch);
        float second = m.ForwardBackwardFrozen(images, labels, batch);
        // No mask is drawn (the random stream does not move) and the loss is that of the inference logits.
        Assert.Equal(rng, m.DropoutRng.State);
        Assert.Equal(first, second);
        var logits = new float[batch * TinyRegularized.Classes];
        m.Forward(images, batch, logits);
        double expected = 0;
        for (int b = 0; b < batch; b++)
        {
            var row = logits.AsSpan(b * TinyRegularized.Classes, TinyRegularized.Classes);
            double max = row.ToArray().Max(), sum = row.ToArray().Sum(v => Math.Exp(v - max));
            expected += max + Math.Log(sum) - row[labels[b]];
        }
        expected /= batch;
        Assert.True(Math.Abs(first - expected) <= 1e-5 * expected, $"frozen loss {first:R} vs cross-entropy of Forward's logits {expected:R}");
    }

    [Theory]
    [InlineData("token")]
    [InlineData("mean, pre-logits")]
    public void The_frozen_step_writes_no_backbone_gradient(string model)
    {
        const int batch = 2, sentinel = 3;
        using var m = Frozen.Create(model, seed: 7, batch);
        var images = Frozen.Images(m, batch, 8);
        var labels = Frozen.Labels(batch, m.Config.Classes);
        m.ZeroGradients();
        m.ForwardBackward(images, labels, batch);
        var headGrads = m.ParameterList.Where(Frozen.IsHead).ToDictionary(p => p.Name, p => m.Gradient(p.Name).ToArray());

        // Every gradient (padding included) holds a sentinel: the frozen step must add into the head's and touch nothing else.
        var gradients = m.Memory.Gradients;
        gradients.Start.AsSpan((int)gradients.Length).Fill(sentinel);
        m.ForwardBackwardFrozen(images, labels, batch);
        var all = m.Memory.Gradients.Start.AsSpan((int)m.Memory.Layout.ParameterFloats);
        long firstHead = m.ParameterList.Where(Frozen.IsHead).Min(p => p.Offset);
        for (int i = 0; i < firstHead; i++)
            Assert.True(all[i] == sentinel, $"gradient float {i} (before the head, at {firstHead}) was written: {all[i]}");
        foreach (var p in m.ParameterList.Where(Frozen.IsHead))
        {
            var expected = headGrads[p.Name].Select(v => v + sentinel).ToArray();
            Frozen.Close(m.Gradient(p.Name), expected, p.Name + ".grad (added to the sentinel)");
        }
    }

    [Theory]
    [InlineData(OptimizerKind.AdamW)]
    [InlineData(OptimizerKind.Sgd)]
    public void A_head_only_optimizer_holds_no_state_for_the_backbone(OptimizerKind kind)
    {
        using var m = new TokenReprEps(seed: 1, maxBatch: 1);
        using var optimizer = Optimizer.Create(m.Memory, new OptimizerOptions { Kind = kind }, Optimizer.HeadOnly);
        var head = TokenReprEps.Parameters.Where(Frozen.IsHead).ToArray();
        Assert.Equal(["pre_logits.fc.weight", "pre_logits.fc.bias", "head.weight", "head.bias"], optimizer.Trained.Select(p => p.Name));
        long first = head.Min(p => p.Offset), end = head.Max(p => p.Offset + p.Length);
        Assert.Equal(first, optimizer.StateOffset);
        for (int s = 0; s < optimizer.StateNames.Count; s++)
        {
            long length = optimizer.State(s).Length;
            Assert.True(length >= end - first && length < end - first + 16, $"state {s} holds {length} floats; the head spans {end - first}");
        }
        // The state buffers together are smaller than the backbone: there are no moment buffers for it.
        Assert.True(optimizer.StateNames.Count * optimizer.State(0).Length < first, "the state is not limited to the head");
        Assert.Throws<ArgumentException>(() => optimizer.StateOf(0, TokenReprEps.Parameters[0]));
        using var all = Optimizer.Create(m.Memory, new OptimizerOptions { Kind = kind });
        Assert.Equal(0, all.StateOffset);
        Assert.Equal(m.Memory.Layout.ParameterFloats, all.State(0).Length);
    }

    [Theory]
    [InlineData("token, pre-logits", OptimizerKind.AdamW)]
    [InlineData("mean", OptimizerKind.Sgd)]
    public void Frozen_steps_train_like_full_steps_whose_backbone_gradients_are_discarded(string model, OptimizerKind kind)
    {
        const int batch = 4, steps = 4;
        using var frozen = Frozen.Create(model, seed: 12, batch);
        using var full = Frozen.Create(model, seed: 12, batch);
        // Clipping on (at a norm the head's gradients exceed) and weight decay on: both count the head only.
        var options = new OptimizerOptions { Kind = kind, ClipNorm = 0.05, WeightDecay = 0.1 };
        using var of = Optimizer.Create(frozen.Memory, options, Optimizer.HeadOnly);
        using var oa = Optimizer.Create(full.Memory, options, Optimizer.HeadOnly);
        var before = frozen.Memory.Parameters.Start.AsSpan((int)frozen.Memory.Layout.ParameterFloats).ToArray();
        var labels = Frozen.Labels(batch, frozen.Config.Classes);
        bool clipped = false;
        for (int step = 0; step < steps; step++)
        {
            var images = Frozen.Images(frozen, batch, 40 + step);
            frozen.ZeroGradients();
            full.ZeroGradients();
            float lf = frozen.ForwardBackwardFrozen(images, labels, batch);
            float la = full.ForwardBackward(images, labels, batch);
            Assert.True(Math.Abs(lf - la) <= Frozen.Rtol * Math.Abs(la), $"step {step} loss: frozen {lf:R} vs full {la:R}");
            double nf = of.Step(1e-2), na = oa.Step(1e-2);
            Assert.True(Math.Abs(nf - na) <= Frozen.Rtol * na, $"step {step} gradient norm: frozen {nf:R} vs full {na:R}");
            clipped |= nf > options.ClipNorm;
        }
        Assert.True(clipped, "test setup: the clip norm should have clipped some step");
        foreach (var p in frozen.ParameterList)
        {
            var after = frozen.Parameter(p.Name);
            if (Frozen.IsHead(p))
            {
                Assert.False(after.SequenceEqual(before.AsSpan((int)p.Offset, (int)p.Length)), $"{p.Name} did not change");
                Frozen.Close(after, full.Parameter(p.Name), p.Name, rtol: 1e-4, atol: 1e-5);
            }
            else
            {
                Assert.True(after.SequenceEqual(before.AsSpan((int)p.Offset, (int)p.Length)), $"frozen {p.Name} changed");
                Assert.True(full.Parameter(p.Name).SequenceEqual(after), $"{p.Name} differs from the full run's");
            }
        }
    }

    [Fact]
    public void A_model_without_a_head_refuses_the_frozen_step()
    {
        using var m = new FeaturesOnly(seed: 0, maxBatch: 1);
        var images = Frozen.Images(m, 1, 1);
        var e = Assert.Throws<InvalidOperationException>(() => m.ForwardBackwardFrozen(images, [0], 1));
        Assert.Contains("Classes = 0", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_bench_runner_times_the_frozen_step_with_its_own_flops()
    {
        var preset = Vit.Cli.Preset.Find("cifar");
        var result = Vit.Cli.BenchRunner.Run(preset, Backend.Cpu, "train", batch: 2, threads: 0, TimeSpan.FromMilliseconds(10), optimizerStep: null, freeze: true);
        Assert.True(result.Freeze);
        Assert.True(result.Runs >= 3);
        // GFLOP/s counts the forward pass and the head's backward, not a full backward.
        double expected = preset.Summary.FrozenTrainingFlopsPerImage * result.ImagesPerSecond / 1e9;
        Assert.True(Math.Abs(result.GflopsPerSecond - expected) <= 1e-9 * expected, $"{result.GflopsPerSecond} vs {expected}");
        Assert.True(preset.Summary.FrozenTrainingFlopsPerImage < preset.Summary.TrainingFlopsPerImage / 2);
        Assert.Throws<ArgumentException>(() => Vit.Cli.BenchRunner.Run(preset, Backend.Cpu, "forward", 2, 0, TimeSpan.FromMilliseconds(10), null, freeze: true));
    }

    [Fact]
    public void The_head_signals_its_gradients_final_once_and_the_reducer_starts_every_head_bucket_in_backward()
    {
        const int batch = 4;
        using IVisionTransformer m = new SmallCifarPlain(seed: 3, maxBatch: batch);
        var head = m.ParameterList.Where(Frozen.IsHead).ToArray();
        var communicator = new Vit.Tests.Distributed.RecordingCommunicator();
        var reducer = new GradientReducer(communicator, m.Memory, head, new DataParallelOptions { BucketMegabytes = 0.0001 });
        Assert.True(reducer.Buckets.Count > 1, "test setup: the head should need several buckets");
        var signals = new List<long>();
        var observer = new Observer(reducer, signals, communicator);
        m.ZeroGradients();
        reducer.Begin();
        m.Memory.GradientObserver = observer;
        m.ForwardBackwardFrozen(Frozen.Images(m, batch, 1), Frozen.Labels(batch, 10), batch);
        m.Memory.GradientObserver = null;
        communicator.InBackward = false;
        reducer.Finish();
        Assert.Equal([head.Min(p => p.Offset)], signals);
        Assert.Equal(reducer.Buckets.Select(b => (b.Start, b.Count)), communicator.Started.Select(s => (s.Offset, s.Count)));
        Assert.All(communicator.Started, s => Assert.True(s.DuringBackward));
    }

    [Fact]
    public void The_trainer_with_freeze_trains_the_head_on_a_backbone_run_as_inference()
    {
        var names = CifarDataset.ReadClassNames(Path.Combine(AppContext.BaseDirectory, "Fixtures", "cifar10-subset", "batches.meta.txt"), CifarKind.Cifar10);
        var train = CifarDataset.ReadFiles([Path.Combine(AppContext.BaseDirectory, "Fixtures", "cifar10-subset", "cifar10-subset-train.bin")], CifarKind.Cifar10, names).Take(64);
        using IVisionTransformer m = new SmallCifar(seed: 5, maxBatch: 16); // dropout and drop path on: a frozen backbone must not use them
        var before = m.Memory.Parameters.Start.AsSpan((int)m.Memory.Layout.ParameterFloats).ToArray();
        var rng = m.DropoutRng.State;
        var recipe = new TrainOptions { Epochs = 1, Batch = 16, EvalBatch = 16, Freeze = true, Seed = 3, LearningRate = 1e-2, WarmupEpochs = 0 };
        using var trainer = new Trainer(m, train, null, recipe, Normalization.Cifar10);
        var losses = new List<double>();
        trainer.StepCompleted = (_, loss) => losses.Add(loss);
        trainer.Run(null);
        Assert.Equal(4, losses.Count);
        Assert.All(losses, l => Assert.True(double.IsFinite(l) && l > 0));
        Assert.True(m.Memory.LastTrainingFrozen, "the trainer did not run the frozen step");
        Assert.Equal(rng, m.DropoutRng.State); // no dropout mask was drawn
        foreach (var p in m.ParameterList)
        {
            bool changed = !m.Parameter(p.Name).SequenceEqual(before.AsSpan((int)p.Offset, (int)p.Length));
            Assert.True(changed == Frozen.IsHead(p), $"{p.Name} changed: {changed}");
        }
    }

    /// <summary>Passes the signals on to the reducer, recording each and marking the communicator as inside the backward pass.</summary>
    private sealed class Observer(GradientReducer reducer, List<long> signals, Vit.Tests.Distributed.RecordingCommunicator communicator) : IGradientObserver
    {
        public void GradientsFinal(long from)
        {
            signals.Add(from);
            communicator.InBackward = true;
            reducer.GradientsFinal(from);
        }
    }
}

/// <summary>A steady-state frozen training step allocates no managed memory (runs alone, as <see cref="AllocationTests"/>).</summary>
[Collection(nameof(RunsAlone))]
public sealed class FrozenTrainingAllocationTests(ITestOutputHelper log)
{
    /// <summary>
    /// ForwardBackwardFrozen, a head-only AdamW step and ZeroGradients, measured as in
    /// <see cref="AllocationTests"/>: windows of three steps until one allocates nothing, then 100
    /// more (about 3 ms each) must allocate nothing, on the calling thread and the worker pool.
    /// </summary>
    [Fact]
    public void A_steady_state_frozen_step_allocates_nothing()
    {
        const int batch = 4;
        using var m = new TinyRegularized(seed: 3, maxBatch: batch);
        using var optimizer = Optimizer.Create(m.Memory, new OptimizerOptions(), Optimizer.HeadOnly);
        var images = Frozen.Images(m, batch, 1);
        var labels = Frozen.Labels(batch, TinyRegularized.Classes);
        void Step()
        {
            m.ForwardBackwardFrozen(images, labels, batch);
            optimizer.Step(1e-3);
            m.ZeroGradients();
        }
        var result = SteadyState.Allocation(Step, Allocated, window: 3, confirm: 100, maxWindows: 300);
        log.WriteLine(result.ToString());
        Assert.True(result.Quiet && result.ConfirmedBytes == 0, $"steady-state frozen training steps allocate: {result}");
    }

    private static long Allocated() => GC.GetAllocatedBytesForCurrentThread() + Vit.Backends.Cpu.WorkerPool.Shared.WorkerAllocatedBytes;
}

/// <summary>
/// The frozen step on OpenCL against the CPU, as <see cref="OpenCLModelTests"/> checks the full step:
/// loss, probabilities and head gradients, no backbone gradient, head-only optimizer steps with the
/// device state limited to the head, and no host or device allocation once warm.
/// </summary>
public sealed class OpenCLFrozenTrainingTests(OpenCLBackendFixture fixture) : IClassFixture<OpenCLBackendFixture>
{
    private const double ForwardRtol = 1e-4, BackwardRtol = 2e-3;

    private OpenCLBackend Device
    {
        get
        {
            Skip.If(fixture.SkipReason is not null, fixture.SkipReason);
            return fixture.Backend!;
        }
    }

    [SkippableTheory]
    [InlineData("token")]
    [InlineData("mean, pre-logits")]
    [InlineData("token, pre-logits")]
    public void The_frozen_step_matches_the_cpu(string model)
    {
        var backend = Device;
        const int batch = 3;
        using var cpu = Frozen.Create(model, 3, batch);
        using var gpu = Frozen.Create(model, 3, batch, backend);
        var images = Frozen.Images(cpu, batch, 9);
        var labels = Frozen.Labels(batch, cpu.Config.Classes);
        cpu.Memory.LabelSmoothing = gpu.Memory.LabelSmoothing = 0.1f;
        // Two steps without zeroing: the head's backward must add into the gradients on both.
        for (int step = 0; step < 2; step++)
        {
            float lc = cpu.ForwardBackwardFrozen(images, labels, batch);
            float lg = gpu.ForwardBackwardFrozen(images, labels, batch);
            Assert.True(Math.Abs(lc - lg) <= BackwardRtol * Math.Abs(lc), $"loss: OpenCL {lg} vs CPU {lc}");
        }
        Frozen.Close(gpu.TrainingProbabilities, cpu.TrainingProbabilities, "probabilities", rtol: ForwardRtol * 10, atol: ForwardRtol * 0.1);
        foreach (var p in cpu.ParameterList)
        {
            if (Frozen.IsHead(p)) Frozen.Close(gpu.Gradient(p.Name), cpu.Gradient(p.Name), p.Name + ".grad", rtol: BackwardRtol, atol: BackwardRtol * 0.01);
            else Assert.True(gpu.Gradient(p.Name).IndexOfAnyExcept(0f) < 0, $"{p.Name}: the OpenCL frozen step wrote a backbone gradient");
        }
    }

    [SkippableFact]
    public void Head_only_steps_match_the_cpu_with_device_state_for_the_head_alone_and_allocate_nothing_once_warm()
    {
        var backend = Device;
        const int batch = 4, steps = 4;
        using var cpu = new SmallCifarPlain(21, batch, Backend.Cpu);
        using var gpu = new SmallCifarPlain(21, batch, backend);
        var options = new OptimizerOptions { ClipNorm = 0.05 };
        using var oc = Optimizer.Create(cpu.Memory, options, Optimizer.HeadOnly);
        using var og = Optimizer.Create(gpu.Memory, options, Optimizer.HeadOnly);
        var labels = Frozen.Labels(batch, 10);
        for (int step = 0; step < steps; step++)
        {
            var images = Frozen.Images(cpu, batch, 60 + step);
            cpu.ZeroGradients();
            gpu.ZeroGradients();
            float lc = cpu.ForwardBackwardFrozen(images, labels, batch);
            float lg = gpu.ForwardBackwardFrozen(images, labels, batch);
            double nc = oc.Step(1e-2), ng = og.Step(1e-2);
            Assert.True(Math.Abs(lc - lg) <= BackwardRtol * Math.Abs(lc), $"step {step} loss: OpenCL {lg} vs CPU {lc}");
            Assert.True(Math.Abs(nc - ng) <= BackwardRtol * nc, $"step {step} gradient norm: OpenCL {ng} vs CPU {nc}");
        }

        // The parameters and the optimizer state, which covers the head alone on both backends.
        foreach (var p in SmallCifarPlain.Parameters)
        {
            if (Frozen.IsHead(p)) Frozen.Close(gpu.Parameter(p.Name), cpu.Parameter(p.Name), p.Name, rtol: BackwardRtol, atol: BackwardRtol * 0.01);
            else Assert.True(gpu.Parameter(p.Name).SequenceEqual(cpu.Parameter(p.Name)), $"frozen {p.Name} changed on OpenCL");
        }
        long firstHead = SmallCifarPlain.Parameters.Where(Frozen.IsHead).Min(p => p.Offset);
        Assert.Equal(firstHead, og.StateOffset);
        for (int s = 0; s < oc.StateNames.Count; s++)
        {
            Assert.Equal(oc.State(s).Length, og.State(s).Length);
            Assert.True(og.State(s).Length < firstHead, "the device state is not limited to the head");
            Frozen.Close(og.State(s).Start.AsSpan((int)og.State(s).Length), oc.State(s).Start.AsSpan((int)oc.State(s).Length), oc.StateNames[s],
                rtol: 1e-2, atol: 1e-4);
        }

        // A steady-state step: no device buffer or kernel object is created, and no managed memory allocated.
        var cl = (ClModel)gpu.Memory.Device!;
        var warmImages = Frozen.Images(cpu, batch, 1);
        void Step()
        {
            gpu.ZeroGradients();
            gpu.ForwardBackwardFrozen(warmImages, labels, batch);
            og.Step(0);
        }
        Step();
        int allocations = cl.Allocations, kernelObjects = cl.KernelObjects;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 3; i++) Step();
        long managed = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(allocations, cl.Allocations);
        Assert.Equal(kernelObjects, cl.KernelObjects);
        Assert.Equal(0, managed);
    }
}

/// <summary>The generator's plan of the frozen step: where it splits the steps, and the head's layout.</summary>
public sealed class FrozenPlanTests
{
    private static Vit.Generator.Model.ModelPlan Plan(int pooling, int representation, int classes = 5, double dropout = 0.1) =>
        Vit.Generator.VisionTransformerGenerator.Planner.Plan(new Vit.Generator.Model.ModelSpec("N", "M", Vit.Generator.Model.EquatableArray<string>.Empty,
            ImageSize: 8, Patch: 4, Channels: 3, Dim: 16, Depth: 2, Heads: 2, MlpDim: 64, Classes: classes, QkvBias: true, Pooling: pooling,
            RepresentationSize: representation, LayerNormEpsilon: 1e-6, Dropout: dropout, AttentionDropout: dropout, DropPath: 0.2, HeadDim: 0, LayerScale: 0));

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 0)]
    [InlineData(0, 12)]
    [InlineData(1, 12)]
    public void The_backbone_is_the_inference_steps_before_the_head_and_the_head_has_a_slot_for_every_tensor(int pooling, int representation)
    {
        var plan = Plan(pooling, representation);
        // The head is the tail of the training steps, from pre_logits (or head) on, and holds every head.* and pre_logits.* parameter.
        var head = plan.HeadSteps.Select(s => s.Module).ToArray();
        Assert.Equal(representation > 0 ? ["pre_logits.fc", "pre_logits.act", "head", "loss"] : ["head", "loss"], head);
        Assert.Equal(plan.Steps.Skip(plan.Steps.Count - plan.HeadSteps.Count), plan.HeadSteps);
        // The backbone is the inference pass without the head: no dropout, drop path or saved statistics, and it ends with norm / fc_norm.
        Assert.Equal(plan.InferenceSteps.Take(plan.BackboneSteps.Count), plan.BackboneSteps);
        Assert.Equal(plan.InferenceSteps.Count - (representation > 0 ? 3 : 1), plan.BackboneSteps.Count);
        Assert.Equal(pooling == 0 ? "norm" : "fc_norm", plan.BackboneSteps[^1].Module);
        Assert.DoesNotContain(plan.BackboneSteps, s => s.Op == Vit.Generator.Model.OpKind.Dropout);
        // Every tensor the head reads, writes or saves, and every gradient but the features', has a slot after the inference layout.
        var slots = plan.Frozen.ToDictionary(t => t.ConstantName);
        var features = plan.HeadSteps[0].Inputs[0];
        foreach (var t in plan.HeadSteps.SelectMany(s => s.Inputs.Concat(s.Outputs).Concat(s.Saved)))
        {
            Assert.True(slots.ContainsKey(t.Name), t.Name);
            if (t.Grad.Length > 0) Assert.Equal(t.Grad != features.Grad, slots.ContainsKey(t.Grad));
        }
        Assert.Equal(features.Name, plan.BackboneSteps[^1].Outputs[0].Name);
        Assert.Equal(plan.InferenceFloatsPerImage, plan.Frozen.Min(t => t.Offset));
        Assert.All(plan.Frozen, t => Assert.True(t.Offset % 16 == 0 && t.Offset + t.Length <= plan.FrozenFloatsPerImage, t.ConstantName));
        Assert.Equal(plan.Frozen.Count, plan.Frozen.Select(t => t.Offset).Distinct().Count());
        // FLOPs: the forward pass and the head's backward, whose first layer has no input gradient.
        Assert.True(plan.FrozenTrainingFlopsPerImage > plan.ForwardFlopsPerImage && plan.FrozenTrainingFlopsPerImage < plan.ForwardFlopsPerImage * 1.01);
    }

    [Fact]
    public void A_model_without_a_head_has_no_frozen_step()
    {
        var plan = Plan(0, 0, classes: 0);
        Assert.Empty(plan.HeadSteps);
        Assert.Empty(plan.BackboneSteps);
        Assert.Empty(plan.Frozen);
        Assert.Equal(0, plan.FrozenTrainingFlopsPerImage);
    }
}
