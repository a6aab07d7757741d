using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Numerics;
using Vit.Tests.Model;
using Xunit;
using static Vit.Tests.Kernels.KernelTestSupport;

namespace Vit.Tests.Kernels;

/// <summary>
/// The kernels with hand-written vector code (Linear and Attention through Gemm, GELU) on each
/// forced <see cref="SimdLevel"/>, against their double references. Forcing is process-wide,
/// so this class runs alone.
/// </summary>
[Collection(nameof(RunsAlone))]
public sealed class SimdPathTests
{
    public static TheoryData<SimdLevel> Levels() => new() { SimdLevel.Avx512, SimdLevel.Avx2, SimdLevel.Vector128 };

    private static void Forced(SimdLevel level, Action test)
    {
        Simd.Force(level);
        try { test(); }
        finally { Simd.Force(null); }
    }

    [Theory]
    [MemberData(nameof(Levels))]
    public void Linear_matches_reference(SimdLevel level) => Forced(level, () =>
    {
        LinearTests.CompareWithReference<D130, D67>(37, true, 3);
        LinearTests.CompareWithReference<D192, D130>(70, true, 4);
        LinearTests.CompareWithReference<D17, D5>(3, false, 2);
    });

    [Theory]
    [MemberData(nameof(Levels))]
    public void Attention_matches_reference(SimdLevel level) => Forced(level, () =>
    {
        AttentionTests.Compare<D7, D3, D5>(2, true, 2);
        AttentionTests.Compare<D67, D2, D64>(2, false, 4);
    });

    // Each path (16 lanes, 8 lanes, scalar) over the whole range where Φ(x) is a normal float,
    // relative accuracy included: the tail is where a single-exp erfc could lose it.
    [Theory]
    [MemberData(nameof(Levels))]
    public void Gelu_is_relatively_accurate_from_minus_12_to_12(SimdLevel level) => Forced(level, () =>
    {
        var x = Enumerable.Range(0, 4801).Select(i => -12 + i * 0.005).ToArray();
        using FloatTensor fx = new(x), fy = new(x.Length), g = new(x.Length), fdx = new(x.Length);
        g.Fill(1);
        var xs = fx.ToDoubles(); // the float inputs, for the reference
        Gelu.Forward(fy.Ptr, fx.Ptr, x.Length);
        Gelu.Backward(fdx.Ptr, g.Ptr, fx.Ptr, x.Length);
        var yRef = new double[x.Length];
        var dRef = new double[x.Length];
        Gelu.ReferenceForward(yRef, xs);
        Gelu.ReferenceBackward(dRef, Enumerable.Repeat(1.0, x.Length).ToArray(), xs);
        // |x| ≥ 3: relative accuracy alone (the tail; gelu within 2e-6, which a float exp(P(t) − a²)
        // without the TwoSum correction misses by 2×); |x| < 3: also 1e-6 absolute, because gelu'
        // crosses zero at x ≈ −0.75 (Φ(x) + x·φ(x), two terms of about 0.2), where no float
        // evaluation keeps relative accuracy.
        var y = fy.ToDoubles();
        var d = fdx.ToDoubles();
        int[] tail = Enumerable.Range(0, x.Length).Where(i => Math.Abs(xs[i]) >= 3).ToArray();
        int[] middle = Enumerable.Range(0, x.Length).Where(i => Math.Abs(xs[i]) < 3).ToArray();
        AssertClose(tail.Select(i => yRef[i]).ToArray(), tail.Select(i => y[i]).ToArray(), 2e-6, 1e-30, $"gelu for |x| in [3, 12] ({level})");
        AssertClose(tail.Select(i => dRef[i]).ToArray(), tail.Select(i => d[i]).ToArray(), 1e-5, 1e-30, $"gelu' for |x| in [3, 12] ({level})");
        AssertClose(middle.Select(i => yRef[i]).ToArray(), middle.Select(i => y[i]).ToArray(), 1e-5, 1e-6, $"gelu for |x| < 3 ({level})");
        AssertClose(middle.Select(i => dRef[i]).ToArray(), middle.Select(i => d[i]).ToArray(), 1e-5, 1e-6, $"gelu' for |x| < 3 ({level})");
    });

    [Theory]
    [MemberData(nameof(Levels))]
    public unsafe void Gelu_matches_reference(SimdLevel level) => Forced(level, () =>
    {
        const int count = 9999;
        var rng = new Rng(77);
        var x = Random(ref rng, count, 6.0);
        x[0] = -12; x[1] = -8; x[2] = 8; x[3] = 0;
        var dy = Random(ref rng, count);
        var y = new double[count];
        var dx = new double[count];
        Gelu.ReferenceForward(y, x);
        Gelu.ReferenceBackward(dx, dy, x);
        using FloatTensor fx = new(x), fy = new(count), fdy = new(dy), fdx = new(count);
        Gelu.Forward(fy.Ptr, fx.Ptr, count);
        Gelu.Backward(fdx.Ptr, fdy.Ptr, fx.Ptr, count);
        AssertClose(y, fy.ToDoubles(), 1e-5, 1e-30, $"gelu ({level})");
        AssertClose(dx, fdx.ToDoubles(), 1e-5, 1e-6, $"gelu' ({level})");

        // The fused epilogue gives the same activations as the separate kernel.
        const int rows = 13, nIn = 17, nOut = 67;
        var a = Random(ref rng, rows * nIn);
        var w = Random(ref rng, nOut * nIn);
        var b = Random(ref rng, nOut);
        var pre = new double[rows * nOut];
        Linear.ReferenceForward(pre, a, w, b, rows, nIn, nOut);
        var act = new double[pre.Length];
        Gelu.ReferenceForward(act, pre);
        using FloatTensor fa = new(a), fw = new(w), fb = new(b), fpre = new(pre.Length), fact = new(pre.Length);
        Linear.ForwardGelu<D17, D67>(fact.Ptr, fpre.Ptr, fa.Ptr, fw.Ptr, fb.Ptr, rows);
        AssertClose(pre, fpre, 1e-4, 1e-5, $"fc1 pre-activation ({level})");
        AssertClose(act, fact, 1e-4, 1e-5, $"fc1 GELU epilogue ({level})");
        // In place, as inference does.
        Linear.ForwardGelu<D17, D67>(fpre.Ptr, fpre.Ptr, fa.Ptr, fw.Ptr, fb.Ptr, rows);
        AssertClose(act, fpre, 1e-4, 1e-5, $"fc1 GELU epilogue in place ({level})");
    });

    [Theory]
    [MemberData(nameof(Levels))]
    public void Residual_epilogue_adds_into_the_stream(SimdLevel level) => Forced(level, () =>
    {
        const int rows = 11, nIn = 13, nOut = 7;
        var rng = new Rng(5);
        var x = Random(ref rng, rows * nIn);
        var w = Random(ref rng, nOut * nIn);
        var b = Random(ref rng, nOut);
        var stream = Random(ref rng, rows * nOut);
        var branch = new double[rows * nOut];
        Linear.ReferenceForward(branch, x, w, b, rows, nIn, nOut);
        var expected = stream.Select((v, i) => v + branch[i]).ToArray();
        using FloatTensor fx = new(x), fw = new(w), fb = new(b), fs = new(stream);
        Linear.ForwardResidual<D13, D7>(fs.Ptr, fx.Ptr, fw.Ptr, fb.Ptr, rows);
        AssertClose(expected, fs, 1e-4, 1e-5, $"x + proj(x) ({level})");
    });
}
