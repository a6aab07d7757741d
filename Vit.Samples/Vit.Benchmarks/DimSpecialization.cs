using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Memory;

namespace Vit.Benchmarks;

// Does shape specialization pay at ViT-B sizes? Each kernel's per-row (or per-head) loops are
// written ONCE, generic over a size source TSize, and instantiated twice:
//   RuntimeSize       the size is the int the caller passes (read from the kernel's Args struct,
//                     as Vit.Runtime's kernels do today): variant A (and C).
//   FixedSize<TDim>   the size is TDim.Value, a constant in that instantiation (the JIT compiles
//                     one body per struct argument): variant B (and D).
// So A and B (and C and D) are the same loops, and differ only in whether the JIT sees the size
// as a constant. A/B are faithful copies of Vit.Runtime/Kernels (LayerNorm.cs, Attention.cs,
// SoftmaxCrossEntropy.cs); C/D are cheap rewrites meant to give constants something to do (no
// remainder code, more accumulators, register-held column sums, vector tails), in Vector256
// (the machine they were measured on has AVX2 only). Everything is
// single-threaded: the per-row work that the worker pool would split is run on the calling
// thread, to cut noise. `quick dims` checks A == B and C == D bit for bit, A == the runtime
// kernel bit for bit, and C within rounding of A, before and after timing, and throws if not.

/// <summary>Where a kernel's size comes from.</summary>
public interface ISize
{
    /// <summary>The size: <paramref name="runtime"/> or a constant.</summary>
    static abstract int Of(int runtime);
}

/// <summary>The size is the runtime int (today's kernels).</summary>
public struct RuntimeSize : ISize
{
    public static int Of(int runtime) => runtime;
}

/// <summary>The size is <typeparamref name="TDim"/>.Value, a JIT-time constant.</summary>
public struct FixedSize<TDim> : ISize where TDim : struct, IDim
{
    public static int Of(int runtime) => TDim.Value;
}

/// <summary>LayerNorm rows: faithful copies of Vit.Runtime/Kernels/LayerNorm.cs, and tuned variants.</summary>
public static unsafe class LayerNormDims
{
    public const int ColumnChunk = 64;

    public struct Args
    {
        public float* Y, Mean, Rstd, X, Weight, Bias, Dx, Dweight, Dbias, Dy;
        public int Rows, Dim;
        public float Eps;
    }

    // ---- A/B: LayerNorm.ForwardRows, verbatim but for the first line (int d = a.Dim).
    public static void ForwardRows<TD>(void* context, int begin, int end) where TD : struct, ISize
    {
        ref Args a = ref *(Args*)context;
        int d = TD.Of(a.Dim);
        var w = new ReadOnlySpan<float>(a.Weight, d);
        var b = new ReadOnlySpan<float>(a.Bias, d);
        for (int r = begin; r < end; r++)
        {
            var x = new ReadOnlySpan<float>(a.X + (long)r * d, d);
            var y = new Span<float>(a.Y + (long)r * d, d);
            float m = TensorPrimitives.Sum(x) / d;
            TensorPrimitives.Subtract(x, m, y);
            float s = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares<float>(y) / d + a.Eps);
            TensorPrimitives.Multiply(y, s, y);
            TensorPrimitives.FusedMultiplyAdd(y, w, b, y);
            if (a.Mean != null) a.Mean[r] = m;
            if (a.Rstd != null) a.Rstd[r] = s;
        }
    }

    // ---- A/B: LayerNorm.BackwardRows, verbatim but for the first line.
    public static void BackwardRows<TD>(void* context, int begin, int end) where TD : struct, ISize
    {
        ref Args a = ref *(Args*)context;
        int d = TD.Of(a.Dim);
        float* w = a.Weight;
        for (int r = begin; r < end; r++)
        {
            float* x = a.X + (long)r * d, dy = a.Dy + (long)r * d, dx = a.Dx + (long)r * d;
            float m = a.Mean[r], s = a.Rstd[r];
            float sumG = 0, sumGx = 0;
            int i = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                Vector512<float> ag = default, agx = default;
                for (; i + 16 <= d; i += 16)
                {
                    var g = Vector512.Load(w + i) * Vector512.Load(dy + i);
                    ag += g;
                    agx = Vector512.FusedMultiplyAdd(g, Vector512.Load(x + i), agx);
                }
                sumG = Vector512.Sum(ag);
                sumGx = Vector512.Sum(agx);
            }
            for (; i < d; i++) { float g = w[i] * dy[i]; sumG += g; sumGx += g * x[i]; }
            float meanG = sumG / d;
            float meanGx = (sumGx / d - m * meanG) * s;
            float c1 = -s * s * meanGx;
            float c0 = -s * meanG - c1 * m;
            i = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var vs = Vector512.Create(s);
                var v1 = Vector512.Create(c1);
                var v0 = Vector512.Create(c0);
                for (; i + 16 <= d; i += 16)
                {
                    var t = Vector512.FusedMultiplyAdd(Vector512.Load(x + i), v1, Vector512.Load(dx + i) + v0);
                    Vector512.FusedMultiplyAdd(Vector512.Load(w + i) * Vector512.Load(dy + i), vs, t).Store(dx + i);
                }
            }
            for (; i < d; i++) dx[i] += s * w[i] * dy[i] + c1 * x[i] + c0;
        }
    }

    // ---- A/B: LayerNorm.ParameterGradientColumns, verbatim but for the first line.
    public static void ParameterGradientColumns<TD>(void* context, int begin, int end) where TD : struct, ISize
    {
        ref Args a = ref *(Args*)context;
        int d = TD.Of(a.Dim);
        int c0 = begin * ColumnChunk, n = Math.Min(end * ColumnChunk, d) - c0;
        var dw = new Span<float>(a.Dweight + c0, n);
        var db = new Span<float>(a.Dbias + c0, n);
        for (int r = 0; r < a.Rows; r++)
        {
            var x = new ReadOnlySpan<float>(a.X + (long)r * d + c0, n);
            var dy = new ReadOnlySpan<float>(a.Dy + (long)r * d + c0, n);
            float s = a.Rstd[r], ms = a.Mean[r] * s;
            int i = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var vs = Vector512.Create(s);
                var vms = Vector512.Create(ms);
                float* pw = a.Dweight + c0, pb = a.Dbias + c0, px = a.X + (long)r * d + c0, pdy = a.Dy + (long)r * d + c0;
                for (; i + 16 <= n; i += 16)
                {
                    var g = Vector512.Load(pdy + i);
                    var xh = Vector512.FusedMultiplyAdd(Vector512.Load(px + i), vs, -vms);
                    Vector512.FusedMultiplyAdd(g, xh, Vector512.Load(pw + i)).Store(pw + i);
                    (Vector512.Load(pb + i) + g).Store(pb + i);
                }
            }
            for (; i < n; i++) { db[i] += dy[i]; dw[i] += dy[i] * (x[i] * s - ms); }
        }
    }

    // ---- C/D: forward as three hand-written Vector256 passes over the row (Σx with four
    // accumulators; Σ(x − m)² with four; y = ((x − m)·s)·w + b, the element-wise operations of
    // A), remainder code behind `d % 32 != 0` / `d % 8 != 0`, which a constant width folds away.
    // Vector256 because this machine has AVX2 only (Vector512 is not hardware-accelerated here).
    public static void ForwardRowsFused<TD>(void* context, int begin, int end) where TD : struct, ISize
    {
        ref Args a = ref *(Args*)context;
        int d = TD.Of(a.Dim);
        float* w = a.Weight, bias = a.Bias;
        for (int r = begin; r < end; r++)
        {
            float* x = a.X + (long)r * d, y = a.Y + (long)r * d;
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            int i = 0;
            for (; i + 32 <= d; i += 32)
            {
                s0 += Vector256.Load(x + i); s1 += Vector256.Load(x + i + 8);
                s2 += Vector256.Load(x + i + 16); s3 += Vector256.Load(x + i + 24);
            }
            float sum = 0;
            if (d % 32 != 0)
            {
                for (; i + 8 <= d; i += 8) s0 += Vector256.Load(x + i);
                for (; i < d; i++) sum += x[i];
            }
            sum += Vector256.Sum((s0 + s1) + (s2 + s3));
            float m = sum / d;
            var vm = Vector256.Create(m);
            s0 = s1 = s2 = s3 = default;
            i = 0;
            for (; i + 32 <= d; i += 32)
            {
                var t0 = Vector256.Load(x + i) - vm; var t1 = Vector256.Load(x + i + 8) - vm;
                var t2 = Vector256.Load(x + i + 16) - vm; var t3 = Vector256.Load(x + i + 24) - vm;
                s0 = Vector256.FusedMultiplyAdd(t0, t0, s0); s1 = Vector256.FusedMultiplyAdd(t1, t1, s1);
                s2 = Vector256.FusedMultiplyAdd(t2, t2, s2); s3 = Vector256.FusedMultiplyAdd(t3, t3, s3);
            }
            float sq = 0;
            if (d % 32 != 0)
            {
                for (; i + 8 <= d; i += 8) { var t = Vector256.Load(x + i) - vm; s0 = Vector256.FusedMultiplyAdd(t, t, s0); }
                for (; i < d; i++) { float t = x[i] - m; sq += t * t; }
            }
            sq += Vector256.Sum((s0 + s1) + (s2 + s3));
            float s = 1f / MathF.Sqrt(sq / d + a.Eps);
            var vs = Vector256.Create(s);
            i = 0;
            for (; i + 8 <= d; i += 8)
                Vector256.FusedMultiplyAdd((Vector256.Load(x + i) - vm) * vs, Vector256.Load(w + i), Vector256.Load(bias + i)).Store(y + i);
            if (d % 8 != 0)
                for (; i < d; i++) y[i] = MathF.FusedMultiplyAdd((x[i] - m) * s, w[i], bias[i]);
            if (a.Mean != null) a.Mean[r] = m;
            if (a.Rstd != null) a.Rstd[r] = s;
        }
    }

    // ---- C/D: backward rows, Vector256 (A has Vector512 code and a scalar fallback, which is
    // what runs on AVX2): four accumulator pairs in the first pass, the second pass vectorized;
    // remainders behind `d % 32` / `d % 8`.
    public static void BackwardRowsTuned<TD>(void* context, int begin, int end) where TD : struct, ISize
    {
        ref Args a = ref *(Args*)context;
        int d = TD.Of(a.Dim);
        float* w = a.Weight;
        for (int r = begin; r < end; r++)
        {
            float* x = a.X + (long)r * d, dy = a.Dy + (long)r * d, dx = a.Dx + (long)r * d;
            float m = a.Mean[r], s = a.Rstd[r];
            Vector256<float> g0 = default, g1 = default, g2 = default, g3 = default;
            Vector256<float> h0 = default, h1 = default, h2 = default, h3 = default;
            int i = 0;
            for (; i + 32 <= d; i += 32)
            {
                var e0 = Vector256.Load(w + i) * Vector256.Load(dy + i);
                var e1 = Vector256.Load(w + i + 8) * Vector256.Load(dy + i + 8);
                var e2 = Vector256.Load(w + i + 16) * Vector256.Load(dy + i + 16);
                var e3 = Vector256.Load(w + i + 24) * Vector256.Load(dy + i + 24);
                g0 += e0; g1 += e1; g2 += e2; g3 += e3;
                h0 = Vector256.FusedMultiplyAdd(e0, Vector256.Load(x + i), h0);
                h1 = Vector256.FusedMultiplyAdd(e1, Vector256.Load(x + i + 8), h1);
                h2 = Vector256.FusedMultiplyAdd(e2, Vector256.Load(x + i + 16), h2);
                h3 = Vector256.FusedMultiplyAdd(e3, Vector256.Load(x + i + 24), h3);
            }
            float sumG = 0, sumGx = 0;
            if (d % 32 != 0)
            {
                for (; i + 8 <= d; i += 8)
                {
                    var e = Vector256.Load(w + i) * Vector256.Load(dy + i);
                    g0 += e;
                    h0 = Vector256.FusedMultiplyAdd(e, Vector256.Load(x + i), h0);
                }
                for (; i < d; i++) { float g = w[i] * dy[i]; sumG += g; sumGx += g * x[i]; }
            }
            sumG += Vector256.Sum((g0 + g1) + (g2 + g3));
            sumGx += Vector256.Sum((h0 + h1) + (h2 + h3));
            float meanG = sumG / d;
            float meanGx = (sumGx / d - m * meanG) * s;
            float c1 = -s * s * meanGx;
            float c0 = -s * meanG - c1 * m;
            var vs = Vector256.Create(s);
            var v1 = Vector256.Create(c1);
            var v0 = Vector256.Create(c0);
            i = 0;
            for (; i + 8 <= d; i += 8)
            {
                var t = Vector256.FusedMultiplyAdd(Vector256.Load(x + i), v1, Vector256.Load(dx + i) + v0);
                Vector256.FusedMultiplyAdd(Vector256.Load(w + i) * Vector256.Load(dy + i), vs, t).Store(dx + i);
            }
            if (d % 8 != 0)
                for (; i < d; i++) dx[i] += s * w[i] * dy[i] + c1 * x[i] + c0;
        }
    }

    // ---- C/D: column sums, Vector256, 32 columns of dweight and dbias held in eight registers
    // over all rows (A loads and stores them once per row), twice per 64-column chunk; the same
    // operations in the same order as A's scalar fallback (no FMA), so the result is A's bit for
    // bit on AVX2. A partial chunk (only when d % 64 != 0) runs A's loop.
    public static void ParameterGradientColumnsTuned<TD>(void* context, int begin, int end) where TD : struct, ISize
    {
        ref Args a = ref *(Args*)context;
        int d = TD.Of(a.Dim);
        for (int chunk = begin; chunk < end; chunk++)
        {
            int chunk0 = chunk * ColumnChunk;
            if (d % ColumnChunk != 0 && chunk0 + ColumnChunk > d)
            {
                var args = a;
                args.Dim = d;
                ParameterGradientColumns<RuntimeSize>(&args, chunk, chunk + 1);
                continue;
            }
            for (int c0 = chunk0; c0 < chunk0 + ColumnChunk; c0 += 32)
            {
                float* pw = a.Dweight + c0, pb = a.Dbias + c0;
                var w0 = Vector256.Load(pw); var w1 = Vector256.Load(pw + 8); var w2 = Vector256.Load(pw + 16); var w3 = Vector256.Load(pw + 24);
                var b0 = Vector256.Load(pb); var b1 = Vector256.Load(pb + 8); var b2 = Vector256.Load(pb + 16); var b3 = Vector256.Load(pb + 24);
                float* px = a.X + c0, pdy = a.Dy + c0;
                for (int r = 0; r < a.Rows; r++, px += d, pdy += d)
                {
                    float s = a.Rstd[r], ms = a.Mean[r] * s;
                    var vs = Vector256.Create(s);
                    var vms = Vector256.Create(ms);
                    var g0 = Vector256.Load(pdy); var g1 = Vector256.Load(pdy + 8); var g2 = Vector256.Load(pdy + 16); var g3 = Vector256.Load(pdy + 24);
                    b0 += g0; b1 += g1; b2 += g2; b3 += g3;
                    w0 += g0 * (Vector256.Load(px) * vs - vms);
                    w1 += g1 * (Vector256.Load(px + 8) * vs - vms);
                    w2 += g2 * (Vector256.Load(px + 16) * vs - vms);
                    w3 += g3 * (Vector256.Load(px + 24) * vs - vms);
                }
                w0.Store(pw); w1.Store(pw + 8); w2.Store(pw + 16); w3.Store(pw + 24);
                b0.Store(pb); b1.Store(pb + 8); b2.Store(pb + 16); b3.Store(pb + 24);
            }
        }
    }
}

/// <summary>The softmax row routines of the attention kernel: faithful or tuned, size from TSize.</summary>
public unsafe interface ISoftmaxRows
{
    static abstract void Forward<TN>(Span<float> row, float scale) where TN : struct, ISize;
    static abstract void Backward<TN>(float* p, float* dp, int n, float scale) where TN : struct, ISize;
}

/// <summary>Attention.Softmax and Attention.SoftmaxBackward, verbatim but for n = TN.Of(...).</summary>
public unsafe struct FaithfulSoftmax : ISoftmaxRows
{
    public static void Forward<TN>(Span<float> row, float scale) where TN : struct, ISize
    {
        int n = TN.Of(row.Length), i = 0;
        fixed (float* r = row)
        {
            float max = float.NegativeInfinity, sum = 0;
            if (Simd.Level == SimdLevel.Avx512 && n >= 16)
            {
                var vmax = Vector512.Create(float.NegativeInfinity);
                for (; i + 16 <= n; i += 16) vmax = Vector512.Max(vmax, Vector512.Load(r + i));
                vmax = Vector512.Max(vmax, Vector512.Load(r + n - 16));
                for (int lane = 0; lane < 16; lane++) max = MathF.Max(max, vmax.GetElement(lane));
                var vs = Vector512.Create(scale);
                var vm = Vector512.Create(max * scale);
                var acc = Vector512<float>.Zero;
                for (i = 0; i + 16 <= n; i += 16)
                {
                    var e = Vector512.Exp(Vector512.FusedMultiplyAdd(Vector512.Load(r + i), vs, -vm));
                    e.Store(r + i);
                    acc += e;
                }
                sum = Vector512.Sum(acc);
                for (; i < n; i++) { r[i] = MathF.Exp(r[i] * scale - max * scale); sum += r[i]; }
                var inv = Vector512.Create(1f / sum);
                for (i = 0; i + 16 <= n; i += 16) (Vector512.Load(r + i) * inv).Store(r + i);
                for (; i < n; i++) r[i] *= 1f / sum;
                return;
            }
        }
        float m = TensorPrimitives.Max<float>(row);
        TensorPrimitives.Subtract(row, m, row);
        TensorPrimitives.Multiply(row, scale, row);
        TensorPrimitives.Exp(row, row);
        TensorPrimitives.Multiply(row, 1f / TensorPrimitives.Sum<float>(row), row);
    }

    public static void Backward<TN>(float* p, float* dp, int nRuntime, float scale) where TN : struct, ISize
    {
        int n = TN.Of(nRuntime);
        int i = 0;
        float c = 0;
        if (Simd.Level == SimdLevel.Avx512)
        {
            var acc = Vector512<float>.Zero;
            for (; i + 16 <= n; i += 16) acc = Vector512.FusedMultiplyAdd(Vector512.Load(p + i), Vector512.Load(dp + i), acc);
            c = Vector512.Sum(acc);
            for (; i < n; i++) c += p[i] * dp[i];
            var vc = Vector512.Create(c);
            var vs = Vector512.Create(scale);
            for (i = 0; i + 16 <= n; i += 16)
                (Vector512.Load(p + i) * (Vector512.Load(dp + i) - vc) * vs).Store(dp + i);
            for (; i < n; i++) dp[i] = p[i] * (dp[i] - c) * scale;
            return;
        }
        var pi = new ReadOnlySpan<float>(p, n);
        var dpi = new Span<float>(dp, n);
        c = TensorPrimitives.Dot(pi, dpi);
        TensorPrimitives.Subtract(dpi, c, dpi);
        TensorPrimitives.Multiply(dpi, pi, dpi);
        TensorPrimitives.Multiply(dpi, scale, dpi);
    }
}

/// <summary>
/// Tuned rows, Vector256 (this machine has AVX2 only; the faithful code's Vector512 branch does
/// not run here, its TensorPrimitives fallback does: five passes per row for the forward, four
/// for the backward): three passes (max; exp and sum; scale) and two, with the n % 8 tail (5 at
/// T = 197) as one overlapping vector whose lanes are masked in the sums. The overlapping store
/// writes the values the main loop wrote (same inputs, loaded before the main loop).
/// Falls back to the faithful code below 8 columns or without Vector256.
/// </summary>
public unsafe struct TunedSoftmax : ISoftmaxRows
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> TailLanes(int n) =>
        Vector256.GreaterThanOrEqual(Vector256<int>.Indices, Vector256.Create(8 - n % 8)).AsSingle();

    public static void Forward<TN>(Span<float> row, float scale) where TN : struct, ISize
    {
        int n = TN.Of(row.Length);
        if (!Vector256.IsHardwareAccelerated || n < 8) { FaithfulSoftmax.Forward<TN>(row, scale); return; }
        fixed (float* r = row)
        {
            int i = 0;
            var vmax = Vector256.Create(float.NegativeInfinity);
            for (; i + 8 <= n; i += 8) vmax = Vector256.Max(vmax, Vector256.Load(r + i));
            if (n % 8 != 0) vmax = Vector256.Max(vmax, Vector256.Load(r + n - 8));
            var m4 = Vector128.Max(vmax.GetLower(), vmax.GetUpper());
            float max = MathF.Max(MathF.Max(m4[0], m4[1]), MathF.Max(m4[2], m4[3]));
            var vs = Vector256.Create(scale);
            var vm = Vector256.Create(max * scale);
            var acc = Vector256<float>.Zero;
            Vector256<float> tail = default;
            if (n % 8 != 0) tail = Vector256.Exp(Vector256.FusedMultiplyAdd(Vector256.Load(r + n - 8), vs, -vm));
            for (i = 0; i + 8 <= n; i += 8)
            {
                var e = Vector256.Exp(Vector256.FusedMultiplyAdd(Vector256.Load(r + i), vs, -vm));
                e.Store(r + i);
                acc += e;
            }
            if (n % 8 != 0)
            {
                acc += tail & TailLanes(n);
                tail.Store(r + n - 8);
            }
            var inv = Vector256.Create(1f / Vector256.Sum(acc));
            if (n % 8 != 0) tail = Vector256.Load(r + n - 8) * inv;
            for (i = 0; i + 8 <= n; i += 8) (Vector256.Load(r + i) * inv).Store(r + i);
            if (n % 8 != 0) tail.Store(r + n - 8);
        }
    }

    public static void Backward<TN>(float* p, float* dp, int nRuntime, float scale) where TN : struct, ISize
    {
        int n = TN.Of(nRuntime);
        if (!Vector256.IsHardwareAccelerated || n < 8) { FaithfulSoftmax.Backward<TN>(p, dp, n, scale); return; }
        int i = 0;
        var acc = Vector256<float>.Zero;
        for (; i + 8 <= n; i += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(p + i), Vector256.Load(dp + i), acc);
        Vector256<float> pt = default, dpt = default;
        if (n % 8 != 0)
        {
            pt = Vector256.Load(p + n - 8);
            dpt = Vector256.Load(dp + n - 8);
            acc += (pt * dpt) & TailLanes(n);
        }
        var vc = Vector256.Create(Vector256.Sum(acc));
        var vs = Vector256.Create(scale);
        for (i = 0; i + 8 <= n; i += 8)
            (Vector256.Load(p + i) * (Vector256.Load(dp + i) - vc) * vs).Store(dp + i);
        if (n % 8 != 0) (pt * (dpt - vc) * vs).Store(dp + n - 8);
    }
}

/// <summary>Attention.ForwardHeads / BackwardHeads, verbatim but for the sizes (from TSize) and the softmax (from TSm).</summary>
public static unsafe class AttentionDims
{
    public struct Args
    {
        public float* Output, Probs, Mask, Qkv, Dqkv, Dprobs, Doutput;
        public int Tokens, Heads, HeadDim;
    }

    [ThreadStatic] private static float* t_masked;
    [ThreadStatic] private static long t_maskedLength;

    private static float* MaskedScratch(long floats)
    {
        if (floats > t_maskedLength)
        {
            if (t_masked != null) NativeMemory.AlignedFree(t_masked);
            t_masked = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
            t_maskedLength = floats;
        }
        return t_masked;
    }

    public static void ForwardHeads<TT, TH, THd, TSm>(void* context, int begin, int end)
        where TT : struct, ISize where TH : struct, ISize where THd : struct, ISize where TSm : struct, ISoftmaxRows
    {
        ref Args a = ref *(Args*)context;
        int t = TT.Of(a.Tokens), heads = TH.Of(a.Heads), hd = THd.Of(a.HeadDim), d = heads * hd;
        long qkvRow = 3L * d;
        float scale = 1f / MathF.Sqrt(hd);
        for (int item = begin; item < end; item++)
        {
            int b = item / heads, h = item % heads;
            float* q = a.Qkv + b * t * qkvRow + h * hd, k = q + d, v = q + 2 * d;
            float* p = a.Probs + (long)item * t * t;
            float* m = a.Mask == null ? null : a.Mask + (long)item * t * t;
            float* o = a.Output + (long)b * t * d + h * hd;
            Gemm.MultiplySerial(p, t, q, qkvRow, 1, k, 1, qkvRow, t, t, hd, null, accumulate: false);
            for (int i = 0; i < t; i++) TSm.Forward<TT>(new Span<float>(p + (long)i * t, t), scale);
            float* weights = p;
            if (m != null)
            {
                weights = MaskedScratch((long)t * t);
                TensorPrimitives.Multiply(new ReadOnlySpan<float>(p, t * t), new ReadOnlySpan<float>(m, t * t), new Span<float>(weights, t * t));
            }
            Gemm.MultiplySerial(o, d, weights, t, 1, v, qkvRow, 1, t, hd, t, null, accumulate: false);
        }
    }

    public static void BackwardHeads<TT, TH, THd, TSm>(void* context, int begin, int end)
        where TT : struct, ISize where TH : struct, ISize where THd : struct, ISize where TSm : struct, ISoftmaxRows
    {
        ref Args a = ref *(Args*)context;
        int t = TT.Of(a.Tokens), heads = TH.Of(a.Heads), hd = THd.Of(a.HeadDim), d = heads * hd;
        long qkvRow = 3L * d;
        float scale = 1f / MathF.Sqrt(hd);
        for (int item = begin; item < end; item++)
        {
            int b = item / heads, h = item % heads;
            long baseOffset = b * t * qkvRow + h * hd;
            float* q = a.Qkv + baseOffset, k = q + d, v = q + 2 * d;
            float* dq = a.Dqkv + baseOffset, dk = dq + d, dv = dq + 2 * d;
            float* p = a.Probs + (long)item * t * t;
            float* dp = a.Dprobs + (long)item * t * t;
            float* m = a.Mask == null ? null : a.Mask + (long)item * t * t;
            float* dout = a.Doutput + (long)b * t * d + h * hd;
            float* weights = p;
            if (m != null)
            {
                weights = MaskedScratch((long)t * t);
                TensorPrimitives.Multiply(new ReadOnlySpan<float>(p, t * t), new ReadOnlySpan<float>(m, t * t), new Span<float>(weights, t * t));
            }
            Gemm.MultiplySerial(dv, qkvRow, weights, 1, t, dout, d, 1, t, hd, t, null, accumulate: false);
            Gemm.MultiplySerial(dp, t, dout, d, 1, v, 1, qkvRow, t, t, hd, null, accumulate: false);
            if (m != null) TensorPrimitives.Multiply(new ReadOnlySpan<float>(dp, t * t), new ReadOnlySpan<float>(m, t * t), new Span<float>(dp, t * t));
            for (int i = 0; i < t; i++) TSm.Backward<TT>(p + (long)i * t, dp + (long)i * t, t, scale);
            Gemm.MultiplySerial(dq, qkvRow, dp, t, 1, k, qkvRow, 1, t, hd, t, null, accumulate: false);
            Gemm.MultiplySerial(dk, qkvRow, dp, 1, t, q, qkvRow, 1, t, hd, t, null, accumulate: false);
        }
    }
}

/// <summary>SoftmaxCrossEntropy.Forward / Backward, verbatim but for k = TK.Of(classes) (the runtime's are already specialized).</summary>
public static unsafe class CrossEntropyDims
{
    public static float Forward<TK>(float* probs, float* logits, ReadOnlySpan<int> labels, int batch, int classes, float labelSmoothing)
        where TK : struct, ISize
    {
        int k = TK.Of(classes);
        CheckLabels(labels, batch, k);
        double onTarget = 1 - (double)labelSmoothing, uniform = (double)labelSmoothing / k;
        double total = 0;
        for (int b = 0; b < batch; b++)
        {
            float* l = logits + (long)b * k;
            float* p = probs + (long)b * k;
            double max = double.NegativeInfinity;
            for (int c = 0; c < k; c++) max = Math.Max(max, l[c]);
            double sum = 0, logitSum = 0;
            for (int c = 0; c < k; c++)
            {
                sum += Math.Exp(l[c] - max);
                logitSum += l[c];
            }
            double inv = 1 / sum;
            for (int c = 0; c < k; c++) p[c] = (float)(Math.Exp(l[c] - max) * inv);
            double logSumExp = Math.Log(sum) + max;
            total += onTarget * (logSumExp - l[labels[b]]) + (labelSmoothing > 0 ? uniform * (k * logSumExp - logitSum) : 0);
        }
        return (float)(total / batch);
    }

    public static void Backward<TK>(float* dlogits, float* probs, ReadOnlySpan<int> labels, int batch, int classes, float labelSmoothing)
        where TK : struct, ISize
    {
        int k = TK.Of(classes);
        CheckLabels(labels, batch, k);
        float inv = 1f / batch;
        float uniform = labelSmoothing / k * inv, onTarget = (1 - labelSmoothing) * inv;
        for (int b = 0; b < batch; b++)
        {
            float* p = probs + (long)b * k;
            float* d = dlogits + (long)b * k;
            for (int c = 0; c < k; c++) d[c] = p[c] * inv - uniform;
            d[labels[b]] -= onTarget;
        }
    }

    private static void CheckLabels(ReadOnlySpan<int> labels, int batch, int classes)
    {
        if (labels.Length < batch) throw new ArgumentException("labels");
        for (int b = 0; b < batch; b++)
            if ((uint)labels[b] >= (uint)classes) throw new ArgumentOutOfRangeException(nameof(labels));
    }
}

public struct C1000 : IDim { public static int Value => 1000; }

/// <summary>
/// The cases at ViT-B/16 batch 8 (1576 rows of 768; 96 (image, head) items of 197 × 197 scores,
/// head dim 64; 8 × 1000 logits), on seeded random data, with every variant checked.
/// </summary>
public sealed unsafe class DimCases : IDisposable
{
    public const int Batch = 8, Tokens = 197, Heads = 12, HeadDim = 64, Dim = 768, Rows = Batch * Tokens, Classes = 1000;
    private const long ProbsLength = (long)Batch * Heads * Tokens * Tokens;

    private readonly List<IntPtr> _allocations = [];
    private readonly float* _x, _y, _mean, _rstd, _w, _b, _dy, _dx, _dw, _db, _dx0, _dw0, _db0;
    private readonly float* _qkv, _attn, _probs, _dprobs, _dqkv, _dout, _rows, _rowsSrc, _dpRows, _dpRowsSrc;
    private readonly float* _logits, _sceProbs, _dlogits;
    private readonly int[] _labels;
    private LayerNormDims.Args _ln;
    private AttentionDims.Args _at;

    public DimCases()
    {
        var rng = new Vit.Numerics.Rng(7);
        float* Buf(long n, double scale = 1, double offset = 0)
        {
            var p = (float*)NativeMemory.AlignedAlloc((nuint)(n * sizeof(float)), 64);
            _allocations.Add((IntPtr)p);
            for (long i = 0; i < n; i++) p[i] = (float)(offset + scale * rng.NextNormal());
            return p;
        }
        _x = Buf((long)Rows * Dim, 1, 0.3); _y = Buf((long)Rows * Dim); _mean = Buf(Rows); _rstd = Buf(Rows);
        _w = Buf(Dim, 0.2, 1); _b = Buf(Dim, 0.1); _dy = Buf((long)Rows * Dim);
        _dx = Buf((long)Rows * Dim); _dw = Buf(Dim); _db = Buf(Dim);
        _dx0 = Buf((long)Rows * Dim); _dw0 = Buf(Dim); _db0 = Buf(Dim);
        _qkv = Buf((long)Rows * 3 * Dim); _attn = Buf((long)Rows * Dim); _dout = Buf((long)Rows * Dim);
        _probs = Buf(ProbsLength); _dprobs = Buf(ProbsLength); _dqkv = Buf((long)Rows * 3 * Dim);
        _rows = Buf(Tokens * Tokens, 3); _rowsSrc = Buf(Tokens * Tokens, 3);
        _dpRows = Buf(Tokens * Tokens); _dpRowsSrc = Buf(Tokens * Tokens);
        _logits = Buf(Batch * Classes, 3); _sceProbs = Buf(Batch * Classes); _dlogits = Buf(Batch * Classes);
        _labels = Enumerable.Range(0, Batch).Select(i => (i * 137) % Classes).ToArray();
        _ln = new LayerNormDims.Args
        {
            Y = _y, Mean = _mean, Rstd = _rstd, X = _x, Weight = _w, Bias = _b,
            Dx = _dx, Dweight = _dw, Dbias = _db, Dy = _dy, Rows = Rows, Dim = Dim, Eps = 1e-6f,
        };
        _at = new AttentionDims.Args
        {
            Output = _attn, Probs = _probs, Mask = null, Qkv = _qkv, Dqkv = _dqkv, Dprobs = _dprobs, Doutput = _dout,
            Tokens = Tokens, Heads = Heads, HeadDim = HeadDim,
        };
        // Mean and rstd for the backward cases, and probabilities for attention backward and
        // the softmax-backward rows.
        fixed (LayerNormDims.Args* a = &_ln) LayerNormDims.ForwardRows<RuntimeSize>(a, 0, Rows);
        AttentionForwardA();
        for (int i = 0; i < Tokens; i++) FaithfulSoftmax.Forward<RuntimeSize>(new Span<float>(_rowsSrc + i * Tokens, Tokens), 0.125f);
        Copy(_rowsSrc, _rows, Tokens * Tokens);
    }

    private static void Copy(float* src, float* dst, long n) => Buffer.MemoryCopy(src, dst, n * sizeof(float), n * sizeof(float));

    // ---- LayerNorm forward (rows 1576, width 768)
    public void LayerNormForwardA() { fixed (LayerNormDims.Args* a = &_ln) LayerNormDims.ForwardRows<RuntimeSize>(a, 0, Rows); }
    public void LayerNormForwardB() { fixed (LayerNormDims.Args* a = &_ln) LayerNormDims.ForwardRows<FixedSize<D768>>(a, 0, Rows); }
    public void LayerNormForwardC() { fixed (LayerNormDims.Args* a = &_ln) LayerNormDims.ForwardRowsFused<RuntimeSize>(a, 0, Rows); }
    public void LayerNormForwardD() { fixed (LayerNormDims.Args* a = &_ln) LayerNormDims.ForwardRowsFused<FixedSize<D768>>(a, 0, Rows); }
    public void LayerNormForwardR() => LayerNorm.Forward<D768>(new TensorPtr(_y), new TensorPtr(_mean), new TensorPtr(_rstd), new TensorPtr(_x), new TensorPtr(_w), new TensorPtr(_b), Rows, 1e-6f);

    // ---- LayerNorm backward: rows pass + column pass (as LayerNorm.Backward)
    private const int Chunks = (Dim + LayerNormDims.ColumnChunk - 1) / LayerNormDims.ColumnChunk;
    public void LayerNormBackwardA()
    {
        fixed (LayerNormDims.Args* a = &_ln) { LayerNormDims.BackwardRows<RuntimeSize>(a, 0, Rows); LayerNormDims.ParameterGradientColumns<RuntimeSize>(a, 0, Chunks); }
    }
    public void LayerNormBackwardB()
    {
        fixed (LayerNormDims.Args* a = &_ln) { LayerNormDims.BackwardRows<FixedSize<D768>>(a, 0, Rows); LayerNormDims.ParameterGradientColumns<FixedSize<D768>>(a, 0, Chunks); }
    }
    public void LayerNormBackwardC()
    {
        fixed (LayerNormDims.Args* a = &_ln) { LayerNormDims.BackwardRowsTuned<RuntimeSize>(a, 0, Rows); LayerNormDims.ParameterGradientColumnsTuned<RuntimeSize>(a, 0, Chunks); }
    }
    public void LayerNormBackwardD()
    {
        fixed (LayerNormDims.Args* a = &_ln) { LayerNormDims.BackwardRowsTuned<FixedSize<D768>>(a, 0, Rows); LayerNormDims.ParameterGradientColumnsTuned<FixedSize<D768>>(a, 0, Chunks); }
    }
    public void LayerNormBackwardR() => LayerNorm.Backward<D768>(new TensorPtr(_dx), new TensorPtr(_dw), new TensorPtr(_db), new TensorPtr(_dy), new TensorPtr(_x), new TensorPtr(_mean), new TensorPtr(_rstd), new TensorPtr(_w), Rows);

    // ---- Attention softmax alone: 197 rows of 197 (one (image, head) item), in place. The
    // forward is applied again to its own output (values stay in (0, 1], no denormals); the
    // backward's dP is restored from a copy each time (else it shrinks into denormals), so its
    // figures include a 155 KB copy, timed alone as SoftmaxCopy.
    public void SoftmaxRowsA() { for (int i = 0; i < Tokens; i++) FaithfulSoftmax.Forward<RuntimeSize>(new Span<float>(_rows + i * Tokens, Tokens), 0.125f); }
    public void SoftmaxRowsB() { for (int i = 0; i < Tokens; i++) FaithfulSoftmax.Forward<FixedSize<T197>>(new Span<float>(_rows + i * Tokens, Tokens), 0.125f); }
    public void SoftmaxRowsC() { for (int i = 0; i < Tokens; i++) TunedSoftmax.Forward<RuntimeSize>(new Span<float>(_rows + i * Tokens, Tokens), 0.125f); }
    public void SoftmaxRowsD() { for (int i = 0; i < Tokens; i++) TunedSoftmax.Forward<FixedSize<T197>>(new Span<float>(_rows + i * Tokens, Tokens), 0.125f); }
    public void SoftmaxBackwardRowsA() { Copy(_dpRowsSrc, _dpRows, Tokens * Tokens); for (int i = 0; i < Tokens; i++) FaithfulSoftmax.Backward<RuntimeSize>(_rowsSrc + i * Tokens, _dpRows + i * Tokens, Tokens, 0.125f); }
    public void SoftmaxBackwardRowsB() { Copy(_dpRowsSrc, _dpRows, Tokens * Tokens); for (int i = 0; i < Tokens; i++) FaithfulSoftmax.Backward<FixedSize<T197>>(_rowsSrc + i * Tokens, _dpRows + i * Tokens, Tokens, 0.125f); }
    public void SoftmaxBackwardRowsC() { Copy(_dpRowsSrc, _dpRows, Tokens * Tokens); for (int i = 0; i < Tokens; i++) TunedSoftmax.Backward<RuntimeSize>(_rowsSrc + i * Tokens, _dpRows + i * Tokens, Tokens, 0.125f); }
    public void SoftmaxBackwardRowsD() { Copy(_dpRowsSrc, _dpRows, Tokens * Tokens); for (int i = 0; i < Tokens; i++) TunedSoftmax.Backward<FixedSize<T197>>(_rowsSrc + i * Tokens, _dpRows + i * Tokens, Tokens, 0.125f); }
    public void SoftmaxCopy() => Copy(_dpRowsSrc, _dpRows, Tokens * Tokens);

    // ---- Attention (all 96 items, serial GEMMs as in the kernel)
    private const int Items = Batch * Heads;
    public void AttentionForwardA() { fixed (AttentionDims.Args* a = &_at) AttentionDims.ForwardHeads<RuntimeSize, RuntimeSize, RuntimeSize, FaithfulSoftmax>(a, 0, Items); }
    public void AttentionForwardB() { fixed (AttentionDims.Args* a = &_at) AttentionDims.ForwardHeads<FixedSize<T197>, FixedSize<H12>, FixedSize<Hd64>, FaithfulSoftmax>(a, 0, Items); }
    public void AttentionForwardC() { fixed (AttentionDims.Args* a = &_at) AttentionDims.ForwardHeads<RuntimeSize, RuntimeSize, RuntimeSize, TunedSoftmax>(a, 0, Items); }
    public void AttentionForwardD() { fixed (AttentionDims.Args* a = &_at) AttentionDims.ForwardHeads<FixedSize<T197>, FixedSize<H12>, FixedSize<Hd64>, TunedSoftmax>(a, 0, Items); }
    public void AttentionForwardR() => Attention.Forward<T197, H12, Hd64>(new TensorPtr(_attn), new TensorPtr(_probs), TensorPtr.Null, new TensorPtr(_qkv), Batch);
    public void AttentionBackwardA() { fixed (AttentionDims.Args* a = &_at) AttentionDims.BackwardHeads<RuntimeSize, RuntimeSize, RuntimeSize, FaithfulSoftmax>(a, 0, Items); }
    public void AttentionBackwardB() { fixed (AttentionDims.Args* a = &_at) AttentionDims.BackwardHeads<FixedSize<T197>, FixedSize<H12>, FixedSize<Hd64>, FaithfulSoftmax>(a, 0, Items); }
    public void AttentionBackwardC() { fixed (AttentionDims.Args* a = &_at) AttentionDims.BackwardHeads<RuntimeSize, RuntimeSize, RuntimeSize, TunedSoftmax>(a, 0, Items); }
    public void AttentionBackwardD() { fixed (AttentionDims.Args* a = &_at) AttentionDims.BackwardHeads<FixedSize<T197>, FixedSize<H12>, FixedSize<Hd64>, TunedSoftmax>(a, 0, Items); }
    public void AttentionBackwardR() => Attention.Backward<T197, H12, Hd64>(new TensorPtr(_dqkv), new TensorPtr(_dprobs), new TensorPtr(_dout), new TensorPtr(_probs), TensorPtr.Null, new TensorPtr(_qkv), Batch);

    // ---- Softmax cross-entropy (8 × 1000)
    private float _loss;
    public void CrossEntropyForwardA() => _loss = CrossEntropyDims.Forward<RuntimeSize>(_sceProbs, _logits, _labels, Batch, Classes, 0.1f);
    public void CrossEntropyForwardB() => _loss = CrossEntropyDims.Forward<FixedSize<C1000>>(_sceProbs, _logits, _labels, Batch, Classes, 0.1f);
    public void CrossEntropyForwardR() => _loss = SoftmaxCrossEntropy.Forward<C1000>(new TensorPtr(_sceProbs), new TensorPtr(_logits), _labels, Batch, 0.1f);
    public void CrossEntropyBackwardA() => CrossEntropyDims.Backward<RuntimeSize>(_dlogits, _sceProbs, _labels, Batch, Classes, 0.1f);
    public void CrossEntropyBackwardB() => CrossEntropyDims.Backward<FixedSize<C1000>>(_dlogits, _sceProbs, _labels, Batch, Classes, 0.1f);
    public void CrossEntropyBackwardR() => SoftmaxCrossEntropy.Backward<C1000>(new TensorPtr(_dlogits), new TensorPtr(_sceProbs), _labels, Batch, 0.1f);

    /// <summary>A kernel: its name, shape, variants by letter (A, B, C, D; R = the runtime kernel on one thread), and how to check them.</summary>
    public sealed record Case(string Name, string Shape, (string Variant, Action Run)[] Variants);

    public IReadOnlyList<Case> All() =>
    [
        new("LayerNorm.Forward", "1576 x 768", [("A", LayerNormForwardA), ("B", LayerNormForwardB), ("C", LayerNormForwardC), ("D", LayerNormForwardD), ("R", LayerNormForwardR)]),
        new("LayerNorm.Backward", "1576 x 768", [("A", LayerNormBackwardA), ("B", LayerNormBackwardB), ("C", LayerNormBackwardC), ("D", LayerNormBackwardD), ("R", LayerNormBackwardR)]),
        new("Softmax rows", "197 x 197", [("A", SoftmaxRowsA), ("B", SoftmaxRowsB), ("C", SoftmaxRowsC), ("D", SoftmaxRowsD)]),
        new("SoftmaxBackward rows", "197 x 197 (+copy)", [("A", SoftmaxBackwardRowsA), ("B", SoftmaxBackwardRowsB), ("C", SoftmaxBackwardRowsC), ("D", SoftmaxBackwardRowsD), ("copy", SoftmaxCopy)]),
        new("Attention.Forward", "8 x 12 x 197 x 64", [("A", AttentionForwardA), ("B", AttentionForwardB), ("C", AttentionForwardC), ("D", AttentionForwardD), ("R", AttentionForwardR)]),
        new("Attention.Backward", "8 x 12 x 197 x 64", [("A", AttentionBackwardA), ("B", AttentionBackwardB), ("C", AttentionBackwardC), ("D", AttentionBackwardD), ("R", AttentionBackwardR)]),
        new("SoftmaxCrossEntropy.Forward", "8 x 1000", [("A", CrossEntropyForwardA), ("B", CrossEntropyForwardB), ("R", CrossEntropyForwardR)]),
        new("SoftmaxCrossEntropy.Backward", "8 x 1000", [("A", CrossEntropyBackwardA), ("B", CrossEntropyBackwardB), ("R", CrossEntropyBackwardR)]),
    ];

    // ---- Checks: run each variant from the same state and compare its outputs.

    private readonly record struct Output(string Name, float[] Values);

    private static float[] Snapshot(float* p, long n) => new ReadOnlySpan<float>(p, checked((int)n)).ToArray();

    private Output[] RunLayerNormForward(Action run)
    {
        new Span<float>(_y, Rows * Dim).Clear();
        run();
        return [new("y", Snapshot(_y, Rows * Dim)), new("mean", Snapshot(_mean, Rows)), new("rstd", Snapshot(_rstd, Rows))];
    }

    private Output[] RunLayerNormBackward(Action run)
    {
        Copy(_dx0, _dx, Rows * Dim); Copy(_dw0, _dw, Dim); Copy(_db0, _db, Dim);
        run();
        return [new("dx", Snapshot(_dx, Rows * Dim)), new("dweight", Snapshot(_dw, Dim)), new("dbias", Snapshot(_db, Dim))];
    }

    private Output[] RunSoftmax(Action run)
    {
        Copy(_rowsSrc, _rows, Tokens * Tokens);
        // The softmax of the stored probabilities would hide differences: use raw scores.
        var rng = new Vit.Numerics.Rng(11);
        for (int i = 0; i < Tokens * Tokens; i++) _rows[i] = (float)(4 * rng.NextNormal());
        run();
        var result = new Output[] { new("probs", Snapshot(_rows, Tokens * Tokens)) };
        Copy(_rowsSrc, _rows, Tokens * Tokens);
        return result;
    }

    private Output[] RunSoftmaxBackward(Action run) { run(); return [new("ds", Snapshot(_dpRows, Tokens * Tokens))]; }

    private Output[] RunAttentionForward(Action run)
    {
        new Span<float>(_attn, Rows * Dim).Clear();
        run();
        return [new("output", Snapshot(_attn, Rows * Dim)), new("probs", Snapshot(_probs, ProbsLength))];
    }

    private Output[] RunAttentionBackward(Action run)
    {
        AttentionForwardA();
        new Span<float>(_dqkv, Rows * 3 * Dim).Clear();
        run();
        return [new("dqkv", Snapshot(_dqkv, Rows * 3 * Dim))];
    }

    private Output[] RunCrossEntropyForward(Action run)
    {
        new Span<float>(_sceProbs, Batch * Classes).Clear();
        _loss = float.NaN;
        run();
        return [new("probs", Snapshot(_sceProbs, Batch * Classes)), new("loss", [_loss])];
    }

    private Output[] RunCrossEntropyBackward(Action run)
    {
        CrossEntropyForwardA();
        run();
        return [new("dlogits", Snapshot(_dlogits, Batch * Classes))];
    }

    /// <summary>
    /// A == B and C == D bit for bit, A == R (the runtime kernel) bit for bit, C within rounding of A.
    /// Throws on any mismatch; returns one line per case with C's largest difference from A.
    /// </summary>
    public IEnumerable<string> Check()
    {
        foreach (var c in All())
        {
            Func<Action, Output[]> runner = c.Name switch
            {
                "LayerNorm.Forward" => RunLayerNormForward,
                "LayerNorm.Backward" => RunLayerNormBackward,
                "Softmax rows" => RunSoftmax,
                "SoftmaxBackward rows" => RunSoftmaxBackward,
                "Attention.Forward" => RunAttentionForward,
                "Attention.Backward" => RunAttentionBackward,
                "SoftmaxCrossEntropy.Forward" => RunCrossEntropyForward,
                _ => RunCrossEntropyBackward,
            };
            var results = c.Variants.Where(v => v.Variant != "copy").ToDictionary(v => v.Variant, v => runner(v.Run));
            void Same(string x, string y)
            {
                if (!results.ContainsKey(x) || !results.ContainsKey(y)) return;
                for (int o = 0; o < results[x].Length; o++)
                {
                    var p = results[x][o].Values; var q = results[y][o].Values;
                    if (!MemoryMarshal.AsBytes(p.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(q.AsSpan())))
                    {
                        int i = 0; while (BitConverter.SingleToInt32Bits(p[i]) == BitConverter.SingleToInt32Bits(q[i])) i++;
                        throw new InvalidOperationException($"{c.Name}: {x} and {y} differ in {results[x][o].Name}[{i}]: {p[i]:R} vs {q[i]:R}");
                    }
                }
            }
            Same("A", "B"); Same("C", "D"); Same("A", "R");
            string line = $"{c.Name}: A == B" + (results.ContainsKey("R") ? " == runtime kernel" : "") + (results.ContainsKey("C") ? ", C == D" : "") + " (bitwise)";
            if (results.ContainsKey("C"))
            {
                double worst = 0;
                for (int o = 0; o < results["A"].Length; o++)
                {
                    var p = results["A"][o].Values; var q = results["C"][o].Values;
                    double scale = 0;
                    foreach (var v in p) scale = Math.Max(scale, Math.Abs(v));
                    for (int i = 0; i < p.Length; i++) worst = Math.Max(worst, Math.Abs(p[i] - q[i]) / Math.Max(scale, 1e-30));
                    if (!(worst <= 1e-5)) throw new InvalidOperationException($"{c.Name}: C differs from A in {results["A"][o].Name} by {worst:E2} of its largest value");
                }
                line += $", C vs A: max |diff| = {worst:E1} of the largest value";
            }
            yield return line;
        }
    }

    public void Dispose()
    {
        foreach (var p in _allocations) NativeMemory.AlignedFree((void*)p);
        _allocations.Clear();
    }
}

/// <summary>
/// `quick dims [rounds] [seconds per sample]`: every variant of every case timed in turn
/// (A B C D ... per case, the cases one after another), the whole sequence repeated `rounds`
/// times, with `uptime` before each round; medians over rounds, spread, and the per-round ratio.
/// </summary>
public static class DimSpecializationRunner
{
    public static void Run(int rounds, double seconds, string? filter = null)
    {
        WorkerPool.Configure(1);
        using var cases = new DimCases();
        Console.WriteLine($"SIMD {Simd.Level}, pool threads {WorkerPool.Shared.Threads}, rounds {rounds}, {seconds:F2} s per sample");
        foreach (var line in cases.Check()) Console.WriteLine("check: " + line);
        var all = cases.All().Where(c => filter is null || c.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)).ToList();
        // Warm-up: every variant, twice over, long enough to reach tier 1 (tiered compilation
        // with PGO, the product's default): a method with loops starts at tier 0, moves to an
        // OSR version inside its loops, and is recompiled at tier 1 after 30 calls and a quiet
        // period of the tiering thread.
        var group = new Dictionary<(string, string), int>();
        for (int pass = 0; pass < 2; pass++)
            foreach (var c in all)
                foreach (var (v, run) in c.Variants)
                {
                    var sw = Stopwatch.StartNew();
                    int calls = 0;
                    while (sw.Elapsed.TotalSeconds < 1.0 || calls < 60) { run(); calls++; }
                    double per = sw.Elapsed.TotalSeconds / calls;
                    group[(c.Name, v)] = Math.Max(1, (int)(100e-6 / per));   // samples of >= 100 µs
                }
        foreach (var line in cases.Check()) Console.WriteLine("check after warm-up: " + line);
        var times = new Dictionary<(string, string), List<(double Median, double Best)>>();
        var quiet = new List<bool>();
        // VIT_DIMS_MAXLOAD=x: before each round, wait (up to VIT_DIMS_MAXWAIT seconds, default 300)
        // until the 1-minute load average is at most x (this process counts about 1); a round
        // that starts above it anyway is kept in the log but left out of the summary.
        double maxLoad = double.TryParse(Environment.GetEnvironmentVariable("VIT_DIMS_MAXLOAD"), System.Globalization.CultureInfo.InvariantCulture, out var ml) ? ml : double.PositiveInfinity;
        double maxWait = double.TryParse(Environment.GetEnvironmentVariable("VIT_DIMS_MAXWAIT"), System.Globalization.CultureInfo.InvariantCulture, out var mw) ? mw : 300;
        for (int round = 0; round < rounds; round++)
        {
            var waited = Stopwatch.StartNew();
            while (LoadAverage() > maxLoad && waited.Elapsed.TotalSeconds < maxWait) Thread.Sleep(5000);
            if (waited.Elapsed.TotalSeconds > 1) Console.WriteLine($"(waited {waited.Elapsed.TotalSeconds:F0} s for the load average to fall to {maxLoad})");
            double load = LoadAverage();
            quiet.Add(load <= maxLoad);
            Console.WriteLine($"round {round + 1}: {Uptime()}{(load <= maxLoad ? "" : " (busy: left out of the summary)")}");
            foreach (var c in all)
            {
                var line = new System.Text.StringBuilder($"  {c.Name,-30}");
                foreach (var (v, run) in c.Variants)
                {
                    var (median, best) = Sample(run, group[(c.Name, v)], seconds);
                    if (!times.TryGetValue((c.Name, v), out var list)) times[(c.Name, v)] = list = [];
                    list.Add((median, best));
                    line.Append($" {v} {median / 1e3,10:F2} us (best {best / 1e3,10:F2})");
                }
                Console.WriteLine(line);
            }
        }
        foreach (var line in cases.Check()) Console.WriteLine("check after timing: " + line);
        var kept = Enumerable.Range(0, rounds).Where(r => quiet[r]).ToList();
        if (kept.Count == 0) kept = Enumerable.Range(0, rounds).ToList();
        Console.WriteLine();
        Console.WriteLine($"Summary over {kept.Count} of {rounds} rounds (rounds {string.Join(",", kept.Select(r => r + 1))}). Per variant: median over rounds of each round's median time per call; spread = min-max of those; ratio = median [min-max] over rounds of (specialized / int-sized) measured back to back in the same round; best = the same ratio of the rounds' fastest samples.");
        Console.WriteLine("| kernel | shape | pair | int-sized us | specialized us | ratio | spread int / spec | best-sample ratio |");
        Console.WriteLine("|---|---|---|---:|---:|---:|---:|---:|");
        foreach (var c in all)
            foreach (var (i, b, label) in new[] { ("A", "B", "A/B faithful"), ("C", "D", "C/D rewritten") })
            {
                if (!times.ContainsKey((c.Name, i)) || !times.ContainsKey((c.Name, b))) continue;
                var x = kept.Select(r => times[(c.Name, i)][r]).ToList();
                var y = kept.Select(r => times[(c.Name, b)][r]).ToList();
                var ratio = x.Zip(y, (p, q) => q.Median / p.Median).ToList();
                var bestRatio = x.Zip(y, (p, q) => q.Best / p.Best).ToList();
                Console.WriteLine($"| {c.Name} | {c.Shape} | {label} | {Median(x.Select(t => t.Median).ToList()) / 1e3:F2} | {Median(y.Select(t => t.Median).ToList()) / 1e3:F2} | " +
                    $"{Median(ratio):F3} [{ratio.Min():F3}-{ratio.Max():F3}] | {Spread(x.Select(t => t.Median).ToList())} / {Spread(y.Select(t => t.Median).ToList())} | {Median(bestRatio):F3} [{bestRatio.Min():F3}-{bestRatio.Max():F3}] |");
            }
        Console.WriteLine();
        Console.WriteLine("Every variant against A (same rounds): median us, and median [min-max] of the per-round ratio to A.");
        Console.WriteLine("| kernel | variant | median us | ratio to A |");
        Console.WriteLine("|---|---|---:|---:|");
        foreach (var c in all)
            foreach (var (v, _) in c.Variants)
            {
                var t = kept.Select(r => times[(c.Name, v)][r].Median).ToList();
                var a = kept.Select(r => times[(c.Name, "A")][r].Median).ToList();
                var ra = t.Zip(a, (p, q) => p / q).ToList();
                Console.WriteLine($"| {c.Name} | {v} | {Median(t) / 1e3:F2} | {Median(ra):F3} [{ra.Min():F3}-{ra.Max():F3}] |");
            }
    }

    // min-max of the round medians as a percentage of their median.
    private static string Spread(List<double> v) => $"{(v.Max() - v.Min()) / Median(v) * 100:F0} %";

    private static double Median(List<double> v)
    {
        var s = v.OrderBy(x => x).ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    // The median and the fastest per-call time (ns) of samples of `group` calls, over `seconds` (at least 7 samples).
    private static (double Median, double Best) Sample(Action run, int group, double seconds)
    {
        var samples = new List<double>();
        var total = Stopwatch.StartNew();
        while (samples.Count < 7 || total.Elapsed.TotalSeconds < seconds)
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < group; i++) run();
            samples.Add(Stopwatch.GetElapsedTime(t0).TotalNanoseconds / group);
        }
        return (Median(samples), samples.Min());
    }

    private static double LoadAverage() =>
        double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);

    private static string Uptime()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("uptime") { RedirectStandardOutput = true, UseShellExecute = false })!;
            string s = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return s;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "loadavg " + File.ReadAllText("/proc/loadavg").Trim();
        }
    }
}

/// <summary>The same A/B/C/D variants under BenchmarkDotNet (one case per method; single-threaded).</summary>
[Config(typeof(SuiteConfig))]
public class DimSpecializationBenchmarks
{
    private DimCases _cases = null!;

    [GlobalSetup]
    public void Setup()
    {
        WorkerPool.Configure(1);
        _cases = new DimCases();
        foreach (var line in _cases.Check()) Console.WriteLine("check: " + line);
    }

    [GlobalCleanup]
    public void Cleanup() => _cases.Dispose();

    [Benchmark] public void LayerNormForwardA() => _cases.LayerNormForwardA();
    [Benchmark] public void LayerNormForwardB() => _cases.LayerNormForwardB();
    [Benchmark] public void LayerNormForwardC() => _cases.LayerNormForwardC();
    [Benchmark] public void LayerNormForwardD() => _cases.LayerNormForwardD();
    [Benchmark] public void LayerNormBackwardA() => _cases.LayerNormBackwardA();
    [Benchmark] public void LayerNormBackwardB() => _cases.LayerNormBackwardB();
    [Benchmark] public void LayerNormBackwardC() => _cases.LayerNormBackwardC();
    [Benchmark] public void LayerNormBackwardD() => _cases.LayerNormBackwardD();
    [Benchmark] public void SoftmaxRowsA() => _cases.SoftmaxRowsA();
    [Benchmark] public void SoftmaxRowsB() => _cases.SoftmaxRowsB();
    [Benchmark] public void SoftmaxRowsC() => _cases.SoftmaxRowsC();
    [Benchmark] public void SoftmaxRowsD() => _cases.SoftmaxRowsD();
    [Benchmark] public void AttentionForwardA() => _cases.AttentionForwardA();
    [Benchmark] public void AttentionForwardB() => _cases.AttentionForwardB();
    [Benchmark] public void AttentionBackwardA() => _cases.AttentionBackwardA();
    [Benchmark] public void AttentionBackwardB() => _cases.AttentionBackwardB();
    [Benchmark] public void CrossEntropyForwardA() => _cases.CrossEntropyForwardA();
    [Benchmark] public void CrossEntropyForwardB() => _cases.CrossEntropyForwardB();
}
