// bf16 matrix products with fp32 accumulation on AVX512-BF16 (VDPBF16PS), for Vit.Backends.Cpu.Bf16Gemm.
//
// C (m × n) (+)= A (m × k) · Wᵀ (W: n × k, row-major, as a Linear layer's weight), every product of
// bf16-rounded operands (round to nearest even) summed in fp32. .NET 10 has no Avx512Bf16
// intrinsics (only Avx10v2's, which Zen 4 lacks), so this one kernel is C, compiled by
// Vit.Runtime.csproj with gcc -mavx512bf16 and loaded with NativeLibrary.
//
// Layouts (all zero-padded, so tails multiply by zero):
//   packed weights: for each panel p of 16 output columns, for each pair q of k, 16 dwords, dword j
//                   holding bf16(W[16p + j][2q]) in its low half and bf16(W[16p + j][2q + 1]) in its high half;
//   packed rows:    for each row i of A, ceil(k / 2) dwords, dword q = bf16(A[i][2q]) | bf16(A[i][2q + 1]) << 16.
// VDPBF16PS c, a, b adds a.lo·b.lo + a.hi·b.hi into each fp32 lane of c: a broadcast row pair times a
// weight panel's pair gives 16 outputs' partial sums, 32 multiply-adds per instruction.
// The vector conversions (VCVTNEPS2BF16, VCVTNE2PS2BF16) and VDPBF16PS read subnormals as zeros of
// their sign; bf16_bits below, the scalar rounding, keeps them (Bf16GemmTests checks the packers' bits).
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

int vit_bf16_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
}

// Round to nearest even, as VCVTNE2PS2BF16 does (NaN kept quiet).
static inline uint32_t bf16_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

int vit_bf16_round_bits(float x) { return (int)bf16_bits(x); }

void vit_bf16_pack_rows(const float* a, int64_t lda, int m, int k, uint32_t* packed)
{
    int kp = (k + 1) / 2;
    for (int i = 0; i < m; i++)
    {
        const float* row = a + (int64_t)i * lda;
        uint32_t* out = packed + (int64_t)i * kp;
        int q = 0;
        // 32 floats → 32 bf16 words (16 dwords) at a time: VCVTNE2PS2BF16 puts its second operand's 16 values in
        // words 0–15 and its first's in words 16–31, so the words come out in the row's order, and dword q holds
        // elements 2q (low half) and 2q + 1 (high half).
        for (; 2 * q + 32 <= k; q += 16)
        {
            __m512 lo = _mm512_loadu_ps(row + 2 * q), hi = _mm512_loadu_ps(row + 2 * q + 16);
            __m512bh b = _mm512_cvtne2ps_pbh(hi, lo); // elements 0..15 from lo, 16..31 from hi, in order
            _mm512_storeu_si512((void*)(out + q), (__m512i)b);
        }
        for (; q < kp; q++)
        {
            uint32_t l = bf16_bits(row[2 * q]), h = 2 * q + 1 < k ? bf16_bits(row[2 * q + 1]) : 0;
            out[q] = l | (h << 16);
        }
    }
}

// The backward pass's operands come transposed: dx = dy·W needs Wᵀ as the "weights", and
// dW = dyᵀ·x needs dyᵀ as the rows and xᵀ as the "weights". M below is (k × cols) row-major with
// row stride ldm, and the operand is Mᵀ; a pair q of k is rows 2q and 2q + 1 of M.

// 16 dwords: for each of 16 columns j of two rows of M, bf16(lo[j]) | bf16(hi[j]) << 16 (nearest even): one
// VCVTNE2PS2BF16 of the two rows (32 bf16, lo's then hi's) and one VPERMW that interleaves them. (Converting
// each row apart, widening each to dwords, shifting and or-ing took eight instructions.)
static inline __m512i pair_rows(const float* lo, const float* hi, __mmask16 mask)
{
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                                23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    __m512 h = hi ? _mm512_maskz_loadu_ps(mask, hi) : _mm512_setzero_ps();
    return _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(h, _mm512_maskz_loadu_ps(mask, lo)));
}

// Packed weights of Mᵀ (n × k): panel p, pair q holds the pairs of M's columns 16p..16p+15, rows 2q and 2q + 1:
// one contiguous 16-dword store per (p, q). The pairs go 16 at a time (32 rows of M) through every panel, so
// that each row's cache lines are used while they are in L1/L2 (panel by panel over all of k read each row
// 64 bytes per pass). Measured with `quick bf16pack 1` in docs/performance.md: faster in one series, within
// the host's noise in the next.
void vit_bf16_pack_weights_t(const float* m, int64_t ldm, int n, int k, uint32_t* packed)
{
    int kp = (k + 1) / 2, panels = (n + 15) / 16;
    for (int q0 = 0; q0 < kp; q0 += 16)
    {
        int q1 = q0 + 16 < kp ? q0 + 16 : kp;
        for (int p = 0; p < panels; p++)
        {
            int left = n - p * 16;
            __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            for (int q = q0; q < q1; q++)
            {
                const float* lo = m + (int64_t)(2 * q) * ldm + p * 16;
                _mm512_storeu_si512((void*)(packed + ((int64_t)p * kp + q) * 16), pair_rows(lo, 2 * q + 1 < k ? lo + ldm : 0, mask));
            }
        }
    }
}

// A 16 × 16 transpose of dwords: r[i][j] → r[j][i] (unpack 32, unpack 64, then 128-bit lanes).
static inline void transpose16(__m512i* r)
{
    __m512i t[16], s[16];
    for (int i = 0; i < 16; i += 2)
    {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4)
    {
        s[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);     // column 4L of rows i..i+3, in lane L
        s[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]); // column 4L + 1
        s[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        s[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int c = 0; c < 4; c++)
    {
        __m512i u0 = _mm512_shuffle_i32x4(s[c], s[4 + c], 0x44), u1 = _mm512_shuffle_i32x4(s[c], s[4 + c], 0xEE);
        __m512i v0 = _mm512_shuffle_i32x4(s[8 + c], s[12 + c], 0x44), v1 = _mm512_shuffle_i32x4(s[8 + c], s[12 + c], 0xEE);
        r[c] = _mm512_shuffle_i32x4(u0, v0, 0x88);
        r[4 + c] = _mm512_shuffle_i32x4(u0, v0, 0xDD);
        r[8 + c] = _mm512_shuffle_i32x4(u1, v1, 0x88);
        r[12 + c] = _mm512_shuffle_i32x4(u1, v1, 0xDD);
    }
}

// Packed weights of W (n × k, rows ldw apart): the pairs of 16 rows of W are converted 32 floats at a time
// (VCVTNE2PS2BF16, as in vit_bf16_pack_rows: dword q of a row is its elements 2q and 2q + 1), which gives a
// 16-row × 16-pair tile of dwords; transposed, each of its rows is one pair's 16 dwords of the panel. Tails
// (n not a multiple of 16, odd k) are masked loads of zero. Attention packs its keys this way once per head.
void vit_bf16_pack_weights(const float* w, int64_t ldw, int n, int k, uint32_t* packed)
{
    int kp = (k + 1) / 2, panels = (n + 15) / 16;
    __m512i tile[16];
    for (int p = 0; p < panels; p++)
    {
        int nj = n - p * 16 < 16 ? n - p * 16 : 16;
        for (int q0 = 0; q0 < kp; q0 += 16)
        {
            int nq = kp - q0 < 16 ? kp - q0 : 16, left = k - 2 * q0; // floats of each row from element 2·q0 on
            __mmask16 mlo = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            __mmask16 mhi = left >= 32 ? (__mmask16)0xFFFF : left <= 16 ? (__mmask16)0 : (__mmask16)((1u << (left - 16)) - 1);
            for (int j = 0; j < 16; j++)
            {
                if (j >= nj) { tile[j] = _mm512_setzero_si512(); continue; }
                const float* row = w + (int64_t)(p * 16 + j) * ldw + 2 * q0;
                tile[j] = (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(mhi, row + 16), _mm512_maskz_loadu_ps(mlo, row));
            }
            transpose16(tile);
            for (int q = 0; q < nq; q++) _mm512_storeu_si512((void*)(packed + ((int64_t)p * kp + q0 + q) * 16), tile[q]);
        }
    }
}

// Packed rows of Mᵀ (cols × k): row i, dword q = bf16(M[2q][i]) | bf16(M[2q + 1][i]) << 16. Tiles of 16 pairs ×
// 16 columns are built a pair at a time (16 columns wide), transposed, and stored a row at a time; 16 pairs
// (32 rows of M) go through every column before the next, as in vit_bf16_pack_weights_t.
void vit_bf16_pack_rows_t(const float* m, int64_t ldm, int cols, int k, uint32_t* packed)
{
    int kp = (k + 1) / 2;
    __m512i tile[16];
    for (int q0 = 0; q0 < kp; q0 += 16)
    {
        int nq = kp - q0 < 16 ? kp - q0 : 16;
        __mmask16 mq = nq == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nq) - 1);
        for (int i0 = 0; i0 < cols; i0 += 16)
        {
            int ni = cols - i0 < 16 ? cols - i0 : 16;
            __mmask16 mi = ni == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << ni) - 1);
            for (int j = 0; j < 16; j++)
            {
                int q = q0 + j;
                if (j >= nq) { tile[j] = _mm512_setzero_si512(); continue; }
                const float* lo = m + (int64_t)(2 * q) * ldm + i0;
                tile[j] = pair_rows(lo, 2 * q + 1 < k ? lo + ldm : 0, mi);
            }
            transpose16(tile);
            for (int r = 0; r < ni; r++) _mm512_mask_storeu_epi32((void*)(packed + (int64_t)(i0 + r) * kp + q0), mq, tile[r]);
        }
    }
}

// rows (1..6) of packed A against two panels (32 columns) of packed W, over every k pair.
#define ROWS_MAX 6
static inline void micro(int rows, const uint32_t* a, int kp, const uint32_t* b0, const uint32_t* b1,
                         __m512* acc /* [ROWS_MAX][2] */)
{
    for (int r = 0; r < 2 * ROWS_MAX; r++) acc[r] = _mm512_setzero_ps();
#define STEP(R) if (rows > R) { __m512bh x = (__m512bh)_mm512_set1_epi32((int)a[(int64_t)(R) * kp + q]); \
        acc[2 * (R)] = _mm512_dpbf16_ps(acc[2 * (R)], x, w0); acc[2 * (R) + 1] = _mm512_dpbf16_ps(acc[2 * (R) + 1], x, w1); }
    for (int q = 0; q < kp; q++)
    {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512((const void*)(b0 + (int64_t)q * 16));
        __m512bh w1 = (__m512bh)_mm512_loadu_si512((const void*)(b1 + (int64_t)q * 16));
        STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5)
    }
#undef STEP
}

static inline void micro6(const uint32_t* a, int kp, const uint32_t* b0, const uint32_t* b1, __m512* acc)
{
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const uint32_t *a0 = a, *a1 = a + kp, *a2 = a + 2 * (int64_t)kp, *a3 = a + 3 * (int64_t)kp, *a4 = a + 4 * (int64_t)kp, *a5 = a + 5 * (int64_t)kp;
    for (int q = 0; q < kp; q++)
    {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512((const void*)(b0 + (int64_t)q * 16));
        __m512bh w1 = (__m512bh)_mm512_loadu_si512((const void*)(b1 + (int64_t)q * 16));
        __m512bh x;
        x = (__m512bh)_mm512_set1_epi32((int)a0[q]); c00 = _mm512_dpbf16_ps(c00, x, w0); c01 = _mm512_dpbf16_ps(c01, x, w1);
        x = (__m512bh)_mm512_set1_epi32((int)a1[q]); c10 = _mm512_dpbf16_ps(c10, x, w0); c11 = _mm512_dpbf16_ps(c11, x, w1);
        x = (__m512bh)_mm512_set1_epi32((int)a2[q]); c20 = _mm512_dpbf16_ps(c20, x, w0); c21 = _mm512_dpbf16_ps(c21, x, w1);
        x = (__m512bh)_mm512_set1_epi32((int)a3[q]); c30 = _mm512_dpbf16_ps(c30, x, w0); c31 = _mm512_dpbf16_ps(c31, x, w1);
        x = (__m512bh)_mm512_set1_epi32((int)a4[q]); c40 = _mm512_dpbf16_ps(c40, x, w0); c41 = _mm512_dpbf16_ps(c41, x, w1);
        x = (__m512bh)_mm512_set1_epi32((int)a5[q]); c50 = _mm512_dpbf16_ps(c50, x, w0); c51 = _mm512_dpbf16_ps(c51, x, w1);
    }
    acc[0] = c00; acc[1] = c01; acc[2] = c10; acc[3] = c11; acc[4] = c20; acc[5] = c21;
    acc[6] = c30; acc[7] = c31; acc[8] = c40; acc[9] = c41; acc[10] = c50; acc[11] = c51;
}

// rows (1..6) of packed A against one panel (16 columns): the last panel when the panels are odd
// (n = 65 or 197 tokens: 5 or 13 panels), which the two-panel kernel would compute twice.
static inline void micro_one(int rows, const uint32_t* a, int kp, const uint32_t* b0, __m512* acc)
{
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
#define ONE(R, C) if (rows > R) C = _mm512_dpbf16_ps(C, (__m512bh)_mm512_set1_epi32((int)a[(int64_t)(R) * kp + q]), w0);
    if (rows == ROWS_MAX)
        for (int q = 0; q < kp; q++)
        {
            __m512bh w0 = (__m512bh)_mm512_loadu_si512((const void*)(b0 + (int64_t)q * 16));
            c0 = _mm512_dpbf16_ps(c0, (__m512bh)_mm512_set1_epi32((int)a[q]), w0);
            c1 = _mm512_dpbf16_ps(c1, (__m512bh)_mm512_set1_epi32((int)a[kp + q]), w0);
            c2 = _mm512_dpbf16_ps(c2, (__m512bh)_mm512_set1_epi32((int)a[2 * (int64_t)kp + q]), w0);
            c3 = _mm512_dpbf16_ps(c3, (__m512bh)_mm512_set1_epi32((int)a[3 * (int64_t)kp + q]), w0);
            c4 = _mm512_dpbf16_ps(c4, (__m512bh)_mm512_set1_epi32((int)a[4 * (int64_t)kp + q]), w0);
            c5 = _mm512_dpbf16_ps(c5, (__m512bh)_mm512_set1_epi32((int)a[5 * (int64_t)kp + q]), w0);
        }
    else
        for (int q = 0; q < kp; q++)
        {
            __m512bh w0 = (__m512bh)_mm512_loadu_si512((const void*)(b0 + (int64_t)q * 16));
            ONE(0, c0) ONE(1, c1) ONE(2, c2) ONE(3, c3) ONE(4, c4)
        }
#undef ONE
    acc[0] = c0; acc[2] = c1; acc[4] = c2; acc[6] = c3; acc[8] = c4; acc[10] = c5;
}

// C rows [m0, m1) (row stride ldc) (+)= packed rows · packed weightsᵀ (+ bias), n columns.
// Rows are taken 48 at a time (their packed pairs stay in L2) against every 32-column strip.
void vit_bf16_gemm(const uint32_t* ap, int m0, int m1, int k, const uint32_t* wp, int n, const float* bias,
                   float* c, int64_t ldc, int accumulate)
{
    int kp = (k + 1) / 2, panels = (n + 15) / 16;
    __m512 acc[2 * ROWS_MAX];
    for (int mb = m0; mb < m1; mb += 48)
    {
        int mbe = mb + 48 < m1 ? mb + 48 : m1;
        for (int p = 0; p < panels; p += 2)
        {
            const uint32_t* b0 = wp + (int64_t)p * kp * 16;
            const uint32_t* b1 = b0 + (int64_t)kp * 16;
            for (int i = mb; i < mbe; i += ROWS_MAX)
            {
                int rows = mbe - i < ROWS_MAX ? mbe - i : ROWS_MAX;
                const uint32_t* a = ap + (int64_t)i * kp;
                if (p + 1 == panels) micro_one(rows, a, kp, b0, acc); // an odd last panel: acc[2r] only
                else if (rows == ROWS_MAX) micro6(a, kp, b0, b1, acc);
                else micro(rows, a, kp, b0, b1, acc);
                for (int r = 0; r < rows; r++)
                    for (int h = 0; h < 2 && p + h < panels; h++)
                    {
                        int col = (p + h) * 16, left = n - col;
                        __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
                        float* out = c + (int64_t)(i + r) * ldc + col;
                        __m512 v = acc[2 * r + h];
                        if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, bias + col));
                        if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, out));
                        _mm512_mask_storeu_ps(out, mask, v);
                    }
            }
        }
    }
}

// The VDPBF16PS peak as code can reach it: 12 independent chains on registers only; returns a value
// that depends on every chain (so nothing is optimized away). 12 · 16 lanes · 2 products per call.
float vit_bf16_peak(int64_t iterations)
{
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
    __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f7f3f7f), b = (__m512bh)_mm512_set1_epi32(0x33d633d6); // 0.996, 1e-7
    for (int64_t i = 0; i < iterations; i++)
    {
        c0 = _mm512_dpbf16_ps(c0, a, b); c1 = _mm512_dpbf16_ps(c1, a, b); c2 = _mm512_dpbf16_ps(c2, a, b);
        c3 = _mm512_dpbf16_ps(c3, a, b); c4 = _mm512_dpbf16_ps(c4, a, b); c5 = _mm512_dpbf16_ps(c5, a, b);
        c6 = _mm512_dpbf16_ps(c6, a, b); c7 = _mm512_dpbf16_ps(c7, a, b); c8 = _mm512_dpbf16_ps(c8, a, b);
        c9 = _mm512_dpbf16_ps(c9, a, b); c10 = _mm512_dpbf16_ps(c10, a, b); c11 = _mm512_dpbf16_ps(c11, a, b);
        __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5)); // keep every chain
        __asm__ volatile("" : "+v"(c6), "+v"(c7), "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)), _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)));
    return _mm512_reduce_add_ps(s);
}

// The fp32 FMA peak the same way (12 chains, 16 lanes · 1 product per instruction), so that
// Bf16Gemm can compare the two units on this CPU: where VDPBF16PS issues at half the FMA rate or
// less (Sapphire and Emerald Rapids: one every two cycles against two FMAs per cycle), bf16-rounded
// operands through the fp32 FMAs do more multiply-adds per second than VDPBF16PS itself.
float vit_fma_peak(int64_t iterations)
{
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
    __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-7f);
    __asm__ volatile("" : "+v"(a), "+v"(b)); // not constants: the product must be computed
    for (int64_t i = 0; i < iterations; i++)
    {
        c0 = _mm512_fmadd_ps(a, b, c0); c1 = _mm512_fmadd_ps(a, b, c1); c2 = _mm512_fmadd_ps(a, b, c2);
        c3 = _mm512_fmadd_ps(a, b, c3); c4 = _mm512_fmadd_ps(a, b, c4); c5 = _mm512_fmadd_ps(a, b, c5);
        c6 = _mm512_fmadd_ps(a, b, c6); c7 = _mm512_fmadd_ps(a, b, c7); c8 = _mm512_fmadd_ps(a, b, c8);
        c9 = _mm512_fmadd_ps(a, b, c9); c10 = _mm512_fmadd_ps(a, b, c10); c11 = _mm512_fmadd_ps(a, b, c11);
        __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5));
        __asm__ volatile("" : "+v"(c6), "+v"(c7), "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)), _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)));
    return _mm512_reduce_add_ps(s);
}
