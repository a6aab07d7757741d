using ILGPU;
using ILGPU.Runtime;

namespace Vit.Backends.Ilgpu;

// The ILGPU backend's kernels: every step of a generated model's forward pass, backward pass and
// optimizer update, written once in C# and compiled by ILGPU for the accelerator (PTX for CUDA
// GPUs; .NET threads on ILGPU's CPU accelerator). They are the C# counterparts of vit.cl, kernel
// for kernel, with the same arguments, layouts and accumulate/overwrite rules (see
// Vit.Backends.Cpu for each step's meaning).
//
// Specialization: the model's sizes arrive as the generator's dimension types (D768 : IDim) and
// tile shapes as small config types (GemmTile16 : IGemmTile); ILGPU compiles one kernel per
// instantiation, with every TDim.Value a literal in the PTX. Runtime sizes (the GEMM's M, N, K,
// the batch, element counts) are arguments.
//
// Conventions: every kernel is explicitly grouped (launched with a KernelConfig) and reads its
// group size from Group.DimX, so the same code runs with 256-thread groups on a GPU and 4-thread
// groups on the CPU accelerator. An optional tensor is a valid 1-element view plus a flag bit
// (an absent view cannot be launched); element-wise kernels bounds-check their index, since the
// host rounds the grid up to whole groups. Shared memory is sized by constants or type arguments.
internal static class IlgpuKernelCode
{
    /// <summary>The largest group any kernel is launched with (the size of the reduction scratch).</summary>
    public const int MaxGroup = 256;

    // ------------------------------------------------------------------------------------------
    // GEMM: C (M×N, row stride CStride) = op(A)·op(B) [+ bias] [+ C]; act = gelu(C) as well when
    // asked (fc1 + mlp.act). A(i, k) = a[i·Sai + k·Sak], B(k, j) = b[k·Sbk + j·Sbj], so one kernel
    // serves x·Wᵀ (forward), dy·W (input gradient) and dyᵀ·x (weight gradient). A group of
    // T×T threads computes a (4T)×(4T) block of C, 4×4 values per thread held in registers,
    // stepping through K 16 at a time with both tiles staged in shared memory.
    // ------------------------------------------------------------------------------------------
    public const int GemmK = 16;
    public const int GemmBias = 1, GemmAct = 2, GemmAccumulate = 4;

    public static void Gemm<TTile>(ArrayView<float> c, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, ArrayView<float> act, GemmArgs g)
        where TTile : struct, IGemmTile
    {
        int T = TTile.Threads, TM = 4 * TTile.Threads;
        var As = SharedMemory.Allocate<float>(GemmK * 4 * TTile.Threads);
        var Bs = SharedMemory.Allocate<float>(GemmK * 4 * TTile.Threads);
        int t = Group.IdxX, lx = t % T, ly = t / T;
        long row0 = (long)Grid.IdxY * TM, col0 = (long)Grid.IdxX * TM;
        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (int k0 = 0; k0 < g.K; k0 += GemmK)
        {
            // Consecutive threads walk each operand's contiguous direction (coalesced reads).
            for (int e = t; e < GemmK * TM; e += T * T)
            {
                int m = g.Sak == 1 ? e / GemmK : e % TM;
                int k = g.Sak == 1 ? e % GemmK : e / TM;
                long gi = row0 + m;
                int gk = k0 + k;
                As[k * TM + m] = gi < g.M && gk < g.K ? a[gi * g.Sai + gk * g.Sak] : 0f;
                int n = g.Sbj == 1 ? e % TM : e / GemmK;
                int kb = g.Sbj == 1 ? e / TM : e % GemmK;
                long gj = col0 + n;
                int gkb = k0 + kb;
                Bs[kb * TM + n] = gj < g.N && gkb < g.K ? b[gkb * g.Sbk + gj * g.Sbj] : 0f;
            }
            Group.Barrier();
            for (int k = 0; k < GemmK; k++)
            {
                int ka = k * TM;
                float a0 = As[ka + ly], a1 = As[ka + ly + T], a2 = As[ka + ly + 2 * T], a3 = As[ka + ly + 3 * T];
                float b0 = Bs[ka + lx], b1 = Bs[ka + lx + T], b2 = Bs[ka + lx + 2 * T], b3 = Bs[ka + lx + 3 * T];
                c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            }
            Group.Barrier();
        }
        long i0 = row0 + ly, j0 = col0 + lx;
        StoreRow(c, bias, act, g, i0, j0, T, c00, c01, c02, c03);
        StoreRow(c, bias, act, g, i0 + T, j0, T, c10, c11, c12, c13);
        StoreRow(c, bias, act, g, i0 + 2 * T, j0, T, c20, c21, c22, c23);
        StoreRow(c, bias, act, g, i0 + 3 * T, j0, T, c30, c31, c32, c33);
    }

    private static void StoreRow(ArrayView<float> c, ArrayView<float> bias, ArrayView<float> act, GemmArgs g, long i, long j, int step,
        float v0, float v1, float v2, float v3)
    {
        if (i >= g.M) return;
        Store(c, bias, act, g, i, j, v0);
        Store(c, bias, act, g, i, j + step, v1);
        Store(c, bias, act, g, i, j + 2 * step, v2);
        Store(c, bias, act, g, i, j + 3 * step, v3);
    }

    // The epilogue of one value: bias, the residual add, gelu (also the tensor-core GEMM's).
    internal static void StoreValue(ArrayView<float> c, ArrayView<float> bias, ArrayView<float> act, GemmArgs g, long i, long j, float v)
    {
        if (i < g.M) Store(c, bias, act, g, i, j, v);
    }

    private static void Store(ArrayView<float> c, ArrayView<float> bias, ArrayView<float> act, GemmArgs g, long i, long j, float v)
    {
        if (j >= g.N) return;
        if ((g.Flags & GemmBias) != 0) v += bias[j];
        long at = i * g.CStride + j;
        if ((g.Flags & GemmAccumulate) != 0) v += c[at];
        c[at] = v;
        if ((g.Flags & GemmAct) != 0) act[i * g.ActStride + j] = Gelu(v);
    }

    // sum[j] += Σ_rows m[r, j] (bias gradients). One thread per column.
    public static void ColumnSumsAdd(ArrayView<float> sum, ArrayView<float> m, int rows, int columns)
    {
        int j = Grid.GlobalIndex.X;
        if (j >= columns) return;
        float s = 0f;
        for (int r = 0; r < rows; r++) s += m[(long)r * columns + j];
        sum[j] += s;
    }

    // ------------------------------------------------------------------------------------------
    // GELU, exact (erf) as timm's nn.GELU: gelu(x) = ½·x·(1 + erf(x/√2)). 1 + erf(z) is computed
    // as erfc(−z) with Numerical Recipes' erfcc fit (fractional error below 1.2e-7), the fit the
    // CPU kernels use, so large negative inputs keep their relative accuracy.
    // ------------------------------------------------------------------------------------------
    private static float OnePlusErf(float x)
    {
        float z = x * 0.70710678118654752f;
        float a = MathF.Abs(z);
        float t = 1f / (1f + 0.5f * a);
        float c = t * MathF.Exp(-a * a - 1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
            t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f +
            t * (-0.82215223f + t * 0.17087277f)))))))));
        return z >= 0 ? 2f - c : c;
    }

    public static float Gelu(float x) => 0.5f * x * OnePlusErf(x);

    // dx = dy·gelu'(x), gelu'(x) = Φ(x) + x·φ(x). dx may be dy.
    public static void GeluBackward(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, int count)
    {
        int i = Grid.GlobalIndex.X;
        if (i >= count) return;
        float v = x[i];
        float pdf = MathF.Exp(-0.5f * v * v) * 0.39894228040143268f;
        dx[i] = dy[i] * (0.5f * OnePlusErf(v) + v * pdf);
    }

    public static void TanhForward(ArrayView<float> y, ArrayView<float> x, int count)
    {
        int i = Grid.GlobalIndex.X;
        if (i < count) y[i] = MathF.Tanh(x[i]);
    }

    // dx = dy·(1 − y²). dx may be dy.
    public static void TanhBackward(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> y, int count)
    {
        int i = Grid.GlobalIndex.X;
        if (i >= count) return;
        float v = y[i];
        dx[i] = dy[i] * (1f - v * v);
    }

    // x *= mask (dropout forward and backward; the mask holds 0 or 1/(1 − p)).
    public static void MultiplyMask(ArrayView<float> x, ArrayView<float> mask, int count)
    {
        int i = Grid.GlobalIndex.X;
        if (i < count) x[i] *= mask[i];
    }

    // x *= mask with x's rows ldx floats apart and the mask contiguous (count / cols, cols).
    public static void MultiplyMaskRows(ArrayView<float> x, long ldx, ArrayView<float> mask, int cols, int count)
    {
        int i = Grid.GlobalIndex.X;
        if (i < count) x[i / cols * ldx + i % cols] *= mask[i];
    }

    // out = input + branch·scale[image] (no scale: 1). out may be input.
    public static void ResidualForward(ArrayView<float> output, ArrayView<float> input, ArrayView<float> branch, ArrayView<float> scale,
        int hasScale, int perImage, int count)
    {
        int i = Grid.GlobalIndex.X;
        if (i >= count) return;
        float s = hasScale != 0 ? scale[i / perImage] : 1f;
        output[i] = input[i] + branch[i] * s;
    }

    // dbranch = dout·scale[image] (no scale: a copy). dbranch may be dout.
    public static void ResidualBackward(ArrayView<float> dbranch, ArrayView<float> dout, ArrayView<float> scale, int hasScale, int perImage, int count)
    {
        int i = Grid.GlobalIndex.X;
        if (i >= count) return;
        float s = hasScale != 0 ? scale[i / perImage] : 1f;
        dbranch[i] = dout[i] * s;
    }

    // LayerScale (timm init_values) over (rows, TDim): y = x·gamma[channel]; also its input
    // gradient dx = dy·gamma (the same kernel). y may be x.
    public static void LayerScale<TDim>(ArrayView<float> y, ArrayView<float> x, ArrayView<float> gamma, int count)
        where TDim : struct, IDim
    {
        int i = Grid.GlobalIndex.X;
        if (i < count) y[i] = x[i] * gamma[i % TDim.Value];
    }

    // dgamma[j] += Σ_rows dy[r, j]·x[r, j]. One thread per channel, rows in order.
    public static void LayerScaleGamma<TDim>(ArrayView<float> dgamma, ArrayView<float> dy, ArrayView<float> x, int rows)
        where TDim : struct, IDim
    {
        int j = Grid.GlobalIndex.X;
        if (j >= TDim.Value) return;
        float s = 0f;
        for (int r = 0; r < rows; r++)
        {
            long at = (long)r * TDim.Value + j;
            s += dy[at] * x[at];
        }
        dgamma[j] += s;
    }

    // ------------------------------------------------------------------------------------------
    // LayerNorm over TDim: one group per row, the sums reduced in shared memory.
    // ------------------------------------------------------------------------------------------

    // Σ of v over the group (its size a power of two), every thread gets the total.
    private static float GroupSum(ArrayView<float> scratch, float v)
    {
        int lid = Group.IdxX;
        scratch[lid] = v;
        Group.Barrier();
        for (int s = Group.DimX / 2; s > 0; s >>= 1)
        {
            if (lid < s) scratch[lid] += scratch[lid + s];
            Group.Barrier();
        }
        float total = scratch[0];
        Group.Barrier();
        return total;
    }

    // y = (x − mean)·rstd·weight + bias per row; mean and rstd saved when saveStats (training).
    public static void LayerNormForward<TDim>(ArrayView<float> y, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> x,
        ArrayView<float> w, ArrayView<float> bias, int saveStats, float eps)
        where TDim : struct, IDim
    {
        var scratch = SharedMemory.Allocate<float>(MaxGroup);
        int D = TDim.Value, lid = Group.IdxX, G = Group.DimX;
        long r = Grid.IdxX, row = r * D;
        float s = 0f;
        for (int i = lid; i < D; i += G) s += x[row + i];
        float m = GroupSum(scratch, s) / D;
        float v = 0f;
        for (int i = lid; i < D; i += G)
        {
            float d = x[row + i] - m;
            v += d * d;
        }
        float inv = 1f / MathF.Sqrt(GroupSum(scratch, v) / D + eps);
        for (int i = lid; i < D; i += G) y[row + i] = (x[row + i] - m) * inv * w[i] + bias[i];
        if (lid == 0 && saveStats != 0)
        {
            mean[r] = m;
            rstd[r] = inv;
        }
    }

    // dx += rstd·(w·dy − mean(w·dy) − x̂·mean(w·dy·x̂)) per row (adds into the residual stream's gradient).
    public static void LayerNormBackwardInput<TDim>(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> mean,
        ArrayView<float> rstd, ArrayView<float> w)
        where TDim : struct, IDim
    {
        var scratch = SharedMemory.Allocate<float>(MaxGroup);
        int D = TDim.Value, lid = Group.IdxX, G = Group.DimX;
        long r = Grid.IdxX, row = r * D;
        float m = mean[r], s = rstd[r];
        float gm = 0f, gxm = 0f;
        for (int i = lid; i < D; i += G)
        {
            float g = w[i] * dy[row + i];
            gm += g;
            gxm += g * (x[row + i] - m) * s;
        }
        gm = GroupSum(scratch, gm) / D;
        gxm = GroupSum(scratch, gxm) / D;
        for (int i = lid; i < D; i += G)
            dx[row + i] += s * (w[i] * dy[row + i] - gm - (x[row + i] - m) * s * gxm);
    }

    // dweight[j] += Σ_rows dy·x̂, dbias[j] += Σ_rows dy. One thread per column.
    public static void LayerNormBackwardParams<TDim>(ArrayView<float> dw, ArrayView<float> db, ArrayView<float> dy, ArrayView<float> x,
        ArrayView<float> mean, ArrayView<float> rstd, int rows)
        where TDim : struct, IDim
    {
        int j = Grid.GlobalIndex.X;
        if (j >= TDim.Value) return;
        float sw = 0f, sb = 0f;
        for (int r = 0; r < rows; r++)
        {
            long at = (long)r * TDim.Value + j;
            float g = dy[at];
            sb += g;
            sw += g * (x[at] - mean[r]) * rstd[r];
        }
        dw[j] += sw;
        db[j] += sb;
    }

    // ------------------------------------------------------------------------------------------
    // Attention. qkv (B, T, 3·H·HD) rows [q | k | v], head h at columns h·HD; output (B, T, H·HD)
    // with the heads merged; probs (B, H, T, T) pre-dropout; mask optional.
    //
    // Forward, fused per (image, head, block of TRows query rows): the block's queries, its
    // (TRows × T) scores and its outputs stay in shared memory while K and V stream through in
    // tiles of 16 rows, so the scores reach global memory only when training saves them.
    // ------------------------------------------------------------------------------------------
    public const int AttentionKeyTile = 16;
    public const int AttentionProbs = 1, AttentionMask = 2;

    public static void AttentionForward<TTokens, THeads, THeadDim, TRows>(ArrayView<float> output, ArrayView<float> probs, ArrayView<float> mask,
        ArrayView<float> qkv, int flags, float scale)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim where TRows : struct, IDim
    {
        int T = TTokens.Value, HD = THeadDim.Value, QB = TRows.Value, KT = AttentionKeyTile;
        int inner = THeads.Value * HD, row = 3 * inner;
        var qs = SharedMemory.Allocate<float>(TRows.Value * THeadDim.Value);
        var os = SharedMemory.Allocate<float>(TRows.Value * THeadDim.Value);
        var ss = SharedMemory.Allocate<float>(TRows.Value * TTokens.Value);
        var kv = SharedMemory.Allocate<float>(AttentionKeyTile * THeadDim.Value);
        int t = Group.IdxX, G = Group.DimX;
        int bh = Grid.IdxY, h = bh % THeads.Value, q0 = Grid.IdxX * QB;
        long b = bh / THeads.Value;
        long qkvBase = b * T * row + h * HD;
        long rowBase = (long)bh * T;

        for (int e = t; e < QB * HD; e += G)
        {
            int i = q0 + e / HD;
            qs[e] = i < T ? qkv[qkvBase + (long)i * row + e % HD] : 0f;
            os[e] = 0f;
        }
        // Scores: S = q·kᵀ·scale, one 16-key tile at a time.
        for (int j0 = 0; j0 < T; j0 += KT)
        {
            Group.Barrier();
            for (int e = t; e < KT * HD; e += G)
            {
                int j = j0 + e / HD;
                kv[e] = j < T ? qkv[qkvBase + (long)j * row + inner + e % HD] : 0f;
            }
            Group.Barrier();
            for (int e = t; e < QB * KT; e += G)
            {
                int r = e / KT, jj = e % KT, j = j0 + jj;
                if (j < T)
                {
                    float s = 0f;
                    for (int d = 0; d < HD; d++) s += qs[r * HD + d] * kv[jj * HD + d];
                    ss[r * T + j] = s * scale;
                }
            }
        }
        Group.Barrier();
        // Softmax per query row (saved pre-dropout when training).
        for (int r = t; r < QB; r += G)
        {
            int i = q0 + r;
            if (i < T)
            {
                float mx = float.MinValue;
                for (int j = 0; j < T; j++) mx = MathF.Max(mx, ss[r * T + j]);
                float sum = 0f;
                for (int j = 0; j < T; j++)
                {
                    float v = MathF.Exp(ss[r * T + j] - mx);
                    ss[r * T + j] = v;
                    sum += v;
                }
                float inv = 1f / sum;
                for (int j = 0; j < T; j++)
                {
                    float p = ss[r * T + j] * inv;
                    if ((flags & AttentionProbs) != 0) probs[(rowBase + i) * T + j] = p;
                    if ((flags & AttentionMask) != 0) p *= mask[(rowBase + i) * T + j];
                    ss[r * T + j] = p;
                }
            }
        }
        // Output: (P ⊙ mask)·V, one 16-row tile of V at a time.
        for (int j0 = 0; j0 < T; j0 += KT)
        {
            Group.Barrier();
            for (int e = t; e < KT * HD; e += G)
            {
                int j = j0 + e / HD;
                kv[e] = j < T ? qkv[qkvBase + (long)j * row + 2 * inner + e % HD] : 0f;
            }
            Group.Barrier();
            for (int e = t; e < QB * HD; e += G)
            {
                int r = e / HD, d = e % HD;
                float acc = os[e];
                int last = T - j0 < KT ? T - j0 : KT;
                for (int jj = 0; jj < last; jj++) acc += ss[r * T + j0 + jj] * kv[jj * HD + d];
                os[e] = acc;
            }
        }
        for (int e = t; e < QB * HD; e += G)
        {
            int i = q0 + e / HD;
            if (i < T) output[(b * T + i) * inner + h * HD + e % HD] = os[e];
        }
    }

    // Per query row i: dP = mask ⊙ (dout·vᵀ), dS = P ⊙ (dP − Σ P·dP)·scale (kept in dscores), dq = dS·k.
    public static void AttentionBackwardQuery<TTokens, THeads, THeadDim>(ArrayView<float> dqkv, ArrayView<float> dscores, ArrayView<float> dout,
        ArrayView<float> probs, ArrayView<float> mask, ArrayView<float> qkv, int hasMask, int rows, float scale)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
    {
        int id = Grid.GlobalIndex.X;
        if (id >= rows) return;
        int T = TTokens.Value, HD = THeadDim.Value, inner = THeads.Value * HD, row = 3 * inner;
        int i = id % T, bh = id / T, h = bh % THeads.Value;
        long b = bh / THeads.Value;
        long qkvBase = b * T * row + h * HD;
        long p = (long)id * T;
        long go = (b * T + i) * inner + h * HD;
        float c = 0f;
        for (int j = 0; j < T; j++)
        {
            long v = qkvBase + (long)j * row + 2 * inner;
            float dp = 0f;
            for (int e = 0; e < HD; e++) dp += dout[go + e] * qkv[v + e];
            if (hasMask != 0) dp *= mask[p + j];
            dscores[p + j] = dp;
            c += probs[p + j] * dp;
        }
        for (int j = 0; j < T; j++) dscores[p + j] = probs[p + j] * (dscores[p + j] - c) * scale;
        long dq = (b * T + i) * row + h * HD;
        for (int e = 0; e < HD; e++)
        {
            float s = 0f;
            for (int j = 0; j < T; j++) s += dscores[p + j] * qkv[qkvBase + (long)j * row + inner + e];
            dqkv[dq + e] = s;
        }
    }

    // Per key row j: dk = dSᵀ·q, dv = (P ⊙ mask)ᵀ·dout. Runs after AttentionBackwardQuery.
    public static void AttentionBackwardKey<TTokens, THeads, THeadDim>(ArrayView<float> dqkv, ArrayView<float> dscores, ArrayView<float> dout,
        ArrayView<float> probs, ArrayView<float> mask, ArrayView<float> qkv, int hasMask, int rows)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
    {
        int id = Grid.GlobalIndex.X;
        if (id >= rows) return;
        int T = TTokens.Value, HD = THeadDim.Value, inner = THeads.Value * HD, row = 3 * inner;
        int j = id % T, bh = id / T, h = bh % THeads.Value;
        long b = bh / THeads.Value;
        long qkvBase = b * T * row + h * HD;
        long col = (long)bh * T * T + j;
        long go = b * T * inner + h * HD;
        long d = (b * T + j) * row + h * HD;
        for (int e = 0; e < HD; e++)
        {
            float dk = 0f, dv = 0f;
            for (int i = 0; i < T; i++)
            {
                long at = col + (long)i * T;
                float pw = probs[at];
                if (hasMask != 0) pw *= mask[at];
                dk += dscores[at] * qkv[qkvBase + (long)i * row + e];
                dv += pw * dout[go + (long)i * inner + e];
            }
            dqkv[d + inner + e] = dk;
            dqkv[d + 2 * inner + e] = dv;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Patch embedding, class token, positions, pooling.
    // ------------------------------------------------------------------------------------------

    // patches (B, N, C·P·P) from images (B, C, I, I); k = (c·P + ky)·P + kx.
    public static void Im2Col<TChannels, TImage, TPatch>(ArrayView<float> patches, ArrayView<float> images, int count)
        where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim
    {
        int id = Grid.GlobalIndex.X;
        if (id >= count) return;
        int P = TPatch.Value, I = TImage.Value, grid = I / P, n = grid * grid, pk = TChannels.Value * P * P;
        int k = id % pk, bn = id / pk, patch = bn % n, b = bn / n;
        int kx = k % P, ky = k / P % P, ch = k / (P * P);
        int py = patch / grid, px = patch % grid;
        patches[id] = images[(((long)b * TChannels.Value + ch) * I + py * P + ky) * I + px * P + kx];
    }

    // tokens[b, 1 + n] = rows[b·N + n] (the patch GEMM's output, bias included), or back (gather).
    public static void PatchScatter<TPatches, TDim>(ArrayView<float> tokens, ArrayView<float> rows, int gather, int count)
        where TPatches : struct, IDim where TDim : struct, IDim
    {
        int id = Grid.GlobalIndex.X;
        if (id >= count) return;
        int D = TDim.Value, N = TPatches.Value;
        int d = id % D, bn = id / D, n = bn % N, b = bn / N;
        long token = ((long)b * (N + 1) + 1 + n) * D + d;
        if (gather != 0) rows[id] = tokens[token];
        else tokens[token] = rows[id];
    }

    // tokens[b, 0] = cls_token; tokens[b, t] += pos_embed[t].
    public static void PositionForward<TTokens, TDim>(ArrayView<float> tokens, ArrayView<float> cls, ArrayView<float> pos, int count)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        int id = Grid.GlobalIndex.X;
        if (id >= count) return;
        int td = id % (TTokens.Value * TDim.Value);
        float v = td < TDim.Value ? cls[td] : tokens[id];
        tokens[id] = v + pos[td];
    }

    // dpos[t] += Σ_b dtokens[b, t]; dcls += Σ_b dtokens[b, 0]. One thread per (t, d).
    public static void PositionBackward<TTokens, TDim>(ArrayView<float> dcls, ArrayView<float> dpos, ArrayView<float> dtokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        int td = Grid.GlobalIndex.X, per = TTokens.Value * TDim.Value;
        if (td >= per) return;
        float s = 0f;
        for (int b = 0; b < batch; b++) s += dtokens[(long)b * per + td];
        dpos[td] += s;
        if (td < TDim.Value) dcls[td] += s;
    }

    // pooled[b] = tokens[b, 0] (token pooling) or the mean of tokens[b, 1:] (mean pooling).
    public static void PoolForward<TTokens, TDim>(ArrayView<float> pooled, ArrayView<float> tokens, int mean, int count)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        int id = Grid.GlobalIndex.X;
        if (id >= count) return;
        int D = TDim.Value, T = TTokens.Value, d = id % D, b = id / D;
        long x = (long)b * T * D + d;
        float v;
        if (mean != 0)
        {
            v = 0f;
            for (int t = 1; t < T; t++) v += tokens[x + (long)t * D];
            v *= 1f / (T - 1);
        }
        else v = tokens[x];
        pooled[id] = v;
    }

    // dtokens (B, T, D) from dpooled (B, D): the class token's row (token pooling), or
    // dpooled / (T − 1) on every patch row (mean pooling); zero elsewhere.
    public static void PoolBackward<TTokens, TDim>(ArrayView<float> dtokens, ArrayView<float> dpooled, int mean, int count)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        int id = Grid.GlobalIndex.X;
        if (id >= count) return;
        int D = TDim.Value, T = TTokens.Value, d = id % D, bt = id / D, t = bt % T, b = bt / T;
        float g = dpooled[(long)b * D + d];
        dtokens[id] = mean != 0 ? (t == 0 ? 0f : g * (1f / (T - 1))) : (t == 0 ? g : 0f);
    }

    // ------------------------------------------------------------------------------------------
    // Loss: softmax cross-entropy with label smoothing ε over the first `active` logits of each
    // row (ModelMemory.ActiveClasses; the rest get probability 0), one thread per image.
    // ------------------------------------------------------------------------------------------

    // probs = softmax(logits); losses[b] = (1 − ε)(lse − l[y]) + (ε/K)·Σ_c (lse − l[c]).
    public static void SoftmaxXentForward<TClasses>(ArrayView<float> probs, ArrayView<float> losses, ArrayView<float> logits, ArrayView<int> labels,
        int batch, int active, float smoothing)
        where TClasses : struct, IDim
    {
        int b = Grid.GlobalIndex.X;
        if (b >= batch) return;
        int C = TClasses.Value;
        long l = (long)b * C;
        float mx = logits[l];
        for (int c = 1; c < active; c++) mx = MathF.Max(mx, logits[l + c]);
        float sum = 0f, logitSum = 0f;
        for (int c = 0; c < active; c++)
        {
            sum += MathF.Exp(logits[l + c] - mx);
            logitSum += logits[l + c];
        }
        float inv = 1f / sum;
        for (int c = 0; c < C; c++) probs[l + c] = c < active ? MathF.Exp(logits[l + c] - mx) * inv : 0f;
        float lse = MathF.Log(sum) + mx;
        float loss = (1f - smoothing) * (lse - logits[l + labels[b]]);
        if (smoothing > 0f) loss += smoothing / active * (active * lse - logitSum);
        losses[b] = loss;
    }

    // dlogits = (probs − target) / B, target = (1 − ε)·one_hot + ε/K over the served classes (0 beyond).
    public static void SoftmaxXentBackward<TClasses>(ArrayView<float> dlogits, ArrayView<float> probs, ArrayView<int> labels, int batch, int active,
        float smoothing)
        where TClasses : struct, IDim
    {
        int id = Grid.GlobalIndex.X;
        int C = TClasses.Value;
        if (id >= batch * C) return;
        int c = id % C, b = id / C;
        float inv = 1f / batch;
        float v = 0f;
        if (c < active)
        {
            v = probs[id] * inv - smoothing / active * inv;
            if (labels[b] == c) v -= (1f - smoothing) * inv;
        }
        dlogits[id] = v;
    }

    // ------------------------------------------------------------------------------------------
    // Optimizer. The trained parameters are cut into chunks (offset, length, decay flag) once;
    // one group per chunk. A parameter at offset k has its state at k − StateBase.
    // ------------------------------------------------------------------------------------------

    // partial[chunk] = Σ grad² over the chunk (the host adds the partials in double: the clip norm).
    public static void SumSquares(ArrayView<float> partial, ArrayView<float> grad, ArrayView<long> offsets, ArrayView<int> lengths)
    {
        var scratch = SharedMemory.Allocate<float>(MaxGroup);
        int chunk = Grid.IdxX, lid = Group.IdxX, G = Group.DimX;
        long o = offsets[chunk];
        int n = lengths[chunk];
        float s = 0f;
        for (int i = lid; i < n; i += G)
        {
            float g = grad[o + i];
            s += g * g;
        }
        float total = GroupSum(scratch, s);
        if (lid == 0) partial[chunk] = total;
    }

    // torch.optim.AdamW: p ← p·decay; m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
    // p ← p − lr·step_size·m / (√v·inv_sqrt_bias2 + ε), g = grad·scale.
    public static void AdamWUpdate(ArrayView<float> param, ArrayView<float> grad, ArrayView<float> m, ArrayView<float> v,
        ArrayView<long> offsets, ArrayView<int> lengths, ArrayView<int> decayed, AdamWArgs a)
    {
        int chunk = Grid.IdxX, G = Group.DimX;
        long o = offsets[chunk];
        int n = lengths[chunk];
        float decay = decayed[chunk] != 0 ? a.DecayFactor : 1f;
        float step = a.LearningRate * a.StepSize;
        for (int i = Group.IdxX; i < n; i += G)
        {
            long k = o + i, s = k - a.StateBase;
            float g = grad[k] * a.Scale;
            float mi = m[s] * a.Beta1 + g * a.OneMinusBeta1;
            float vi = v[s] * a.Beta2 + g * g * a.OneMinusBeta2;
            m[s] = mi;
            v[s] = vi;
            param[k] = param[k] * decay - mi / (MathF.Sqrt(vi) * a.InvSqrtBias2 + a.Epsilon) * step;
        }
    }

    // SGD with momentum μ (Nesterov optional): b ← μb + g; d = nesterov ? g + μb : b; p ← p·decay − lr·d.
    public static void SgdUpdate(ArrayView<float> param, ArrayView<float> grad, ArrayView<float> buffer,
        ArrayView<long> offsets, ArrayView<int> lengths, ArrayView<int> decayed, SgdArgs a)
    {
        int chunk = Grid.IdxX, G = Group.DimX;
        long o = offsets[chunk];
        int n = lengths[chunk];
        float decay = decayed[chunk] != 0 ? a.DecayFactor : 1f;
        for (int i = Group.IdxX; i < n; i += G)
        {
            long k = o + i, s = k - a.StateBase;
            float g = grad[k] * a.Scale;
            float bi = buffer[s] * a.Momentum + g;
            buffer[s] = bi;
            float d = a.Nesterov != 0 ? g + bi * a.Momentum : bi;
            param[k] = param[k] * decay - d * a.LearningRate;
        }
    }
}

/// <summary>The GEMM's sizes, strides and epilogue flags (one struct: ILGPU kernels take at most 15 arguments).</summary>
internal struct GemmArgs
{
    public long CStride, ActStride, Sai, Sak, Sbk, Sbj;
    public int M, N, K, Flags;
}

/// <summary>The AdamW update's scalars.</summary>
internal struct AdamWArgs
{
    public long StateBase;
    public float LearningRate, DecayFactor, Beta1, OneMinusBeta1, Beta2, OneMinusBeta2, Epsilon, StepSize, InvSqrtBias2, Scale;
}

/// <summary>The SGD update's scalars.</summary>
internal struct SgdArgs
{
    public long StateBase;
    public float LearningRate, DecayFactor, Momentum, Scale;
    public int Nesterov;
}

/// <summary>A GEMM tile shape: a group of Threads × Threads threads computes a (4·Threads)² block of C.</summary>
internal interface IGemmTile
{
    /// <summary>Threads per side of the group.</summary>
    static abstract int Threads { get; }
}

/// <summary>256-thread groups, 64×64 blocks: the GPU shape.</summary>
internal readonly struct GemmTile16 : IGemmTile
{
    public static int Threads => 16;
}

/// <summary>4-thread groups, 8×8 blocks: ILGPU's CPU accelerator, whose groups are its threads.</summary>
internal readonly struct GemmTile2 : IGemmTile
{
    public static int Threads => 2;
}

/// <summary>Query rows per attention group: 16 where the (16 × T) scores fit in shared memory.</summary>
internal readonly struct AttentionRows16 : IDim
{
    public static int Value => 16;
}

/// <summary>Query rows per attention group for long sequences (T above 384).</summary>
internal readonly struct AttentionRows4 : IDim
{
    public static int Value => 4;
}

/// <summary>Patches per image: N = (image / patch)², a dimension the generator does not name.</summary>
internal readonly struct PatchCount<TImage, TPatch> : IDim where TImage : struct, IDim where TPatch : struct, IDim
{
    public static int Value => TImage.Value / TPatch.Value * (TImage.Value / TPatch.Value);
}
