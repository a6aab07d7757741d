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

    // The backward pass's transposed operands: Wᵀ as weights (dx = dy·W) and Mᵀ as rows (dW = dyᵀ·x),
    // against the reference on the explicitly transposed matrices; ragged sizes cover the 16 × 16
    // transpose tiles' tails (m, n and the k pairs not multiples of 16, k odd) and padded row strides.
    [SkippableTheory]
    [InlineData(3, 5, 7)]
    [InlineData(50, 17, 33)]
    [InlineData(97, 40, 66)]
    [InlineData(16, 32, 64)]
    [InlineData(130, 49, 45)]
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

    [Fact]
    public void Bf16_logits_are_close_to_fp32_and_the_fallback_gives_the_native_numbers()
    {
        const int batch = 6;
        using var model = new Vit.Tests.Training.SmallCifar(seed: 5, maxBatch: batch);
        var images = Images(batch, 2);
        var fp32 = Logits(model, images, batch);
        model.Memory.Precision = Vit.Backends.Cpu.Precision.Bf16;
        Vit.Backends.Cpu.Bf16Linear.ForceFallback = true;
        float[] fallback;
        try
        {
            fallback = Logits(model, images, batch);
        }
        finally
        {
            Vit.Backends.Cpu.Bf16Linear.ForceFallback = false;
        }
        model.Memory.Precision = Vit.Backends.Cpu.Precision.Bf16; // repack for the native kernel
        var bf16 = Logits(model, images, batch);
        double scale = fp32.Max(v => Math.Abs(v));
        double worst = fp32.Zip(fallback).Max(p => Math.Abs(p.First - p.Second));
        // bf16 operands carry 8 bits: the logits move by about 1 % of their size through 2 blocks and a head.
        Assert.True(worst <= 0.03 * scale, $"bf16 logits {worst:G3} from fp32 (scale {scale:G3})");
        Assert.True(worst > 1e-6 * scale, "bf16 logits equal fp32's: is bf16 on?");
        if (Bf16Gemm.IsSupported)
        {
            // The same bf16 operands, summed in fp32 in another order.
            double apart = bf16.Zip(fallback).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(apart <= 1e-4 * scale, $"native and fallback bf16 differ by {apart:G3} (scale {scale:G3})");
        }
        model.Memory.Precision = Vit.Backends.Cpu.Precision.Fp32;
        Assert.Equal(fp32, Logits(model, images, batch)); // fp32 is bit for bit what it was
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
    // and back), not equal to it, and the fallback (the same rounded operands through the fp32 GEMM)
    // gives the native kernel's gradients to within fp32 summation order.
    [Fact]
    public void Bf16_training_gradients_are_close_to_fp32_and_the_fallback_gives_the_native_numbers()
    {
        const int batch = 6;
        using var model = new Vit.Tests.Training.SmallCifarPlain(seed: 5, maxBatch: batch); // no dropout: the same step three times
        var images = Images(batch, 7);
        int[] labels = [1, 2, 3, 4, 5, 6];
        var fp32 = Gradients(model, images, labels, batch);
        model.Memory.Precision = Vit.Backends.Cpu.Precision.Bf16;
        Vit.Backends.Cpu.Bf16Linear.ForceFallback = true;
        Dictionary<string, float[]> fallback;
        try
        {
            fallback = Gradients(model, images, labels, batch);
        }
        finally
        {
            Vit.Backends.Cpu.Bf16Linear.ForceFallback = false;
        }
        model.Memory.Precision = Vit.Backends.Cpu.Precision.Bf16; // repack for the native kernel
        var native = Gradients(model, images, labels, batch);
        bool anyDifferent = false;
        foreach (var (name, g) in fp32)
        {
            double scale = g.Max(v => Math.Abs(v));
            if (scale == 0) continue;
            double worst = g.Zip(fallback[name]).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(worst <= 0.05 * scale, $"{name}: bf16 gradient {worst:G3} from fp32 (scale {scale:G3})");
            anyDifferent |= worst > 1e-6 * scale;
            if (Bf16Gemm.IsSupported)
            {
                double apart = native[name].Zip(fallback[name]).Max(p => Math.Abs(p.First - p.Second));
                Assert.True(apart <= 1e-3 * scale, $"{name}: native and fallback bf16 gradients differ by {apart:G3} (scale {scale:G3})");
            }
        }
        Assert.True(anyDifferent, "bf16 gradients equal fp32's: is bf16 on?");
        model.Memory.Precision = Vit.Backends.Cpu.Precision.Fp32;
        var again = Gradients(model, images, labels, batch);
        foreach (var (name, g) in fp32) Assert.Equal(g, again[name]); // fp32 is bit for bit what it was
    }

    [Fact]
    public void Bf16_training_follows_the_optimizer_and_lowers_the_loss()
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

    [Fact]
    public void A_steady_state_bf16_training_step_allocates_nothing()
    {
        const int batch = 4;
        using var model = new Vit.Tests.Training.SmallCifar(seed: 5, maxBatch: batch);
        model.Memory.Precision = Vit.Backends.Cpu.Precision.Bf16;
        var images = Images(batch, 4);
        int[] labels = [1, 2, 3, 4];
        var result = SteadyState.Allocation(() => model.ForwardBackward(images, labels, batch), () => GC.GetAllocatedBytesForCurrentThread() + Vit.Backends.Cpu.WorkerPool.Shared.WorkerAllocatedBytes, window: 3, confirm: 30, maxWindows: 100);
        Assert.True(result.Quiet && result.ConfirmedBytes == 0, $"steady-state bf16 training steps allocate: {result}");
    }

    [Fact]
    public void A_steady_state_bf16_forward_allocates_nothing()
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
