// Vit.Compiler device kernels: every step of a generated model's forward pass, backward pass and
// optimizer update, for one model shape.
//
// Compiled once per model type and device, after a prelude (prelude.opencl.h here; the same source
// compiles as CUDA C after prelude.cuda.h), with the model's shapes as -D constants:
//   TOKENS (patches + 1), DIM (the model width), HEADS, HEAD_DIM, CLASSES, CHANNELS, IMAGE, PATCH, GRID (IMAGE/PATCH),
//   NPATCH (GRID²), PATCH_K (CHANNELS·PATCH²), ATTN_SCALE (1/√HEAD_DIM, as the CPU computes it in float).
// Kernels whose sizes vary within a model (the GEMM: qkv, proj, fc1, fc2, head) take them as
// arguments instead.
//
// Conventions: a tensor argument is a pointer and an element offset (OpenCL buffers cannot be
// offset without sub-buffers, whose alignment rules our 64-byte plan does not meet). A null
// pointer means "absent" (no bias, no mask, no saved statistics). Every kernel bounds-checks its
// indices: the host rounds global sizes up to the work-group size. Row-major layouts throughout,
// with the same shapes as the CPU kernels in Vit.Runtime/Kernels.

#define AT(name) (name##_p + name##_o)
#define TENSOR(name) GLOBAL float* name##_p, vit_long name##_o
#define CTENSOR(name) GLOBAL const float* name##_p, vit_long name##_o

// ---------------------------------------------------------------------------------------------
// GEMM: C (M×N, row stride ldc) = op(A)·op(B) [+ bias] [+ C when accumulate]; optionally
// act = gelu(C) as well (fc1 + mlp.act; row stride ldact, padded in the training layout). A(i, k) = a[i·sai + k·sak] and B(k, j) = b[k·sbk + j·sbj],
// so one kernel serves x·Wᵀ (forward), dy·W (input gradient) and dyᵀ·x (weight gradient).
// Tiled in local memory: a 16×16 work-group computes a 64×64 block of C, 4×4 values per work-item,
// stepping through K 16 at a time.
// ---------------------------------------------------------------------------------------------
#define GEMM_TM 64
#define GEMM_TN 64
#define GEMM_TK 16

DEVICE float gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

KERNEL void gemm(TENSOR(c), vit_long ldc,
                 CTENSOR(a), vit_long sai, vit_long sak,
                 CTENSOR(b), vit_long sbk, vit_long sbj,
                 CTENSOR(bias), TENSOR(act), vit_long ldact,
                 int M, int N, int K, int accumulate)
{
    LOCAL float As[GEMM_TK][GEMM_TM];
    LOCAL float Bs[GEMM_TK][GEMM_TN];
    const int lx = LOCAL_ID(0), ly = LOCAL_ID(1), t = ly * 16 + lx;
    const vit_long row0 = GROUP_ID(1) * GEMM_TM, col0 = GROUP_ID(0) * GEMM_TN;
    GLOBAL const float* A = AT(a);
    GLOBAL const float* B = AT(b);
    float acc[4][4];
    for (int r = 0; r < 4; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += GEMM_TK)
    {
        // Each of the 256 work-items loads 4 of the 1024 values of each tile, walking the
        // operand's contiguous direction with consecutive work-items (coalesced reads).
        for (int e4 = 0; e4 < 4; e4++)
        {
            int e = t + 256 * e4;
            int m = sak == 1 ? e / GEMM_TK : e % GEMM_TM;
            int k = sak == 1 ? e % GEMM_TK : e / GEMM_TM;
            vit_long gi = row0 + m;
            int gk = k0 + k;
            As[k][m] = (gi < M && gk < K) ? A[gi * sai + (vit_long)gk * sak] : 0.0f;
            int n = sbj == 1 ? e % GEMM_TN : e / GEMM_TK;
            int kb = sbj == 1 ? e / GEMM_TN : e % GEMM_TK;
            vit_long gj = col0 + n;
            int gkb = k0 + kb;
            Bs[kb][n] = (gj < N && gkb < K) ? B[(vit_long)gkb * sbk + gj * sbj] : 0.0f;
        }
        BARRIER();
        for (int k = 0; k < GEMM_TK; k++)
        {
            float av[4], bv[4];
            for (int r = 0; r < 4; r++) av[r] = As[k][ly + 16 * r];
            for (int q = 0; q < 4; q++) bv[q] = Bs[k][lx + 16 * q];
            for (int r = 0; r < 4; r++)
                for (int q = 0; q < 4; q++) acc[r][q] += av[r] * bv[q];
        }
        BARRIER();
    }

    GLOBAL float* C = AT(c);
    GLOBAL const float* bias = bias_p ? AT(bias) : 0;
    GLOBAL float* actOut = act_p ? AT(act) : 0;
    for (int r = 0; r < 4; r++)
    {
        vit_long i = row0 + ly + 16 * r;
        if (i >= M) continue;
        for (int q = 0; q < 4; q++)
        {
            vit_long j = col0 + lx + 16 * q;
            if (j >= N) continue;
            float v = acc[r][q];
            if (bias) v += bias[j];
            if (accumulate) v += C[i * ldc + j];
            C[i * ldc + j] = v;
            if (actOut) actOut[i * ldact + j] = gelu(v);
        }
    }
}

// sum[j] += Σ_rows m[r, j] (bias gradients). One work-item per column.
KERNEL void column_sums_add(TENSOR(sum), CTENSOR(m), int rows, int columns)
{
    vit_long j = GLOBAL_ID(0);
    if (j >= columns) return;
    GLOBAL const float* x = AT(m);
    float s = 0.0f;
    for (int r = 0; r < rows; r++) s += x[(vit_long)r * columns + j];
    AT(sum)[j] += s;
}

// ---------------------------------------------------------------------------------------------
// LayerNorm over DIM: one work-group of LN_LOCAL work-items per row.
// ---------------------------------------------------------------------------------------------
#define LN_LOCAL 128

DEVICE float group_sum(LOCAL_PTR float* scratch, float v, int lid)
{
    scratch[lid] = v;
    BARRIER();
    for (int s = LN_LOCAL / 2; s > 0; s >>= 1)
    {
        if (lid < s) scratch[lid] += scratch[lid + s];
        BARRIER();
    }
    float total = scratch[0];
    BARRIER();
    return total;
}

// y = (x − mean)·rstd·weight + bias per row; mean and rstd saved when not null (training).
KERNEL void layernorm_forward(TENSOR(y), TENSOR(mean), TENSOR(rstd), CTENSOR(x), CTENSOR(w), CTENSOR(bias), int rows, float eps)
{
    LOCAL float scratch[LN_LOCAL];
    vit_long r = GROUP_ID(0); // one work-group per row: the host launches exactly rows groups
    int lid = LOCAL_ID(0);
    GLOBAL const float* xr = AT(x) + r * DIM;
    GLOBAL float* yr = AT(y) + r * DIM;
    float s = 0.0f;
    for (int i = lid; i < DIM; i += LN_LOCAL) s += xr[i];
    float m = group_sum(scratch, s, lid) / DIM;
    float v = 0.0f;
    for (int i = lid; i < DIM; i += LN_LOCAL) { float d = xr[i] - m; v += d * d; }
    float inv = 1.0f / sqrtf(group_sum(scratch, v, lid) / DIM + eps);
    GLOBAL const float* wt = AT(w);
    GLOBAL const float* bs = AT(bias);
    for (int i = lid; i < DIM; i += LN_LOCAL) yr[i] = (xr[i] - m) * inv * wt[i] + bs[i];
    if (lid == 0)
    {
        if (mean_p) AT(mean)[r] = m;
        if (rstd_p) AT(rstd)[r] = inv;
    }
}

// dx += rstd·(w·dy − mean(w·dy) − x̂·mean(w·dy·x̂)) per row (adds into the residual stream's gradient).
KERNEL void layernorm_backward_input(TENSOR(dx), CTENSOR(dy), CTENSOR(x), CTENSOR(mean), CTENSOR(rstd), CTENSOR(w), int rows)
{
    LOCAL float scratch[LN_LOCAL];
    vit_long r = GROUP_ID(0); // exactly rows groups
    int lid = LOCAL_ID(0);
    GLOBAL const float* xr = AT(x) + r * DIM;
    GLOBAL const float* gr = AT(dy) + r * DIM;
    GLOBAL const float* wt = AT(w);
    float m = AT(mean)[r], s = AT(rstd)[r];
    float gm = 0.0f, gxm = 0.0f;
    for (int i = lid; i < DIM; i += LN_LOCAL)
    {
        float g = wt[i] * gr[i];
        gm += g;
        gxm += g * (xr[i] - m) * s;
    }
    gm = group_sum(scratch, gm, lid) / DIM;
    gxm = group_sum(scratch, gxm, lid) / DIM;
    GLOBAL float* d = AT(dx) + r * DIM;
    for (int i = lid; i < DIM; i += LN_LOCAL)
        d[i] += s * (wt[i] * gr[i] - gm - (xr[i] - m) * s * gxm);
}

// dweight[j] += Σ_rows dy·x̂, dbias[j] += Σ_rows dy. One work-item per column.
KERNEL void layernorm_backward_params(TENSOR(dw), TENSOR(db), CTENSOR(dy), CTENSOR(x), CTENSOR(mean), CTENSOR(rstd), int rows)
{
    vit_long j = GLOBAL_ID(0);
    if (j >= DIM) return;
    GLOBAL const float* g = AT(dy);
    GLOBAL const float* xs = AT(x);
    GLOBAL const float* mn = AT(mean);
    GLOBAL const float* rs = AT(rstd);
    float sw = 0.0f, sb = 0.0f;
    for (int r = 0; r < rows; r++)
    {
        float gv = g[(vit_long)r * DIM + j];
        sb += gv;
        sw += gv * (xs[(vit_long)r * DIM + j] - mn[r]) * rs[r];
    }
    AT(dw)[j] += sw;
    AT(db)[j] += sb;
}

// ---------------------------------------------------------------------------------------------
// Attention, per (image, head, query row): qkv (B, TOKENS, 3·INNER) rows [q | k | v], head h at
// columns h·HEAD_DIM; output and its gradient (B, TOKENS, INNER), the heads merged; probs
// (B, HEADS, TOKENS, TOKENS) pre-dropout; mask optional. INNER = HEADS·HEAD_DIM is the
// attention's width, which may differ from the model width DIM (HEAD_DIM set explicitly).
// ---------------------------------------------------------------------------------------------
#define INNER (HEADS * HEAD_DIM)
#define QKV_ROW (3 * INNER)

KERNEL void attention_forward(TENSOR(out), TENSOR(probs), CTENSOR(mask), CTENSOR(qkv), int batch)
{
    vit_long id = GLOBAL_ID(0);
    if (id >= (vit_long)batch * HEADS * TOKENS) return;
    int i = (int)(id % TOKENS);
    vit_long bh = id / TOKENS;
    int h = (int)(bh % HEADS);
    vit_long b = bh / HEADS;
    GLOBAL const float* base = AT(qkv) + b * TOKENS * QKV_ROW + h * HEAD_DIM;
    GLOBAL float* p = AT(probs) + (bh * TOKENS + i) * TOKENS;
    GLOBAL const float* mk = mask_p ? AT(mask) + (bh * TOKENS + i) * TOKENS : 0;
    float q[HEAD_DIM];
    for (int e = 0; e < HEAD_DIM; e++) q[e] = base[(vit_long)i * QKV_ROW + e];
    float mx = -3.402823466e38f;
    for (int j = 0; j < TOKENS; j++)
    {
        GLOBAL const float* k = base + (vit_long)j * QKV_ROW + INNER;
        float s = 0.0f;
        for (int e = 0; e < HEAD_DIM; e++) s += q[e] * k[e];
        s *= ATTN_SCALE;
        p[j] = s;
        mx = fmaxf(mx, s);
    }
    float sum = 0.0f;
    for (int j = 0; j < TOKENS; j++) { float v = expf(p[j] - mx); p[j] = v; sum += v; }
    float inv = 1.0f / sum;
    float o[HEAD_DIM];
    for (int e = 0; e < HEAD_DIM; e++) o[e] = 0.0f;
    for (int j = 0; j < TOKENS; j++)
    {
        float pj = p[j] * inv;
        p[j] = pj;
        if (mk) pj *= mk[j];
        GLOBAL const float* v = base + (vit_long)j * QKV_ROW + 2 * INNER;
        for (int e = 0; e < HEAD_DIM; e++) o[e] += pj * v[e];
    }
    GLOBAL float* y = AT(out) + (b * TOKENS + i) * INNER + h * HEAD_DIM;
    for (int e = 0; e < HEAD_DIM; e++) y[e] = o[e];
}

// Per query row i: dP = mask ⊙ (dout·vᵀ), dS = P ⊙ (dP − Σ P·dP)·scale (kept in dscores), dq = dS·k.
KERNEL void attention_backward_query(TENSOR(dqkv), TENSOR(dscores), CTENSOR(dout), CTENSOR(probs), CTENSOR(mask), CTENSOR(qkv), int batch)
{
    vit_long id = GLOBAL_ID(0);
    if (id >= (vit_long)batch * HEADS * TOKENS) return;
    int i = (int)(id % TOKENS);
    vit_long bh = id / TOKENS;
    int h = (int)(bh % HEADS);
    vit_long b = bh / HEADS;
    GLOBAL const float* base = AT(qkv) + b * TOKENS * QKV_ROW + h * HEAD_DIM;
    GLOBAL const float* p = AT(probs) + (bh * TOKENS + i) * TOKENS;
    GLOBAL const float* mk = mask_p ? AT(mask) + (bh * TOKENS + i) * TOKENS : 0;
    GLOBAL float* ds = AT(dscores) + (bh * TOKENS + i) * TOKENS;
    GLOBAL const float* go = AT(dout) + (b * TOKENS + i) * INNER + h * HEAD_DIM;
    float g[HEAD_DIM];
    for (int e = 0; e < HEAD_DIM; e++) g[e] = go[e];
    float c = 0.0f;
    for (int j = 0; j < TOKENS; j++)
    {
        GLOBAL const float* v = base + (vit_long)j * QKV_ROW + 2 * INNER;
        float dp = 0.0f;
        for (int e = 0; e < HEAD_DIM; e++) dp += g[e] * v[e];
        if (mk) dp *= mk[j];
        ds[j] = dp;
        c += p[j] * dp;
    }
    float dq[HEAD_DIM];
    for (int e = 0; e < HEAD_DIM; e++) dq[e] = 0.0f;
    for (int j = 0; j < TOKENS; j++)
    {
        float s = p[j] * (ds[j] - c) * ATTN_SCALE;
        ds[j] = s;
        GLOBAL const float* k = base + (vit_long)j * QKV_ROW + INNER;
        for (int e = 0; e < HEAD_DIM; e++) dq[e] += s * k[e];
    }
    GLOBAL float* d = AT(dqkv) + (b * TOKENS + i) * QKV_ROW + h * HEAD_DIM;
    for (int e = 0; e < HEAD_DIM; e++) d[e] = dq[e];
}

// Per key row j: dk = dSᵀ·q, dv = (P ⊙ mask)ᵀ·dout. Runs after attention_backward_query.
KERNEL void attention_backward_key(TENSOR(dqkv), CTENSOR(dscores), CTENSOR(dout), CTENSOR(probs), CTENSOR(mask), CTENSOR(qkv), int batch)
{
    vit_long id = GLOBAL_ID(0);
    if (id >= (vit_long)batch * HEADS * TOKENS) return;
    int j = (int)(id % TOKENS);
    vit_long bh = id / TOKENS;
    int h = (int)(bh % HEADS);
    vit_long b = bh / HEADS;
    GLOBAL const float* base = AT(qkv) + b * TOKENS * QKV_ROW + h * HEAD_DIM;
    GLOBAL const float* p = AT(probs) + bh * TOKENS * TOKENS + j;
    GLOBAL const float* mk = mask_p ? AT(mask) + bh * TOKENS * TOKENS + j : 0;
    GLOBAL const float* ds = AT(dscores) + bh * TOKENS * TOKENS + j;
    GLOBAL const float* go = AT(dout) + b * TOKENS * INNER + h * HEAD_DIM;
    float dk[HEAD_DIM], dv[HEAD_DIM];
    for (int e = 0; e < HEAD_DIM; e++) { dk[e] = 0.0f; dv[e] = 0.0f; }
    for (int i = 0; i < TOKENS; i++)
    {
        float s = ds[(vit_long)i * TOKENS];
        float pw = p[(vit_long)i * TOKENS];
        if (mk) pw *= mk[(vit_long)i * TOKENS];
        GLOBAL const float* q = base + (vit_long)i * QKV_ROW;
        GLOBAL const float* g = go + (vit_long)i * INNER;
        for (int e = 0; e < HEAD_DIM; e++) { dk[e] += s * q[e]; dv[e] += pw * g[e]; }
    }
    GLOBAL float* d = AT(dqkv) + (b * TOKENS + j) * QKV_ROW + h * HEAD_DIM;
    for (int e = 0; e < HEAD_DIM; e++) { d[INNER + e] = dk[e]; d[2 * INNER + e] = dv[e]; }
}

// ---------------------------------------------------------------------------------------------
// Element-wise steps.
// ---------------------------------------------------------------------------------------------

// dx = dy·gelu'(x), gelu'(x) = Φ(x) + x·φ(x). dx may be dy.
KERNEL void gelu_backward(TENSOR(dx), CTENSOR(dy), CTENSOR(x), vit_long count)
{
    vit_long i = GLOBAL_ID(0);
    if (i >= count) return;
    float v = AT(x)[i];
    float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
    float pdf = expf(-0.5f * v * v) * 0.39894228040143268f;
    AT(dx)[i] = AT(dy)[i] * (cdf + v * pdf);
}

KERNEL void tanh_forward(TENSOR(y), CTENSOR(x), vit_long count)
{
    vit_long i = GLOBAL_ID(0);
    if (i < count) AT(y)[i] = tanhf(AT(x)[i]);
}

// dx = dy·(1 − y²). dx may be dy.
KERNEL void tanh_backward(TENSOR(dx), CTENSOR(dy), CTENSOR(y), vit_long count)
{
    vit_long i = GLOBAL_ID(0);
    if (i >= count) return;
    float v = AT(y)[i];
    AT(dx)[i] = AT(dy)[i] * (1.0f - v * v);
}

// x[0..count) = value (zero fills; a kernel rather than clEnqueueFillBuffer, which corrupted the
// host heap under PoCL 3.1's CPU driver here).
KERNEL void fill(TENSOR(x), float value, vit_long count)
{
    vit_long i = GLOBAL_ID(0);
    if (i < count) AT(x)[i] = value;
}

// x *= mask (dropout forward and backward; the mask holds 0 or 1/(1 − p)).
KERNEL void multiply_mask(TENSOR(x), CTENSOR(mask), vit_long count)
{
    vit_long i = GLOBAL_ID(0);
    if (i < count) AT(x)[i] *= AT(mask)[i];
}

// x *= mask with x's rows ldx floats apart and the mask contiguous, (count / cols, cols): dropout
// on the padded MLP activation of the training layout.
KERNEL void multiply_mask_rows(TENSOR(x), vit_long ldx, CTENSOR(mask), vit_long cols, vit_long count)
{
    vit_long i = GLOBAL_ID(0);
    if (i < count) AT(x)[i / cols * ldx + i % cols] *= AT(mask)[i];
}

// out = input + branch·scale[image] (scale null: 1). out may be input.
KERNEL void residual_forward(TENSOR(out), CTENSOR(input), CTENSOR(branch), CTENSOR(scale), vit_long per_image, vit_long count)
{
    vit_long i = GLOBAL_ID(0);
    if (i >= count) return;
    float s = scale_p ? AT(scale)[i / per_image] : 1.0f;
    AT(out)[i] = AT(input)[i] + AT(branch)[i] * s;
}

// dbranch = dout·scale[image] (scale null: a copy). dbranch may be dout.
KERNEL void residual_backward(TENSOR(dbranch), CTENSOR(dout), CTENSOR(scale), vit_long per_image, vit_long count)
{
    vit_long i = GLOBAL_ID(0);
    if (i >= count) return;
    float s = scale_p ? AT(scale)[i / per_image] : 1.0f;
    AT(dbranch)[i] = AT(dout)[i] * s;
}

// LayerScale (timm init_values) over (rows, DIM): y = x·gamma[channel]. y may be x.
KERNEL void layer_scale_forward(TENSOR(y), CTENSOR(x), CTENSOR(gamma), vit_long rows)
{
    vit_long i = GLOBAL_ID(0);
    if (i >= rows * DIM) return;
    AT(y)[i] = AT(x)[i] * AT(gamma)[i % DIM];
}

// dx = dy·gamma[channel]. dx may be dy: the host launches layer_scale_backward_gamma first.
KERNEL void layer_scale_backward_input(TENSOR(dx), CTENSOR(dy), CTENSOR(gamma), vit_long rows)
{
    vit_long i = GLOBAL_ID(0);
    if (i >= rows * DIM) return;
    AT(dx)[i] = AT(dy)[i] * AT(gamma)[i % DIM];
}

// dgamma[j] += Σ_rows dy[r, j]·x[r, j], x the forward input. One work-item per channel, rows in
// order: the same sum on every run.
KERNEL void layer_scale_backward_gamma(TENSOR(dgamma), CTENSOR(dy), CTENSOR(x), vit_long rows)
{
    vit_long j = GLOBAL_ID(0);
    if (j >= DIM) return;
    GLOBAL const float* g = AT(dy);
    GLOBAL const float* xs = AT(x);
    float s = 0.0f;
    for (vit_long r = 0; r < rows; r++) s += g[r * DIM + j] * xs[r * DIM + j];
    AT(dgamma)[j] += s;
}

// ---------------------------------------------------------------------------------------------
// Patch embedding, class token, positions, pooling.
// ---------------------------------------------------------------------------------------------

// patches (B, NPATCH, PATCH_K) from images (B, CHANNELS, IMAGE, IMAGE); k = (c·PATCH + ky)·PATCH + kx.
KERNEL void im2col(TENSOR(patches), CTENSOR(images), int batch)
{
    vit_long id = GLOBAL_ID(0);
    if (id >= (vit_long)batch * NPATCH * PATCH_K) return;
    int k = (int)(id % PATCH_K);
    vit_long bn = id / PATCH_K;
    int n = (int)(bn % NPATCH);
    vit_long b = bn / NPATCH;
    int kx = k % PATCH, ky = (k / PATCH) % PATCH, ch = k / (PATCH * PATCH);
    int py = n / GRID, px = n % GRID;
    AT(patches)[id] = AT(images)[((b * CHANNELS + ch) * IMAGE + py * PATCH + ky) * IMAGE + px * PATCH + kx];
}

// tokens[b, 1 + n] = rows[b·NPATCH + n] (the patch GEMM's output, bias included).
KERNEL void patch_scatter(TENSOR(tokens), CTENSOR(rows), int batch)
{
    vit_long id = GLOBAL_ID(0);
    if (id >= (vit_long)batch * NPATCH * DIM) return;
    int d = (int)(id % DIM);
    vit_long bn = id / DIM;
    int n = (int)(bn % NPATCH);
    vit_long b = bn / NPATCH;
    AT(tokens)[(b * TOKENS + 1 + n) * DIM + d] = AT(rows)[id];
}

// rows[b·NPATCH + n] = dtokens[b, 1 + n] (the class token's row has no patch).
KERNEL void patch_gather(TENSOR(rows), CTENSOR(dtokens), int batch)
{
    vit_long id = GLOBAL_ID(0);
    if (id >= (vit_long)batch * NPATCH * DIM) return;
    int d = (int)(id % DIM);
    vit_long bn = id / DIM;
    int n = (int)(bn % NPATCH);
    vit_long b = bn / NPATCH;
    AT(rows)[id] = AT(dtokens)[(b * TOKENS + 1 + n) * DIM + d];
}

// tokens[b, 0] = cls_token; tokens[b, t] += pos_embed[t].
KERNEL void position_forward(TENSOR(tokens), CTENSOR(cls), CTENSOR(pos), int batch)
{
    vit_long id = GLOBAL_ID(0);
    if (id >= (vit_long)batch * TOKENS * DIM) return;
    int td = (int)(id % (TOKENS * DIM));
    float v = td < DIM ? AT(cls)[td] : AT(tokens)[id];
    AT(tokens)[id] = v + AT(pos)[td];
}

// dpos[t] += Σ_b dtokens[b, t]; dcls += Σ_b dtokens[b, 0]. One work-item per (t, d).
KERNEL void position_backward(TENSOR(dcls), TENSOR(dpos), CTENSOR(dtokens), int batch)
{
    vit_long td = GLOBAL_ID(0);
    if (td >= TOKENS * DIM) return;
    GLOBAL const float* g = AT(dtokens);
    float s = 0.0f;
    for (int b = 0; b < batch; b++) s += g[(vit_long)b * TOKENS * DIM + td];
    AT(dpos)[td] += s;
    if (td < DIM) AT(dcls)[td] += s;
}

// pooled[b] = tokens[b, 0] (token pooling) or the mean of tokens[b, 1:] (mean pooling).
KERNEL void pool_forward(TENSOR(pooled), CTENSOR(tokens), int batch, int mean)
{
    vit_long id = GLOBAL_ID(0);
    if (id >= (vit_long)batch * DIM) return;
    int d = (int)(id % DIM);
    vit_long b = id / DIM;
    GLOBAL const float* x = AT(tokens) + b * TOKENS * DIM + d;
    float v;
    if (mean)
    {
        v = 0.0f;
        for (int t = 1; t < TOKENS; t++) v += x[(vit_long)t * DIM];
        v *= 1.0f / (TOKENS - 1);
    }
    else v = x[0];
    AT(pooled)[id] = v;
}

// dtokens (B, TOKENS, DIM) from dpooled (B, DIM): the class token's row (token pooling), or
// dpooled / (TOKENS − 1) on every patch row (mean pooling); every other value is zero.
KERNEL void pool_backward(TENSOR(dtokens), CTENSOR(dpooled), int batch, int mean)
{
    vit_long id = GLOBAL_ID(0);
    if (id >= (vit_long)batch * TOKENS * DIM) return;
    int d = (int)(id % DIM);
    vit_long bt = id / DIM;
    int t = (int)(bt % TOKENS);
    vit_long b = bt / TOKENS;
    float g = AT(dpooled)[b * DIM + d];
    float v = mean ? (t == 0 ? 0.0f : g * (1.0f / (TOKENS - 1))) : (t == 0 ? g : 0.0f);
    AT(dtokens)[id] = v;
}

// ---------------------------------------------------------------------------------------------
// Loss: softmax cross-entropy with label smoothing ε, one work-item per image.
// ---------------------------------------------------------------------------------------------

// probs = softmax(logits); losses[b] = (1 − ε)(lse − l[y]) + (ε/K)·Σ_c (lse − l[c]).
KERNEL void softmax_xent_forward(TENSOR(probs), TENSOR(losses), CTENSOR(logits), GLOBAL const int* labels, int batch, float smoothing)
{
    vit_long b = GLOBAL_ID(0);
    if (b >= batch) return;
    GLOBAL const float* l = AT(logits) + b * CLASSES;
    GLOBAL float* p = AT(probs) + b * CLASSES;
    float mx = l[0];
    for (int c = 1; c < CLASSES; c++) mx = fmaxf(mx, l[c]);
    float sum = 0.0f, logitSum = 0.0f;
    for (int c = 0; c < CLASSES; c++) { sum += expf(l[c] - mx); logitSum += l[c]; }
    float inv = 1.0f / sum;
    for (int c = 0; c < CLASSES; c++) p[c] = expf(l[c] - mx) * inv;
    float lse = logf(sum) + mx;
    float loss = (1.0f - smoothing) * (lse - l[labels[b]]);
    if (smoothing > 0.0f) loss += smoothing / CLASSES * (CLASSES * lse - logitSum);
    AT(losses)[b] = loss;
}

// dlogits = (probs − target) / B, target = (1 − ε)·one_hot + ε/K.
KERNEL void softmax_xent_backward(TENSOR(dlogits), CTENSOR(probs), GLOBAL const int* labels, int batch, float smoothing)
{
    vit_long id = GLOBAL_ID(0);
    if (id >= (vit_long)batch * CLASSES) return;
    int c = (int)(id % CLASSES);
    vit_long b = id / CLASSES;
    float inv = 1.0f / batch;
    float v = AT(probs)[id] * inv - smoothing / CLASSES * inv;
    if (labels[b] == c) v -= (1.0f - smoothing) * inv;
    AT(dlogits)[id] = v;
}

// ---------------------------------------------------------------------------------------------
// Optimizer. The trained parameters are cut into chunks (offset, length, decay flag) once; one
// work-group of OPT_LOCAL work-items per chunk. The state buffers cover the trained parameters'
// range only: a parameter at offset k has its state at k - state_base.
// ---------------------------------------------------------------------------------------------
#define OPT_LOCAL 256

// partial[chunk] = Σ grad² over the chunk (the host adds the partials in double: the clip norm).
KERNEL void sum_squares(GLOBAL float* partial, GLOBAL const float* grad, GLOBAL const vit_long* offsets, GLOBAL const int* lengths, int chunks)
{
    LOCAL float scratch[OPT_LOCAL];
    vit_long chunk = GROUP_ID(0); // exactly one group per chunk
    int lid = LOCAL_ID(0);
    GLOBAL const float* g = grad + offsets[chunk];
    int n = lengths[chunk];
    float s = 0.0f;
    for (int i = lid; i < n; i += OPT_LOCAL) s += g[i] * g[i];
    scratch[lid] = s;
    BARRIER();
    for (int k = OPT_LOCAL / 2; k > 0; k >>= 1)
    {
        if (lid < k) scratch[lid] += scratch[lid + k];
        BARRIER();
    }
    if (lid == 0) partial[chunk] = scratch[0];
}

// torch.optim.AdamW: p ← p·decay; m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
// p ← p − lr·step_size·m / (√v·inv_sqrt_bias2 + ε), g = grad·scale.
KERNEL void adamw_update(GLOBAL float* param, GLOBAL const float* grad, GLOBAL float* m, GLOBAL float* v,
                         GLOBAL const vit_long* offsets, GLOBAL const int* lengths, GLOBAL const int* decayed, int chunks, vit_long state_base,
                         float lr, float weight_decay_factor, float beta1, float one_minus_beta1, float beta2, float one_minus_beta2, float eps,
                         float step_size, float inv_sqrt_bias2, float scale)
{
    vit_long chunk = GROUP_ID(0);
    if (chunk >= chunks) return;
    vit_long o = offsets[chunk];
    int n = lengths[chunk];
    float decay = decayed[chunk] ? weight_decay_factor : 1.0f;
    float step = lr * step_size;
    for (int i = LOCAL_ID(0); i < n; i += OPT_LOCAL)
    {
        vit_long k = o + i, s = k - state_base;
        float g = grad[k] * scale;
        float mi = m[s] * beta1 + g * one_minus_beta1;
        float vi = v[s] * beta2 + g * g * one_minus_beta2;
        m[s] = mi;
        v[s] = vi;
        param[k] = param[k] * decay - mi / (sqrtf(vi) * inv_sqrt_bias2 + eps) * step;
    }
}

// SGD with momentum μ (Nesterov optional): b ← μb + g; d = nesterov ? g + μb : b; p ← p·decay − lr·d.
KERNEL void sgd_update(GLOBAL float* param, GLOBAL const float* grad, GLOBAL float* buffer,
                       GLOBAL const vit_long* offsets, GLOBAL const int* lengths, GLOBAL const int* decayed, int chunks, vit_long state_base,
                       float lr, float weight_decay_factor, float momentum, int nesterov, float scale)
{
    vit_long chunk = GROUP_ID(0);
    if (chunk >= chunks) return;
    vit_long o = offsets[chunk];
    int n = lengths[chunk];
    float decay = decayed[chunk] ? weight_decay_factor : 1.0f;
    for (int i = LOCAL_ID(0); i < n; i += OPT_LOCAL)
    {
        vit_long k = o + i, s = k - state_base;
        float g = grad[k] * scale;
        float bi = buffer[s] * momentum + g;
        buffer[s] = bi;
        float d = nesterov ? g + bi * momentum : bi;
        param[k] = param[k] * decay - d * lr;
    }
}
