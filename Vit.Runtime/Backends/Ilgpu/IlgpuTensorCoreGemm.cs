using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Vit.Backends.Ilgpu;

// The GEMM on tensor cores, through inline PTX `mma.sync` (sm_80 and newer): TF32 inputs
// (m16n8k8) or BF16 inputs (m16n8k16), fp32 accumulation, the same operands, strides and epilogue
// as IlgpuKernelCode.Gemm. UNVERIFIED on hardware: no GPU has run it yet, so IlgpuBackend uses it
// only when asked (IlgpuBackend.UnverifiedTensorCores). ptxas assembles it in CI, and on a CPU
// accelerator with 32-thread warps the same kernel runs with each mma emulated by warp shuffles
// over the fragment layout the PTX ISA documents (the test checks tiling, fragments and epilogue
// against a reference with the same rounding); what only a GPU can confirm is that the hardware's
// fragment layout is the one written here.
//
// A group is 1 or 4 warps (TWarps); each warp computes a 32×16 block of C as 2×2 mma tiles of
// 16×8, so a group computes 32×16 (1 warp) or 64×32 (4 warps, 2×2), stepping through K 16 at a
// time with both tiles staged in shared memory as fp32 and rounded to TF32/BF16 when the
// fragments are built.
internal static class IlgpuTensorCoreGemm
{
    private const int KChunk = 16;

    public static void Gemm<TKind, TWarps>(ArrayView<float> c, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, ArrayView<float> act, GemmArgs g)
        where TKind : struct, IMmaKind where TWarps : struct, IDim
    {
        int warps = TWarps.Value, wx = warps == 4 ? 2 : 1, wy = warps == 4 ? 2 : 1;
        int bm = 32 * wy, bn = 16 * wx, threads = 32 * warps;
        var As = SharedMemory.Allocate<float>(64 * KChunk); // (bm × 16), row-major
        var Bs = SharedMemory.Allocate<float>(KChunk * 32); // (16 × bn), row-major
        int t = Group.IdxX, lane = t % 32, warp = t / 32, gid = lane >> 2, tq = lane & 3;
        int wr = warp / wx * 32, wc = warp % wx * 16;
        long row0 = (long)Grid.IdxY * bm, col0 = (long)Grid.IdxX * bn;
        Acc4 d00 = default, d01 = default, d10 = default, d11 = default;
        for (int k0 = 0; k0 < g.K; k0 += KChunk)
        {
            for (int e = t; e < bm * KChunk; e += threads)
            {
                int m = g.Sak == 1 ? e / KChunk : e % bm;
                int k = g.Sak == 1 ? e % KChunk : e / bm;
                long gi = row0 + m;
                int gk = k0 + k;
                As[m * KChunk + k] = gi < g.M && gk < g.K ? a[gi * g.Sai + gk * g.Sak] : 0f;
            }
            for (int e = t; e < KChunk * bn; e += threads)
            {
                int n = g.Sbj == 1 ? e % bn : e / KChunk;
                int k = g.Sbj == 1 ? e / bn : e % KChunk;
                long gj = col0 + n;
                int gk = k0 + k;
                Bs[k * bn + n] = gj < g.N && gk < g.K ? b[gk * g.Sbk + gj * g.Sbj] : 0f;
            }
            Group.Barrier();
            if (TKind.IsBf16)
            {
                var a0 = FragmentABf16(As, wr + gid, tq);
                var a1 = FragmentABf16(As, wr + 16 + gid, tq);
                var b0 = FragmentBBf16(Bs, bn, wc + gid, tq);
                var b1 = FragmentBBf16(Bs, bn, wc + 8 + gid, tq);
                d00 = MmaBf16(d00, a0, b0);
                d01 = MmaBf16(d01, a0, b1);
                d10 = MmaBf16(d10, a1, b0);
                d11 = MmaBf16(d11, a1, b1);
            }
            else
            {
                for (int kk = 0; kk < KChunk; kk += 8)
                {
                    var a0 = FragmentATf32(As, wr + gid, kk + tq);
                    var a1 = FragmentATf32(As, wr + 16 + gid, kk + tq);
                    var b0 = FragmentBTf32(Bs, bn, wc + gid, kk + tq);
                    var b1 = FragmentBTf32(Bs, bn, wc + 8 + gid, kk + tq);
                    d00 = MmaTf32(d00, a0, b0);
                    d01 = MmaTf32(d01, a0, b1);
                    d10 = MmaTf32(d10, a1, b0);
                    d11 = MmaTf32(d11, a1, b1);
                }
            }
            Group.Barrier();
        }
        long r = row0 + wr + gid, cc = col0 + wc + 2 * tq;
        StoreTile(c, bias, act, g, r, cc, d00);
        StoreTile(c, bias, act, g, r, cc + 8, d01);
        StoreTile(c, bias, act, g, r + 16, cc, d10);
        StoreTile(c, bias, act, g, r + 16, cc + 8, d11);
    }

    // An m16n8 accumulator: this lane's (row, col), (row, col+1), (row+8, col), (row+8, col+1).
    private static void StoreTile(ArrayView<float> c, ArrayView<float> bias, ArrayView<float> act, GemmArgs g, long row, long col, Acc4 d)
    {
        IlgpuKernelCode.StoreValue(c, bias, act, g, row, col, d.X);
        IlgpuKernelCode.StoreValue(c, bias, act, g, row, col + 1, d.Y);
        IlgpuKernelCode.StoreValue(c, bias, act, g, row + 8, col, d.Z);
        IlgpuKernelCode.StoreValue(c, bias, act, g, row + 8, col + 1, d.W);
    }

    // ---- TF32, m16n8k8 (row.col). A: a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4);
    // B: b0 (k t, n g), b1 (k t+4, n g); g = lane / 4, t = lane % 4.

    private static Frag4 FragmentATf32(ArrayView<float> As, int row, int k) => new()
    {
        A0 = Tf32(As[row * KChunk + k]),
        A1 = Tf32(As[(row + 8) * KChunk + k]),
        A2 = Tf32(As[row * KChunk + k + 4]),
        A3 = Tf32(As[(row + 8) * KChunk + k + 4]),
    };

    private static Frag2 FragmentBTf32(ArrayView<float> Bs, int bn, int col, int k) => new()
    {
        B0 = Tf32(Bs[k * bn + col]),
        B1 = Tf32(Bs[(k + 4) * bn + col]),
    };

    // fp32 → tf32 (10-bit mantissa), rounded to nearest with ties away from zero, as cvt.rna.
    private static uint Tf32(float x)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("cvt.rna.tf32.f32 %0, %1;", out uint r, x);
            return r;
        }
        uint bits = Interop.FloatAsInt(x);
        return (bits + 0x1000u) & 0xFFFFE000u;
    }

    private static Acc4 MmaTf32(Acc4 c, Frag4 a, Frag2 b)
    {
        if (CudaAsm.IsSupported)
        {
            Output<float> d0 = default, d1 = default, d2 = default, d3 = default;
            Input<uint> a0 = a.A0, a1 = a.A1, a2 = a.A2, a3 = a.A3, b0 = b.B0, b1 = b.B1;
            Input<float> c0 = c.X, c1 = c.Y, c2 = c.Z, c3 = c.W;
            CudaAsm.EmitRef("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};",
                ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref c0, ref c1, ref c2, ref c3);
            return new Acc4 { X = d0.Value, Y = d1.Value, Z = d2.Value, W = d3.Value };
        }
        // Emulated (a CPU accelerator with 32-thread warps): each lane gathers the row of A and
        // the columns of B its four outputs need from the lanes that hold them.
        int lane = Warp.LaneIdx, gid = lane >> 2, tq = lane & 3;
        float s0 = c.X, s1 = c.Y, s2 = c.Z, s3 = c.W;
        for (int k = 0; k < 8; k++)
        {
            int kq = k & 3;
            uint ra = k < 4 ? a.A0 : a.A2, ra8 = k < 4 ? a.A1 : a.A3, rb = k < 4 ? b.B0 : b.B1;
            float x = Interop.IntAsFloat(Warp.Shuffle(ra, gid * 4 + kq));
            float x8 = Interop.IntAsFloat(Warp.Shuffle(ra8, gid * 4 + kq));
            float y0 = Interop.IntAsFloat(Warp.Shuffle(rb, 2 * tq * 4 + kq));
            float y1 = Interop.IntAsFloat(Warp.Shuffle(rb, (2 * tq + 1) * 4 + kq));
            s0 += x * y0;
            s1 += x * y1;
            s2 += x8 * y0;
            s3 += x8 * y1;
        }
        return new Acc4 { X = s0, Y = s1, Z = s2, W = s3 };
    }

    // ---- BF16, m16n8k16 (row.col), two values per register, the lower k in the low half.
    // A: a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..);
    // B: b0 (k 2t..2t+1, n g), b1 (k 2t+8..2t+9, n g).

    private static Frag4 FragmentABf16(ArrayView<float> As, int row, int tq) => new()
    {
        A0 = Bf16Pair(As[row * KChunk + 2 * tq], As[row * KChunk + 2 * tq + 1]),
        A1 = Bf16Pair(As[(row + 8) * KChunk + 2 * tq], As[(row + 8) * KChunk + 2 * tq + 1]),
        A2 = Bf16Pair(As[row * KChunk + 2 * tq + 8], As[row * KChunk + 2 * tq + 9]),
        A3 = Bf16Pair(As[(row + 8) * KChunk + 2 * tq + 8], As[(row + 8) * KChunk + 2 * tq + 9]),
    };

    private static Frag2 FragmentBBf16(ArrayView<float> Bs, int bn, int col, int tq) => new()
    {
        B0 = Bf16Pair(Bs[2 * tq * bn + col], Bs[(2 * tq + 1) * bn + col]),
        B1 = Bf16Pair(Bs[(2 * tq + 8) * bn + col], Bs[(2 * tq + 9) * bn + col]),
    };

    // Two floats as bf16 (round to nearest even), lo in the low half: cvt.rn.bf16x2.f32 d, hi, lo.
    private static uint Bf16Pair(float lo, float hi)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("cvt.rn.bf16x2.f32 %0, %1, %2;", out uint r, hi, lo);
            return r;
        }
        return Bf16Bits(lo) | Bf16Bits(hi) << 16;
    }

    private static uint Bf16Bits(float x)
    {
        uint bits = Interop.FloatAsInt(x);
        return (bits + 0x7FFFu + (bits >> 16 & 1u)) >> 16;
    }

    private static float FromBf16(uint half) => Interop.IntAsFloat(half << 16);

    private static Acc4 MmaBf16(Acc4 c, Frag4 a, Frag2 b)
    {
        if (CudaAsm.IsSupported)
        {
            Output<float> d0 = default, d1 = default, d2 = default, d3 = default;
            Input<uint> a0 = a.A0, a1 = a.A1, a2 = a.A2, a3 = a.A3, b0 = b.B0, b1 = b.B1;
            Input<float> c0 = c.X, c1 = c.Y, c2 = c.Z, c3 = c.W;
            CudaAsm.EmitRef("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};",
                ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref c0, ref c1, ref c2, ref c3);
            return new Acc4 { X = d0.Value, Y = d1.Value, Z = d2.Value, W = d3.Value };
        }
        int lane = Warp.LaneIdx, gid = lane >> 2, tq = lane & 3;
        float s0 = c.X, s1 = c.Y, s2 = c.Z, s3 = c.W;
        for (int k = 0; k < 16; k++)
        {
            int src = (k & 7) >> 1, shift = (k & 1) * 16;
            uint ra = k < 8 ? a.A0 : a.A2, ra8 = k < 8 ? a.A1 : a.A3, rb = k < 8 ? b.B0 : b.B1;
            float x = FromBf16(Warp.Shuffle(ra, gid * 4 + src) >> shift & 0xFFFFu);
            float x8 = FromBf16(Warp.Shuffle(ra8, gid * 4 + src) >> shift & 0xFFFFu);
            float y0 = FromBf16(Warp.Shuffle(rb, 2 * tq * 4 + src) >> shift & 0xFFFFu);
            float y1 = FromBf16(Warp.Shuffle(rb, (2 * tq + 1) * 4 + src) >> shift & 0xFFFFu);
            s0 += x * y0;
            s1 += x * y1;
            s2 += x8 * y0;
            s3 += x8 * y1;
        }
        return new Acc4 { X = s0, Y = s1, Z = s2, W = s3 };
    }
}

/// <summary>An m16n8 accumulator fragment: four fp32 values per lane.</summary>
internal struct Acc4
{
    public float X, Y, Z, W;
}

/// <summary>An A fragment: four 32-bit registers per lane.</summary>
internal struct Frag4
{
    public uint A0, A1, A2, A3;
}

/// <summary>A B fragment: two 32-bit registers per lane.</summary>
internal struct Frag2
{
    public uint B0, B1;
}

/// <summary>The tensor-core input type: TF32 (m16n8k8) or BF16 (m16n8k16).</summary>
internal interface IMmaKind
{
    /// <summary>True for BF16 inputs.</summary>
    static abstract bool IsBf16 { get; }
}

/// <summary>TF32 inputs: fp32 rounded to a 10-bit mantissa.</summary>
internal readonly struct MmaTf32 : IMmaKind
{
    public static bool IsBf16 => false;
}

/// <summary>BF16 inputs: fp32 rounded to an 8-bit significand.</summary>
internal readonly struct MmaBf16 : IMmaKind
{
    public static bool IsBf16 => true;
}

/// <summary>One warp per group: the CPU accelerator's emulation test.</summary>
internal readonly struct Warps1 : IDim
{
    public static int Value => 1;
}

/// <summary>Four warps per group (a 64×32 block of C): the GPU shape.</summary>
internal readonly struct Warps4 : IDim
{
    public static int Value => 4;
}
