using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Memory;
using Vit.Numerics;
using Xunit;
using static Vit.Tests.Kernels.KernelTestSupport;

namespace Vit.Tests.Kernels;

public class AttentionTests
{
    private static double[] Mask(ref Rng rng, int n, double p)
    {
        var m = new double[n];
        for (int i = 0; i < n; i++) m[i] = rng.NextDouble() < p ? 0 : (float)(1 / (1 - p));
        return m;
    }

    internal static void Compare<TT, TH, THd>(int batch, bool dropout, ulong seed, int guard = 0)
        where TT : struct, IDim where TH : struct, IDim where THd : struct, IDim
    {
        int t = TT.Value, h = TH.Value, hd = THd.Value, d = h * hd;
        var rng = new Rng(seed);
        var qkv = Random(ref rng, batch * t * 3 * d, 2);
        var dout = Random(ref rng, batch * t * d);
        var mask = dropout ? Mask(ref rng, batch * h * t * t, 0.3) : null;
        var output = new double[batch * t * d];
        var probs = new double[batch * h * t * t];
        Attention.ReferenceForward(output, probs, mask, qkv, batch, t, h, hd);
        var dqkv = new double[qkv.Length];
        Attention.ReferenceBackward(dqkv, dout, probs, mask, qkv, batch, t, h, hd);

        // guard floats past the end of each output: the kernel must leave them as they are.
        using FloatTensor fqkv = new(qkv), fout = new(output.Length + guard), fp = new(probs.Length + guard), fm = new(mask ?? [0]),
            fdout = new(dout), fdqkv = new(qkv.Length + guard), fdp = new(probs.Length);
        fout.Fill(5);
        fdqkv.Fill(-3); // overwritten
        fp.Fill(2);
        var maskPtr = dropout ? fm.Ptr : TensorPtr.Null;
        Attention.Forward<TT, TH, THd>(fout.Ptr, fp.Ptr, maskPtr, fqkv.Ptr, batch);
        Attention.Backward<TT, TH, THd>(fdqkv.Ptr, fdp.Ptr, fdout.Ptr, fp.Ptr, maskPtr, fqkv.Ptr, batch);
        AssertClose(probs, fp, 1e-4, 1e-5, "probs");
        AssertClose(output, fout, 1e-4, 1e-5, "output");
        AssertClose(dqkv, fdqkv, 1e-4, 1e-5, "dqkv");
        for (int i = 0; i < guard; i++)
        {
            Assert.Equal(5f, fout.Span[output.Length + i]);
            Assert.Equal(2f, fp.Span[probs.Length + i]);
            Assert.Equal(-3f, fdqkv.Span[qkv.Length + i]);
        }
    }

    [Fact] public void Awkward() => Compare<D7, D3, D5>(2, false, 1);
    [Fact] public void AwkwardWithDropout() => Compare<D7, D3, D5>(2, true, 2);
    [Fact] public void Larger() => Compare<D67, D4, D24>(3, true, 3);
    [Fact] public void LargerNoDropout() => Compare<D67, D2, D64>(2, false, 4);

    // The softmax's last vector ends at the row's end and overlaps the last full one (AVX-512): rows
    // of exactly 16 and 32 scores (no overlap), 17 (one new lane), 31 (fifteen) and 130 (two).
    [Fact] public void SoftmaxRowOfSixteen() => Compare<D16, D2, D8>(2, true, 21);
    [Fact] public void SoftmaxRowOfSeventeen() => Compare<D17, D2, D8>(2, false, 22);
    [Fact] public void SoftmaxRowOfThirtyOne() => Compare<D31, D2, D8>(2, true, 23);
    [Fact] public void SoftmaxRowOfThirtyTwo() => Compare<D32, D2, D8>(2, false, 24);
    [Fact] public void SoftmaxRowOf130() => Compare<D130, D1, D8>(1, true, 25);

    // The kernel's widths are heads·headDim (here 3·8 = 24) and never a model width: qkv rows are
    // 3·24 floats apart, output rows 24, and nothing past the last row is written.
    [Fact] public void InnerWidthIsHeadsTimesHeadDim() => Compare<D5, D3, D8>(2, true, 7, guard: 40);

    // bf16 (Precision.Bf16): q·kᵀ and (P⊙M)·v on bf16-rounded operands with fp32 sums, on both units.
    // Against the bf16 reference (the same rounding, sums in double) within fp32 summation error (a
    // probability that lies on a bf16 rounding boundary may round the other way: one bf16 ulp of one
    // term), and against the fp32 reference within bf16's rounding (8 bits: 2⁻⁹ relative per operand),
    // and not equal to it. The probabilities are the softmax of bf16 scores, in fp32.
    internal static void CompareBf16<TT, TH, THd>(Bf16Units units, int batch, bool dropout, ulong seed)
        where TT : struct, IDim where TH : struct, IDim where THd : struct, IDim
    {
        Skip.If(units == Bf16Units.DotProduct && !Bf16Gemm.IsSupported, Bf16Gemm.Unavailable ?? "");
        int t = TT.Value, h = TH.Value, hd = THd.Value, d = h * hd;
        var rng = new Rng(seed);
        var qkv = Random(ref rng, batch * t * 3 * d, 2);
        var mask = dropout ? Mask(ref rng, batch * h * t * t, 0.3) : null;
        double[] output = new double[batch * t * d], probs = new double[batch * h * t * t];
        double[] output32 = new double[output.Length], probs32 = new double[probs.Length];
        Attention.ReferenceForward(output, probs, mask, qkv, batch, t, h, hd, bf16: true);
        Attention.ReferenceForward(output32, probs32, mask, qkv, batch, t, h, hd);
        using FloatTensor fqkv = new(qkv), fout = new(output.Length), fp = new(probs.Length), fm = new(mask ?? [0]);
        Attention.Forward<TT, TH, THd>(fout.Ptr, fp.Ptr, dropout ? fm.Ptr : TensorPtr.Null, fqkv.Ptr, batch, units);
        AssertClose(probs, fp, 1e-4, 1e-5, "bf16 probs");
        AssertClose(output, fout, 1e-4, 1e-4, "bf16 output");
        AssertClose(output32, fout, 3e-2, 1e-2, "bf16 output against fp32");
        double apart = output32.Zip(fout.ToDoubles()).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(apart > 1e-4 * MaxAbs(output32), $"bf16 attention output equals fp32's (apart {apart:G3})");
    }

    [SkippableTheory]
    [InlineData(Bf16Units.DotProduct)]
    [InlineData(Bf16Units.Fma)]
    public void Bf16_matches_its_reference_awkward(Bf16Units units) => CompareBf16<D7, D3, D5>(units, 2, true, 11);

    [SkippableTheory]
    [InlineData(Bf16Units.DotProduct)]
    [InlineData(Bf16Units.Fma)]
    public void Bf16_matches_its_reference_with_vit_head_widths(Bf16Units units) => CompareBf16<D67, D2, D64>(units, 2, false, 12);

    [SkippableTheory]
    [InlineData(Bf16Units.DotProduct)]
    [InlineData(Bf16Units.Fma)]
    public void Bf16_matches_its_reference_with_dropout(Bf16Units units) => CompareBf16<D67, D4, D24>(units, 2, true, 13);

    // The two units compute the same products (exact in fp32) and differ only in the order of fp32 sums.
    [SkippableFact]
    public void Bf16_units_agree()
    {
        Skip.IfNot(Bf16Gemm.IsSupported, Bf16Gemm.Unavailable ?? "");
        const int batch = 2, t = 67, h = 2, hd = 64, d = h * hd;
        var rng = new Rng(14);
        using FloatTensor qkv = new(Random(ref rng, batch * t * 3 * d, 2)), a = new(batch * t * d), b = new(batch * t * d), p = new(batch * h * t * t);
        Attention.Forward<D67, D2, D64>(a.Ptr, p.Ptr, TensorPtr.Null, qkv.Ptr, batch, Bf16Units.DotProduct);
        Attention.Forward<D67, D2, D64>(b.Ptr, p.Ptr, TensorPtr.Null, qkv.Ptr, batch, Bf16Units.Fma);
        var x = a.ToDoubles();
        AssertClose(x, b.ToDoubles(), 1e-5, 1e-5 * MaxAbs(x), "VDPBF16PS against FMA bf16 attention");
    }

    // bf16 backward (mixed-precision training): dv, dP, dq and dk on bf16-rounded operands with fp32
    // sums, on both units, from the fp32 forward. Against the bf16 reference (each product's operands
    // rounded, sums in double) within fp32 summation error plus the odd rounding flip: dP and dS come
    // out of fp32 sums, and an element that lies within that error of a bf16 rounding boundary rounds
    // the other way (one bf16 ulp, 2⁻⁸ relative, of one term of a sum of t): at most 4e-5 of the
    // largest gradient, where bf16 against fp32 is 3e-3 (read once with both tolerances set to zero,
    // from the assertions' messages, on both units). Against the fp32 reference within
    // bf16's rounding, and not equal to it.
    internal static void CompareBf16Backward<TT, TH, THd>(Bf16Units units, int batch, bool dropout, ulong seed)
        where TT : struct, IDim where TH : struct, IDim where THd : struct, IDim
    {
        Skip.If(units == Bf16Units.DotProduct && !Bf16Gemm.IsSupported, Bf16Gemm.Unavailable ?? "");
        int t = TT.Value, h = TH.Value, hd = THd.Value, d = h * hd;
        var rng = new Rng(seed);
        var qkv = Random(ref rng, batch * t * 3 * d, 2);
        var dout = Random(ref rng, batch * t * d);
        var mask = dropout ? Mask(ref rng, batch * h * t * t, 0.3) : null;
        double[] output = new double[batch * t * d], probs = new double[batch * h * t * t];
        Attention.ReferenceForward(output, probs, mask, qkv, batch, t, h, hd);
        double[] dqkv = new double[qkv.Length], dqkv32 = new double[qkv.Length];
        Attention.ReferenceBackward(dqkv, dout, probs, mask, qkv, batch, t, h, hd, bf16: true);
        Attention.ReferenceBackward(dqkv32, dout, probs, mask, qkv, batch, t, h, hd);
        using FloatTensor fqkv = new(qkv), fp = new(probs), fm = new(mask ?? [0]), fdout = new(dout), fdqkv = new(qkv.Length), fdp = new(probs.Length),
            before = new(qkv.Length), after = new(qkv.Length);
        var maskPtr = dropout ? fm.Ptr : TensorPtr.Null;
        Attention.Backward<TT, TH, THd>(before.Ptr, fdp.Ptr, fdout.Ptr, fp.Ptr, maskPtr, fqkv.Ptr, batch, Precision.Fp32);
        fdqkv.Fill(-3); // overwritten
        Attention.Backward<TT, TH, THd>(fdqkv.Ptr, fdp.Ptr, fdout.Ptr, fp.Ptr, maskPtr, fqkv.Ptr, batch, units);
        AssertClose(dqkv, fdqkv, 1e-4, 2e-4, "bf16 dqkv");
        AssertClose(dqkv32, fdqkv, 3e-2, 1e-2, "bf16 dqkv against fp32");
        double apart = dqkv32.Zip(fdqkv.ToDoubles()).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(apart > 1e-3 * MaxAbs(dqkv32), $"bf16 attention dqkv equals fp32's (apart {apart:G3})");
        // The bf16 call leaves nothing behind for fp32 (they share the per-thread scratch): fp32 after it
        // is bit for bit fp32 before it.
        Attention.Backward<TT, TH, THd>(after.Ptr, fdp.Ptr, fdout.Ptr, fp.Ptr, maskPtr, fqkv.Ptr, batch, Precision.Fp32);
        Assert.Equal(before.Span.ToArray(), after.Span.ToArray());
    }

    [SkippableTheory]
    [InlineData(Bf16Units.DotProduct)]
    [InlineData(Bf16Units.Fma)]
    public void Bf16_backward_matches_its_reference_awkward(Bf16Units units) => CompareBf16Backward<D7, D3, D5>(units, 2, true, 31);

    [SkippableTheory]
    [InlineData(Bf16Units.DotProduct)]
    [InlineData(Bf16Units.Fma)]
    public void Bf16_backward_matches_its_reference_with_cifar_heads(Bf16Units units) => CompareBf16Backward<D65, D3, D64>(units, 2, false, 32);

    [SkippableTheory]
    [InlineData(Bf16Units.DotProduct)]
    [InlineData(Bf16Units.Fma)]
    public void Bf16_backward_matches_its_reference_with_dropout(Bf16Units units) => CompareBf16Backward<D67, D4, D24>(units, 2, true, 33);

    [SkippableFact]
    public void Bf16_backward_units_agree()
    {
        Skip.IfNot(Bf16Gemm.IsSupported, Bf16Gemm.Unavailable ?? "");
        const int batch = 2, t = 67, h = 2, hd = 64, d = h * hd;
        var rng = new Rng(34);
        using FloatTensor qkv = new(Random(ref rng, batch * t * 3 * d, 2)), dout = new(Random(ref rng, batch * t * d)), o = new(batch * t * d),
            p = new(batch * h * t * t), dp = new(batch * h * t * t), a = new(batch * t * 3 * d), b = new(batch * t * 3 * d);
        Attention.Forward<D67, D2, D64>(o.Ptr, p.Ptr, TensorPtr.Null, qkv.Ptr, batch, (Bf16Units?)null);
        Attention.Backward<D67, D2, D64>(a.Ptr, dp.Ptr, dout.Ptr, p.Ptr, TensorPtr.Null, qkv.Ptr, batch, Bf16Units.DotProduct);
        Attention.Backward<D67, D2, D64>(b.Ptr, dp.Ptr, dout.Ptr, p.Ptr, TensorPtr.Null, qkv.Ptr, batch, Bf16Units.Fma);
        var x = a.ToDoubles();
        AssertClose(x, b.ToDoubles(), 1e-3, 3e-4 * MaxAbs(x), "VDPBF16PS against FMA bf16 attention backward");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReferenceGradients(bool dropout)
    {
        const int batch = 2, t = 4, h = 2, hd = 3, d = h * hd;
        var rng = new Rng(dropout ? 6UL : 5UL);
        var qkv = Random(ref rng, batch * t * 3 * d, 1.5);
        var r = Random(ref rng, batch * t * d);
        var mask = dropout ? Mask(ref rng, batch * h * t * t, 0.3) : null;
        var probs = new double[batch * h * t * t];
        double[] Run() { var o = new double[batch * t * d]; Attention.ReferenceForward(o, probs, mask, qkv, batch, t, h, hd); return o; }
        Run();
        var dqkv = new double[qkv.Length];
        Attention.ReferenceBackward(dqkv, r, probs, mask, qkv, batch, t, h, hd);
        CheckGradient(qkv, Run, r, dqkv, "qkv");
    }
}
