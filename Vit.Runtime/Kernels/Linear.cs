using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Vit.Memory;

namespace Vit.Kernels;

/// <summary>
/// A fully connected layer in PyTorch <c>nn.Linear</c> layout: <c>y = x·wᵀ + b</c> with
/// <c>w</c> of shape (out, in).
/// </summary>
/// <remarks>
/// The forward pass uses a 4 rows × 4 outputs register-blocked dot-product micro-kernel; both
/// backward products use a 4 × 64-column register-blocked axpy micro-kernel. Work is split in
/// tiles over <see cref="WorkerPool.Shared"/>. No scratch memory, no packing.
/// </remarks>
public static unsafe class Linear
{
    private const int RowTile = 64;
    private const int ColTile = 64;
    private const int AxpyCols = 64;

    /// <summary>Forward: <c>y = x·wᵀ + b</c>.</summary>
    /// <param name="y">Output, (rows, TOut), overwritten.</param>
    /// <param name="x">Input, (rows, TIn).</param>
    /// <param name="w">Weight, (TOut, TIn).</param>
    /// <param name="b">Bias, (TOut), or <see cref="TensorPtr.Null"/> for none.</param>
    /// <param name="rows">The number of rows (tokens × images).</param>
    public static void Forward<TIn, TOut>(TensorPtr y, TensorPtr x, TensorPtr w, TensorPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => Forward(y.Pointer, x.Pointer, w.Pointer, b.Pointer, rows, TIn.Value, TOut.Value);

    /// <summary>Backward: <c>dx = dy·w</c> (overwrite), <c>dw += dyᵀ·x</c>, <c>db += Σ_rows dy</c>.</summary>
    /// <param name="dx">Input gradient, (rows, TIn), overwritten; <see cref="TensorPtr.Null"/> to skip.</param>
    /// <param name="dw">Weight gradient, (TOut, TIn), accumulated.</param>
    /// <param name="db">Bias gradient, (TOut), accumulated; <see cref="TensorPtr.Null"/> to skip.</param>
    /// <param name="dy">Output gradient, (rows, TOut).</param>
    /// <param name="x">The forward input, (rows, TIn).</param>
    /// <param name="w">Weight, (TOut, TIn).</param>
    /// <param name="rows">The number of rows.</param>
    public static void Backward<TIn, TOut>(TensorPtr dx, TensorPtr dw, TensorPtr db, TensorPtr dy, TensorPtr x, TensorPtr w, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => Backward(dx.Pointer, dw.Pointer, db.Pointer, dy.Pointer, x.Pointer, w.Pointer, rows, TIn.Value, TOut.Value);

    /// <summary>Scalar reference of <see cref="Forward{TIn, TOut}"/>; <paramref name="b"/> may be null.</summary>
    /// <param name="y">(rows, nOut).</param>
    /// <param name="x">(rows, nIn).</param>
    /// <param name="w">(nOut, nIn).</param>
    /// <param name="b">(nOut) or null.</param>
    /// <param name="rows">Rows.</param>
    /// <param name="nIn">Input features.</param>
    /// <param name="nOut">Output features.</param>
    public static void ReferenceForward(double[] y, double[] x, double[] w, double[]? b, int rows, int nIn, int nOut)
    {
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < nOut; o++)
            {
                double s = b is null ? 0 : b[o];
                for (int i = 0; i < nIn; i++) s += x[r * nIn + i] * w[o * nIn + i];
                y[r * nOut + o] = s;
            }
    }

    /// <summary>Scalar reference of <see cref="Backward{TIn, TOut}"/>; <paramref name="dx"/> and <paramref name="db"/> may be null.</summary>
    /// <param name="dx">(rows, nIn), overwritten, or null.</param>
    /// <param name="dw">(nOut, nIn), accumulated.</param>
    /// <param name="db">(nOut), accumulated, or null.</param>
    /// <param name="dy">(rows, nOut).</param>
    /// <param name="x">(rows, nIn).</param>
    /// <param name="w">(nOut, nIn).</param>
    /// <param name="rows">Rows.</param>
    /// <param name="nIn">Input features.</param>
    /// <param name="nOut">Output features.</param>
    public static void ReferenceBackward(double[]? dx, double[] dw, double[]? db, double[] dy, double[] x, double[] w, int rows, int nIn, int nOut)
    {
        for (int r = 0; r < rows; r++)
        {
            if (dx is not null)
                for (int i = 0; i < nIn; i++)
                {
                    double s = 0;
                    for (int o = 0; o < nOut; o++) s += dy[r * nOut + o] * w[o * nIn + i];
                    dx[r * nIn + i] = s;
                }
            for (int o = 0; o < nOut; o++)
            {
                double g = dy[r * nOut + o];
                if (db is not null) db[o] += g;
                for (int i = 0; i < nIn; i++) dw[o * nIn + i] += g * x[r * nIn + i];
            }
        }
    }

    // ---------------------------------------------------------------- forward

    private struct ForwardArgs
    {
        public float* Y, X, W, B;
        public int Rows, NIn, NOut, RowTiles;
    }

    /// <summary>Forward with run-time sizes (used by kernels whose sizes are products of dims).</summary>
    internal static void Forward(float* y, float* x, float* w, float* b, int rows, int nIn, int nOut)
    {
        if (rows <= 0) return;
        var args = new ForwardArgs { Y = y, X = x, W = w, B = b, Rows = rows, NIn = nIn, NOut = nOut, RowTiles = (rows + RowTile - 1) / RowTile };
        int colTiles = (nOut + ColTile - 1) / ColTile;
        WorkerPool.Shared.Run(&ForwardTiles, &args, args.RowTiles * colTiles);
    }

    private static void ForwardTiles(void* context, int begin, int end)
    {
        ref ForwardArgs a = ref *(ForwardArgs*)context;
        int nIn = a.NIn, nOut = a.NOut;
        for (int t = begin; t < end; t++)
        {
            // Column-tile major, so consecutive tiles of one thread share the same block of w.
            int r0 = t % a.RowTiles * RowTile, o0 = t / a.RowTiles * ColTile;
            int r1 = Math.Min(r0 + RowTile, a.Rows), o1 = Math.Min(o0 + ColTile, nOut);
            int r = r0;
            for (; r + 4 <= r1; r += 4)
            {
                int o = o0;
                for (; o + 4 <= o1; o += 4)
                    Dot4x4(a.Y + (long)r * nOut + o, nOut, a.X + (long)r * nIn, a.W + (long)o * nIn, nIn, a.B == null ? null : a.B + o);
                for (; o < o1; o++)
                    for (int i = 0; i < 4; i++) DotOne(a.Y, a.X, a.W, a.B, r + i, o, nIn, nOut);
            }
            for (; r < r1; r++)
                for (int o = o0; o < o1; o++) DotOne(a.Y, a.X, a.W, a.B, r, o, nIn, nOut);
        }
    }

    private static void DotOne(float* y, float* x, float* w, float* b, int r, int o, int nIn, int nOut)
    {
        float s = Dot(x + (long)r * nIn, w + (long)o * nIn, nIn);
        y[(long)r * nOut + o] = b == null ? s : s + b[o];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(float* p, float* q, int n)
    {
        int k = 0;
        float s = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var acc = Vector512<float>.Zero;
            for (; k + 16 <= n; k += 16) acc = Vector512.FusedMultiplyAdd(Vector512.Load(p + k), Vector512.Load(q + k), acc);
            s = Vector512.Sum(acc);
        }
        else
        {
            var acc = Vector256<float>.Zero;
            for (; k + 8 <= n; k += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(p + k), Vector256.Load(q + k), acc);
            s = Vector256.Sum(acc);
        }
        for (; k < n; k++) s += p[k] * q[k];
        return s;
    }

    /// <summary>y[i, j] = dot(x row i, w row j) + b[j] for a 4 × 4 block; rows of x and w have length n.</summary>
    private static void Dot4x4(float* y, int ldy, float* x, float* w, int n, float* b)
    {
        if (Vector512.IsHardwareAccelerated) { Dot4x4V512(y, ldy, x, w, n, b); return; }
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
            {
                float s = Dot(x + (long)i * n, w + (long)j * n, n);
                y[(long)i * ldy + j] = b == null ? s : s + b[j];
            }
    }

    private static void Dot4x4V512(float* y, int ldy, float* x, float* w, int n, float* b)
    {
        float* x0 = x, x1 = x0 + n, x2 = x1 + n, x3 = x2 + n;
        float* w0 = w, w1 = w0 + n, w2 = w1 + n, w3 = w2 + n;
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        int k = 0;
        for (; k + 16 <= n; k += 16)
        {
            var b0 = Vector512.Load(w0 + k); var b1 = Vector512.Load(w1 + k);
            var b2 = Vector512.Load(w2 + k); var b3 = Vector512.Load(w3 + k);
            var a = Vector512.Load(x0 + k);
            c00 = Vector512.FusedMultiplyAdd(a, b0, c00); c01 = Vector512.FusedMultiplyAdd(a, b1, c01);
            c02 = Vector512.FusedMultiplyAdd(a, b2, c02); c03 = Vector512.FusedMultiplyAdd(a, b3, c03);
            a = Vector512.Load(x1 + k);
            c10 = Vector512.FusedMultiplyAdd(a, b0, c10); c11 = Vector512.FusedMultiplyAdd(a, b1, c11);
            c12 = Vector512.FusedMultiplyAdd(a, b2, c12); c13 = Vector512.FusedMultiplyAdd(a, b3, c13);
            a = Vector512.Load(x2 + k);
            c20 = Vector512.FusedMultiplyAdd(a, b0, c20); c21 = Vector512.FusedMultiplyAdd(a, b1, c21);
            c22 = Vector512.FusedMultiplyAdd(a, b2, c22); c23 = Vector512.FusedMultiplyAdd(a, b3, c23);
            a = Vector512.Load(x3 + k);
            c30 = Vector512.FusedMultiplyAdd(a, b0, c30); c31 = Vector512.FusedMultiplyAdd(a, b1, c31);
            c32 = Vector512.FusedMultiplyAdd(a, b2, c32); c33 = Vector512.FusedMultiplyAdd(a, b3, c33);
        }
        float* s = stackalloc float[16];
        s[0] = Vector512.Sum(c00); s[1] = Vector512.Sum(c01); s[2] = Vector512.Sum(c02); s[3] = Vector512.Sum(c03);
        s[4] = Vector512.Sum(c10); s[5] = Vector512.Sum(c11); s[6] = Vector512.Sum(c12); s[7] = Vector512.Sum(c13);
        s[8] = Vector512.Sum(c20); s[9] = Vector512.Sum(c21); s[10] = Vector512.Sum(c22); s[11] = Vector512.Sum(c23);
        s[12] = Vector512.Sum(c30); s[13] = Vector512.Sum(c31); s[14] = Vector512.Sum(c32); s[15] = Vector512.Sum(c33);
        for (; k < n; k++)
            for (int i = 0; i < 4; i++)
            {
                float xv = x[(long)i * n + k];
                for (int j = 0; j < 4; j++) s[i * 4 + j] += xv * w[(long)j * n + k];
            }
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                y[(long)i * ldy + j] = b == null ? s[i * 4 + j] : s[i * 4 + j] + b[j];
    }

    // ---------------------------------------------------------------- backward

    private struct BackwardArgs
    {
        public float* Dx, Dw, Db, Dy, X, W;
        public int Rows, NIn, NOut;
    }

    /// <summary>Backward with run-time sizes (used by kernels whose sizes are products of dims).</summary>
    internal static void Backward(float* dx, float* dw, float* db, float* dy, float* x, float* w, int rows, int nIn, int nOut)
    {
        if (rows <= 0) return;
        var args = new BackwardArgs { Dx = dx, Dw = dw, Db = db, Dy = dy, X = x, W = w, Rows = rows, NIn = nIn, NOut = nOut };
        if (dx != null) WorkerPool.Shared.Run(&InputGradientTiles, &args, (rows + 3) / 4);
        WorkerPool.Shared.Run(&WeightGradientTiles, &args, (nOut + 3) / 4);
    }

    // dx[r, :] = Σ_o dy[r, o]·w[o, :]; work item = a group of 4 rows.
    private static void InputGradientTiles(void* context, int begin, int end)
    {
        ref BackwardArgs a = ref *(BackwardArgs*)context;
        int nIn = a.NIn, nOut = a.NOut;
        int r0 = begin * 4, r1 = Math.Min(end * 4, a.Rows);
        int j = 0;
        for (; j + AxpyCols <= nIn; j += AxpyCols)
        {
            int r = r0;
            for (; r + 4 <= r1; r += 4)
                Axpy4(a.Dx + (long)r * nIn + j, nIn, a.Dy + (long)r * nOut, nOut, 1, a.W + j, nIn, nOut, false);
            if (r < r1)
                AxpyEdge(a.Dx + (long)r * nIn + j, nIn, a.Dy + (long)r * nOut, nOut, 1, a.W + j, nIn, nOut, r1 - r, AxpyCols, false);
        }
        if (j < nIn)
            AxpyEdge(a.Dx + (long)r0 * nIn + j, nIn, a.Dy + (long)r0 * nOut, nOut, 1, a.W + j, nIn, nOut, r1 - r0, nIn - j, false);
    }

    // dw[o, :] += Σ_r dy[r, o]·x[r, :]; db[o] += Σ_r dy[r, o]; work item = a group of 4 outputs.
    private static void WeightGradientTiles(void* context, int begin, int end)
    {
        ref BackwardArgs a = ref *(BackwardArgs*)context;
        int nIn = a.NIn, nOut = a.NOut, rows = a.Rows;
        int o0 = begin * 4, o1 = Math.Min(end * 4, nOut);
        int j = 0;
        for (; j + AxpyCols <= nIn; j += AxpyCols)
        {
            int o = o0;
            for (; o + 4 <= o1; o += 4)
                Axpy4(a.Dw + (long)o * nIn + j, nIn, a.Dy + o, 1, nOut, a.X + j, nIn, rows, true);
            if (o < o1)
                AxpyEdge(a.Dw + (long)o * nIn + j, nIn, a.Dy + o, 1, nOut, a.X + j, nIn, rows, o1 - o, AxpyCols, true);
        }
        if (j < nIn)
            AxpyEdge(a.Dw + (long)o0 * nIn + j, nIn, a.Dy + o0, 1, nOut, a.X + j, nIn, rows, o1 - o0, nIn - j, true);

        if (a.Db != null)
        {
            var db = new Span<float>(a.Db + o0, o1 - o0);
            for (int r = 0; r < rows; r++)
                System.Numerics.Tensors.TensorPrimitives.Add(db, new ReadOnlySpan<float>(a.Dy + (long)r * nOut + o0, o1 - o0), db);
        }
    }

    /// <summary>
    /// c[i, 0..64) (+)= Σ_p a[i·aRow + p·aK]·bm[p·ldb + 0..64) for i in 0..4, p in 0..k.
    /// </summary>
    private static void Axpy4(float* c, long ldc, float* a, long aRow, long aK, float* bm, long ldb, int k, bool accumulate)
    {
        if (!Vector512.IsHardwareAccelerated) { AxpyEdge(c, ldc, a, aRow, aK, bm, ldb, k, 4, AxpyCols, accumulate); return; }
        float* c0 = c, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
        Vector512<float> s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33;
        if (accumulate)
        {
            s00 = Vector512.Load(c0); s01 = Vector512.Load(c0 + 16); s02 = Vector512.Load(c0 + 32); s03 = Vector512.Load(c0 + 48);
            s10 = Vector512.Load(c1); s11 = Vector512.Load(c1 + 16); s12 = Vector512.Load(c1 + 32); s13 = Vector512.Load(c1 + 48);
            s20 = Vector512.Load(c2); s21 = Vector512.Load(c2 + 16); s22 = Vector512.Load(c2 + 32); s23 = Vector512.Load(c2 + 48);
            s30 = Vector512.Load(c3); s31 = Vector512.Load(c3 + 16); s32 = Vector512.Load(c3 + 32); s33 = Vector512.Load(c3 + 48);
        }
        else
        {
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = Vector512<float>.Zero;
        }
        float* a0 = a, a1 = a + aRow, a2 = a1 + aRow, a3 = a2 + aRow;
        for (int p = 0; p < k; p++)
        {
            float* row = bm + p * ldb;
            var b0 = Vector512.Load(row); var b1 = Vector512.Load(row + 16);
            var b2 = Vector512.Load(row + 32); var b3 = Vector512.Load(row + 48);
            long ap = p * aK;
            var v = Vector512.Create(a0[ap]);
            s00 = Vector512.FusedMultiplyAdd(v, b0, s00); s01 = Vector512.FusedMultiplyAdd(v, b1, s01);
            s02 = Vector512.FusedMultiplyAdd(v, b2, s02); s03 = Vector512.FusedMultiplyAdd(v, b3, s03);
            v = Vector512.Create(a1[ap]);
            s10 = Vector512.FusedMultiplyAdd(v, b0, s10); s11 = Vector512.FusedMultiplyAdd(v, b1, s11);
            s12 = Vector512.FusedMultiplyAdd(v, b2, s12); s13 = Vector512.FusedMultiplyAdd(v, b3, s13);
            v = Vector512.Create(a2[ap]);
            s20 = Vector512.FusedMultiplyAdd(v, b0, s20); s21 = Vector512.FusedMultiplyAdd(v, b1, s21);
            s22 = Vector512.FusedMultiplyAdd(v, b2, s22); s23 = Vector512.FusedMultiplyAdd(v, b3, s23);
            v = Vector512.Create(a3[ap]);
            s30 = Vector512.FusedMultiplyAdd(v, b0, s30); s31 = Vector512.FusedMultiplyAdd(v, b1, s31);
            s32 = Vector512.FusedMultiplyAdd(v, b2, s32); s33 = Vector512.FusedMultiplyAdd(v, b3, s33);
        }
        s00.Store(c0); s01.Store(c0 + 16); s02.Store(c0 + 32); s03.Store(c0 + 48);
        s10.Store(c1); s11.Store(c1 + 16); s12.Store(c1 + 32); s13.Store(c1 + 48);
        s20.Store(c2); s21.Store(c2 + 16); s22.Store(c2 + 32); s23.Store(c2 + 48);
        s30.Store(c3); s31.Store(c3 + 16); s32.Store(c3 + 32); s33.Store(c3 + 48);
    }

    /// <summary>The same product as <see cref="Axpy4"/> for any block of m rows × n columns, one 8-wide vector at a time.</summary>
    private static void AxpyEdge(float* c, long ldc, float* a, long aRow, long aK, float* bm, long ldb, int k, int m, int n, bool accumulate)
    {
        for (int i = 0; i < m; i++)
        {
            float* ci = c + i * ldc;
            float* ai = a + i * aRow;
            int j = 0;
            for (; j + 8 <= n; j += 8)
            {
                var s = accumulate ? Vector256.Load(ci + j) : Vector256<float>.Zero;
                for (int p = 0; p < k; p++)
                    s = Vector256.FusedMultiplyAdd(Vector256.Create(ai[p * aK]), Vector256.Load(bm + p * ldb + j), s);
                s.Store(ci + j);
            }
            for (; j < n; j++)
            {
                float s = accumulate ? ci[j] : 0f;
                for (int p = 0; p < k; p++) s += ai[p * aK] * bm[p * ldb + j];
                ci[j] = s;
            }
        }
    }
}
