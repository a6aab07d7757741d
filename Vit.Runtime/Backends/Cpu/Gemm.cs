using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Vit.Backends.Cpu;

/// <summary>
/// Single-precision matrix product <c>C (+)= op(A)·op(B) (+ bias)</c> with any row and column
/// strides, so one routine serves <c>A·B</c>, <c>A·Bᵀ</c> and <c>Aᵀ·B</c> (the forward and both
/// backward products of <see cref="Linear"/>).
/// </summary>
/// <remarks>
/// <para>Blocked as in BLIS: B is packed once per call into panels of NR columns (64-byte aligned
/// scratch, reused between calls; a weight read as <c>wᵀ</c> goes through an 8 × 8 register
/// transpose), except that a B with contiguous rows at most 4 KiB apart, or an odd number of cache
/// lines apart (<see cref="SpreadsOverL1Sets"/>), is read in place when C has fewer than 1024 rows
/// (with more, the copy costs less than the L1 misses of strided rows). Each
/// task (a block of rows × a block of panels) then runs a register-blocked micro-kernel over K in
/// blocks of at most 256, so a B panel stays in L1: 6 × 32 with AVX-512, 6 × 16 with AVX2,
/// 6 × 8 with <see cref="Vector128"/>; a narrow last panel uses the narrower kernels. A is read
/// in place when its rows are contiguous and packed into 6-row micro-panels otherwise (the
/// transposed operand of the weight gradient, packed per task and K block; such a product splits
/// its rows only where there are enough row blocks for the threads, so each block of A is packed
/// once).</para>
/// <para>Prefetching: each micro-kernel call fetches its share of the next B panel, one row every
/// four K steps, and the task loop fetches the next C tile (when the kernel will read it) and the
/// next K block of a transposed A, so operands arrive from L3 while the FMAs run.</para>
/// <para>Epilogues: the bias initializes (or is added to) the accumulators, accumulation into C
/// gives the fused residual add, and <see cref="MultiplyGelu"/> applies GELU to each task's
/// block while it is in cache.</para>
/// <para>Tasks run on <see cref="WorkerPool.Shared"/>, each thread claiming the next task from a
/// shared counter (a thread slowed by another process takes fewer); the task count is made a
/// multiple of the thread count where the shape allows. Each block of C is computed by one task in
/// a fixed order, so results do not depend on the thread that ran it. Scratch is native, grows
/// once per thread and is never returned, so steady-state calls allocate nothing.</para>
/// </remarks>
public static unsafe class Gemm
{
    /// <summary>Rows of C per micro-kernel call.</summary>
    public const int MR = 6;

    private const int KcMax = 256;
    private const int McTarget = 144;

    // A B with contiguous rows is read in place only when both hold:
    // - its rows are at most 4 KiB apart, or an odd number of cache lines apart (see
    //   SpreadsOverL1Sets: the padded MLP activation of the training layout, 3072 + 16 floats
    //   at ViT-B, is read in place by fc2's weight gradient; the same rows 3072 floats apart
    //   fall on 2 of L1's 64 sets, and reading them in place halved the product's speed; rows
    //   over 4 KiB apart also touch one page each, which the TLB absorbs when the buffer is on
    //   2 MiB pages, as every NativeBuffer of 2 MiB or more is);
    // - C has fewer than 1024 rows. Packing B copies K·N floats against 2·M·N·K FLOPs, so it
    //   pays when M is large: a B panel read in place with rows 3 KiB apart (768 floats) maps
    //   its 256 rows onto 8 of L1's 64 sets, so it never stays in L1 and every load of B comes
    //   from L2. Packed, the panel is contiguous and stays in L1. With few rows of C (cifar's
    //   weight gradients: M = 192 or 576, K = 4160) the copy costs more than it saves.
    private const long InPlaceMaxRowStride = 1024;
    private const int InPlaceMaxRows = 1024;
    private const int NcMax = 1024;
    private const long StreamPackBytes = 16L * 1024 * 1024;

    private struct Args
    {
        public float* C, A, B, Bias, PackedB, GeluOut;
        public long Ldc, Ldg, ARow, ACol, BRow, BCol;
        public int M, N, K, Nr, Kc, KBlocks, RowBlocks, ColBlocks, PanelsPerBlock, Panels;
        public SimdLevel Level;
        public bool Accumulate, PackA, BInPlace, Claim;
        public int NextTask;    // the next task to claim when Claim is set
    }

    // Native scratch, one set per thread: packed B of the calls this thread issues (parallel and
    // serial kept apart, since a serial product may run inside a parallel kernel), packed A of the
    // tasks it runs.
    [ThreadStatic] private static float* t_packedB;
    [ThreadStatic] private static long t_packedBLength;
    [ThreadStatic] private static float* t_serialB;
    [ThreadStatic] private static long t_serialBLength;
    [ThreadStatic] private static float* t_packedA;
    [ThreadStatic] private static long t_packedALength;

    /// <summary>
    /// <c>C[i, j] (+)= Σ_p A[i, p]·B[p, j] (+ bias[j])</c> for i &lt; m, j &lt; n, p &lt; k, split over
    /// <see cref="WorkerPool.Shared"/>.
    /// </summary>
    /// <param name="c">C, row-major with row stride <paramref name="ldc"/>.</param>
    /// <param name="ldc">Row stride of C in floats.</param>
    /// <param name="a">A: element (i, p) at <c>a[i·aRow + p·aCol]</c>.</param>
    /// <param name="aRow">Stride between rows of A.</param>
    /// <param name="aCol">Stride between columns of A.</param>
    /// <param name="b">B: element (p, j) at <c>b[p·bRow + j·bCol]</c>.</param>
    /// <param name="bRow">Stride between rows of B.</param>
    /// <param name="bCol">Stride between columns of B.</param>
    /// <param name="m">Rows of C.</param>
    /// <param name="n">Columns of C.</param>
    /// <param name="k">The inner dimension.</param>
    /// <param name="bias">Added to every row, (n); null for none.</param>
    /// <param name="accumulate">Add into C instead of overwriting it.</param>
    public static void Multiply(float* c, long ldc, float* a, long aRow, long aCol, float* b, long bRow, long bCol,
        int m, int n, int k, float* bias, bool accumulate)
    {
        if (m <= 0 || n <= 0) return;
        if (k <= 0) { Degenerate(c, ldc, m, n, bias, accumulate); return; }
        var pool = WorkerPool.Shared;
        var args = Plan(c, ldc, a, aRow, aCol, b, bRow, bCol, m, n, k, bias, accumulate, pool.Threads);
        Run(pool, &args);
    }

    /// <summary>
    /// B (k × n) packed once into the panels <see cref="Multiply"/> builds on every call (NR columns
    /// by K rows each, zero-padded), for a B that does not change between calls: a Linear layer's
    /// weight in inference. <see cref="MultiplyPacked"/> then skips the packing and computes exactly
    /// what <see cref="Multiply"/> computes, bit for bit.
    /// </summary>
    public sealed class PackedB : IDisposable
    {
        internal PackedB(int n, int k, int nr)
        {
            N = n;
            K = k;
            Nr = nr;
            Floats = (long)((n + nr - 1) / nr) * k * nr;
            Data = (float*)Vit.Memory.HugePages.Allocate((nuint)(Floats * sizeof(float)));
        }

        /// <summary>Columns of B.</summary>
        public int N { get; }

        /// <summary>Rows of B (the inner dimension).</summary>
        public int K { get; }

        /// <summary>The panel width it was packed for (the SIMD level's).</summary>
        internal int Nr { get; }

        /// <summary>The packed floats.</summary>
        public long Floats { get; }

        internal float* Data { get; private set; }

        /// <inheritdoc/>
        public void Dispose()
        {
            if (Data != null) Vit.Memory.HugePages.Free(Data);
            Data = null;
        }
    }

    /// <summary>Packs B (element (p, j) at <c>b[p·bRow + j·bCol]</c>, k × n) once, on every worker thread.</summary>
    public static PackedB PackB(float* b, long bRow, long bCol, int n, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        var packed = new PackedB(n, k, PanelWidth(Simd.Level));
        PackBInto(packed, b, bRow, bCol);
        return packed;
    }

    /// <summary>Packs B again into <paramref name="packed"/> (its shape), for a B whose values changed.</summary>
    public static void PackBInto(PackedB packed, float* b, long bRow, long bCol)
    {
        ArgumentNullException.ThrowIfNull(packed);
        var pool = WorkerPool.Shared;
        var args = Plan(null, packed.N, null, packed.K, 1, b, bRow, bCol, 1, packed.N, packed.K, null, false, pool.Threads);
        if (args.Nr != packed.Nr) throw new ArgumentException($"B was packed for panels of {packed.Nr} columns; this SIMD level uses {args.Nr}.", nameof(packed));
        args.BInPlace = false; // every panel is written, full ones included
        args.PackedB = packed.Data;
        pool.Run(&PackBTasks, &args, args.Panels);
    }

    /// <summary>
    /// <see cref="Multiply"/> (or, with <paramref name="geluOut"/>, <see cref="MultiplyGelu"/>) with
    /// B already packed by <see cref="PackB"/>: the same blocks and order, so the same bits.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="b"/> was packed for another shape or SIMD level.</exception>
    public static void MultiplyPacked(float* c, long ldc, float* a, long aRow, long aCol, PackedB b, int m, float* bias, bool accumulate,
        float* geluOut = null, long ldg = 0)
    {
        ArgumentNullException.ThrowIfNull(b);
        if (m <= 0) return;
        var pool = WorkerPool.Shared;
        var args = Plan(c, ldc, a, aRow, aCol, null, 0, 0, m, b.N, b.K, bias, accumulate, pool.Threads);
        if (args.Nr != b.Nr) throw new ArgumentException($"B was packed for panels of {b.Nr} columns; this SIMD level uses {args.Nr}.", nameof(b));
        args.BInPlace = false;
        args.PackedB = b.Data;
        args.GeluOut = geluOut;
        args.Ldg = ldg;
        args.Claim = true;
        pool.Run(&ComputeTasks, &args, args.RowBlocks * args.ColBlocks);
    }

    /// <summary>
    /// <see cref="Multiply"/> without accumulation, then the GELU epilogue: <c>geluOut = gelu(C)</c>,
    /// applied by each task to its block of C while it is hot in cache. <paramref name="geluOut"/>
    /// may be <paramref name="c"/> itself (inference, <paramref name="ldg"/> = <paramref name="ldc"/>),
    /// or another buffer so that C keeps the pre-activation for the backward pass (training, where
    /// the activation's rows are padded: see <see cref="SpreadsOverL1Sets"/>).
    /// </summary>
    /// <param name="geluOut">The activation output, row stride <paramref name="ldg"/>.</param>
    /// <param name="ldg">Row stride of <paramref name="geluOut"/> in floats (at least <paramref name="n"/>).</param>
    /// <param name="c">C, row-major with row stride <paramref name="ldc"/>.</param>
    /// <param name="ldc">Row stride of C in floats.</param>
    /// <param name="a">A: element (i, p) at <c>a[i·aRow + p·aCol]</c>.</param>
    /// <param name="aRow">Stride between rows of A.</param>
    /// <param name="aCol">Stride between columns of A.</param>
    /// <param name="b">B: element (p, j) at <c>b[p·bRow + j·bCol]</c>.</param>
    /// <param name="bRow">Stride between rows of B.</param>
    /// <param name="bCol">Stride between columns of B.</param>
    /// <param name="m">Rows of C.</param>
    /// <param name="n">Columns of C.</param>
    /// <param name="k">The inner dimension.</param>
    /// <param name="bias">Added to every row, (n); null for none.</param>
    public static void MultiplyGelu(float* geluOut, long ldg, float* c, long ldc, float* a, long aRow, long aCol, float* b, long bRow, long bCol,
        int m, int n, int k, float* bias)
    {
        if (m <= 0 || n <= 0) return;
        if (k <= 0)
        {
            Degenerate(c, ldc, m, n, bias, false);
            for (int i = 0; i < m; i++) Gelu.ForwardRange(geluOut + i * ldg, c + i * ldc, n);
            return;
        }
        var pool = WorkerPool.Shared;
        var args = Plan(c, ldc, a, aRow, aCol, b, bRow, bCol, m, n, k, bias, false, pool.Threads);
        args.GeluOut = geluOut;
        args.Ldg = ldg;
        Run(pool, &args);
    }

    // Packs B (all threads), then runs the tasks, which the threads claim one at a time: a thread
    // slowed by another process on its core then simply takes fewer (each block of C is computed
    // by one task in a fixed order, so which thread runs it does not change the result).
    private static void Run(WorkerPool pool, Args* args)
    {
        args->PackedB = Scratch(ref t_packedB, ref t_packedBLength, (long)args->Panels * args->K * args->Nr);
        // Nothing to pack when B is read in place and has no partial last panel.
        if (!args->BInPlace || args->N % args->Nr != 0)
            pool.Run(&PackBTasks, args, args->Panels);
        args->Claim = true;
        pool.Run(&ComputeTasks, args, args->RowBlocks * args->ColBlocks);
    }

    /// <summary>The same product as <see cref="Multiply"/> on the calling thread only (for kernels that already run in parallel).</summary>
    /// <param name="c">C, row-major with row stride <paramref name="ldc"/>.</param>
    /// <param name="ldc">Row stride of C in floats.</param>
    /// <param name="a">A: element (i, p) at <c>a[i·aRow + p·aCol]</c>.</param>
    /// <param name="aRow">Stride between rows of A.</param>
    /// <param name="aCol">Stride between columns of A.</param>
    /// <param name="b">B: element (p, j) at <c>b[p·bRow + j·bCol]</c>.</param>
    /// <param name="bRow">Stride between rows of B.</param>
    /// <param name="bCol">Stride between columns of B.</param>
    /// <param name="m">Rows of C.</param>
    /// <param name="n">Columns of C.</param>
    /// <param name="k">The inner dimension.</param>
    /// <param name="bias">Added to every row, (n); null for none.</param>
    /// <param name="accumulate">Add into C instead of overwriting it.</param>
    public static void MultiplySerial(float* c, long ldc, float* a, long aRow, long aCol, float* b, long bRow, long bCol,
        int m, int n, int k, float* bias, bool accumulate)
    {
        if (m <= 0 || n <= 0) return;
        if (k <= 0) { Degenerate(c, ldc, m, n, bias, accumulate); return; }
        var args = Plan(c, ldc, a, aRow, aCol, b, bRow, bCol, m, n, k, bias, accumulate, 1);
        // Small products (attention heads): always pack B, so the kernel never walks a strided B.
        args.BInPlace = false;
        args.PackedB = Scratch(ref t_serialB, ref t_serialBLength, (long)args.Panels * k * args.Nr);
        PackBTasks(&args, 0, args.Panels);
        ComputeTasks(&args, 0, args.RowBlocks * args.ColBlocks);
    }

    /// <summary>Double-precision reference of <see cref="Multiply"/>, on arrays with the same strides.</summary>
    /// <param name="c">C, row stride <paramref name="ldc"/>.</param>
    /// <param name="ldc">Row stride of C.</param>
    /// <param name="a">A.</param>
    /// <param name="aRow">Row stride of A.</param>
    /// <param name="aCol">Column stride of A.</param>
    /// <param name="b">B.</param>
    /// <param name="bRow">Row stride of B.</param>
    /// <param name="bCol">Column stride of B.</param>
    /// <param name="m">Rows of C.</param>
    /// <param name="n">Columns of C.</param>
    /// <param name="k">Inner dimension.</param>
    /// <param name="bias">(n) or null.</param>
    /// <param name="accumulate">Add into C.</param>
    public static void ReferenceMultiply(double[] c, int ldc, double[] a, int aRow, int aCol, double[] b, int bRow, int bCol,
        int m, int n, int k, double[]? bias, bool accumulate)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = (accumulate ? c[i * ldc + j] : 0) + (bias is null ? 0 : bias[j]);
                for (int p = 0; p < k; p++) s += a[i * aRow + p * aCol] * b[p * bRow + j * bCol];
                c[i * ldc + j] = s;
            }
    }

    private static void Degenerate(float* c, long ldc, int m, int n, float* bias, bool accumulate)
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + i * ldc, n);
            if (!accumulate) row.Clear();
            if (bias != null) System.Numerics.Tensors.TensorPrimitives.Add(row, new ReadOnlySpan<float>(bias, n), row);
        }
    }

    private static Args Plan(float* c, long ldc, float* a, long aRow, long aCol, float* b, long bRow, long bCol,
        int m, int n, int k, float* bias, bool accumulate, int threads)
    {
        var level = Simd.Level;
        int nr = PanelWidth(level);
        int kBlocks = (k + KcMax - 1) / KcMax;
        int panels = (n + nr - 1) / nr;
        int rowBlocks = (m + McTarget - 1) / McTarget;
        // A transposed operand is packed per task and K block: splitting the columns too would pack
        // each of its blocks once per column block, so such a product splits rows only (unless
        // the threads need more tasks).
        bool packA = aCol != 1;
        int colBlocks = packA ? 1 : (panels + NcMax / nr - 1) / (NcMax / nr);
        if (threads > 1)
        {
            // Enough tasks for every thread, and a multiple of the thread count where the shape allows.
            while (rowBlocks * colBlocks < 2 * threads && colBlocks < panels) colBlocks++;
            while ((rowBlocks * colBlocks) % threads != 0 && (rowBlocks + 1) * MR <= m) rowBlocks++;
            while ((rowBlocks * colBlocks) % threads != 0 && colBlocks < panels) colBlocks++;
        }
        return new Args
        {
            C = c, A = a, B = b, Bias = bias,
            Ldc = ldc, ARow = aRow, ACol = aCol, BRow = bRow, BCol = bCol,
            M = m, N = n, K = k, Nr = nr, Kc = (k + kBlocks - 1) / kBlocks, KBlocks = kBlocks,
            RowBlocks = rowBlocks, ColBlocks = colBlocks, PanelsPerBlock = (panels + colBlocks - 1) / colBlocks, Panels = panels,
            Level = level, Accumulate = accumulate, PackA = packA,
            BInPlace = bCol == 1 && (bRow <= InPlaceMaxRowStride || SpreadsOverL1Sets(bRow)) && m < InPlaceMaxRows,
        };
    }

    // NR: the micro-kernel's width, two or one vectors of the SIMD level (32, 16 or 8 floats).
    private static int PanelWidth(SimdLevel level) => level switch { SimdLevel.Avx512 => 32, SimdLevel.Avx2 => 16, _ => 8 };

    /// <summary>
    /// True when rows <paramref name="rowStride"/> floats apart start an odd number of 64-byte lines
    /// apart: then 64 consecutive rows fall on 64 different L1 sets, and a 256-row B panel (two lines
    /// per row) takes 8 lines of each 12-way set, so it stays in L1 however wide the rows are.
    /// The training layout pads the MLP activation to such a stride (3088 floats at ViT-B).
    /// </summary>
    /// <param name="rowStride">The distance between rows in floats.</param>
    public static bool SpreadsOverL1Sets(long rowStride) => rowStride % 16 == 0 && rowStride / 16 % 2 == 1;

    private static float* Scratch(ref float* buffer, ref long length, long floats)
    {
        if (floats > length)
        {
            if (buffer != null) Vit.Memory.HugePages.Free(buffer);
            length = Math.Max(floats, 4096);
            buffer = (float*)Vit.Memory.HugePages.Allocate((nuint)(length * sizeof(float)));
        }
        return buffer;
    }

    // Packs panels [begin, end) of B: panel q holds columns q·NR.. as K rows of NR floats, zero-padded.
    private static void PackBTasks(void* context, int begin, int end)
    {
        ref Args a = ref *(Args*)context;
        int nr = a.Nr, k = a.K;
        if (a.BCol == 1)
        {
            // Rows of B contiguous (A·B, Aᵀ·B): NR floats per row and panel, 16 rows at a time
            // across all the panels, so each row of B is read as one contiguous run (a row of
            // Aᵀ·B's B is 12 KiB at the fc2 shapes: panel by panel, every row would be a new page).
            // A packed B larger than StreamPackBytes cannot stay in cache until the tasks read it,
            // so it is written with streaming stores, which skip reading the lines they overwrite
            // (fc2's 19 MiB weight-gradient operand; docs/performance.md has the A/B).
            bool stream = nr == 32 && Avx512F.IsSupported && (long)a.Panels * k * nr * sizeof(float) > StreamPackBytes;
            for (int p0 = 0; p0 < k; p0 += 16)
            {
                int p1 = Math.Min(k, p0 + 16);
                for (int q = begin; q < end; q++)
                {
                    int j0 = q * nr, cols = Math.Min(nr, a.N - j0);
                    if (a.BInPlace && cols == nr) continue;
                    float* dst = a.PackedB + (long)q * k * nr;
                    for (int p = p0; p < p1; p++)
                    {
                        float* src = a.B + p * a.BRow + j0;
                        float* d = dst + (long)p * nr;
                        if (cols == nr && stream)
                        {
                            Avx512F.StoreAlignedNonTemporal(d, Avx512F.LoadVector512(src));
                            Avx512F.StoreAlignedNonTemporal(d + 16, Avx512F.LoadVector512(src + 16));
                        }
                        else if (cols == nr) CopyRow(src, d, nr);
                        else
                        {
                            for (int j = 0; j < cols; j++) d[j] = src[j];
                            for (int j = cols; j < nr; j++) d[j] = 0f;
                        }
                    }
                }
            }
            // Streaming stores are weakly ordered: make them visible before the tasks read them.
            if (stream) Sse.StoreFence();
            return;
        }
        for (int q = begin; q < end; q++)
        {
            float* dst = a.PackedB + (long)q * k * nr;
            int j0 = q * nr, cols = Math.Min(nr, a.N - j0);
            // Columns of B contiguous (A·Bᵀ with B = a weight (out, in)): transpose into the
            // panel, 64 rows of the panel at a time so the written lines stay in L1.
            if (cols < nr) new Span<float>(dst, k * nr).Clear();
            long bRow = a.BRow;
            int pDone = 0;
            if (bRow == 1 && cols == nr && Avx.IsSupported)
            {
                // 8 × 8 blocks transposed in registers.
                pDone = k / 8 * 8;
                for (int p = 0; p < pDone; p += 8)
                    for (int jj = 0; jj < nr; jj += 8)
                        Transpose8x8(a.B + (j0 + jj) * a.BCol + p, a.BCol, dst + (long)p * nr + jj, nr);
            }
            for (int p0 = pDone; p0 < k; p0 += 64)
            {
                int p1 = Math.Min(k, p0 + 64);
                for (int jj = 0; jj < cols; jj++)
                {
                    float* src = a.B + (j0 + jj) * a.BCol;
                    float* d = dst + jj;
                    if (bRow == 1)
                        for (int p = p0; p < p1; p++) d[(long)p * nr] = src[p];
                    else
                        for (int p = p0; p < p1; p++) d[(long)p * nr] = src[p * bRow];
                }
            }
        }
    }

    /// <summary>dst[p·ldd + j] = src[j·lds + p] for an 8 × 8 block (AVX unpack / shuffle / permute).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* src, long lds, float* dst, long ldd)
    {
        var r0 = Avx.LoadVector256(src); var r1 = Avx.LoadVector256(src + lds);
        var r2 = Avx.LoadVector256(src + 2 * lds); var r3 = Avx.LoadVector256(src + 3 * lds);
        var r4 = Avx.LoadVector256(src + 4 * lds); var r5 = Avx.LoadVector256(src + 5 * lds);
        var r6 = Avx.LoadVector256(src + 6 * lds); var r7 = Avx.LoadVector256(src + 7 * lds);
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + ldd, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * ldd, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * ldd, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * ldd, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * ldd, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * ldd, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * ldd, Avx.Permute2x128(u3, u7, 0x31));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyRow(float* src, float* dst, int n)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; j + 16 <= n; j += 16) Vector512.Store(Vector512.Load(src + j), dst + j);
        for (; j + 4 <= n; j += 4) Vector128.Store(Vector128.Load(src + j), dst + j);
        for (; j < n; j++) dst[j] = src[j];
    }

    // Task t = (row block t / ColBlocks, panel block t % ColBlocks): tasks [begin, end), or, when
    // Claim is set, whichever tasks this thread claims first.
    //
    // Prefetching. While a K block runs, each micro-kernel call fetches its share of the next B
    // panel (the next panel of this K block, or the first panel of the next one), spread over its
    // K loop; before each call, the C tile of the next call is fetched when the kernel will read it
    // (accumulation, later K blocks); and when A is packed from its transpose, the rows of the next
    // K block's A are fetched while this one computes. Without them a B panel or C tile arrives
    // from L3 only when the kernel first touches it: the weight gradients (seven K blocks, packed
    // or strided operands) lost about a fifth of their speed to that.
    [SkipLocalsInit]
    private static void ComputeTasks(void* context, int begin, int end)
    {
        ref Args a = ref *(Args*)context;
        int nr = a.Nr;
        float* tile = stackalloc float[MR * 32 + 16];
        float* edgeA = stackalloc float[MR * KcMax];
        float* biasTile = stackalloc float[32 + 16];
        tile = (float*)(((nint)tile + 63) & ~(nint)63);
        biasTile = (float*)(((nint)biasTile + 63) & ~(nint)63);
        if (a.Claim) { begin = Interlocked.Increment(ref a.NextTask) - 1; end = a.RowBlocks * a.ColBlocks; }
        for (int t = begin; t < end; t = a.Claim ? Interlocked.Increment(ref a.NextTask) - 1 : t + 1)
        {
            int rb = t / a.ColBlocks, cb = t % a.ColBlocks;
            int i0 = RowStart(rb, a.M, a.RowBlocks), i1 = RowStart(rb + 1, a.M, a.RowBlocks);
            int q0 = cb * a.PanelsPerBlock, q1 = Math.Min(a.Panels, q0 + a.PanelsPerBlock);
            if (i0 >= i1 || q0 >= q1) continue;
            int micro = (i1 - i0 + MR - 1) / MR;
            for (int pc = 0; pc < a.KBlocks; pc++)
            {
                int p0 = pc * a.Kc, kc = Math.Min(a.Kc, a.K - p0);
                bool load = a.Accumulate || pc > 0;
                float* bias = pc == 0 ? a.Bias : null;
                float* ablock;
                long aRow, aCol, aPanel;
                if (a.PackA)
                {
                    int rows = i1 - i0;
                    long panelsA = (rows + MR - 1) / MR;
                    ablock = Scratch(ref t_packedA, ref t_packedALength, panelsA * MR * kc + 8);
                    PackA(ablock, ref a, i0, rows, p0, kc);
                    aRow = 1; aCol = MR; aPanel = (long)MR * kc;
                }
                else
                {
                    ablock = a.A + i0 * a.ARow + p0 * a.ACol;
                    aRow = a.ARow; aCol = a.ACol; aPanel = MR * a.ARow;
                }
                // A partial last micro-panel read in place is gathered once per K block into a
                // zero-padded MR-row panel, so the kernel never reads past A.
                int edgeRow = i0 + (i1 - i0) / MR * MR;
                if (!a.PackA && edgeRow < i1)
                    GatherRows(edgeA, a.A + edgeRow * a.ARow + p0 * a.ACol, a.ARow, a.ACol, i1 - edgeRow, kc);
                // The next K block's rows of a transposed A (each a contiguous run of i1 - i0
                // floats), a share per micro-kernel call.
                float* nextA = null;
                int nextAK = 0, nextAStep = 0, call = 0;
                if (a.PackA && a.ARow == 1 && pc + 1 < a.KBlocks)
                {
                    nextA = a.A + i0 + (p0 + kc) * a.ACol;
                    nextAK = Math.Min(a.Kc, a.K - p0 - kc);
                    int calls = (q1 - q0) * micro;
                    nextAStep = (nextAK + calls - 1) / calls;
                }
                for (int q = q0; q < q1; q++)
                {
                    int j0 = q * nr, cols = Math.Min(nr, a.N - j0);
                    // Full panels of a B with contiguous rows are read in place; others come packed.
                    bool inPlace = a.BInPlace && cols == nr;
                    float* bp = inPlace ? a.B + p0 * a.BRow + j0 : a.PackedB + (long)q * a.K * nr + (long)p0 * nr;
                    long ldb = inPlace ? a.BRow : nr;
                    float* bj = bias == null ? null : bias + j0;
                    if (bj != null && cols < nr)
                    {
                        new Span<float>(biasTile, nr).Clear();
                        new ReadOnlySpan<float>(bj, cols).CopyTo(new Span<float>(biasTile, cols));
                        bj = biasTile;
                    }
                    // The next B panel: kn rows, ldn apart, a share of nextBStep rows per call.
                    float* nextB = null;
                    long ldn = nr;
                    int kn = 0, nextBStep = 0;
                    {
                        int qn = q + 1, pn = p0;
                        kn = kc;
                        if (qn >= q1) { qn = q0; pn = p0 + kc; kn = Math.Min(a.Kc, a.K - pn); }
                        if (pn < a.K)
                        {
                            int jn = qn * nr;
                            bool nextInPlace = a.BInPlace && Math.Min(nr, a.N - jn) == nr;
                            nextB = nextInPlace ? a.B + pn * a.BRow + jn : a.PackedB + (long)qn * a.K * nr + (long)pn * nr;
                            ldn = nextInPlace ? a.BRow : nr;
                            nextBStep = (kn + micro - 1) / micro;
                        }
                    }
                    float* ap = ablock;
                    for (int i = i0, mi = 0; i < i1; i += MR, ap += aPanel, mi++, call++)
                    {
                        int rows = Math.Min(MR, i1 - i);
                        float* cp = a.C + i * a.Ldc + j0;
                        if (Sse.IsSupported)
                        {
                            if (load && i + MR < i1)
                            {
                                float* cn = cp + MR * a.Ldc;
                                for (int r = 0; r < MR; r++) { Sse.Prefetch0(cn + r * a.Ldc); Sse.Prefetch0(cn + r * a.Ldc + nr - 1); }
                            }
                            if (nextA != null)
                            {
                                int w = i1 - i0;
                                for (int p = call * nextAStep, pe = Math.Min(nextAK, p + nextAStep); p < pe; p++)
                                {
                                    float* row = nextA + p * a.ACol;
                                    for (int x = 0; x < w; x += 16) Sse.Prefetch0(row + x);
                                    Sse.Prefetch0(row + w - 1);
                                }
                            }
                        }
                        // This call's share of the next B panel (the kernel prefetches rows [pf, pfEnd)).
                        float* pf = bp, pfEnd = bp;
                        if (nextB != null)
                        {
                            int r0 = Math.Min(kn, mi * nextBStep);
                            pf = nextB + r0 * ldn;
                            pfEnd = nextB + Math.Min(kn, r0 + nextBStep) * ldn;
                        }
                        if (rows == MR && cols == nr)
                        {
                            Kernel(a.Level, ap, aRow, aCol, bp, ldb, kc, cp, a.Ldc, bj, load, pf, ldn, pfEnd);
                            continue;
                        }
                        // Edge tile: run the full kernel on a stack tile, then copy the valid part.
                        if (load)
                            for (int r = 0; r < rows; r++)
                                for (int j = 0; j < cols; j++) tile[r * nr + j] = cp[r * a.Ldc + j];
                        // A narrow last panel runs a narrower kernel on the same packed panel
                        // (T = 65 scores: 1 column past two full panels), not a full-width one.
                        var level = Narrowest(a.Level, cols);
                        if (rows == MR || a.PackA)
                            Kernel(level, ap, aRow, aCol, bp, ldb, kc, tile, nr, bj, load, pf, ldn, pfEnd);
                        else
                            Kernel(level, edgeA, 1, MR, bp, ldb, kc, tile, nr, bj, load, pf, ldn, pfEnd);
                        for (int r = 0; r < rows; r++)
                            for (int j = 0; j < cols; j++) cp[r * a.Ldc + j] = tile[r * nr + j];
                    }
                }
            }
            if (a.GeluOut != null)
            {
                // Epilogue on this task's block of C, still in L2.
                int j0 = q0 * nr, width = Math.Min(a.N, q1 * nr) - j0;
                for (int i = i0; i < i1; i++)
                    Gelu.ForwardRange(a.GeluOut + i * a.Ldg + j0, a.C + i * a.Ldc + j0, width);
            }
        }
    }

    private static void GatherRows(float* dst, float* a, long aRow, long aCol, int rows, int kc)
    {
        for (int p = 0; p < kc; p++)
            for (int r = 0; r < MR; r++)
                dst[p * MR + r] = r < rows ? a[r * aRow + p * aCol] : 0f;
    }

    private static SimdLevel Narrowest(SimdLevel level, int cols)
        => cols <= 8 ? SimdLevel.Vector128 : cols <= 16 && level == SimdLevel.Avx512 ? SimdLevel.Avx2 : level;

    private static int RowStart(int block, int m, int blocks)
        => block >= blocks ? m : (int)((long)block * m / blocks) / MR * MR;

    private static void PackA(float* dst, ref Args a, int i0, int rows, int p0, int kc)
    {
        for (int ir = 0; ir < rows; ir += MR)
        {
            int mr = Math.Min(MR, rows - ir);
            float* d = dst + (long)ir * kc;
            float* src = a.A + (i0 + ir) * a.ARow + p0 * a.ACol;
            if (a.ARow == 1 && mr == MR)
            {
                // Six contiguous floats per step, moved as one 8-float vector: the two extra lanes
                // are overwritten by the next step (the scratch has slack after the last panel),
                // and the last step of the block copies exactly six so no read passes A's end.
                int p = 0;
                for (; p + 1 < kc; p++)
                    Vector256.Store(Vector256.Load(src + p * a.ACol), d + p * MR);
                float* s = src + p * a.ACol;
                float* t = d + p * MR;
                t[0] = s[0]; t[1] = s[1]; t[2] = s[2]; t[3] = s[3]; t[4] = s[4]; t[5] = s[5];
            }
            else
            {
                for (int p = 0; p < kc; p++)
                    for (int r = 0; r < MR; r++)
                        d[p * MR + r] = r < mr ? src[r * a.ARow + p * a.ACol] : 0f;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel(SimdLevel level, float* a, long aRow, long aCol, float* b, long ldb, int kc, float* c, long ldc, float* bias, bool load,
        float* pf, long pfStride, float* pfEnd)
    {
        if (level == SimdLevel.Avx512) Kernel512(a, aRow, aCol, b, ldb, kc, c, ldc, bias, load, pf, pfStride, pfEnd);
        else if (level == SimdLevel.Avx2) Kernel256(a, aRow, aCol, b, ldb, kc, c, ldc, bias, load, pf, pfStride, pfEnd);
        else Kernel128(a, aRow, aCol, b, ldb, kc, c, ldc, bias, load, pf, pfStride, pfEnd);
    }

    /// <summary>The AVX-512 micro-kernel: a 6 × 32 tile of C in 12 zmm accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512(float* a, long aRow, long aCol, float* b, long ldb, int kc, float* c, long ldc, float* bias, bool load,
        float* pf, long pfStride, float* pfEnd)
    {
        Vector512<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (load)
        {
            c00 = Vector512.Load(c + 0 * ldc); c01 = Vector512.Load(c + 0 * ldc + 16);
            c10 = Vector512.Load(c + 1 * ldc); c11 = Vector512.Load(c + 1 * ldc + 16);
            c20 = Vector512.Load(c + 2 * ldc); c21 = Vector512.Load(c + 2 * ldc + 16);
            c30 = Vector512.Load(c + 3 * ldc); c31 = Vector512.Load(c + 3 * ldc + 16);
            c40 = Vector512.Load(c + 4 * ldc); c41 = Vector512.Load(c + 4 * ldc + 16);
            c50 = Vector512.Load(c + 5 * ldc); c51 = Vector512.Load(c + 5 * ldc + 16);
            if (bias != null)
            {
                var q0 = Vector512.Load(bias); var q1 = Vector512.Load(bias + 16);
                c00 += q0; c01 += q1; c10 += q0; c11 += q1; c20 += q0; c21 += q1;
                c30 += q0; c31 += q1; c40 += q0; c41 += q1; c50 += q0; c51 += q1;
            }
        }
        else if (bias != null)
        {
            c00 = c10 = c20 = c30 = c40 = c50 = Vector512.Load(bias);
            c01 = c11 = c21 = c31 = c41 = c51 = Vector512.Load(bias + 16);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = Vector512<float>.Zero;
        }
        float* a0 = a, a1 = a0 + aRow, a2 = a1 + aRow, a3 = a2 + aRow, a4 = a3 + aRow, a5 = a4 + aRow;
        Vector512<float> b0, b1, x;
        long o = 0;
        int p = 0;
        if (Sse.IsSupported)
        {
            // Four K steps, then a prefetch of one row (32 floats) of the range [pf, pfEnd) the
            // caller passes (this call's share of the next B panel), so the fetches overlap the FMAs.
            for (; p + 4 <= kc; p += 4)
            {
                b0 = Vector512.Load(b); b1 = Vector512.Load(b + 16);
                x = Vector512.Create(a0[o]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
                x = Vector512.Create(a1[o]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
                x = Vector512.Create(a2[o]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
                x = Vector512.Create(a3[o]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
                x = Vector512.Create(a4[o]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
                x = Vector512.Create(a5[o]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
                o += aCol; b += ldb;
                b0 = Vector512.Load(b); b1 = Vector512.Load(b + 16);
                x = Vector512.Create(a0[o]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
                x = Vector512.Create(a1[o]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
                x = Vector512.Create(a2[o]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
                x = Vector512.Create(a3[o]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
                x = Vector512.Create(a4[o]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
                x = Vector512.Create(a5[o]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
                o += aCol; b += ldb;
                b0 = Vector512.Load(b); b1 = Vector512.Load(b + 16);
                x = Vector512.Create(a0[o]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
                x = Vector512.Create(a1[o]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
                x = Vector512.Create(a2[o]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
                x = Vector512.Create(a3[o]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
                x = Vector512.Create(a4[o]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
                x = Vector512.Create(a5[o]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
                o += aCol; b += ldb;
                b0 = Vector512.Load(b); b1 = Vector512.Load(b + 16);
                x = Vector512.Create(a0[o]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
                x = Vector512.Create(a1[o]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
                x = Vector512.Create(a2[o]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
                x = Vector512.Create(a3[o]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
                x = Vector512.Create(a4[o]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
                x = Vector512.Create(a5[o]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
                o += aCol; b += ldb;
                Sse.Prefetch0(pf); Sse.Prefetch0(pf + 31);
                pf = pf + pfStride < pfEnd ? pf + pfStride : pf;
            }
        }
        for (; p < kc; p++)
        {
            b0 = Vector512.Load(b); b1 = Vector512.Load(b + 16);
            x = Vector512.Create(a0[o]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a1[o]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a2[o]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a3[o]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a4[o]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a5[o]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            o += aCol; b += ldb;
        }
        c00.Store(c + 0 * ldc); c01.Store(c + 0 * ldc + 16);
        c10.Store(c + 1 * ldc); c11.Store(c + 1 * ldc + 16);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 16);
        c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 16);
        c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + 16);
        c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + 16);
    }

    /// <summary>The AVX2 micro-kernel: a 6 × 16 tile of C in 12 ymm accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel256(float* a, long aRow, long aCol, float* b, long ldb, int kc, float* c, long ldc, float* bias, bool load,
        float* pf, long pfStride, float* pfEnd)
    {
        Vector256<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (load)
        {
            c00 = Vector256.Load(c + 0 * ldc); c01 = Vector256.Load(c + 0 * ldc + 8);
            c10 = Vector256.Load(c + 1 * ldc); c11 = Vector256.Load(c + 1 * ldc + 8);
            c20 = Vector256.Load(c + 2 * ldc); c21 = Vector256.Load(c + 2 * ldc + 8);
            c30 = Vector256.Load(c + 3 * ldc); c31 = Vector256.Load(c + 3 * ldc + 8);
            c40 = Vector256.Load(c + 4 * ldc); c41 = Vector256.Load(c + 4 * ldc + 8);
            c50 = Vector256.Load(c + 5 * ldc); c51 = Vector256.Load(c + 5 * ldc + 8);
            if (bias != null)
            {
                var q0 = Vector256.Load(bias); var q1 = Vector256.Load(bias + 8);
                c00 += q0; c01 += q1; c10 += q0; c11 += q1; c20 += q0; c21 += q1;
                c30 += q0; c31 += q1; c40 += q0; c41 += q1; c50 += q0; c51 += q1;
            }
        }
        else if (bias != null)
        {
            c00 = c10 = c20 = c30 = c40 = c50 = Vector256.Load(bias);
            c01 = c11 = c21 = c31 = c41 = c51 = Vector256.Load(bias + 8);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = Vector256<float>.Zero;
        }
        float* a0 = a, a1 = a0 + aRow, a2 = a1 + aRow, a3 = a2 + aRow, a4 = a3 + aRow, a5 = a4 + aRow;
        Vector256<float> b0, b1, x;
        long o = 0;
        int p = 0;
        if (Sse.IsSupported)
        {
            // Four K steps, then a prefetch of one row (16 floats) of the range [pf, pfEnd) the
            // caller passes (this call's share of the next B panel), so the fetches overlap the FMAs.
            for (; p + 4 <= kc; p += 4)
            {
                b0 = Vector256.Load(b); b1 = Vector256.Load(b + 8);
                x = Vector256.Create(a0[o]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
                x = Vector256.Create(a1[o]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
                x = Vector256.Create(a2[o]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
                x = Vector256.Create(a3[o]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
                x = Vector256.Create(a4[o]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
                x = Vector256.Create(a5[o]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
                o += aCol; b += ldb;
                b0 = Vector256.Load(b); b1 = Vector256.Load(b + 8);
                x = Vector256.Create(a0[o]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
                x = Vector256.Create(a1[o]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
                x = Vector256.Create(a2[o]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
                x = Vector256.Create(a3[o]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
                x = Vector256.Create(a4[o]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
                x = Vector256.Create(a5[o]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
                o += aCol; b += ldb;
                b0 = Vector256.Load(b); b1 = Vector256.Load(b + 8);
                x = Vector256.Create(a0[o]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
                x = Vector256.Create(a1[o]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
                x = Vector256.Create(a2[o]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
                x = Vector256.Create(a3[o]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
                x = Vector256.Create(a4[o]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
                x = Vector256.Create(a5[o]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
                o += aCol; b += ldb;
                b0 = Vector256.Load(b); b1 = Vector256.Load(b + 8);
                x = Vector256.Create(a0[o]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
                x = Vector256.Create(a1[o]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
                x = Vector256.Create(a2[o]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
                x = Vector256.Create(a3[o]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
                x = Vector256.Create(a4[o]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
                x = Vector256.Create(a5[o]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
                o += aCol; b += ldb;
                Sse.Prefetch0(pf); Sse.Prefetch0(pf + 15);
                pf = pf + pfStride < pfEnd ? pf + pfStride : pf;
            }
        }
        for (; p < kc; p++)
        {
            b0 = Vector256.Load(b); b1 = Vector256.Load(b + 8);
            x = Vector256.Create(a0[o]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a1[o]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a2[o]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a3[o]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a4[o]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a5[o]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
            o += aCol; b += ldb;
        }
        c00.Store(c + 0 * ldc); c01.Store(c + 0 * ldc + 8);
        c10.Store(c + 1 * ldc); c11.Store(c + 1 * ldc + 8);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 8);
        c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 8);
        c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + 8);
        c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + 8);
    }

    /// <summary>The portable micro-kernel: a 6 × 8 tile of C in 12 128-bit accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel128(float* a, long aRow, long aCol, float* b, long ldb, int kc, float* c, long ldc, float* bias, bool load,
        float* pf, long pfStride, float* pfEnd)
    {
        Vector128<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (load)
        {
            c00 = Vector128.Load(c + 0 * ldc); c01 = Vector128.Load(c + 0 * ldc + 4);
            c10 = Vector128.Load(c + 1 * ldc); c11 = Vector128.Load(c + 1 * ldc + 4);
            c20 = Vector128.Load(c + 2 * ldc); c21 = Vector128.Load(c + 2 * ldc + 4);
            c30 = Vector128.Load(c + 3 * ldc); c31 = Vector128.Load(c + 3 * ldc + 4);
            c40 = Vector128.Load(c + 4 * ldc); c41 = Vector128.Load(c + 4 * ldc + 4);
            c50 = Vector128.Load(c + 5 * ldc); c51 = Vector128.Load(c + 5 * ldc + 4);
            if (bias != null)
            {
                var q0 = Vector128.Load(bias); var q1 = Vector128.Load(bias + 4);
                c00 += q0; c01 += q1; c10 += q0; c11 += q1; c20 += q0; c21 += q1;
                c30 += q0; c31 += q1; c40 += q0; c41 += q1; c50 += q0; c51 += q1;
            }
        }
        else if (bias != null)
        {
            c00 = c10 = c20 = c30 = c40 = c50 = Vector128.Load(bias);
            c01 = c11 = c21 = c31 = c41 = c51 = Vector128.Load(bias + 4);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = Vector128<float>.Zero;
        }
        float* a0 = a, a1 = a0 + aRow, a2 = a1 + aRow, a3 = a2 + aRow, a4 = a3 + aRow, a5 = a4 + aRow;
        Vector128<float> b0, b1, x;
        long o = 0;
        int p = 0;
        if (Sse.IsSupported)
        {
            // Four K steps, then a prefetch of one row (8 floats) of the range [pf, pfEnd) the
            // caller passes (this call's share of the next B panel), so the fetches overlap the FMAs.
            for (; p + 4 <= kc; p += 4)
            {
                b0 = Vector128.Load(b); b1 = Vector128.Load(b + 4);
                x = Vector128.Create(a0[o]); c00 = Vector128.FusedMultiplyAdd(x, b0, c00); c01 = Vector128.FusedMultiplyAdd(x, b1, c01);
                x = Vector128.Create(a1[o]); c10 = Vector128.FusedMultiplyAdd(x, b0, c10); c11 = Vector128.FusedMultiplyAdd(x, b1, c11);
                x = Vector128.Create(a2[o]); c20 = Vector128.FusedMultiplyAdd(x, b0, c20); c21 = Vector128.FusedMultiplyAdd(x, b1, c21);
                x = Vector128.Create(a3[o]); c30 = Vector128.FusedMultiplyAdd(x, b0, c30); c31 = Vector128.FusedMultiplyAdd(x, b1, c31);
                x = Vector128.Create(a4[o]); c40 = Vector128.FusedMultiplyAdd(x, b0, c40); c41 = Vector128.FusedMultiplyAdd(x, b1, c41);
                x = Vector128.Create(a5[o]); c50 = Vector128.FusedMultiplyAdd(x, b0, c50); c51 = Vector128.FusedMultiplyAdd(x, b1, c51);
                o += aCol; b += ldb;
                b0 = Vector128.Load(b); b1 = Vector128.Load(b + 4);
                x = Vector128.Create(a0[o]); c00 = Vector128.FusedMultiplyAdd(x, b0, c00); c01 = Vector128.FusedMultiplyAdd(x, b1, c01);
                x = Vector128.Create(a1[o]); c10 = Vector128.FusedMultiplyAdd(x, b0, c10); c11 = Vector128.FusedMultiplyAdd(x, b1, c11);
                x = Vector128.Create(a2[o]); c20 = Vector128.FusedMultiplyAdd(x, b0, c20); c21 = Vector128.FusedMultiplyAdd(x, b1, c21);
                x = Vector128.Create(a3[o]); c30 = Vector128.FusedMultiplyAdd(x, b0, c30); c31 = Vector128.FusedMultiplyAdd(x, b1, c31);
                x = Vector128.Create(a4[o]); c40 = Vector128.FusedMultiplyAdd(x, b0, c40); c41 = Vector128.FusedMultiplyAdd(x, b1, c41);
                x = Vector128.Create(a5[o]); c50 = Vector128.FusedMultiplyAdd(x, b0, c50); c51 = Vector128.FusedMultiplyAdd(x, b1, c51);
                o += aCol; b += ldb;
                b0 = Vector128.Load(b); b1 = Vector128.Load(b + 4);
                x = Vector128.Create(a0[o]); c00 = Vector128.FusedMultiplyAdd(x, b0, c00); c01 = Vector128.FusedMultiplyAdd(x, b1, c01);
                x = Vector128.Create(a1[o]); c10 = Vector128.FusedMultiplyAdd(x, b0, c10); c11 = Vector128.FusedMultiplyAdd(x, b1, c11);
                x = Vector128.Create(a2[o]); c20 = Vector128.FusedMultiplyAdd(x, b0, c20); c21 = Vector128.FusedMultiplyAdd(x, b1, c21);
                x = Vector128.Create(a3[o]); c30 = Vector128.FusedMultiplyAdd(x, b0, c30); c31 = Vector128.FusedMultiplyAdd(x, b1, c31);
                x = Vector128.Create(a4[o]); c40 = Vector128.FusedMultiplyAdd(x, b0, c40); c41 = Vector128.FusedMultiplyAdd(x, b1, c41);
                x = Vector128.Create(a5[o]); c50 = Vector128.FusedMultiplyAdd(x, b0, c50); c51 = Vector128.FusedMultiplyAdd(x, b1, c51);
                o += aCol; b += ldb;
                b0 = Vector128.Load(b); b1 = Vector128.Load(b + 4);
                x = Vector128.Create(a0[o]); c00 = Vector128.FusedMultiplyAdd(x, b0, c00); c01 = Vector128.FusedMultiplyAdd(x, b1, c01);
                x = Vector128.Create(a1[o]); c10 = Vector128.FusedMultiplyAdd(x, b0, c10); c11 = Vector128.FusedMultiplyAdd(x, b1, c11);
                x = Vector128.Create(a2[o]); c20 = Vector128.FusedMultiplyAdd(x, b0, c20); c21 = Vector128.FusedMultiplyAdd(x, b1, c21);
                x = Vector128.Create(a3[o]); c30 = Vector128.FusedMultiplyAdd(x, b0, c30); c31 = Vector128.FusedMultiplyAdd(x, b1, c31);
                x = Vector128.Create(a4[o]); c40 = Vector128.FusedMultiplyAdd(x, b0, c40); c41 = Vector128.FusedMultiplyAdd(x, b1, c41);
                x = Vector128.Create(a5[o]); c50 = Vector128.FusedMultiplyAdd(x, b0, c50); c51 = Vector128.FusedMultiplyAdd(x, b1, c51);
                o += aCol; b += ldb;
                Sse.Prefetch0(pf); Sse.Prefetch0(pf + 7);
                pf = pf + pfStride < pfEnd ? pf + pfStride : pf;
            }
        }
        for (; p < kc; p++)
        {
            b0 = Vector128.Load(b); b1 = Vector128.Load(b + 4);
            x = Vector128.Create(a0[o]); c00 = Vector128.FusedMultiplyAdd(x, b0, c00); c01 = Vector128.FusedMultiplyAdd(x, b1, c01);
            x = Vector128.Create(a1[o]); c10 = Vector128.FusedMultiplyAdd(x, b0, c10); c11 = Vector128.FusedMultiplyAdd(x, b1, c11);
            x = Vector128.Create(a2[o]); c20 = Vector128.FusedMultiplyAdd(x, b0, c20); c21 = Vector128.FusedMultiplyAdd(x, b1, c21);
            x = Vector128.Create(a3[o]); c30 = Vector128.FusedMultiplyAdd(x, b0, c30); c31 = Vector128.FusedMultiplyAdd(x, b1, c31);
            x = Vector128.Create(a4[o]); c40 = Vector128.FusedMultiplyAdd(x, b0, c40); c41 = Vector128.FusedMultiplyAdd(x, b1, c41);
            x = Vector128.Create(a5[o]); c50 = Vector128.FusedMultiplyAdd(x, b0, c50); c51 = Vector128.FusedMultiplyAdd(x, b1, c51);
            o += aCol; b += ldb;
        }
        c00.Store(c + 0 * ldc); c01.Store(c + 0 * ldc + 4);
        c10.Store(c + 1 * ldc); c11.Store(c + 1 * ldc + 4);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 4);
        c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 4);
        c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + 4);
        c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + 4);
    }
}
