using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Vit.Memory;
using Vit.Numerics;

namespace Vit.Backends.Cpu;

/// <summary>
/// The core of timm multi-head self-attention, between the qkv <see cref="Linear"/> and the
/// output projection: per image and head, softmax(q·kᵀ/√hd)·v.
/// </summary>
/// <remarks>
/// qkv is (batch, T, 3·D) with D = heads·headDim; each token's row is [q | k | v], and head h
/// uses columns h·hd..(h+1)·hd of each part. One work item is one (image, head) pair, computed
/// with serial <see cref="Gemm"/> products while its T × T scores are hot in cache. In
/// <see cref="Precision.Bf16"/> the forward pass's two products and the backward pass's four run in
/// bf16 with fp32 accumulation (serial <see cref="Bf16Gemm"/> products on <c>VDPBF16PS</c>, or the
/// fp32 FMAs over rounded copies), as PyTorch's autocast runs attention's matrix products; the
/// softmax and its backward, the dropout mask and the stored probabilities stay fp32.
/// </remarks>
public static unsafe class Attention
{
    private struct Args
    {
        public float* Output, Probs, Mask, Qkv, Dqkv, Dprobs, Doutput;
        public int Tokens, Heads, HeadDim;
        public Bf16Units? Bf16; // the products in bf16 on these units; null: fp32
    }

    /// <summary>Forward: probs = softmax(q·kᵀ·scale) (pre-dropout), output = (probs ⊙ mask)·v.</summary>
    /// <param name="output">Output, (batch, TTokens, THeads·THeadDim), head h at columns h·hd.</param>
    /// <param name="probs">Attention probabilities, (batch, THeads, TTokens, TTokens), stored for backward.</param>
    /// <param name="dropoutMask">Attention dropout mask, (batch, THeads, TTokens, TTokens) of 0 or 1/(1 − p); <see cref="TensorPtr.Null"/> for none.</param>
    /// <param name="qkv">Queries, keys and values, (batch, TTokens, 3·THeads·THeadDim).</param>
    /// <param name="batch">The number of images.</param>
    /// <param name="precision">
    /// <see cref="Precision.Bf16"/>: q·kᵀ and (probs ⊙ mask)·v multiply bf16-rounded operands with fp32
    /// accumulation, on <see cref="Bf16Linear.Units"/> (<c>VDPBF16PS</c>, or the fp32 FMAs over rounded
    /// copies: the same products, summed in another order); the scores' scaling, the softmax and the
    /// stored probabilities stay fp32.
    /// </param>
    public static void Forward<TTokens, THeads, THeadDim>(TensorPtr output, TensorPtr probs, TensorPtr dropoutMask, TensorPtr qkv, int batch, Precision precision = Precision.Fp32)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
        => Forward<TTokens, THeads, THeadDim>(output, probs, dropoutMask, qkv, batch, precision == Precision.Bf16 ? Bf16Linear.Units : null);

    /// <summary>The forward pass with its products in bf16 on <paramref name="bf16"/>, or in fp32 when null (tests name the units).</summary>
    internal static void Forward<TTokens, THeads, THeadDim>(TensorPtr output, TensorPtr probs, TensorPtr dropoutMask, TensorPtr qkv, int batch, Bf16Units? bf16)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
    {
        var args = new Args { Output = output.Pointer, Probs = probs.Pointer, Mask = dropoutMask.Pointer, Qkv = qkv.Pointer, Tokens = TTokens.Value, Heads = THeads.Value, HeadDim = THeadDim.Value,
            Bf16 = bf16 };
        WorkerPool.Shared.Run(&ForwardHeads, &args, batch * THeads.Value);
    }

    /// <summary>Backward: dqkv = ∂L/∂qkv (overwrite).</summary>
    /// <param name="dqkv">Gradient of qkv, (batch, TTokens, 3·D), overwritten.</param>
    /// <param name="dprobs">Scratch, (batch, THeads, TTokens, TTokens); overwritten with the score gradient.</param>
    /// <param name="doutput">Gradient of output, (batch, TTokens, D).</param>
    /// <param name="probs">From forward, (batch, THeads, TTokens, TTokens).</param>
    /// <param name="dropoutMask">The forward mask, or <see cref="TensorPtr.Null"/>.</param>
    /// <param name="qkv">The forward input, (batch, TTokens, 3·D).</param>
    /// <param name="batch">The number of images.</param>
    /// <param name="precision">
    /// <see cref="Precision.Bf16"/> (mixed-precision training): dv = (P⊙M)ᵀ·do, dP = do·vᵀ, dq = dS·k and
    /// dk = dSᵀ·q multiply bf16-rounded operands with fp32 accumulation, on <see cref="Bf16Linear.Units"/>;
    /// the mask, the softmax backward (dS, from fp32 dP and P) and dqkv stay fp32.
    /// </param>
    public static void Backward<TTokens, THeads, THeadDim>(TensorPtr dqkv, TensorPtr dprobs, TensorPtr doutput, TensorPtr probs, TensorPtr dropoutMask, TensorPtr qkv, int batch,
        Precision precision = Precision.Fp32)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
        => Backward<TTokens, THeads, THeadDim>(dqkv, dprobs, doutput, probs, dropoutMask, qkv, batch, precision == Precision.Bf16 ? Bf16Linear.Units : null);

    /// <summary>The backward pass with its products in bf16 on <paramref name="bf16"/>, or in fp32 when null (tests name the units).</summary>
    internal static void Backward<TTokens, THeads, THeadDim>(TensorPtr dqkv, TensorPtr dprobs, TensorPtr doutput, TensorPtr probs, TensorPtr dropoutMask, TensorPtr qkv, int batch,
        Bf16Units? bf16)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
    {
        var args = new Args { Dqkv = dqkv.Pointer, Dprobs = dprobs.Pointer, Doutput = doutput.Pointer, Probs = probs.Pointer, Mask = dropoutMask.Pointer, Qkv = qkv.Pointer, Tokens = TTokens.Value, Heads = THeads.Value, HeadDim = THeadDim.Value,
            Bf16 = bf16 };
        WorkerPool.Shared.Run(&BackwardHeads, &args, batch * THeads.Value);
    }

    // Per-thread scratch for the masked probabilities (T × T), native and grow-only.
    [ThreadStatic] private static float* t_masked;
    [ThreadStatic] private static long t_maskedLength;

    // Per-thread scratch for the bf16 products: packed pairs (VDPBF16PS) or rounded copies (FMAs).
    [ThreadStatic] private static float* t_bf16;
    [ThreadStatic] private static long t_bf16Length;

    private static float* MaskedScratch(long floats) => Scratch(ref t_masked, ref t_maskedLength, floats);

    private static float* Scratch(ref float* buffer, ref long length, long floats)
    {
        if (floats > length)
        {
            if (buffer != null) NativeMemory.AlignedFree(buffer);
            buffer = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
            length = floats;
        }
        return buffer;
    }

    // One (image, head) at a time, while its q, k, v (T × hd each) and the T × T scores stay in
    // cache: S = q·kᵀ (a serial GEMM), row softmax of S·scale in place, output = P·v (GEMM).
    private static void ForwardHeads(void* context, int begin, int end)
    {
        ref Args a = ref *(Args*)context;
        int t = a.Tokens, hd = a.HeadDim, d = a.Heads * hd;
        long qkvRow = 3L * d;
        float scale = 1f / MathF.Sqrt(hd);
        // bf16: packed pairs (VDPBF16PS) or rounded copies (FMAs: q and k, then P and v), once per task.
        float* rounded = a.Bf16 is null ? null : Scratch(ref t_bf16, ref t_bf16Length, Math.Max(Bf16Gemm.HeadScratchDwords(t, hd), (long)t * t + 2L * t * hd));
        for (int item = begin; item < end; item++)
        {
            int b = item / a.Heads, h = item % a.Heads;
            float* q = a.Qkv + b * t * qkvRow + h * hd, k = q + d, v = q + 2 * d;
            float* p = a.Probs + (long)item * t * t;
            float* m = a.Mask == null ? null : a.Mask + (long)item * t * t;
            float* o = a.Output + (long)b * t * d + h * hd;
            // S (t × t) = q (t × hd) · kᵀ: B[e, j] = k[j·qkvRow + e].
            if (a.Bf16 is null) Gemm.MultiplySerial(p, t, q, qkvRow, 1, k, 1, qkvRow, t, t, hd, null, accumulate: false);
            else if (a.Bf16 == Bf16Units.DotProduct) Bf16Gemm.HeadScores(p, q, qkvRow, k, qkvRow, t, hd, (uint*)rounded);
            else
            {
                // round(q), round(k) (t × hd each, contiguous), then the fp32 product.
                float* rq = rounded, rk = rounded + (long)t * hd;
                Bf16Gemm.RoundRowsSerial(rq, q, t, hd, qkvRow);
                Bf16Gemm.RoundRowsSerial(rk, k, t, hd, qkvRow);
                Gemm.MultiplySerial(p, t, rq, hd, 1, rk, 1, hd, t, t, hd, null, accumulate: false);
            }
            for (int i = 0; i < t; i++) Softmax(new Span<float>(p + (long)i * t, t), scale);
            float* weights = p;
            if (m != null)
            {
                weights = MaskedScratch((long)t * t);
                TensorPrimitives.Multiply(new ReadOnlySpan<float>(p, t * t), new ReadOnlySpan<float>(m, t * t), new Span<float>(weights, t * t));
            }
            // output (t × hd) = (P ⊙ mask) (t × t) · v (t × hd).
            if (a.Bf16 is null) Gemm.MultiplySerial(o, d, weights, t, 1, v, qkvRow, 1, t, hd, t, null, accumulate: false);
            else if (a.Bf16 == Bf16Units.DotProduct) Bf16Gemm.HeadOutput(o, d, weights, false, v, qkvRow, t, hd, (uint*)rounded);
            else
            {
                // round(P ⊙ mask) (t × t), round(v) (t × hd), then the fp32 product.
                float* rp = rounded, rv = rounded + (long)t * t;
                Bf16Gemm.RoundSpan(rp, weights, (long)t * t);
                Bf16Gemm.RoundRowsSerial(rv, v, t, hd, qkvRow);
                Gemm.MultiplySerial(o, d, rp, t, 1, rv, hd, 1, t, hd, t, null, accumulate: false);
            }
        }
    }

    /// <summary>row = softmax(row·scale), in place: three vector passes (max; exp and sum; scale).</summary>
    /// <remarks>
    /// A row whose length is not a multiple of 16 (197 tokens: 12 vectors and 5 floats) ends with one
    /// vector ending at the row's end, overlapping the last full one: its exponentials are taken
    /// first, from the scores, before the main pass overwrites the overlap, and only its last lanes
    /// count in the sum and are stored. (A scalar tail of <c>MathF.Exp</c> cost a quarter of the
    /// softmax at 197 tokens.)
    /// </remarks>
    private static void Softmax(Span<float> row, float scale)
    {
        int n = row.Length, i = 0;
        fixed (float* r = row)
        {
            if (Simd.Level == SimdLevel.Avx512 && n >= 16)
            {
                var vmax = Vector512.Create(float.NegativeInfinity);
                for (; i + 16 <= n; i += 16) vmax = Vector512.Max(vmax, Vector512.Load(r + i));
                vmax = Vector512.Max(vmax, Vector512.Load(r + n - 16)); // the tail, overlapping: max is idempotent
                var m256 = Vector256.Max(vmax.GetLower(), vmax.GetUpper());
                var m128 = Vector128.Max(m256.GetLower(), m256.GetUpper());
                float max = MathF.Max(MathF.Max(m128.GetElement(0), m128.GetElement(1)), MathF.Max(m128.GetElement(2), m128.GetElement(3)));
                // exp(scale·(s − max)): the largest term is exactly 1. FastExp (float, within 2 ulp):
                // .NET's Vector512.Exp widens to double.
                var vs = Vector512.Create(scale);
                var vm = Vector512.Create(max * scale);
                int full = n / 16 * 16, rem = n - full;
                var tailLanes = Vector512.GreaterThanOrEqual(Vector512<int>.Indices, Vector512.Create(16 - rem)).AsSingle();
                var tail = rem == 0 ? Vector512<float>.Zero
                    : Vector512.ConditionalSelect(tailLanes, FastExp.Evaluate(Vector512.FusedMultiplyAdd(Vector512.Load(r + n - 16), vs, -vm)), Vector512<float>.Zero);
                var acc = tail;
                for (i = 0; i < full; i += 16)
                {
                    var e = FastExp.Evaluate(Vector512.FusedMultiplyAdd(Vector512.Load(r + i), vs, -vm));
                    e.Store(r + i);
                    acc += e;
                }
                var inv = Vector512.Create(1f / Vector512.Sum(acc));
                for (i = 0; i < full; i += 16) (Vector512.Load(r + i) * inv).Store(r + i);
                if (rem != 0) Vector512.ConditionalSelect(tailLanes, tail * inv, Vector512.Load(r + n - 16)).Store(r + n - 16);
                return;
            }
        }
        float m = TensorPrimitives.Max<float>(row);
        TensorPrimitives.Subtract(row, m, row);
        TensorPrimitives.Multiply(row, scale, row);
        TensorPrimitives.Exp(row, row);
        TensorPrimitives.Multiply(row, 1f / TensorPrimitives.Sum<float>(row), row);
    }

    /// <summary>ds = p ⊙ (dp − Σ p⊙dp)·scale, in place over <paramref name="dp"/>: two vector passes.</summary>
    private static void SoftmaxBackward(float* p, float* dp, int n, float scale)
    {
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

    // Per (image, head), four serial GEMMs and the softmax backward between them:
    // dv = (P⊙M)ᵀ·do, dP = (do·vᵀ)⊙M, dS = P⊙(dP − rowsum(P⊙dP))·scale, dq = dS·k, dk = dSᵀ·q.
    private static void BackwardHeads(void* context, int begin, int end)
    {
        ref Args a = ref *(Args*)context;
        int t = a.Tokens, hd = a.HeadDim, d = a.Heads * hd;
        long qkvRow = 3L * d;
        float scale = 1f / MathF.Sqrt(hd);
        // bf16: packed pairs (VDPBF16PS) or rounded copies (FMAs), once per task, as in the forward pass.
        float* rounded = a.Bf16 is null ? null : Scratch(ref t_bf16, ref t_bf16Length, Math.Max(Bf16Gemm.HeadScratchDwords(t, hd), (long)t * t + 2L * t * hd));
        // Fma: t × t for round(P⊙M), then round(dS); t × hd for round(do), then round(k); t × hd for round(v), then round(q).
        float* rs = rounded, ra = rounded + (long)t * t, rb = ra + (long)t * hd;
        for (int item = begin; item < end; item++)
        {
            int b = item / a.Heads, h = item % a.Heads;
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
            // dv (t × hd) = (P⊙M)ᵀ · do: A[j, i] = weights[i·t + j].
            // dP (t × t) = do · vᵀ: B[e, j] = v[j·qkvRow + e].
            if (a.Bf16 is null)
            {
                Gemm.MultiplySerial(dv, qkvRow, weights, 1, t, dout, d, 1, t, hd, t, null, accumulate: false);
                Gemm.MultiplySerial(dp, t, dout, d, 1, v, 1, qkvRow, t, t, hd, null, accumulate: false);
            }
            else if (a.Bf16 == Bf16Units.DotProduct)
            {
                Bf16Gemm.HeadOutput(dv, qkvRow, weights, true, dout, d, t, hd, (uint*)rounded);
                Bf16Gemm.HeadScores(dp, dout, d, v, qkvRow, t, hd, (uint*)rounded);
            }
            else
            {
                Bf16Gemm.RoundSpan(rs, weights, (long)t * t);
                Bf16Gemm.RoundRowsSerial(ra, dout, t, hd, d);
                Bf16Gemm.RoundRowsSerial(rb, v, t, hd, qkvRow);
                Gemm.MultiplySerial(dv, qkvRow, rs, 1, t, ra, hd, 1, t, hd, t, null, accumulate: false);
                Gemm.MultiplySerial(dp, t, ra, hd, 1, rb, 1, hd, t, t, hd, null, accumulate: false);
            }
            if (m != null) TensorPrimitives.Multiply(new ReadOnlySpan<float>(dp, t * t), new ReadOnlySpan<float>(m, t * t), new Span<float>(dp, t * t));
            // Softmax backward, in place and pre-scaled: ds_ij = p_ij·(dp_ij − Σ_k p_ik·dp_ik)·scale.
            for (int i = 0; i < t; i++) SoftmaxBackward(p + (long)i * t, dp + (long)i * t, t, scale);
            // dq (t × hd) = dS · k; dk (t × hd) = dSᵀ · q.
            if (a.Bf16 is null)
            {
                Gemm.MultiplySerial(dq, qkvRow, dp, t, 1, k, qkvRow, 1, t, hd, t, null, accumulate: false);
                Gemm.MultiplySerial(dk, qkvRow, dp, 1, t, q, qkvRow, 1, t, hd, t, null, accumulate: false);
            }
            else if (a.Bf16 == Bf16Units.DotProduct)
            {
                Bf16Gemm.HeadOutput(dq, qkvRow, dp, false, k, qkvRow, t, hd, (uint*)rounded);
                Bf16Gemm.HeadOutput(dk, qkvRow, dp, true, q, qkvRow, t, hd, (uint*)rounded);
            }
            else
            {
                Bf16Gemm.RoundSpan(rs, dp, (long)t * t);
                Bf16Gemm.RoundRowsSerial(ra, k, t, hd, qkvRow);
                Bf16Gemm.RoundRowsSerial(rb, q, t, hd, qkvRow);
                Gemm.MultiplySerial(dq, qkvRow, rs, t, 1, ra, hd, 1, t, hd, t, null, accumulate: false);
                Gemm.MultiplySerial(dk, qkvRow, rs, 1, t, rb, hd, 1, t, hd, t, null, accumulate: false);
            }
        }
    }

    /// <summary>Scalar reference of the forward pass; <paramref name="mask"/> may be null.</summary>
    /// <param name="output">(batch, tokens, heads·headDim).</param>
    /// <param name="probs">(batch, heads, tokens, tokens).</param>
    /// <param name="mask">(batch, heads, tokens, tokens) or null.</param>
    /// <param name="qkv">(batch, tokens, 3·heads·headDim).</param>
    /// <param name="batch">Images.</param>
    /// <param name="tokens">Tokens per image.</param>
    /// <param name="heads">Heads.</param>
    /// <param name="headDim">Dimension per head.</param>
    /// <param name="bf16">
    /// The reference of <see cref="Precision.Bf16"/>: q, k, v and each probability (times its mask)
    /// rounded to bf16 (<see cref="Bf16Gemm.Round"/>) before they multiply; the products are summed in double.
    /// </param>
    public static void ReferenceForward(double[] output, double[] probs, double[]? mask, double[] qkv, int batch, int tokens, int heads, int headDim, bool bf16 = false)
    {
        int t = tokens, hd = headDim, d = heads * hd;
        double R(double x) => bf16 ? Bf16Gemm.Round((float)x) : x;
        double scale = 1 / Math.Sqrt(hd);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                int pBase = (b * heads + h) * t * t;
                for (int i = 0; i < t; i++)
                {
                    double max = double.NegativeInfinity;
                    var s = new double[t];
                    for (int j = 0; j < t; j++)
                    {
                        double dot = 0;
                        for (int e = 0; e < hd; e++) dot += R(qkv[(b * t + i) * 3 * d + h * hd + e]) * R(qkv[(b * t + j) * 3 * d + d + h * hd + e]);
                        s[j] = dot * scale;
                        max = Math.Max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < t; j++) { s[j] = Math.Exp(s[j] - max); sum += s[j]; }
                    for (int j = 0; j < t; j++) probs[pBase + i * t + j] = s[j] / sum;
                    for (int e = 0; e < hd; e++)
                    {
                        double acc = 0;
                        for (int j = 0; j < t; j++)
                        {
                            double w = R(probs[pBase + i * t + j] * (mask is null ? 1 : mask[pBase + i * t + j]));
                            acc += w * R(qkv[(b * t + j) * 3 * d + 2 * d + h * hd + e]);
                        }
                        output[(b * t + i) * d + h * hd + e] = acc;
                    }
                }
            }
    }

    /// <summary>Scalar reference of the backward pass; <paramref name="mask"/> may be null.</summary>
    /// <param name="dqkv">(batch, tokens, 3·heads·headDim), overwritten.</param>
    /// <param name="doutput">(batch, tokens, heads·headDim).</param>
    /// <param name="probs">(batch, heads, tokens, tokens).</param>
    /// <param name="mask">(batch, heads, tokens, tokens) or null.</param>
    /// <param name="qkv">(batch, tokens, 3·heads·headDim).</param>
    /// <param name="batch">Images.</param>
    /// <param name="tokens">Tokens per image.</param>
    /// <param name="heads">Heads.</param>
    /// <param name="headDim">Dimension per head.</param>
    /// <param name="bf16">
    /// The reference of <see cref="Precision.Bf16"/>: each product's operands rounded to bf16
    /// (<see cref="Bf16Gemm.Round"/>): P⊙M and do for dv, do and v for dP, dS and k for dq, dS and q for
    /// dk; the products and the softmax backward are summed in double.
    /// </param>
    public static void ReferenceBackward(double[] dqkv, double[] doutput, double[] probs, double[]? mask, double[] qkv, int batch, int tokens, int heads, int headDim, bool bf16 = false)
    {
        int t = tokens, hd = headDim, d = heads * hd;
        double R(double x) => bf16 ? Bf16Gemm.Round((float)x) : x;
        double scale = 1 / Math.Sqrt(hd);
        Array.Clear(dqkv);
        int Q(int b, int i, int h, int e) => (b * t + i) * 3 * d + h * hd + e;
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                int pBase = (b * heads + h) * t * t;
                for (int i = 0; i < t; i++)
                {
                    var dp = new double[t];
                    for (int j = 0; j < t; j++)
                    {
                        double mij = mask is null ? 1 : mask[pBase + i * t + j];
                        double dot = 0;
                        for (int e = 0; e < hd; e++)
                        {
                            double g = R(doutput[(b * t + i) * d + h * hd + e]);
                            dqkv[Q(b, j, h, e) + 2 * d] += R(probs[pBase + i * t + j] * mij) * g;
                            dot += g * R(qkv[Q(b, j, h, e) + 2 * d]);
                        }
                        dp[j] = dot * mij;
                    }
                    double c = 0;
                    for (int j = 0; j < t; j++) c += probs[pBase + i * t + j] * dp[j];
                    for (int j = 0; j < t; j++)
                    {
                        double ds = R(probs[pBase + i * t + j] * (dp[j] - c) * scale);
                        for (int e = 0; e < hd; e++)
                        {
                            dqkv[Q(b, i, h, e)] += ds * R(qkv[Q(b, j, h, e) + d]);
                            dqkv[Q(b, j, h, e) + d] += ds * R(qkv[Q(b, i, h, e)]);
                        }
                    }
                }
            }
    }
}
