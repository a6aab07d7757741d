using Vit.Backends.Device;
using Vit.Backends.OpenCL;
using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Memory;
using Vit.Numerics;
using Vit.Tests.Kernels;
using Xunit;
using static Vit.Tests.Kernels.KernelTestSupport;

namespace Vit.Tests.OpenCL;

/// <summary>
/// The steps of a <see cref="ClModel"/> one at a time, for a configuration no generated model
/// needs to have: the model is built from a hand-written layout (no parameters), and each test
/// tensor lives in a buffer of its own at a nonzero offset, so the kernels' (pointer, offset)
/// arguments are exercised too.
/// </summary>
public sealed unsafe class ClKernelHarness : IDisposable
{
    // Floats in front of every test tensor: its DevicePtr has a nonzero offset.
    private const int Lead = 5;

    private readonly ModelMemory _memory;
    private readonly List<DeviceBuffer> _buffers = [];

    public ClKernelHarness(OpenCLBackend backend, VisionTransformerConfig config)
    {
        var layout = new ModelLayout(config, [], ParameterFloats: 16, OutputSize: Math.Max(config.Classes, 1),
            InferenceFloatsPerImage: 0, TrainingFloatsPerImage: 0);
        _memory = new ModelMemory(layout, maxBatch: 1);
        Model = new ClModel(backend, _memory);
    }

    public ClModel Model { get; }

    /// <summary>A device tensor holding <paramref name="values"/> (as floats).</summary>
    public DevicePtr Upload(double[] values)
    {
        var floats = new float[values.Length];
        for (int i = 0; i < floats.Length; i++) floats[i] = (float)values[i];
        var buffer = Model.Api.Allocate((Lead + floats.LongLength) * sizeof(float));
        _buffers.Add(buffer);
        fixed (float* f = floats)
            Model.Api.Write(buffer, Lead * sizeof(float), f, floats.LongLength * sizeof(float));
        return new DevicePtr(buffer, Lead);
    }

    /// <summary>A device tensor of <paramref name="length"/> floats, all <paramref name="value"/>.</summary>
    public DevicePtr Filled(int length, double value) => Upload(Enumerable.Repeat(value, length).ToArray());

    /// <summary>Waits for the queue and reads <paramref name="length"/> floats of <paramref name="tensor"/>.</summary>
    public double[] Download(DevicePtr tensor, int length)
    {
        var floats = new float[length];
        fixed (float* f = floats)
            Model.Api.Read(tensor.Buffer!, tensor.Offset * sizeof(float), f, (long)length * sizeof(float));
        return floats.Select(v => (double)v).ToArray();
    }

    public void Dispose()
    {
        foreach (var b in _buffers) b.Dispose();
        Model.Dispose();
        _memory.Dispose();
    }
}

/// <summary>
/// Kernel-level parity of OpenCL steps with the CPU kernels of the same name, on shapes the
/// generated test models do not cover: a model width that is no multiple of 16, and attention
/// whose inner width (heads × head dim) differs from the model width.
/// </summary>
public sealed class OpenCLKernelTests(OpenCLBackendFixture fixture) : IClassFixture<OpenCLBackendFixture>
{
    // Width 67; 8×8 images in 4×4 patches: 5 tokens; 3 heads of 8 channels: attention width 24.
    private static readonly VisionTransformerConfig Config = new(
        Name: "KernelHarness", ImageSize: 8, Patch: 4, Channels: 3, Dim: 67, Depth: 1, Heads: 3,
        MlpDim: 16, Classes: 5, QkvBias: true, Pooling: Pooling.Token, RepresentationSize: 0,
        LayerNormEpsilon: 1e-6, Dropout: 0, AttentionDropout: 0, DropPath: 0, AttentionHeadDim: 8);

    private OpenCLBackend Device
    {
        get
        {
            Skip.If(fixture.SkipReason is not null, fixture.SkipReason);
            return fixture.Backend!;
        }
    }

    [SkippableFact]
    public void LayerScale_matches_the_cpu_kernel()
    {
        using var h = new ClKernelHarness(Device, Config);
        const int rows = 2 * 5, dim = 67, n = rows * dim;
        var rng = new Rng(41);
        var x = Random(ref rng, n, 2);
        var gamma = Random(ref rng, dim);
        var dy = Random(ref rng, n);
        var dgamma0 = Random(ref rng, dim);

        // The CPU kernel's results.
        using FloatTensor fx = new(x), fg = new(gamma), fy = new(n), fdy = new(dy), fdx = new(n), fdg = new(dgamma0);
        LayerScale.Forward(fy.Ptr, fx.Ptr, fg.Ptr, rows, dim);
        LayerScale.Backward(fdx.Ptr, fdg.Ptr, fdy.Ptr, fx.Ptr, fg.Ptr, rows, dim);
        double[] y = fy.ToDoubles(), dx = fdx.ToDoubles(), dgamma = fdg.ToDoubles();

        var cl = h.Model.LayerScale;
        DevicePtr dX = h.Upload(x), dG = h.Upload(gamma), dY = h.Filled(n, 7), dDy = h.Upload(dy), dDx = h.Filled(n, -3), dDg = h.Upload(dgamma0);
        cl.Forward(dY, dX, dG, rows, dim);
        cl.Backward(dDx, dDg, dDy, dX, dG, rows, dim);
        AssertClose(y, h.Download(dY, n), 0, 0, "y (one rounded product, as on the cpu)");
        AssertClose(dx, h.Download(dDx, n), 0, 0, "dx");
        AssertClose(dgamma, h.Download(dDg, dim), 1e-5, 1e-6 * MaxAbs(dgamma), "dgamma (accumulated)");

        // In place: y over x; dx over dy, with dgamma still computed from dy.
        DevicePtr iX = h.Upload(x), iDy = h.Upload(dy), iDg = h.Upload(dgamma0);
        cl.Forward(iX, iX, dG, rows, dim);
        cl.Backward(iDy, iDg, iDy, dX, dG, rows, dim);
        AssertClose(y, h.Download(iX, n), 0, 0, "y in place");
        AssertClose(dx, h.Download(iDy, n), 0, 0, "dx in place");
        AssertClose(dgamma, h.Download(iDg, dim), 1e-5, 1e-6 * MaxAbs(dgamma), "dgamma with dx in place");

        // One work-item per channel sums the rows in order: the same bits on every run.
        var first = h.Download(dDg, dim);
        DevicePtr again = h.Upload(dgamma0);
        cl.Backward(dDx, again, dDy, dX, dG, rows, dim);
        Assert.Equal(first, h.Download(again, dim));

        var e = Assert.Throws<ArgumentException>(() => cl.Forward(dY, dX, dG, rows, 64));
        Assert.Contains("built for width 67; found dim 64", e.Message);
    }

    [Fact]
    public void Build_options_take_the_head_dim_from_the_config()
    {
        string options = OpenCLBackend.BuildOptions(Config);
        Assert.Contains("-D DIM=67", options);
        Assert.Contains("-D HEADS=3", options);
        Assert.Contains("-D HEAD_DIM=8", options);
        Assert.Contains($"-D ATTN_SCALE={(1f / MathF.Sqrt(8)).ToString("R", System.Globalization.CultureInfo.InvariantCulture)}f", options);
    }

    // qkv (B, T, 3·24) and the merged heads (B, T, 24) with a model width of 67: every attention
    // stride is the inner width. Guard floats after each output must stay as they were.
    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Attention_with_an_inner_width_other_than_the_model_width_matches_the_cpu_kernel(bool dropout)
    {
        using var h = new ClKernelHarness(Device, Config);
        const int batch = 2, t = 5, heads = 3, hd = 8, inner = heads * hd, guard = 30;
        Assert.Equal(inner, Config.AttentionWidth);
        var rng = new Rng(dropout ? 44UL : 43UL);
        var qkv = Random(ref rng, batch * t * 3 * inner, 2);
        var dout = Random(ref rng, batch * t * inner);
        int scores = batch * heads * t * t;
        var mask = new double[scores];
        for (int i = 0; i < scores; i++) mask[i] = !dropout ? 1 : rng.NextDouble() < 0.3 ? 0 : (float)(1 / 0.7);

        using FloatTensor fqkv = new(qkv), fout = new(batch * t * inner), fp = new(scores), fm = new(mask), fdout = new(dout),
            fdqkv = new(qkv.Length), fdp = new(scores);
        var cpuMask = dropout ? fm.Ptr : TensorPtr.Null;
        Attention.Forward<D5, D3, D8>(fout.Ptr, fp.Ptr, cpuMask, fqkv.Ptr, batch);
        Attention.Backward<D5, D3, D8>(fdqkv.Ptr, fdp.Ptr, fdout.Ptr, fp.Ptr, cpuMask, fqkv.Ptr, batch);

        DevicePtr dQkv = h.Upload(qkv), dMask = dropout ? h.Upload(mask) : DevicePtr.None, dDout = h.Upload(dout),
            dOut = h.Filled(batch * t * inner + guard, 5), dP = h.Filled(scores + guard, 2),
            dDqkv = h.Filled(qkv.Length + guard, -3), dDp = h.Filled(scores, 0);
        h.Model.Attention.Forward<D5, D3, D8>(dOut, dP, dMask, dQkv, batch);
        h.Model.Attention.Backward<D5, D3, D8>(dDqkv, dDp, dDout, dP, dMask, dQkv, batch);
        var output = h.Download(dOut, batch * t * inner + guard);
        var probs = h.Download(dP, scores + guard);
        var dqkv = h.Download(dDqkv, qkv.Length + guard);
        AssertClose(fp.ToDoubles(), probs, 1e-4, 1e-6, "probs");
        AssertClose(fout.ToDoubles(), output, 1e-4, 1e-5 * MaxAbs(fout.ToDoubles()), "output");
        AssertClose(fdqkv.ToDoubles(), dqkv, 1e-3, 1e-5 * MaxAbs(fdqkv.ToDoubles()), "dqkv");
        Assert.All(output[(batch * t * inner)..], v => Assert.Equal(5, v));
        Assert.All(probs[scores..], v => Assert.Equal(2, v));
        Assert.All(dqkv[qkv.Length..], v => Assert.Equal(-3, v));
    }
}
