using Vit.Backends;
using Vit.Numerics;
using Vit.Tests.Model;
using Vit.Tests.Training;
using Vit.Training;
using Xunit;

namespace Vit.Tests.Device;

/// <summary>
/// Generated models on a device backend against the same models on the CPU: forward within rtol 1e-4,
/// loss and every parameter gradient within rtol 2e-3, AdamW and SGD loss curves, the steady
/// state (no device or managed allocation per step), host/device synchronization of the
/// parameters, and the errors.
/// </summary>
/// <remarks>
/// Tolerances are relative to each tensor's scale: |device − cpu| ≤ rtol·(|cpu| + max|cpu|·0.01), so
/// values near zero are compared at 1% of the tensor's largest value times rtol, not at 0.
/// </remarks>
public abstract class DeviceParityTests
{
    private const double ForwardRtol = 1e-4, BackwardRtol = 2e-3;

    /// <summary>The backend under test; skips the test (saying why) when it is not available.</summary>
    protected abstract Backend Device { get; }

    /// <summary>The backend's name in messages.</summary>
    protected string Name => Device.Name;

    /// <summary>Counters that must stay constant in a steady state (device allocations, kernel objects, compiled kernels).</summary>
    protected abstract (int Allocations, int Kernels) SteadyStateCounters(IVisionTransformer model);

    /// <summary>A mark taken before the measured steps, for <see cref="LibraryBytesSince"/>.</summary>
    protected virtual long LibraryMark() => 0;

    /// <summary>
    /// Managed bytes the backend's own device library is known to allocate per call since
    /// <paramref name="mark"/> (0 for OpenCL: every step must allocate nothing at all).
    /// </summary>
    protected virtual long LibraryBytesSince(long mark) => 0;

    protected static float[] Images(IVisionTransformer m, int batch, int seed)
    {
        var c = m.Config;
        var rng = new Rng((ulong)seed);
        var x = new float[batch * c.Channels * c.ImageSize * c.ImageSize];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextNormal();
        return x;
    }

    protected static int[] Labels(int batch, int classes) => Enumerable.Range(0, batch).Select(i => (i * 7 + 3) % classes).ToArray();

    protected void Close(ReadOnlySpan<float> device, ReadOnlySpan<float> cpu, double rtol, string what)
    {
        Assert.Equal(cpu.Length, device.Length);
        double scale = 0;
        foreach (float v in cpu) scale = Math.Max(scale, Math.Abs(v));
        for (int i = 0; i < cpu.Length; i++)
        {
            double tol = rtol * (Math.Abs(cpu[i]) + 0.01 * scale);
            Assert.True(Math.Abs(device[i] - cpu[i]) <= tol,
                $"{what}[{i}]: {Name} {device[i]:R} vs CPU {cpu[i]:R} (|Δ| = {Math.Abs(device[i] - cpu[i]):G3} > {tol:G3}, rtol {rtol})");
        }
    }

    private void ForwardMatches<T>(Func<int, Backend, T> create, int batch) where T : IVisionTransformer
    {
        var backend = Device;
        using var cpu = create(11, Backend.Cpu);
        using var gpu = create(11, backend);
        var images = Images(cpu, batch, 5);
        var a = new float[batch * cpu.OutputWidth];
        var b = new float[batch * cpu.OutputWidth];
        cpu.Forward(images, batch, a);
        gpu.Forward(images, batch, b);
        Close(b, a, ForwardRtol, $"{cpu.Config.Name} output");
        Assert.Contains(b, v => v != 0);
    }

    [SkippableFact]
    public void Forward_matches_the_cpu_token_pooling() => ForwardMatches((s, be) => new TinyToken(s, 3, be), 3);

    [SkippableFact]
    public void Forward_matches_the_cpu_mean_pooling_pre_logits_no_qkv_bias() => ForwardMatches((s, be) => new MeanReprNoQkvBias(s, 2, be), 2);

    [SkippableFact]
    public void Forward_matches_the_cpu_three_blocks_pre_logits() => ForwardMatches((s, be) => new TokenReprEps(s, 4, be), 4);

    [SkippableFact]
    public void Forward_matches_the_cpu_without_a_head() => ForwardMatches((s, be) => new FeaturesOnly(s, 2, be), 2);

    [SkippableFact]
    public void Forward_matches_the_cpu_with_layer_scale() => ForwardMatches((s, be) => new LayerScaleToken(s, 3, be), 3);

    [SkippableFact]
    public void Forward_matches_the_cpu_with_an_attention_width_other_than_dim() => ForwardMatches((s, be) => new HeadDimMean(s, 2, be), 2);

    [SkippableFact]
    public void Forward_matches_the_cpu_at_cifar_shapes() => ForwardMatches((s, be) => new CifarVit(s, 2, be), 2);

    private void TrainingStepMatches<T>(Func<int, Backend, T> create, int batch) where T : IVisionTransformer
    {
        var backend = Device;
        using var cpu = create(3, Backend.Cpu);
        using var gpu = create(3, backend);
        var images = Images(cpu, batch, 9);
        var labels = Labels(batch, cpu.Config.Classes);
        cpu.Memory.LabelSmoothing = gpu.Memory.LabelSmoothing = 0.1f;
        // Two steps without zeroing: the backward pass must add into the gradients on both.
        for (int step = 0; step < 2; step++)
        {
            float lc = cpu.ForwardBackward(images, labels, batch);
            float lg = gpu.ForwardBackward(images, labels, batch);
            Assert.True(Math.Abs(lc - lg) <= BackwardRtol * Math.Abs(lc), $"loss: {Name} {lg} vs CPU {lc}");
        }
        Close(gpu.TrainingProbabilities, cpu.TrainingProbabilities, ForwardRtol * 10, "probabilities");
        foreach (var p in cpu.ParameterList)
        {
            var g = cpu.Gradient(p.Name);
            Assert.Contains(g.ToArray(), v => v != 0);
            Close(gpu.Gradient(p.Name), g, BackwardRtol, p.Name + ".grad");
        }
    }

    [SkippableFact]
    public void Training_step_matches_the_cpu_token_pooling() => TrainingStepMatches((s, be) => new TinyToken(s, 4, be), 4);

    [SkippableFact]
    public void Training_step_matches_the_cpu_mean_pooling_pre_logits_no_qkv_bias() => TrainingStepMatches((s, be) => new MeanReprNoQkvBias(s, 3, be), 3);

    [SkippableFact]
    public void Training_step_matches_the_cpu_with_layer_scale() => TrainingStepMatches((s, be) => new LayerScaleToken(s, 3, be), 3);

    [SkippableFact]
    public void Training_step_matches_the_cpu_with_an_attention_width_other_than_dim() => TrainingStepMatches((s, be) => new HeadDimMean(s, 2, be), 2);

    [SkippableFact]
    public void Training_step_matches_the_cpu_three_blocks_pre_logits() => TrainingStepMatches((s, be) => new TokenReprEps(s, 2, be), 2);

    // Dropout, attention dropout and drop path: the device draws its masks from the model's
    // random stream exactly as the CPU does, so the two stay step for step identical.
    [SkippableFact]
    public void Training_step_matches_the_cpu_with_every_regularizer() => TrainingStepMatches((s, be) => new TinyRegularized(s, 4, be), 4);

    private void LossCurveMatches(OptimizerKind kind)
    {
        var backend = Device;
        const int batch = 8, steps = 6;
        using var cpu = new SmallCifar(21, batch, Backend.Cpu);
        using var gpu = new SmallCifar(21, batch, backend);
        var options = new OptimizerOptions { Kind = kind, ClipNorm = 0.5 };
        using var oc = Optimizer.Create(cpu.Memory, options);
        using var og = Optimizer.Create(gpu.Memory, options);
        var labels = Labels(batch, 10);
        for (int step = 0; step < steps; step++)
        {
            var images = Images(cpu, batch, 100 + step);
            cpu.ZeroGradients();
            gpu.ZeroGradients();
            float lc = cpu.ForwardBackward(images, labels, batch);
            float lg = gpu.ForwardBackward(images, labels, batch);
            double nc = oc.Step(1e-3);
            double ng = og.Step(1e-3);
            Assert.True(Math.Abs(lc - lg) <= BackwardRtol * Math.Abs(lc), $"step {step} loss: {Name} {lg} vs CPU {lc}");
            Assert.True(Math.Abs(nc - ng) <= BackwardRtol * nc, $"step {step} gradient norm: {Name} {ng} vs CPU {nc}");
        }
        // The parameters after the steps (downloaded through the host copy) and the optimizer state.
        foreach (var p in SmallCifar.Parameters)
        {
            if (p.Name.EndsWith("attn.qkv.bias", StringComparison.Ordinal))
            {
                // The key third of qkv.bias has an exactly zero gradient (softmax ignores a shift of
                // all scores), so both backends see rounding noise there, which AdamW's normalized
                // step turns into ±lr moves. Compare the query and value thirds only.
                int d = SmallCifar.Dim;
                Close(gpu.Parameter(p.Name)[..d], cpu.Parameter(p.Name)[..d], BackwardRtol, p.Name + " (q)");
                Close(gpu.Parameter(p.Name)[(2 * d)..], cpu.Parameter(p.Name)[(2 * d)..], BackwardRtol, p.Name + " (v)");
                continue;
            }
            Close(gpu.Parameter(p.Name), cpu.Parameter(p.Name), BackwardRtol, p.Name);
        }
        for (int s = 0; s < oc.StateNames.Count; s++)
            Close(og.State(s).Start.AsSpan((int)og.State(s).Length), oc.State(s).Start.AsSpan((int)oc.State(s).Length), 1e-2, oc.StateNames[s]);
    }

    [SkippableFact]
    public void AdamW_loss_curve_matches_the_cpu() => LossCurveMatches(OptimizerKind.AdamW);

    [SkippableFact]
    public void Sgd_loss_curve_matches_the_cpu() => LossCurveMatches(OptimizerKind.Sgd);

    [SkippableFact]
    public void A_steady_state_step_allocates_nothing_on_the_host_or_the_device()
    {
        var backend = Device;
        const int batch = 4;
        using var model = new SmallCifarPlain(1, batch, backend);
        using var optimizer = Optimizer.Create(model.Memory, new OptimizerOptions());
        var images = Images(model, batch, 2);
        var labels = Labels(batch, 10);
        var output = new float[batch * 10];
        void Step()
        {
            model.ZeroGradients();
            model.ForwardBackward(images, labels, batch);
            optimizer.Step(1e-3);
            model.Forward(images, batch, output);
        }
        Step();
        Step();
        var counters = SteadyStateCounters(model);
        long mark = LibraryMark();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 3; i++) Step();
        long managed = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(counters, SteadyStateCounters(model));
        long library = LibraryBytesSince(mark);
        Assert.True(managed <= library, $"{managed} managed bytes in 3 steady-state steps; the device library accounts for {library}");
    }

    [SkippableFact]
    public void Host_writes_reach_the_device_and_device_updates_reach_the_host()
    {
        var backend = Device;
        using var cpu = new TinyToken(4, 2, Backend.Cpu);
        using var gpu = new TinyToken(99, 2, backend);
        var images = Images(cpu, 2, 1);
        var a = new float[2 * 5];
        var b = new float[2 * 5];
        gpu.Forward(images, 2, b); // parameters from seed 99 are now on the device
        foreach (var p in TinyToken.Parameters) cpu.Parameter(p.Name).CopyTo(gpu.Parameter(p.Name)); // host writes
        cpu.Forward(images, 2, a);
        gpu.Forward(images, 2, b);
        Close(b, a, ForwardRtol, "output after copying the weights in");

        // An optimizer step on the device changes the parameters; reading them downloads the new values.
        using var optimizer = Optimizer.Create(gpu.Memory, new OptimizerOptions { Kind = OptimizerKind.Sgd, Nesterov = false, Momentum = 0, WeightDecay = 0, ClipNorm = 0 });
        var before = gpu.Parameter("head.bias").ToArray();
        gpu.ForwardBackward(images, [1, 2], 2);
        var grad = gpu.Gradient("head.bias").ToArray();
        optimizer.Step(0.5);
        var after = gpu.Parameter("head.bias").ToArray();
        for (int i = 0; i < before.Length; i++)
            Assert.Equal(before[i] - 0.5f * grad[i], after[i], 1e-6f);
    }

    [SkippableFact]
    public void Weights_saved_on_the_device_load_on_the_cpu()
    {
        var backend = Device;
        string path = Path.Combine(Path.GetTempPath(), $"vit-{Name}-{Guid.NewGuid():N}.safetensors");
        try
        {
            using var gpu = new TinyToken(8, 2, backend);
            using var optimizer = Optimizer.Create(gpu.Memory, new OptimizerOptions());
            var images = Images(gpu, 2, 3);
            gpu.ForwardBackward(images, [0, 4], 2);
            optimizer.Step(1e-2);
            gpu.SaveWeights(path);
            using var cpu = new TinyToken(0, 2, Backend.Cpu);
            cpu.LoadWeights(path);
            var a = new float[10];
            var b = new float[10];
            cpu.Forward(images, 2, a);
            gpu.Forward(images, 2, b);
            Close(b, a, ForwardRtol, "output of the saved weights");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [SkippableFact]
    public void Bad_labels_and_shapes_are_reported_as_on_the_cpu()
    {
        var backend = Device;
        using var gpu = new TinyToken(1, 2, backend);
        var images = Images(gpu, 2, 1);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => gpu.ForwardBackward(images, [0, 5], 2));
        Assert.Contains("Label at index 1 is 5, outside the valid range [0, 5)", e.Message);
        var s = Assert.Throws<ArgumentException>(() => gpu.Forward(images.AsSpan(1), 2, new float[10]));
        Assert.Contains("expected images of batch", s.Message);
    }
}
