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

    [SkippableTheory]
    [InlineData(1, 1, 1, false, false)]
    [InlineData(5, 17, 3, true, false)]
    [InlineData(7, 33, 31, false, true)]
    [InlineData(50, 40, 64, true, true)]
    [InlineData(97, 48, 130, true, false)] // rows over two 48-row blocks and a tail, an odd number of pairs
    [InlineData(197, 80, 96, true, false)] // ViT-B/16's 197 tokens
    public void Matches_the_scalar_reference(int m, int n, int k, bool bias, bool accumulate)
    {
        SkipUnlessSupported();
        var rng = new Rng((ulong)(m * 1000 + n * 10 + k));
        float[] a = Normal(ref rng, m * k), w = Normal(ref rng, n * k), b = Normal(ref rng, n), c0 = Normal(ref rng, m * n);
        var expected = c0.Select(v => (double)v).ToArray();
        Bf16Gemm.Reference(expected, a, w, bias ? b : null, m, n, k, accumulate);
        var c = (float[])c0.Clone();
        using var scratch = new NativeBuffer(1);
        fixed (float* pa = a, pw = w, pb = b, pc = c)
        {
            using var packed = Bf16Gemm.PackWeights(pw, k, n, k);
            Bf16Gemm.Multiply(pc, n, pa, k, packed, m, bias ? pb : null, accumulate, scratch);
        }
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                // fp32 accumulation in another order: within k·2⁻²⁴ of the sum of |products| (with margin), plus the added C.
                double scale = Math.Abs(accumulate ? c0[i * n + j] : 0) + (bias ? Math.Abs(b[j]) : 0);
                for (int t = 0; t < k; t++) scale += Math.Abs((double)Bf16Gemm.Round(a[i * k + t]) * Bf16Gemm.Round(w[j * k + t]));
                double tolerance = 4 * (k + 2) * scale / (1 << 24);
                Assert.True(Math.Abs(c[i * n + j] - expected[i * n + j]) <= tolerance,
                    $"C[{i}, {j}] = {c[i * n + j]}, reference {expected[i * n + j]}, tolerance {tolerance:G3} ({m}×{n}×{k})");
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
