using Vit.Backends.Cpu;
using Vit.Memory;
using Vit.Numerics;
using Xunit;

namespace Vit.Tests.Kernels;

/// <summary>
/// The AVX512-BF16 GEMM (<see cref="Bf16Gemm"/>, C in Native/bf16_gemm.c) against its scalar
/// reference (bf16-rounded operands, products summed in double), and how far bf16 lies from fp32.
/// Skipped, with the reason, where the library was not built or the CPU lacks AVX512-BF16.
/// </summary>
public sealed unsafe class Bf16GemmTests
{
    private static void SkipUnlessSupported() => Skip.IfNot(Bf16Gemm.IsSupported, Bf16Gemm.Unavailable ?? "");

    [Fact]
    public void Rounding_is_to_nearest_even()
    {
        Assert.Equal(0x3F80, Bf16Gemm.RoundBits(1f));
        Assert.Equal(0x3F80, Bf16Gemm.RoundBits(1f + 1f / 256)); // the tie 1 + 2⁻⁸ goes to the even 1
        Assert.Equal(0x3F82, Bf16Gemm.RoundBits(1f + 3f / 256)); // the tie 1 + 3·2⁻⁸ goes to the even 1 + 2⁻⁶
        Assert.Equal(0x3F81, Bf16Gemm.RoundBits(1f + 1f / 256 + 1f / 65536)); // above the tie: up
        Assert.Equal(0x7F80, Bf16Gemm.RoundBits(float.PositiveInfinity));
        Assert.Equal(0xFF80, Bf16Gemm.RoundBits(float.NegativeInfinity));
        Assert.True(float.IsNaN(Bf16Gemm.Round(float.NaN)));
        Assert.Equal(0x7F80, Bf16Gemm.RoundBits(float.MaxValue)); // rounds up past the largest bf16
    }

    [SkippableFact]
    public void The_native_rounding_is_the_same()
    {
        SkipUnlessSupported();
        var rng = new Rng(4);
        for (int i = 0; i < 100_000; i++)
        {
            float x = BitConverter.UInt32BitsToSingle((uint)rng.NextUInt64());
            if (float.IsNaN(x)) continue;
            Assert.Equal(Bf16Gemm.RoundBits(x), (ushort)Bf16Gemm.NativeRoundBits(x));
        }
    }

    // The transposed packer (one VCVTNE2PS2BF16 and one VPERMW per 16 pairs) lays out exactly the
    // scalar rounding's bits: every bit pattern but NaN's, the specials, ragged panels, an odd k
    // (its last pair's high half zero), and one large enough to be shared out over the pool. The one
    // exception is the hardware's: AVX512-BF16's conversions read fp32 subnormals (below 2⁻¹²⁶) as
    // zeros of their sign, where the scalar rounding keeps them (VDPBF16PS treats bf16 subnormals
    // so too); values that small contribute nothing a ViT's fp32 sums can hold.
    [SkippableTheory]
    [InlineData(40, 37)]
    [InlineData(200, 1401)]
    public void The_transposed_packer_gives_the_scalar_bits(int n, int k)
    {
        SkipUnlessSupported();
        var rng = new Rng((ulong)(n + k));
        const int pad = 5;
        var m = new float[k * (n + pad)]; // M (k × n), rows n + pad apart; the weights are Mᵀ (n × k)
        for (int i = 0; i < m.Length; i++)
        {
            float x;
            do x = BitConverter.UInt32BitsToSingle((uint)rng.NextUInt64()); while (float.IsNaN(x));
            m[i] = x;
        }
        float[] special = [float.PositiveInfinity, float.NegativeInfinity, float.MaxValue, -float.MaxValue, float.Epsilon, -float.Epsilon,
            0f, -0f, 1f + 1f / 256, 1f + 3f / 256, 1f + 1f / 256 + 1f / 65536, 1e-40f];
        special.CopyTo(m, 3);
        int kp = (k + 1) / 2;
        fixed (float* pm = m)
        {
            using var packed = Bf16Gemm.PackWeightsTransposed(pm, n + pad, n, k);
            uint* w = packed.Pointer;
            for (int p = 0; p < (n + 15) / 16; p++)
                for (int q = 0; q < kp; q++)
                    for (int j = 0; j < 16; j++)
                    {
                        int col = 16 * p + j;
                        uint lo = col < n ? Hardware(m[2 * q * (n + pad) + col]) : 0u;
                        uint hi = col < n && 2 * q + 1 < k ? Hardware(m[(2 * q + 1) * (n + pad) + col]) : 0u;
                        uint found = w[((long)p * kp + q) * 16 + j];
                        if (found != (lo | hi << 16)) Assert.Fail($"panel {p}, pair {q}, lane {j}: {found:X8}, expected {lo | hi << 16:X8}");
                    }
        }
        static uint Hardware(float x) => float.IsSubnormal(x) ? (float.IsNegative(x) ? 0x8000u : 0u) : Bf16Gemm.RoundBits(x);
    }

    [Fact]
    public void The_vector_rounding_gives_the_scalar_bits()
    {
        var rng = new Rng(8);
        var src = new float[4099];
        for (int i = 0; i < src.Length; i++) src[i] = BitConverter.UInt32BitsToSingle((uint)rng.NextUInt64());
        float[] special = [float.NaN, -float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.MaxValue, -float.MaxValue,
            float.Epsilon, -float.Epsilon, 0f, -0f, 1f + 1f / 256, 1f + 3f / 256, 1f + 1f / 256 + 1f / 65536, 1e-40f];
        special.CopyTo(src, 17);
        var dst = new float[src.Length];
        fixed (float* s = src, d = dst) Bf16Gemm.RoundSpan(d, s, src.Length); // 16-, 8- and 1-wide parts
        for (int i = 0; i < src.Length; i++)
            Assert.True(BitConverter.SingleToUInt32Bits(Bf16Gemm.Round(src[i])) == BitConverter.SingleToUInt32Bits(dst[i]),
                $"element {i}: {src[i]:R} rounds to {dst[i]:R}, the scalar rounding to {Bf16Gemm.Round(src[i]):R}");
    }

    [Fact]
    public void The_units_follow_the_variable_else_the_faster_probe()
    {
        (double, double) NoProbe() => throw new InvalidOperationException("probed although the variable decides");
        Assert.Equal(Bf16Units.Fma, Bf16Gemm.ChooseUnits("fma", null, NoProbe, out _));
        Assert.Equal(Bf16Units.Fma, Bf16Gemm.ChooseUnits(" FMA ", "no kernel", NoProbe, out _));
        Assert.Equal(Bf16Units.DotProduct, Bf16Gemm.ChooseUnits("dot", null, NoProbe, out _));
        var e = Assert.Throws<PlatformNotSupportedException>(() => Bf16Gemm.ChooseUnits("dot", "this CPU lacks AVX512-BF16 (VDPBF16PS)", NoProbe, out _));
        Assert.Contains("this CPU lacks AVX512-BF16", e.Message);
        var bad = Assert.Throws<ArgumentException>(() => Bf16Gemm.ChooseUnits("amx", null, NoProbe, out _));
        Assert.Equal("VIT_BF16_UNITS must be dot, fma or auto, found 'amx'", bad.Message);
        Assert.Equal(Bf16Units.Fma, Bf16Gemm.ChooseUnits(null, "no kernel", NoProbe, out var reason));
        Assert.Equal("no VDPBF16PS kernel here", reason);
        Assert.Equal(Bf16Units.Fma, Bf16Gemm.ChooseUnits("auto", null, () => (84, 172), out reason)); // Emerald Rapids, per core
        Assert.Equal("VDPBF16PS 84 against FMA 172 GFLOP/s per core", reason);
        Assert.Equal(Bf16Units.DotProduct, Bf16Gemm.ChooseUnits("", null, () => (467, 232), out _)); // Zen 5
        // This machine's choice is one of the two, with its reason.
        Assert.True(Enum.IsDefined(Bf16Gemm.Units));
        Assert.False(string.IsNullOrEmpty(Bf16Gemm.UnitsReason));
    }

    [SkippableTheory]
    [InlineData(1, 1, 1, false, false)]
    [InlineData(5, 17, 3, true, false)]
    [InlineData(7, 33, 31, false, true)]
    [InlineData(50, 40, 64, true, true)]
    [InlineData(97, 48, 130, true, false)] // rows over two 48-row blocks and a tail, an odd number of pairs
    [InlineData(197, 80, 96, true, false)] // ViT-B/16's 197 tokens
    [InlineData(65, 65, 64, false, false)] // cifar's 65 tokens: five panels, the last (one of one column) on the one-panel kernel
    // Few rows and many columns: the threads share 32-column strips (the last one ragged), with GELU per strip.
    [InlineData(197, 150, 96, true, true, true)]
    [InlineData(3, 1000, 40, true, false, true)] // a head: a row per image
    [InlineData(600, 150, 33, false, false, true)] // enough rows to share them instead, with GELU per 48-row block
    public void Matches_the_scalar_reference(int m, int n, int k, bool bias, bool accumulate, bool gelu = false)
    {
        SkipUnlessSupported();
        var rng = new Rng((ulong)(m * 1000 + n * 10 + k));
        float[] a = Normal(ref rng, m * k), w = Normal(ref rng, n * k), b = Normal(ref rng, n), c0 = Normal(ref rng, m * n);
        var expected = c0.Select(v => (double)v).ToArray();
        Bf16Gemm.Reference(expected, a, w, bias ? b : null, m, n, k, accumulate);
        var c = (float[])c0.Clone();
        var g = new float[m * (n + 2)];
        using var scratch = new NativeBuffer(1);
        fixed (float* pa = a, pw = w, pb = b, pc = c, pg = g)
        {
            using var packed = Bf16Gemm.PackWeights(pw, k, n, k);
            Bf16Gemm.Multiply(pc, n, pa, k, packed, m, bias ? pb : null, accumulate, scratch, gelu ? pg : null, n + 2);
        }
        AssertWithinSummationError(c, expected, c0, a, w, bias ? b : null, m, n, k, accumulate);
        if (!gelu) return;
        // gelu(C) into rows n + 2 apart, the two floats after each row left as they were.
        AssertGelu(g, n + 2, c, m, n);
        for (int i = 0; i < m; i++)
        {
            Assert.Equal(0f, g[i * (n + 2) + n]);
            Assert.Equal(0f, g[i * (n + 2) + n + 1]);
        }
    }

    // g (m × n, rows ldg apart) = gelu(C) against the scalar reference of the GELU of C's values.
    private static void AssertGelu(float[] g, int ldg, float[] c, int m, int n)
    {
        var geluRef = new double[m * n];
        Gelu.ReferenceForward(geluRef, c.Select(v => (double)v).ToArray());
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                Assert.True(Math.Abs(g[i * ldg + j] - geluRef[i * n + j]) <= 1e-5 * Math.Abs(geluRef[i * n + j]) + 1e-6,
                    $"gelu(C[{i}, {j}]) = {g[i * ldg + j]}, reference {geluRef[i * n + j]}");
    }

    // C against the reference: fp32 accumulation in another order is within k·2⁻²⁴ of the sum of
    // |products| (with margin), plus the added bias and C.
    private static void AssertWithinSummationError(float[] c, double[] expected, float[] c0, float[] a, float[] w, float[]? b, int m, int n, int k, bool accumulate)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double scale = Math.Abs(accumulate ? c0[i * n + j] : 0) + (b is null ? 0 : Math.Abs(b[j]));
                for (int t = 0; t < k; t++) scale += Math.Abs((double)Bf16Gemm.Round(a[i * k + t]) * Bf16Gemm.Round(w[j * k + t]));
                double tolerance = 4 * (k + 2) * scale / (1 << 24);
                Assert.True(Math.Abs(c[i * n + j] - expected[i * n + j]) <= tolerance,
                    $"C[{i}, {j}] = {c[i * n + j]}, reference {expected[i * n + j]}, tolerance {tolerance:G3} ({m}×{n}×{k})");
            }
    }

    // The FMA units' product (MultiplyRounded: rounded A through the fp32 GEMM against rounded,
    // packed weights) against the same reference, with a padded A, bias, accumulation and the GELU
    // epilogue; it needs no AVX512-BF16.
    [Theory]
    [InlineData(1, 1, 1, false, false, false)]
    [InlineData(5, 17, 3, true, false, false)]
    [InlineData(13, 40, 31, true, true, false)]
    [InlineData(197, 80, 96, true, false, true)]
    [InlineData(70, 33, 257, false, false, true)]
    public void The_fma_units_match_the_scalar_reference(int m, int n, int k, bool bias, bool accumulate, bool gelu)
    {
        var rng = new Rng((ulong)(m * 999 + n * 11 + k));
        int lda = k + 3;
        float[] a = Normal(ref rng, m * lda), w = Normal(ref rng, n * k), b = Normal(ref rng, n), c0 = Normal(ref rng, m * n);
        var dense = new float[m * k];
        for (int i = 0; i < m; i++) Array.Copy(a, i * lda, dense, i * k, k);
        var expected = c0.Select(v => (double)v).ToArray();
        Bf16Gemm.Reference(expected, dense, w, bias ? b : null, m, n, k, accumulate);
        var c = (float[])c0.Clone();
        var g = new float[m * n];
        using var scratch = new NativeBuffer(1);
        fixed (float* pa = a, pw = w, pb = b, pc = c, pg = g)
        {
            using var packed = Bf16Gemm.PackRoundedWeights(pw, n, k, scratch);
            Bf16Gemm.MultiplyRounded(pc, n, pa, lda, packed, m, bias ? pb : null, accumulate, scratch, gelu ? pg : null, n);
        }
        AssertWithinSummationError(c, expected, c0, dense, w, bias ? b : null, m, n, k, accumulate);
        if (gelu) AssertGelu(g, n, c, m, n);
    }

    // The backward pass's transposed operands: Wᵀ as weights (dx = dy·W) and Mᵀ as rows (dW = dyᵀ·x),
    // against the reference on the explicitly transposed matrices; ragged sizes cover the 16 × 16
    // transpose tiles' tails (m, n and the k pairs not multiples of 16, k odd) and padded row strides.
    [SkippableTheory]
    [InlineData(3, 5, 7)]
    [InlineData(50, 17, 33)]
    [InlineData(97, 40, 66)]
    [InlineData(16, 32, 64)]
    [InlineData(130, 49, 45)]
    [InlineData(24, 200, 1401)] // Wᵀ large enough (n·k ≥ 2¹⁸) for its 13 panels to be shared out over the pool
    public void Transposed_operands_match_the_scalar_reference(int m, int n, int k)
    {
        SkipUnlessSupported();
        var rng = new Rng((ulong)(m * 7 + n * 3 + k));
        const int pad = 3;
        // W given as M (k × n, rows n + pad apart): the weights are Mᵀ (n × k).
        float[] a = Normal(ref rng, m * k), mw = Normal(ref rng, k * (n + pad)), c0 = Normal(ref rng, m * n);
        var wt = new float[n * k];
        for (int j = 0; j < n; j++)
            for (int t = 0; t < k; t++) wt[j * k + t] = mw[t * (n + pad) + j];
        // A given as M (k × m, rows m + pad apart): A = Mᵀ (m × k).
        var ma = Normal(ref rng, k * (m + pad));
        var at = new float[m * k];
        for (int i = 0; i < m; i++)
            for (int t = 0; t < k; t++) at[i * k + t] = ma[t * (m + pad) + i];
        var expected = c0.Select(v => (double)v).ToArray();
        Bf16Gemm.Reference(expected, a, wt, null, m, n, k, accumulate: true);
        var expectedT = c0.Select(v => (double)v).ToArray();
        Bf16Gemm.Reference(expectedT, at, wt, null, m, n, k, accumulate: true);
        var c = (float[])c0.Clone();
        var ct = (float[])c0.Clone();
        using var scratch = new NativeBuffer(1);
        fixed (float* pa = a, pmw = mw, pma = ma, pc = c, pct = ct)
        {
            using var packed = Bf16Gemm.PackWeightsTransposed(pmw, n + pad, n, k);
            Bf16Gemm.Multiply(pc, n, pa, k, packed, m, null, accumulate: true, scratch);
            Bf16Gemm.MultiplyTransposed(pct, n, pma, m + pad, packed, m, accumulate: true, scratch);
        }
        for (int i = 0; i < m * n; i++)
        {
            double tolerance = 4 * (k + 2) * (Math.Abs(expected[i]) + 1) * 8 / (1 << 24);
            Assert.True(Math.Abs(c[i] - expected[i]) <= tolerance, $"Wᵀ packed: C[{i / n}, {i % n}] = {c[i]}, reference {expected[i]} ({m}×{n}×{k})");
            Assert.True(Math.Abs(ct[i] - expectedT[i]) <= tolerance, $"Mᵀ rows: C[{i / n}, {i % n}] = {ct[i]}, reference {expectedT[i]} ({m}×{n}×{k})");
        }
    }

    [SkippableFact]
    public void A_strided_output_and_input_keep_the_other_columns()
    {
        SkipUnlessSupported();
        const int m = 13, n = 20, k = 24, lda = 30, ldc = 27;
        var rng = new Rng(9);
        float[] a = Normal(ref rng, m * lda), w = Normal(ref rng, n * k), c = Normal(ref rng, m * ldc);
        var before = (float[])c.Clone();
        var dense = new float[m * k];
        for (int i = 0; i < m; i++) Array.Copy(a, i * lda, dense, i * k, k);
        var expected = new double[m * n];
        Bf16Gemm.Reference(expected, dense, w, null, m, n, k, accumulate: false);
        using var scratch = new NativeBuffer(1);
        fixed (float* pa = a, pw = w, pc = c)
        {
            using var packed = Bf16Gemm.PackWeights(pw, k, n, k);
            Bf16Gemm.Multiply(pc, ldc, pa, lda, packed, m, null, accumulate: false, scratch);
        }
        for (int i = 0; i < m; i++)
            for (int j = 0; j < ldc; j++)
                if (j < n) Assert.Equal(expected[i * n + j], c[i * ldc + j], 3e-4);
                else Assert.Equal(before[i * ldc + j], c[i * ldc + j]); // the columns past n are not touched
    }

    [SkippableFact]
    public void Bf16_is_within_its_rounding_of_the_fp32_product_and_not_equal_to_it()
    {
        SkipUnlessSupported();
        const int m = 64, n = 64, k = 768; // a ViT-B row against 64 of its output columns
        var rng = new Rng(12);
        float[] a = Normal(ref rng, m * k), w = Normal(ref rng, n * k), c = new float[m * n];
        using var scratch = new NativeBuffer(1);
        fixed (float* pa = a, pw = w, pc = c)
        {
            using var packed = Bf16Gemm.PackWeights(pw, k, n, k);
            Bf16Gemm.Multiply(pc, n, pa, k, packed, m, null, accumulate: false, scratch);
        }
        double worst = 0;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double exact = 0, magnitude = 0;
                for (int t = 0; t < k; t++)
                {
                    exact += (double)a[i * k + t] * w[j * k + t];
                    magnitude += Math.Abs((double)a[i * k + t] * w[j * k + t]);
                }
                double relative = Math.Abs(c[i * n + j] - exact) / magnitude;
                worst = Math.Max(worst, relative);
                // Each operand is within 2⁻⁹ of itself, so each product within about 2⁻⁸.
                Assert.True(relative <= 1.0 / 256, $"C[{i}, {j}]: {relative:G3} of the sum of |products| from fp32");
            }
        Assert.True(worst > 1e-5, $"bf16 should differ visibly from fp32 (worst {worst:G3}): are the operands rounded?");
    }

    private static float[] Normal(ref Rng rng, int count)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)rng.NextNormal();
        return values;
    }
}

/// <summary>
/// bf16 inference and mixed-precision training of a whole model (<see cref="Vit.Memory.ModelMemory.Precision"/>):
/// logits and gradients close to fp32 and not equal to them, the native kernel and the fallback
/// agree, packed weights follow the parameters and the optimizer, the loss falls, and steady-state
/// bf16 forward passes and training steps allocate nothing.
/// </summary>
public sealed class Bf16ModelTests
{
    private static float[] Images(int batch, ulong seed)
    {
        var rng = new Rng(seed);
        var images = new float[batch * 3 * 32 * 32];
        for (int i = 0; i < images.Length; i++) images[i] = (float)rng.NextNormal();
        return images;
    }

    private static float[] Logits(Vit.Tests.Training.SmallCifar model, float[] images, int batch)
    {
        var logits = new float[batch * 10];
        model.Forward(images, batch, logits);
        return logits;
    }

    // A theory over the units: skipped, saying why, for VDPBF16PS where the kernel cannot run.
    private static void OnUnits(Bf16Units units, Action body)
    {
        Skip.If(units == Bf16Units.DotProduct && !Bf16Gemm.IsSupported, Bf16Gemm.Unavailable ?? "");
        On(units, () => { body(); return 0; });
    }

    // Runs body on the given units (Bf16Linear.ForceUnits), restoring the machine's choice after.
    private static T On<T>(Bf16Units units, Func<T> body)
    {
        Bf16Linear.ForceUnits = units;
        try
        {
            return body();
        }
        finally
        {
            Bf16Linear.ForceUnits = null;
        }
    }

    [Fact]
    public void Bf16_logits_are_close_to_fp32_and_both_units_give_the_same_numbers()
    {
        const int batch = 6;
        using var model = new Vit.Tests.Training.SmallCifar(seed: 5, maxBatch: batch);
        var images = Images(batch, 2);
        var fp32 = Logits(model, images, batch);
        model.Memory.Precision = Vit.Backends.Cpu.Precision.Bf16;
        var fma = On(Bf16Units.Fma, () => Logits(model, images, batch));
        double scale = fp32.Max(v => Math.Abs(v));
        double worst = fp32.Zip(fma).Max(p => Math.Abs(p.First - p.Second));
        // bf16 operands carry 8 bits: the logits move by about 1 % of their size through 2 blocks and a head.
        Assert.True(worst <= 0.03 * scale, $"bf16 logits {worst:G3} from fp32 (scale {scale:G3})");
        Assert.True(worst > 1e-6 * scale, "bf16 logits equal fp32's: is bf16 on?");
        if (Bf16Gemm.IsSupported)
        {
            // The same bf16 operands, summed in fp32 in another order.
            var dot = On(Bf16Units.DotProduct, () => Logits(model, images, batch));
            double apart = dot.Zip(fma).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(apart <= 1e-4 * scale, $"VDPBF16PS and FMA bf16 logits differ by {apart:G3} (scale {scale:G3})");
            Assert.Equal(fma, On(Bf16Units.Fma, () => Logits(model, images, batch))); // the caches follow the switch
        }
        model.Memory.Precision = Vit.Backends.Cpu.Precision.Fp32;
        Assert.Equal(fp32, Logits(model, images, batch)); // fp32 is bit for bit what it was
    }

    // The FMA units' inference (weights kept in the fp32 GEMM's panels, GELU fused) gives the bits of
    // their training forward (weights rounded and read in place, GELU fused): the panels hold the same
    // rounded values and the GEMM sums them in the same order.
    [Fact]
    public void Fma_units_infer_what_they_train_on()
    {
        const int batch = 3;
        using var model = new Vit.Tests.Training.SmallCifarPlain(seed: 6, maxBatch: batch);
        model.Memory.Precision = Vit.Backends.Cpu.Precision.Bf16;
        var images = Images(batch, 11);
        var logits = new float[batch * 10];
        On(Bf16Units.Fma, () => { model.Forward(images, batch, logits); return 0; });
        // The loss of those logits, as ForwardBackward computes it from its own (training) forward pass.
        int[] labels = [3, 1, 4];
        double expected = 0;
        for (int i = 0; i < batch; i++)
        {
            var row = logits.AsSpan(i * 10, 10).ToArray();
            double max = row.Max(), sum = row.Sum(v => Math.Exp(v - max));
            expected += max + Math.Log(sum) - row[labels[i]];
        }
        expected /= batch;
        float loss = On(Bf16Units.Fma, () => model.ForwardBackward(images, labels, batch));
        Assert.True(Math.Abs(loss - expected) <= 1e-5 * Math.Max(1, Math.Abs(expected)), $"training forward's loss {loss} against {expected} from the inference logits");
    }

    [Fact]
    public void Packed_weights_follow_the_parameters()
    {
        const int batch = 2;
        using var a = new Vit.Tests.Training.SmallCifar(seed: 5, maxBatch: batch);
        using var b = new Vit.Tests.Training.SmallCifar(seed: 5, maxBatch: batch);
        a.Memory.Precision = b.Memory.Precision = Vit.Backends.Cpu.Precision.Bf16;
        var images = Images(batch, 3);
        var before = Logits(a, images, batch);
        a.Parameter("blocks.0.mlp.fc1.weight")[7] += 0.5f;
        b.Parameter("blocks.0.mlp.fc1.weight")[7] += 0.5f;
        var after = Logits(a, images, batch);
        Assert.NotEqual(before, after);
        Assert.Equal(Logits(b, images, batch), after); // as a model packed after the write
    }

    private static Dictionary<string, float[]> Gradients(Vit.Tests.Training.SmallCifarPlain model, float[] images, int[] labels, int batch)
    {
        model.ZeroGradients();
        model.ForwardBackward(images, labels, batch);
        return Vit.Tests.Training.SmallCifarPlain.Parameters.ToDictionary(p => p.Name, p => model.Gradient(p.Name).ToArray());
    }

    // Mixed precision: the Linear layers' forward and backward products in bf16. Every gradient is
    // within 5 % of its tensor's largest value of the fp32 gradient (8-bit operands through 2 blocks
    // and back), not equal to it, and the two units (the same rounded operands, VDPBF16PS or the fp32
    // FMAs) give the same gradients to within fp32 summation order.
    [Fact]
    public void Bf16_training_gradients_are_close_to_fp32_and_both_units_give_the_same_numbers()
    {
        const int batch = 6;
        using var model = new Vit.Tests.Training.SmallCifarPlain(seed: 5, maxBatch: batch); // no dropout: the same step three times
        var images = Images(batch, 7);
        int[] labels = [1, 2, 3, 4, 5, 6];
        var fp32 = Gradients(model, images, labels, batch);
        model.Memory.Precision = Vit.Backends.Cpu.Precision.Bf16;
        var fma = On(Bf16Units.Fma, () => Gradients(model, images, labels, batch));
        var dot = Bf16Gemm.IsSupported ? On(Bf16Units.DotProduct, () => Gradients(model, images, labels, batch)) : null;
        bool anyDifferent = false;
        foreach (var (name, g) in fp32)
        {
            double scale = g.Max(v => Math.Abs(v));
            if (scale == 0) continue;
            double worst = g.Zip(fma[name]).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(worst <= 0.05 * scale, $"{name}: bf16 gradient {worst:G3} from fp32 (scale {scale:G3})");
            anyDifferent |= worst > 1e-6 * scale;
            if (dot is not null)
            {
                double apart = dot[name].Zip(fma[name]).Max(p => Math.Abs(p.First - p.Second));
                Assert.True(apart <= 1e-3 * scale, $"{name}: VDPBF16PS and FMA bf16 gradients differ by {apart:G3} (scale {scale:G3})");
            }
        }
        Assert.True(anyDifferent, "bf16 gradients equal fp32's: is bf16 on?");
        model.Memory.Precision = Vit.Backends.Cpu.Precision.Fp32;
        var again = Gradients(model, images, labels, batch);
        foreach (var (name, g) in fp32) Assert.Equal(g, again[name]); // fp32 is bit for bit what it was
    }

    [SkippableTheory]
    [InlineData(Bf16Units.Fma)]
    [InlineData(Bf16Units.DotProduct)]
    public void Bf16_training_follows_the_optimizer_and_lowers_the_loss(Bf16Units units) => OnUnits(units, TrainsOnOneBatch);

    private static void TrainsOnOneBatch()
    {
        const int batch = 8;
        using var model = new Vit.Tests.Training.SmallCifar(seed: 3, maxBatch: batch);
        model.Memory.Precision = Vit.Backends.Cpu.Precision.Bf16;
        using var optimizer = Vit.Training.Optimizer.Create(model.Memory, new Vit.Training.OptimizerOptions());
        var images = Images(batch, 9);
        int[] labels = [0, 1, 2, 3, 4, 5, 6, 7];
        float first = 0, last = 0;
        for (int step = 0; step < 12; step++)
        {
            model.ZeroGradients();
            last = model.ForwardBackward(images, labels, batch);
            if (step == 0) first = last;
            optimizer.Step(3e-3); // the packed weights are repacked after every step (ParameterVersion)
        }
        Assert.True(last < 0.7 * first, $"bf16 training on one batch: loss {first} → {last}");
    }

    [SkippableTheory]
    [InlineData(Bf16Units.Fma)]
    [InlineData(Bf16Units.DotProduct)]
    public void A_steady_state_bf16_training_step_allocates_nothing(Bf16Units units) => OnUnits(units, TrainingStepsAllocateNothing);

    private static void TrainingStepsAllocateNothing()
    {
        const int batch = 4;
        using var model = new Vit.Tests.Training.SmallCifar(seed: 5, maxBatch: batch);
        model.Memory.Precision = Vit.Backends.Cpu.Precision.Bf16;
        var images = Images(batch, 4);
        int[] labels = [1, 2, 3, 4];
        var result = SteadyState.Allocation(() => model.ForwardBackward(images, labels, batch), () => GC.GetAllocatedBytesForCurrentThread() + Vit.Backends.Cpu.WorkerPool.Shared.WorkerAllocatedBytes, window: 3, confirm: 30, maxWindows: 100);
        Assert.True(result.Quiet && result.ConfirmedBytes == 0, $"steady-state bf16 training steps allocate: {result}");
    }

    [SkippableTheory]
    [InlineData(Bf16Units.Fma)]
    [InlineData(Bf16Units.DotProduct)]
    public void A_steady_state_bf16_forward_allocates_nothing(Bf16Units units) => OnUnits(units, ForwardPassesAllocateNothing);

    private static void ForwardPassesAllocateNothing()
    {
        const int batch = 4;
        using var model = new Vit.Tests.Training.SmallCifar(seed: 5, maxBatch: batch);
        model.Memory.Precision = Vit.Backends.Cpu.Precision.Bf16;
        var images = Images(batch, 4);
        var logits = new float[batch * 10];
        var result = SteadyState.Allocation(() => model.Forward(images, batch, logits), () => GC.GetAllocatedBytesForCurrentThread() + Vit.Backends.Cpu.WorkerPool.Shared.WorkerAllocatedBytes, window: 3, confirm: 100, maxWindows: 300);
        Assert.True(result.Quiet && result.ConfirmedBytes == 0, $"steady-state bf16 forward passes allocate: {result}");
    }
}
