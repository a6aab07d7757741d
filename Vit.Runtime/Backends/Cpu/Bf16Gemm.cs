using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>
/// Weights packed once for <see cref="Bf16Gemm.Multiply"/>: W (n × k) rounded to bf16, in panels
/// of 16 output columns by pairs of k (see <c>Native/bf16_gemm.c</c>). Owns native memory.
/// </summary>
public sealed unsafe class Bf16Weights : IDisposable
{
    private readonly NativeBuffer _buffer;

    internal Bf16Weights(NativeBuffer buffer, int n, int k)
    {
        _buffer = buffer;
        N = n;
        K = k;
    }

    /// <summary>Output columns.</summary>
    public int N { get; private set; }

    /// <summary>The inner dimension.</summary>
    public int K { get; private set; }

    internal uint* Pointer => (uint*)_buffer.Start.Pointer;

    /// <summary>Reshapes to n × k, growing the buffer when needed (for operands packed afresh on every call).</summary>
    internal void Resize(int n, int k)
    {
        _buffer.EnsureLength(Bf16Gemm.PackedDwords(n, k));
        N = n;
        K = k;
    }

    /// <inheritdoc/>
    public void Dispose() => _buffer.Dispose();
}

/// <summary>
/// bf16 matrix products with fp32 accumulation on AVX512-BF16: <c>C (m × n) (+)= A · Wᵀ (+ bias)</c>
/// (A: m × k, W: n × k, a Linear layer's forward), each product of operands rounded to bf16 (round to
/// nearest even) and summed in fp32, 32 multiply-adds per <c>VDPBF16PS</c> (twice an fp32 FMA's).
/// </summary>
/// <remarks>
/// <para>.NET 10 exposes no AVX512-BF16 intrinsics (its BF16 instructions are in <c>Avx10v2</c>, which
/// Zen 4 and Sapphire Rapids lack), so the kernel is C (<c>Native/bf16_gemm.c</c>), compiled by the
/// build with <c>gcc -mavx512bf16</c> into <c>libvitbf16.so</c> beside Vit.Runtime.dll and loaded here;
/// <see cref="IsSupported"/> is false where the library was not built (no gcc) or the CPU lacks the
/// instructions, and <see cref="Unavailable"/> says which.</para>
/// <para>Inference with <see cref="Precision.Bf16"/> runs the Linear layers through it (<see cref="Bf16Linear"/>).
/// <see cref="Reference"/> is its scalar reference.</para>
/// </remarks>
public static unsafe class Bf16Gemm
{
    /// <summary>The native library's file name.</summary>
    public const string Library = "libvitbf16.so";

    private static readonly Native? s_native = Load(out s_unavailable);
    private static readonly string? s_unavailable;

    /// <summary>Whether the kernel can run here: the library is built and the CPU has AVX512-BF16.</summary>
    public static bool IsSupported => s_native is not null;

    /// <summary>Why <see cref="IsSupported"/> is false (null when it is true).</summary>
    public static string? Unavailable => s_unavailable;

    /// <summary>The bf16 bits of <paramref name="value"/>, rounded to nearest even as the kernel rounds (scalar C#; needs no library).</summary>
    public static ushort RoundBits(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (ushort)((u >> 16) | 0x40u);
        return (ushort)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    }

    /// <summary><paramref name="value"/> rounded to bf16 (nearest even), as a float.</summary>
    public static float Round(float value) => BitConverter.UInt32BitsToSingle((uint)RoundBits(value) << 16);

    /// <summary>
    /// W (n × k, row-major) rounded to bf16 and packed into the fp32 GEMM's panels (<see cref="Gemm.PackB"/>),
    /// for <see cref="MultiplyRounded"/>: the <see cref="Bf16Units.Fma"/> units' form of <see cref="PackWeights"/>.
    /// <paramref name="scratch"/> holds the rounded copy on its way; <paramref name="into"/>, when given, is packed again.
    /// </summary>
    public static Gemm.PackedB PackRoundedWeights(float* w, int n, int k, NativeBuffer scratch, Gemm.PackedB? into = null)
    {
        ArgumentNullException.ThrowIfNull(scratch);
        float* rounded = RoundRows(scratch, w, n, k, k);
        if (into is null) return Gemm.PackB(rounded, 1, k, n, k);
        Gemm.PackBInto(into, rounded, 1, k);
        return into;
    }

    /// <summary>
    /// C (m × n, rows <paramref name="ldc"/> apart) = round(A) · round(W)ᵀ + bias (or += with
    /// <paramref name="accumulate"/>) on the fp32 FMAs: A (m × k, rows <paramref name="lda"/> apart)
    /// rounded into <paramref name="scratch"/>, then <see cref="Gemm.MultiplyPacked"/> against
    /// <see cref="PackRoundedWeights"/>' panels, with its GELU epilogue when <paramref name="geluOut"/>
    /// is given. Every product of two bf16 values is exact in fp32, so this is <see cref="Multiply"/>
    /// with the fp32 sums in another order.
    /// </summary>
    public static void MultiplyRounded(float* c, long ldc, float* a, long lda, Gemm.PackedB w, int m, float* bias, bool accumulate, NativeBuffer scratch,
        float* geluOut = null, long ldg = 0)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(scratch);
        if (m <= 0) return;
        ArgumentOutOfRangeException.ThrowIfLessThan(lda, w.K);
        float* r = RoundRows(scratch, a, m, w.K, lda);
        Gemm.MultiplyPacked(c, ldc, r, w.K, 1, w, m, bias, accumulate, geluOut, ldg);
    }

    /// <summary>
    /// rows × cols of <paramref name="src"/> (rows <paramref name="ld"/> floats apart) rounded to bf16
    /// (<see cref="RoundSpan"/>) into <paramref name="buffer"/>, contiguous (grown as needed), split
    /// over the worker pool when large; returns the buffer's start.
    /// </summary>
    public static float* RoundRows(NativeBuffer buffer, float* src, int rows, int cols, long ld)
    {
        buffer.EnsureLength((long)rows * cols);
        var args = new RoundArgs { Dst = buffer.Start.Pointer, Src = src, Cols = cols, Ld = ld };
        int tasks = (long)rows * cols < 1 << 16 ? 1 : Math.Min(rows, 4 * WorkerPool.Shared.Threads);
        args.RowsPerTask = (rows + tasks - 1) / tasks;
        args.Rows = rows;
        if (tasks == 1) RoundTask(&args, 0, 1);
        else WorkerPool.Shared.Run(&RoundTask, &args, (rows + args.RowsPerTask - 1) / args.RowsPerTask);
        return buffer.Start.Pointer;
    }

    private struct RoundArgs
    {
        public float* Dst, Src;
        public long Ld;
        public int Cols, Rows, RowsPerTask;
    }

    private static void RoundTask(void* context, int begin, int end)
    {
        ref var a = ref *(RoundArgs*)context;
        int r0 = begin * a.RowsPerTask, r1 = Math.Min(end * a.RowsPerTask, a.Rows);
        RoundRowsSerial(a.Dst + (long)r0 * a.Cols, a.Src + r0 * a.Ld, r1 - r0, a.Cols, a.Ld);
    }

    /// <summary>rows × cols of <paramref name="src"/> (rows <paramref name="ld"/> apart) rounded into <paramref name="dst"/>, contiguous, on the calling thread.</summary>
    internal static void RoundRowsSerial(float* dst, float* src, int rows, int cols, long ld)
    {
        if (ld == cols) RoundSpan(dst, src, (long)rows * cols);
        else
            for (long i = 0; i < rows; i++) RoundSpan(dst + i * cols, src + i * ld, cols);
    }

    /// <summary>
    /// dst[i] = <see cref="Round"/>(src[i]) for <paramref name="count"/> floats, vectorized (the same
    /// bits as the scalar rounding: round to nearest even on the upper 16 bits, NaN kept quiet).
    /// </summary>
    public static void RoundSpan(float* dst, float* src, long count)
    {
        long i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= count; i += 16) Vector512.Store(RoundVector(Vector512.Load((uint*)(src + i))).AsSingle(), dst + i);
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= count; i += 8) Vector256.Store(RoundVector(Vector256.Load((uint*)(src + i))).AsSingle(), dst + i);
        for (; i < count; i++) dst[i] = Round(src[i]);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> RoundVector(Vector512<uint> u)
    {
        var high = Vector512.Create(0xFFFF0000u);
        var rounded = (u + Vector512.Create(0x7FFFu) + ((u >> 16) & Vector512<uint>.One)) & high;
        var nan = Vector512.GreaterThan(u & Vector512.Create(0x7FFFFFFFu), Vector512.Create(0x7F800000u));
        return Vector512.ConditionalSelect(nan, (u | Vector512.Create(0x00400000u)) & high, rounded);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> RoundVector(Vector256<uint> u)
    {
        var high = Vector256.Create(0xFFFF0000u);
        var rounded = (u + Vector256.Create(0x7FFFu) + ((u >> 16) & Vector256<uint>.One)) & high;
        var nan = Vector256.GreaterThan(u & Vector256.Create(0x7FFFFFFFu), Vector256.Create(0x7F800000u));
        return Vector256.ConditionalSelect(nan, (u | Vector256.Create(0x00400000u)) & high, rounded);
    }

    /// <summary>
    /// Packs W (n × k, rows <paramref name="ldw"/> floats apart) once, for every later <see cref="Multiply"/>:
    /// into <paramref name="into"/> when given (resized; no allocation once it is large enough), else a new buffer.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">Not <see cref="IsSupported"/>.</exception>
    public static Bf16Weights PackWeights(float* w, long ldw, int n, int k, Bf16Weights? into = null)
    {
        var native = Require();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        ArgumentOutOfRangeException.ThrowIfLessThan(ldw, k);
        if (into is null) into = new Bf16Weights(new NativeBuffer(PackedDwords(n, k)), n, k); // a dword per float slot
        else into.Resize(n, k);
        native.PackWeights(w, ldw, n, k, into.Pointer);
        return into;
    }

    internal static long PackedDwords(int n, int k) => (long)((n + 15) / 16) * ((k + 1) / 2) * 16;

    /// <summary>
    /// Packs Mᵀ (n × k) as weights, M being (k × n) with rows <paramref name="ldm"/> floats apart: the
    /// backward pass's operands (Wᵀ for dx = dy·W, xᵀ for dW = dyᵀ·x). Into <paramref name="into"/>
    /// when given (resized; no allocation once it is large enough), else a new buffer.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">Not <see cref="IsSupported"/>.</exception>
    public static Bf16Weights PackWeightsTransposed(float* m, long ldm, int n, int k, Bf16Weights? into = null)
    {
        var native = Require();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        ArgumentOutOfRangeException.ThrowIfLessThan(ldm, n);
        if (into is null) into = new Bf16Weights(new NativeBuffer(PackedDwords(n, k)), n, k);
        else into.Resize(n, k);
        int panels = (n + 15) / 16, tasks = (long)n * k < 1 << 18 ? 1 : Math.Min(panels, WorkerPool.Shared.Threads);
        if (tasks == 1)
        {
            native.PackWeightsT(m, ldm, n, k, into.Pointer);
            return into;
        }
        // dW's xᵀ (4160 × 768 for cifar's fc2) once per training step and layer: the panels shared out,
        // each task packing whole panels (the same bytes as one call: a panel's pairs do not depend on the others).
        var args = new PackArgs { PackT = native.PackWeightsT, M = m, Ld = ldm, N = n, K = k, Packed = into.Pointer, PanelsPerTask = (panels + tasks - 1) / tasks };
        WorkerPool.Shared.Run(&PackTransposedTask, &args, tasks);
        return into;
    }

    private struct PackArgs
    {
        public delegate* unmanaged<float*, long, int, int, uint*, void> PackT;
        public float* M;
        public uint* Packed;
        public long Ld;
        public int N, K, PanelsPerTask;
    }

    private static void PackTransposedTask(void* context, int begin, int end)
    {
        ref var x = ref *(PackArgs*)context;
        for (int task = begin; task < end; task++)
        {
            int c0 = task * x.PanelsPerTask * 16, c1 = Math.Min(x.N, c0 + x.PanelsPerTask * 16);
            if (c0 < c1) x.PackT(x.M + c0, x.Ld, c1 - c0, x.K, x.Packed + (long)c0 * ((x.K + 1) / 2));
        }
    }

    /// <summary>
    /// C (m × n) (+)= Mᵀ · Wᵀ where Mᵀ is (m × k): M is (k × m), rows <paramref name="ldm"/> floats
    /// apart (dW = dyᵀ·x reads dy this way). Otherwise as <see cref="Multiply"/>.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">Not <see cref="IsSupported"/>.</exception>
    public static void MultiplyTransposed(float* c, long ldc, float* mt, long ldm, Bf16Weights w, int m, bool accumulate, NativeBuffer scratch)
    {
        var native = Require();
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(scratch);
        if (m <= 0) return;
        ArgumentOutOfRangeException.ThrowIfLessThan(ldm, m);
        ArgumentOutOfRangeException.ThrowIfLessThan(ldc, w.N);
        int kp = (w.K + 1) / 2;
        scratch.EnsureLength((long)m * kp);
        var args = new Args
        {
            PackRows = native.PackRowsT, Transposed = 1, Gemm = native.Gemm, A = mt, Lda = ldm, Packed = (uint*)scratch.Start.Pointer, K = w.K,
            W = w.Pointer, N = w.N, Bias = null, C = c, Ldc = ldc, Accumulate = accumulate ? 1 : 0, M = m,
        };
        WorkerPool.Shared.Run(&Rows, &args, RowUnits(m));
    }

    /// <summary>
    /// C (m × n, rows <paramref name="ldc"/> apart) = A · Wᵀ + bias, or += with
    /// <paramref name="accumulate"/>; A (m × k, rows <paramref name="lda"/> apart) is rounded to bf16
    /// into <paramref name="scratch"/> (grown as needed), then the rows are shared by the worker pool
    /// (or, when there are few of them, the columns).
    /// </summary>
    /// <remarks>
    /// With <paramref name="gelu"/>, also gelu(C) into it (rows <paramref name="geluStride"/> apart),
    /// piece by piece as each block of C leaves the kernel (48 rows, or a 32-column strip), while it is
    /// still in L2 (fc1's epilogue: a separate pass over the batch-8 fc1 output, 1576 × 3072, read it
    /// back from L3).
    /// </remarks>
    /// <exception cref="PlatformNotSupportedException">Not <see cref="IsSupported"/>.</exception>
    public static void Multiply(float* c, long ldc, float* a, long lda, Bf16Weights w, int m, float* bias, bool accumulate, NativeBuffer scratch,
        float* gelu = null, long geluStride = 0)
    {
        var native = Require();
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(scratch);
        if (m <= 0) return;
        ArgumentOutOfRangeException.ThrowIfLessThan(lda, w.K);
        ArgumentOutOfRangeException.ThrowIfLessThan(ldc, w.N);
        int kp = (w.K + 1) / 2;
        scratch.EnsureLength((long)m * kp);
        var packed = (uint*)scratch.Start.Pointer;
        if (gelu != null) ArgumentOutOfRangeException.ThrowIfLessThan(geluStride, w.N);
        var args = new Args { PackRows = native.PackRows, Gemm = native.Gemm, A = a, Lda = lda, Packed = packed, K = w.K, W = w.Pointer, N = w.N, Bias = bias, C = c, Ldc = ldc, Accumulate = accumulate ? 1 : 0,
            Gelu = gelu, GeluStride = geluStride };
        args.M = m;
        int threads = WorkerPool.Shared.Threads, strips = (w.N + 31) / 32;
        if (threads > 1 && (m + 47) / 48 < 4 * threads && strips >= 2 * threads)
        {
            // Few rows (ViT-B/16 at batch 1: 197, five 48-row blocks; the head: one row per image): the
            // threads share the columns instead, so that each streams its half of W from DRAM once, a
            // 32-column strip at a time against every row, where shared rows made both read all of it.
            WorkerPool.Shared.Run(&PackTask, &args, RowUnits(m));
            WorkerPool.Shared.Run(&Strips, &args, strips);
        }
        else WorkerPool.Shared.Run(&Rows, &args, RowUnits(m));
    }

    private static void PackTask(void* context, int begin, int end)
    {
        ref var x = ref *(Args*)context;
        int m0 = begin * RowUnit, m1 = Math.Min(end * RowUnit, x.M);
        x.PackRows(x.A + m0 * x.Lda, x.Lda, m1 - m0, x.K, x.Packed + (long)m0 * ((x.K + 1) / 2));
    }

    // Strips [begin, end) of 32 columns (two panels of W) against all the packed rows, one strip at a
    // time, each with its GELU while its columns of C are in L1/L2.
    private static void Strips(void* context, int begin, int end)
    {
        ref var x = ref *(Args*)context;
        long panelDwords = (long)((x.K + 1) / 2) * 16;
        for (int strip = begin; strip < end; strip++)
        {
            int col = strip * 32, cols = Math.Min(32, x.N - col);
            x.Gemm(x.Packed, 0, x.M, x.K, x.W + 2 * strip * panelDwords, cols, x.Bias == null ? null : x.Bias + col, x.C + col, x.Ldc, x.Accumulate);
            if (x.Gelu != null)
                for (int r = 0; r < x.M; r++) Gelu.ForwardRange(x.Gelu + r * x.GeluStride + col, x.C + r * x.Ldc + col, cols);
        }
    }

    /// <summary>
    /// One attention head's scores on the calling thread (attention splits its heads over the pool):
    /// S (t × t, rows t apart) = round(q)·round(k)ᵀ, q and k (t × hd) with rows <paramref name="ldq"/>
    /// and <paramref name="ldk"/> floats apart; q packed as rows and k as weights into
    /// <paramref name="scratch"/> (<see cref="HeadScratchDwords"/>). The backward pass's
    /// dP = do·vᵀ is the same product.
    /// </summary>
    internal static void HeadScores(float* s, float* q, long ldq, float* k, long ldk, int t, int hd, uint* scratch)
    {
        var native = Require();
        uint* rows = scratch, weights = scratch + (long)t * ((hd + 1) / 2);
        native.PackRows(q, ldq, t, hd, rows);
        native.PackWeights(k, ldk, t, hd, weights);
        native.Gemm(rows, 0, t, hd, weights, t, null, s, t, 0);
    }

    /// <summary>
    /// One attention head's output on the calling thread: O (t × hd, rows <paramref name="ldo"/> apart) =
    /// round(P)·round(v), or round(P)ᵀ·round(v) with <paramref name="transposeP"/>; P (t × t, rows t
    /// apart), v (t × hd, rows <paramref name="ld"/> apart); P (or Pᵀ) packed as rows and vᵀ as
    /// weights into <paramref name="scratch"/>. The backward pass's dv = Pᵀ·do, dq = dS·k and
    /// dk = dSᵀ·q are the same product.
    /// </summary>
    internal static void HeadOutput(float* o, long ldo, float* p, bool transposeP, float* v, long ld, int t, int hd, uint* scratch)
    {
        var native = Require();
        uint* rows = scratch, weights = scratch + (long)t * ((t + 1) / 2);
        if (transposeP) native.PackRowsT(p, t, t, t, rows);
        else native.PackRows(p, t, t, t, rows);
        native.PackWeightsT(v, ld, hd, t, weights);
        native.Gemm(rows, 0, t, t, weights, hd, null, o, ldo, 0);
    }

    /// <summary>The scratch, in dwords, of <see cref="HeadScores"/> and <see cref="HeadOutput"/>.</summary>
    internal static long HeadScratchDwords(int t, int hd)
        => Math.Max((long)t * ((hd + 1) / 2) + PackedDwords(t, hd), (long)t * ((t + 1) / 2) + PackedDwords(hd, t));

    /// <summary>
    /// The scalar reference: C = round(A)·round(W)ᵀ + bias (+ C), every product of bf16-rounded
    /// operands summed in double. The kernel sums in fp32 in another order, so it differs from this by
    /// fp32 rounding only (about k · 2⁻²⁴ of the sum of |products|).
    /// </summary>
    public static void Reference(double[] c, float[] a, float[] w, float[]? bias, int m, int n, int k, bool accumulate)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = bias is null ? 0 : bias[j];
                for (int t = 0; t < k; t++) sum += (double)Round(a[i * k + t]) * Round(w[j * k + t]);
                c[i * n + j] = accumulate ? c[i * n + j] + sum : sum;
            }
    }

    private struct Args
    {
        public delegate* unmanaged<float*, long, int, int, uint*, void> PackRows;
        public delegate* unmanaged<uint*, int, int, int, uint*, int, float*, float*, long, int, void> Gemm;
        public float* A, Bias, C, Gelu;
        public uint* Packed, W;
        public long Lda, Ldc, GeluStride;
        public int M, K, N, Accumulate, Transposed;
    }

    // The rows are shared out in units of the micro-kernel's 6 (each thread then takes its rows 48 at a
    // time, the kernel's L2 block): in units of 48, ViT-B/16's batch-8 products (1576 rows, 33 blocks)
    // gave one of two threads 808 rows and the other 768.
    private const int RowUnit = 6;

    private static int RowUnits(int m) => (m + RowUnit - 1) / RowUnit;

    private static void Rows(void* context, int begin, int end)
    {
        ref var x = ref *(Args*)context;
        int m0 = begin * RowUnit, m1 = Math.Min(end * RowUnit, x.M), kp = (x.K + 1) / 2;
        // Rows m0..m1 of A: rows of A itself, or (transposed) columns m0..m1 of M.
        x.PackRows(x.Transposed != 0 ? x.A + m0 : x.A + m0 * x.Lda, x.Lda, m1 - m0, x.K, x.Packed + (long)m0 * kp);
        x.Gemm(x.Packed, m0, m1, x.K, x.W, x.N, x.Bias, x.C, x.Ldc, x.Accumulate);
        // fc1's epilogue: gelu of these rows while they are in this core's L2.
        if (x.Gelu != null)
            for (int r = m0; r < m1; r++) Gelu.ForwardRange(x.Gelu + r * x.GeluStride, x.C + r * x.Ldc, x.N);
    }

    private static Native Require() => s_native ?? throw new PlatformNotSupportedException($"The bf16 GEMM cannot run here: {s_unavailable}");

    private static Native? Load(out string? unavailable)
    {
        unavailable = null;
        if (!OperatingSystem.IsLinux() || !System.Runtime.Intrinsics.X86.Avx512F.IsSupported)
        {
            unavailable = "it needs Linux on an x86-64 CPU with AVX-512";
            return null;
        }
        if (!NativeLibrary.TryLoad(Library, typeof(Bf16Gemm).Assembly, DllImportSearchPath.AssemblyDirectory, out var library)
            && !NativeLibrary.TryLoad(Path.Combine(AppContext.BaseDirectory, Library), out library))
        {
            unavailable = $"{Library} was not built beside Vit.Runtime.dll (the build compiles it when gcc is installed)";
            return null;
        }
        nint Get(string name) => NativeLibrary.GetExport(library, name);
        var native = new Native
        {
            Supported = (delegate* unmanaged<int>)Get("vit_bf16_supported"),
            PackWeights = (delegate* unmanaged<float*, long, int, int, uint*, void>)Get("vit_bf16_pack_weights"),
            PackRows = (delegate* unmanaged<float*, long, int, int, uint*, void>)Get("vit_bf16_pack_rows"),
            PackWeightsT = (delegate* unmanaged<float*, long, int, int, uint*, void>)Get("vit_bf16_pack_weights_t"),
            PackRowsT = (delegate* unmanaged<float*, long, int, int, uint*, void>)Get("vit_bf16_pack_rows_t"),
            Gemm = (delegate* unmanaged<uint*, int, int, int, uint*, int, float*, float*, long, int, void>)Get("vit_bf16_gemm"),
            RoundBits = (delegate* unmanaged<float, int>)Get("vit_bf16_round_bits"),
            Peak = (delegate* unmanaged<long, float>)Get("vit_bf16_peak"),
            FmaPeak = (delegate* unmanaged<long, float>)Get("vit_fma_peak"),
        };
        if (native.Supported() == 0)
        {
            unavailable = "this CPU lacks AVX512-BF16 (VDPBF16PS)";
            return null;
        }
        return native;
    }

    /// <summary>The native kernel's rounding of one value (for the tests: it must equal <see cref="RoundBits"/>).</summary>
    internal static int NativeRoundBits(float value) => Require().RoundBits(value);

    private sealed class Native
    {
        public delegate* unmanaged<int> Supported;
        public delegate* unmanaged<float*, long, int, int, uint*, void> PackWeights;
        public delegate* unmanaged<float*, long, int, int, uint*, void> PackRows;
        public delegate* unmanaged<float*, long, int, int, uint*, void> PackWeightsT;
        public delegate* unmanaged<float*, long, int, int, uint*, void> PackRowsT;
        public delegate* unmanaged<uint*, int, int, int, uint*, int, float*, float*, long, int, void> Gemm;
        public delegate* unmanaged<float, int> RoundBits;
        public delegate* unmanaged<long, float> Peak;
        public delegate* unmanaged<long, float> FmaPeak;
    }

    /// <summary>The environment variable that picks <see cref="Units"/>: <c>dot</c>, <c>fma</c> or <c>auto</c> (unset).</summary>
    public const string UnitsVariable = "VIT_BF16_UNITS";

    private static Bf16Units? s_units;
    private static string? s_unitsReason;

    /// <summary>
    /// The units that run <see cref="Precision.Bf16"/>'s products on this machine, chosen once per
    /// process: <see cref="UnitsVariable"/> when set, else <see cref="Bf16Units.Fma"/> where the native
    /// kernel cannot run, else whichever of <c>VDPBF16PS</c> and the fp32 FMA does more multiply-adds
    /// per second on this CPU (two short probes on the calling thread, about 7 ms on an Emerald Rapids core, each the best of
    /// three runs, alternating). The two rates differ by 2× or more on the CPUs measured (Zen 5:
    /// <c>VDPBF16PS</c> twice the FMA's rate; Emerald Rapids: half), so load on the machine does not
    /// flip the choice; set the variable to pin it.
    /// </summary>
    /// <exception cref="ArgumentException">The variable holds something else.</exception>
    /// <exception cref="PlatformNotSupportedException">It asks for <c>dot</c> where the native kernel cannot run.</exception>
    public static Bf16Units Units
    {
        get
        {
            if (s_units is { } units) return units;
            units = ChooseUnits(Environment.GetEnvironmentVariable(UnitsVariable), s_unavailable, MeasureUnits, out s_unitsReason);
            s_units = units;
            return units;
        }
    }

    /// <summary>Why <see cref="Units"/> is what it is, in a few words (for <c>vit bench</c>).</summary>
    public static string UnitsReason
    {
        get
        {
            _ = Units;
            return s_unitsReason!;
        }
    }

    /// <summary>The choice behind <see cref="Units"/>: <paramref name="unavailable"/> is why the native kernel cannot run (null when it can).</summary>
    internal static Bf16Units ChooseUnits(string? setting, string? unavailable, Func<(double Dot, double Fma)> probe, out string reason)
    {
        switch (setting?.Trim().ToLowerInvariant())
        {
            case "fma":
                reason = $"{UnitsVariable}=fma";
                return Bf16Units.Fma;
            case "dot":
                if (unavailable is not null)
                    throw new PlatformNotSupportedException($"{UnitsVariable}=dot asks for VDPBF16PS, but the bf16 GEMM cannot run here: {unavailable}");
                reason = $"{UnitsVariable}=dot";
                return Bf16Units.DotProduct;
            case null or "" or "auto":
                break;
            default:
                throw new ArgumentException($"{UnitsVariable} must be dot, fma or auto, found '{setting}'");
        }
        if (unavailable is not null)
        {
            reason = "no VDPBF16PS kernel here";
            return Bf16Units.Fma;
        }
        var (dot, fma) = probe();
        var choice = dot >= fma ? Bf16Units.DotProduct : Bf16Units.Fma;
        reason = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"VDPBF16PS {dot:F0} against FMA {fma:F0} GFLOP/s per core");
        return choice;
    }

    // GFLOP/s of one thread on VDPBF16PS and on the fp32 FMA: 2M instructions each, best of three, alternating.
    private static (double Dot, double Fma) MeasureUnits()
    {
        var native = Require();
        const long iterations = 200_000; // × 12 instructions
        double dot = 0, fma = 0;
        float sink = 0;
        for (int run = 0; run < 3; run++)
        {
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            sink += native.Peak(iterations);
            dot = Math.Max(dot, iterations * 12 * 16 * 4 / System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds / 1e9);
            t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            sink += native.FmaPeak(iterations);
            fma = Math.Max(fma, iterations * 12 * 16 * 2 / System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds / 1e9);
        }
        GC.KeepAlive(sink);
        return (dot, fma);
    }

    /// <summary>
    /// The VDPBF16PS peak as code reaches it: every pool thread runs 12 independent chains on
    /// registers (best of five runs), in GFLOP/s (2 per multiply-add), beside the fp32 FMA probe.
    /// </summary>
    public static double PeakGflops(long iterations = 20_000_000)
    {
        var native = Require();
        int threads = WorkerPool.Shared.Threads;
        var args = new PeakArgs { Peak = native.Peak, Iterations = iterations };
        double best = 0;
        for (int run = 0; run < 5; run++)
        {
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            WorkerPool.Shared.Run(&PeakBody, &args, threads);
            double s = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds;
            best = Math.Max(best, threads * (double)iterations * 12 * 16 * 2 * 2 / s / 1e9);
        }
        return best;
    }

    private struct PeakArgs
    {
        public delegate* unmanaged<long, float> Peak;
        public long Iterations;
        public float Sink;
    }

    private static void PeakBody(void* context, int begin, int end)
    {
        ref var x = ref *(PeakArgs*)context;
        for (int t = begin; t < end; t++) Interlocked.Exchange(ref x.Sink, x.Peak(x.Iterations));
    }
}

/// <summary>The execution units that run <see cref="Precision.Bf16"/>'s products (<see cref="Bf16Gemm.Units"/>).</summary>
/// <remarks>Both compute the same thing, products of bf16-rounded operands summed in fp32; only the order of the sums differs.</remarks>
public enum Bf16Units
{
    /// <summary><c>VDPBF16PS</c>, through the native kernel (<see cref="Bf16Gemm"/>): 32 multiply-adds per instruction, operands half the size.</summary>
    DotProduct,

    /// <summary>
    /// The operands rounded to bf16 and held as fp32, through the fp32 GEMM's FMAs: 16 multiply-adds
    /// per instruction, but where <c>VDPBF16PS</c> issues at half the FMA's rate or less (Sapphire and
    /// Emerald Rapids), more per second. Every product of two bf16 values is exact in fp32, so this is
    /// bf16 arithmetic, not an approximation of it.
    /// </summary>
    Fma,
}
