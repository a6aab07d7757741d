using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Vit.Memory;
using Vit.Numerics;

namespace Vit.Backends.Cpu;

/// <summary>
/// The exact (erf) GELU of timm's MLP: gelu(x) = ½·x·(1 + erf(x/√2)).
/// </summary>
/// <remarks>
/// The float path evaluates erfc(|x|/√2) 16 (AVX-512) or 8 (AVX2) lanes at a time in float with
/// the Numerical Recipes fit that <see cref="Erf"/> uses, writing 1 + erf(z) as erfc(−z) for
/// negative z so that large negative inputs keep their relative accuracy. The exp is
/// <see cref="FastExp"/> (one per element in the forward pass) and the division a VRCP14PS
/// (AVX-512) or VRCPPS (AVX2) with a Newton step: the GELU epilogue of fc1 was 4 % of a ViT-B/16
/// batch-1 forward with .NET's <c>Vector512.Exp</c>, which evaluates in double. Large tensors are split over
/// <see cref="WorkerPool.Shared"/>.
/// </remarks>
public static unsafe class Gelu
{
    private const int Chunk = 8192;
    private const double InvSqrt2 = 0.7071067811865476;
    private const double InvSqrt2Pi = 0.3989422804014327;

    private struct Args
    {
        public float* Out, In, X;
        public long Count;
    }

    /// <summary>Forward: y = gelu(x).</summary>
    /// <param name="y">Output, (count); may alias <paramref name="x"/>.</param>
    /// <param name="x">Input, (count).</param>
    /// <param name="count">The number of elements.</param>
    public static void Forward(TensorPtr y, TensorPtr x, long count)
    {
        var args = new Args { Out = y.Pointer, In = x.Pointer, X = x.Pointer, Count = count };
        WorkerPool.Shared.Run(&ForwardChunks, &args, ChunkCount(count));
    }

    /// <summary>Backward: dx = dy·gelu'(x) (overwrite).</summary>
    /// <param name="dx">Input gradient, (count); may alias <paramref name="dy"/>.</param>
    /// <param name="dy">Output gradient, (count).</param>
    /// <param name="x">The forward input, (count).</param>
    /// <param name="count">The number of elements.</param>
    public static void Backward(TensorPtr dx, TensorPtr dy, TensorPtr x, long count)
    {
        var args = new Args { Out = dx.Pointer, In = dy.Pointer, X = x.Pointer, Count = count };
        WorkerPool.Shared.Run(&BackwardChunks, &args, ChunkCount(count));
    }

    /// <summary>Scalar reference: y = gelu(x).</summary>
    /// <param name="y">(count).</param>
    /// <param name="x">(count).</param>
    public static void ReferenceForward(double[] y, double[] x)
    {
        for (int i = 0; i < x.Length; i++) y[i] = 0.5 * x[i] * Erf.Complement(-x[i] * InvSqrt2);
    }

    /// <summary>Scalar reference: dx = dy·gelu'(x).</summary>
    /// <param name="dx">(count), overwritten.</param>
    /// <param name="dy">(count).</param>
    /// <param name="x">(count).</param>
    public static void ReferenceBackward(double[] dx, double[] dy, double[] x)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            dx[i] = dy[i] * (0.5 * Erf.Complement(-v * InvSqrt2) + v * Math.Exp(-0.5 * v * v) * InvSqrt2Pi);
        }
    }

    private static int ChunkCount(long count) => checked((int)((count + Chunk - 1) / Chunk));

    private static double OnePlusErf(double x)
    {
        double z = x * InvSqrt2;
        double c = Erf.ComplementOfAbs(Math.Abs(z));
        return z >= 0 ? 2 - c : c;
    }

    // 1 + erf(x/√2) for 16 lanes, in float (the forward pass). erfc(a), a = |x|/√2, is Numerical
    // Recipes' t·exp(−a² + P(t)) with t = 1/(1 + a/2). The exponent is P(t) − a² kept to about twice
    // float's precision: a² = x²/2 = hi + lo exactly (from x, an FMA giving lo; a itself is rounded,
    // and its rounding alone would cost 2e-6 of erfc at x = −5.7), P(t) − hi = s + e exactly (TwoSum),
    // so exp(s)·(1 + e − lo) keeps the relative precision of erfc where it is tiny (large negative x)
    // with a single exp. t takes VRCP14PS and one Newton step (relative error about 2⁻²⁸) instead of
    // a division.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> OnePlusErf(Vector512<float> x)
    {
        var a = Vector512.Abs(x) * Vector512.Create((float)InvSqrt2);
        var t = Reciprocal(Vector512<float>.One + Vector512.Create(0.5f) * a);
        var p = Polynomial(t);
        var x2 = x * x; // a² = x²/2 = (x2 + r)/2 exactly: from x itself, not from the rounded a
        var hi = Vector512.Create(0.5f) * x2;
        var lo = Vector512.Create(0.5f) * Vector512.FusedMultiplyAdd(x, x, -x2);
        var s = p - hi; // TwoSum(p, −hi) = s + e
        var bb = s - p;
        var e = (p - (s - bb)) + (-hi - bb);
        var c = t * FastExp.Evaluate(s) * (Vector512<float>.One + (e - lo));
        return Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, Vector512<float>.Zero), Vector512.Create(2f) - c, c);
    }

    // 1 + erf(x/√2) and the standard normal density φ(x) for 16 lanes (the backward pass): as above,
    // with exp(−a²) = exp(−hi)·(1 − lo) and exp(P(t)) taken apart, since φ needs the first.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> OnePlusErf(Vector512<float> x, out Vector512<float> density)
    {
        var a = Vector512.Abs(x) * Vector512.Create((float)InvSqrt2);
        var one = Vector512<float>.One;
        var t = Reciprocal(one + Vector512.Create(0.5f) * a);
        var p = Polynomial(t);
        var x2 = x * x; // a² = x²/2 = (x2 + r)/2 exactly: from x itself, not from the rounded a
        var hi = Vector512.Create(0.5f) * x2;
        var lo = Vector512.Create(0.5f) * Vector512.FusedMultiplyAdd(x, x, -x2);
        var gauss = FastExp.Evaluate(-hi) * (one - lo); // exp(−a²) = exp(−x²/2)
        var c = t * gauss * FastExp.Evaluate(p);
        density = gauss * Vector512.Create((float)InvSqrt2Pi);
        return Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, Vector512<float>.Zero), Vector512.Create(2f) - c, c);
    }

    // 1/d for d ≥ 1: VRCP14PS (relative error below 2⁻¹⁴), then one Newton step r·(2 − d·r).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Reciprocal(Vector512<float> d)
    {
        // A forced 512-bit path on a CPU without AVX-512F (tests) runs in software: divide.
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported) return Vector512<float>.One / d;
        var r = System.Runtime.Intrinsics.X86.Avx512F.Reciprocal14(d);
        return r * Vector512.FusedMultiplyAdd(-d, r, Vector512.Create(2f));
    }

    // Numerical Recipes' P(t) of erfc (Horner, FMAs).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Polynomial(Vector512<float> t)
    {
        var p = Vector512.Create(0.17087277f);
        p = Vector512.FusedMultiplyAdd(t, p, Vector512.Create(-0.82215223f));
        p = Vector512.FusedMultiplyAdd(t, p, Vector512.Create(1.48851587f));
        p = Vector512.FusedMultiplyAdd(t, p, Vector512.Create(-1.13520398f));
        p = Vector512.FusedMultiplyAdd(t, p, Vector512.Create(0.27886807f));
        p = Vector512.FusedMultiplyAdd(t, p, Vector512.Create(-0.18628806f));
        p = Vector512.FusedMultiplyAdd(t, p, Vector512.Create(0.09678418f));
        p = Vector512.FusedMultiplyAdd(t, p, Vector512.Create(0.37409196f));
        p = Vector512.FusedMultiplyAdd(t, p, Vector512.Create(1.00002368f));
        return Vector512.FusedMultiplyAdd(t, p, Vector512.Create(-1.26551223f));
    }

    // The same two evaluations for 8 lanes (AVX2), with VRCPPS (relative error below 1.5·2⁻¹²)
    // and one Newton step for t.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> OnePlusErf(Vector256<float> x)
    {
        var a = Vector256.Abs(x) * Vector256.Create((float)InvSqrt2);
        var t = Reciprocal(Vector256<float>.One + Vector256.Create(0.5f) * a);
        var p = Polynomial(t);
        var x2 = x * x;
        var hi = Vector256.Create(0.5f) * x2;
        var lo = Vector256.Create(0.5f) * Vector256.FusedMultiplyAdd(x, x, -x2);
        var s = p - hi; // TwoSum(p, −hi) = s + e
        var bb = s - p;
        var e = (p - (s - bb)) + (-hi - bb);
        var c = t * FastExp.Evaluate(s) * (Vector256<float>.One + (e - lo));
        return Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, Vector256<float>.Zero), Vector256.Create(2f) - c, c);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> OnePlusErf(Vector256<float> x, out Vector256<float> density)
    {
        var a = Vector256.Abs(x) * Vector256.Create((float)InvSqrt2);
        var one = Vector256<float>.One;
        var t = Reciprocal(one + Vector256.Create(0.5f) * a);
        var p = Polynomial(t);
        var x2 = x * x;
        var hi = Vector256.Create(0.5f) * x2;
        var lo = Vector256.Create(0.5f) * Vector256.FusedMultiplyAdd(x, x, -x2);
        var gauss = FastExp.Evaluate(-hi) * (one - lo); // exp(−a²) = exp(−x²/2)
        var c = t * gauss * FastExp.Evaluate(p);
        density = gauss * Vector256.Create((float)InvSqrt2Pi);
        return Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, Vector256<float>.Zero), Vector256.Create(2f) - c, c);
    }

    // 1/d for d ≥ 1: VRCPPS, then one Newton step r·(2 − d·r) (relative error about 2⁻²³).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Reciprocal(Vector256<float> d)
    {
        if (!System.Runtime.Intrinsics.X86.Avx.IsSupported) return Vector256<float>.One / d;
        var r = System.Runtime.Intrinsics.X86.Avx.Reciprocal(d);
        return r * Vector256.FusedMultiplyAdd(-d, r, Vector256.Create(2f));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Polynomial(Vector256<float> t)
    {
        var p = Vector256.Create(0.17087277f);
        p = Vector256.FusedMultiplyAdd(t, p, Vector256.Create(-0.82215223f));
        p = Vector256.FusedMultiplyAdd(t, p, Vector256.Create(1.48851587f));
        p = Vector256.FusedMultiplyAdd(t, p, Vector256.Create(-1.13520398f));
        p = Vector256.FusedMultiplyAdd(t, p, Vector256.Create(0.27886807f));
        p = Vector256.FusedMultiplyAdd(t, p, Vector256.Create(-0.18628806f));
        p = Vector256.FusedMultiplyAdd(t, p, Vector256.Create(0.09678418f));
        p = Vector256.FusedMultiplyAdd(t, p, Vector256.Create(0.37409196f));
        p = Vector256.FusedMultiplyAdd(t, p, Vector256.Create(1.00002368f));
        return Vector256.FusedMultiplyAdd(t, p, Vector256.Create(-1.26551223f));
    }

    private static void ForwardChunks(void* context, int begin, int end)
    {
        ref Args a = ref *(Args*)context;
        long i = (long)begin * Chunk, stop = Math.Min((long)end * Chunk, a.Count);
        ForwardRange(a.Out + i, a.In + i, stop - i);
    }

    /// <summary>y = gelu(x) for <paramref name="count"/> elements on the calling thread (a GEMM epilogue calls it on hot tiles).</summary>
    internal static void ForwardRange(float* output, float* input, long count)
    {
        long i = 0, stop = count;
        var a = new Args { Out = output, In = input };
        var level = Simd.Level;
        if (level == SimdLevel.Avx512)
        {
            var half = Vector512.Create(0.5f);
            for (; i + 16 <= stop; i += 16)
            {
                var x = Vector512.Load(a.In + i);
                (half * x * OnePlusErf(x)).Store(a.Out + i);
            }
        }
        else if (level == SimdLevel.Avx2)
        {
            var half = Vector256.Create(0.5f);
            for (; i + 8 <= stop; i += 8)
            {
                var x = Vector256.Load(a.In + i);
                (half * x * OnePlusErf(x)).Store(a.Out + i);
            }
        }
        for (; i < stop; i++)
        {
            double x = a.In[i];
            a.Out[i] = (float)(0.5 * x * OnePlusErf(x));
        }
    }

    private static void BackwardChunks(void* context, int begin, int end)
    {
        ref Args a = ref *(Args*)context;
        long i = (long)begin * Chunk, stop = Math.Min((long)end * Chunk, a.Count);
        var level = Simd.Level;
        if (level == SimdLevel.Avx512)
        {
            var half = Vector512.Create(0.5f);
            for (; i + 16 <= stop; i += 16)
            {
                var x = Vector512.Load(a.X + i);
                var cdf = OnePlusErf(x, out var density);
                (Vector512.Load(a.In + i) * Vector512.FusedMultiplyAdd(x, density, half * cdf)).Store(a.Out + i);
            }
        }
        else if (level == SimdLevel.Avx2)
        {
            var half = Vector256.Create(0.5f);
            for (; i + 8 <= stop; i += 8)
            {
                var x = Vector256.Load(a.X + i);
                var cdf = OnePlusErf(x, out var density);
                (Vector256.Load(a.In + i) * Vector256.FusedMultiplyAdd(x, density, half * cdf)).Store(a.Out + i);
            }
        }
        for (; i < stop; i++)
        {
            double x = a.X[i];
            a.Out[i] = (float)(a.In[i] * (0.5 * OnePlusErf(x) + x * Math.Exp(-0.5 * x * x) * InvSqrt2Pi));
        }
    }
}
