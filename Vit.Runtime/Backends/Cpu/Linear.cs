using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>
/// A fully connected layer in PyTorch <c>nn.Linear</c> layout: <c>y = x·wᵀ + b</c> with
/// <c>w</c> of shape (out, in).
/// </summary>
/// <remarks>
/// All three products run on <see cref="Gemm"/>: the forward pass as <c>x·wᵀ</c> with the bias
/// fused into the micro-kernel's initial accumulators, the input gradient as <c>dy·w</c> and the
/// weight gradient as <c>dyᵀ·x</c> accumulated in place.
/// </remarks>
public static unsafe class Linear
{

    /// <summary>Forward: <c>y = x·wᵀ + b</c>.</summary>
    /// <param name="y">Output, (rows, TOut), overwritten.</param>
    /// <param name="x">Input, (rows, TIn).</param>
    /// <param name="w">Weight, (TOut, TIn).</param>
    /// <param name="b">Bias, (TOut), or <see cref="TensorPtr.Null"/> for none.</param>
    /// <param name="rows">The number of rows (tokens × images).</param>
    public static void Forward<TIn, TOut>(TensorPtr y, TensorPtr x, TensorPtr w, TensorPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => Forward(y.Pointer, x.Pointer, TIn.Value, w.Pointer, b.Pointer, rows, TIn.Value, TOut.Value);

    /// <summary>Forward on an input whose rows are <paramref name="xStride"/> floats apart (the padded MLP activation of the training layout).</summary>
    /// <param name="y">Output, (rows, TOut), overwritten.</param>
    /// <param name="x">Input, (rows, TIn), row stride <paramref name="xStride"/>.</param>
    /// <param name="xStride">Row stride of <paramref name="x"/> in floats, at least TIn.</param>
    /// <param name="w">Weight, (TOut, TIn).</param>
    /// <param name="b">Bias, (TOut), or <see cref="TensorPtr.Null"/> for none.</param>
    /// <param name="rows">The number of rows (tokens × images).</param>
    public static void Forward<TIn, TOut>(TensorPtr y, TensorPtr x, long xStride, TensorPtr w, TensorPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => Forward(y.Pointer, x.Pointer, CheckStride(xStride, TIn.Value), w.Pointer, b.Pointer, rows, TIn.Value, TOut.Value);

    /// <summary>
    /// Forward with the GELU epilogue: <c>preActivation = x·wᵀ + b</c>, <c>activation = gelu(preActivation)</c>,
    /// the activation computed on each block of the product while it is still in cache.
    /// </summary>
    /// <param name="activation">Output, (rows, TOut); may be <paramref name="preActivation"/> itself (inference).</param>
    /// <param name="preActivation">The product before GELU, (rows, TOut), kept for the GELU gradient in training.</param>
    /// <param name="x">Input, (rows, TIn).</param>
    /// <param name="w">Weight, (TOut, TIn).</param>
    /// <param name="b">Bias, (TOut), or <see cref="TensorPtr.Null"/> for none.</param>
    /// <param name="rows">The number of rows.</param>
    public static void ForwardGelu<TIn, TOut>(TensorPtr activation, TensorPtr preActivation, TensorPtr x, TensorPtr w, TensorPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => ForwardGelu<TIn, TOut>(activation, TOut.Value, preActivation, x, w, b, rows);

    /// <summary>
    /// <see cref="ForwardGelu{TIn, TOut}(TensorPtr, TensorPtr, TensorPtr, TensorPtr, TensorPtr, int)"/> with the
    /// activation's rows <paramref name="activationStride"/> floats apart. The training layout pads
    /// the MLP activation (fc2's input) to a stride an odd number of cache lines long, so that fc2's
    /// weight gradient reads it in place instead of copying it (see <see cref="Gemm.SpreadsOverL1Sets"/>).
    /// </summary>
    /// <param name="activation">Output, (rows, TOut), row stride <paramref name="activationStride"/>.</param>
    /// <param name="activationStride">Row stride of <paramref name="activation"/> in floats, at least TOut.</param>
    /// <param name="preActivation">The product before GELU, (rows, TOut), contiguous, kept for the GELU gradient.</param>
    /// <param name="x">Input, (rows, TIn).</param>
    /// <param name="w">Weight, (TOut, TIn).</param>
    /// <param name="b">Bias, (TOut), or <see cref="TensorPtr.Null"/> for none.</param>
    /// <param name="rows">The number of rows.</param>
    public static void ForwardGelu<TIn, TOut>(TensorPtr activation, long activationStride, TensorPtr preActivation, TensorPtr x, TensorPtr w, TensorPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => Gemm.MultiplyGelu(activation.Pointer, CheckStride(activationStride, TOut.Value), preActivation.Pointer, TOut.Value,
            x.Pointer, TIn.Value, 1, w.Pointer, 1, TIn.Value, rows, TOut.Value, TIn.Value, b.Pointer);

    /// <summary>
    /// Forward with the residual add fused: <c>y += x·wᵀ + b</c>, so a block's branch output never
    /// goes through memory on its own (inference: <c>x = x + proj(…)</c>, <c>x = x + fc2(…)</c>).
    /// </summary>
    /// <param name="y">The residual stream, (rows, TOut), updated in place.</param>
    /// <param name="x">Input, (rows, TIn).</param>
    /// <param name="w">Weight, (TOut, TIn).</param>
    /// <param name="b">Bias, (TOut), or <see cref="TensorPtr.Null"/> for none.</param>
    /// <param name="rows">The number of rows.</param>
    public static void ForwardResidual<TIn, TOut>(TensorPtr y, TensorPtr x, TensorPtr w, TensorPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => Gemm.Multiply(y.Pointer, TOut.Value, x.Pointer, TIn.Value, 1, w.Pointer, 1, TIn.Value, rows, TOut.Value, TIn.Value, b.Pointer, accumulate: true);

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
        => Backward(dx.Pointer, dw.Pointer, db.Pointer, dy.Pointer, x.Pointer, TIn.Value, w.Pointer, rows, TIn.Value, TOut.Value);

    /// <summary>Backward of <see cref="Forward{TIn, TOut}(TensorPtr, TensorPtr, long, TensorPtr, TensorPtr, int)"/>: the forward input's rows are <paramref name="xStride"/> floats apart.</summary>
    /// <param name="dx">Input gradient, (rows, TIn), contiguous, overwritten; <see cref="TensorPtr.Null"/> to skip.</param>
    /// <param name="dw">Weight gradient, (TOut, TIn), accumulated.</param>
    /// <param name="db">Bias gradient, (TOut), accumulated; <see cref="TensorPtr.Null"/> to skip.</param>
    /// <param name="dy">Output gradient, (rows, TOut).</param>
    /// <param name="x">The forward input, (rows, TIn), row stride <paramref name="xStride"/>.</param>
    /// <param name="xStride">Row stride of <paramref name="x"/> in floats, at least TIn.</param>
    /// <param name="w">Weight, (TOut, TIn).</param>
    /// <param name="rows">The number of rows.</param>
    public static void Backward<TIn, TOut>(TensorPtr dx, TensorPtr dw, TensorPtr db, TensorPtr dy, TensorPtr x, long xStride, TensorPtr w, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => Backward(dx.Pointer, dw.Pointer, db.Pointer, dy.Pointer, x.Pointer, CheckStride(xStride, TIn.Value), w.Pointer, rows, TIn.Value, TOut.Value);

    /// <summary>Returns <paramref name="stride"/>, or throws when it is less than the row width (shared with the OpenCL steps).</summary>
    internal static long CheckStride(long stride, int width)
        => stride >= width ? stride
            : throw new ArgumentOutOfRangeException(nameof(stride), stride, $"A row stride must be at least the row width ({width} floats); found {stride}.");

    /// <summary>Scalar reference of <see cref="Forward{TIn, TOut}(TensorPtr, TensorPtr, TensorPtr, TensorPtr, int)"/>; <paramref name="b"/> may be null.</summary>
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

    /// <summary>Scalar reference of <see cref="Backward{TIn, TOut}(TensorPtr, TensorPtr, TensorPtr, TensorPtr, TensorPtr, TensorPtr, int)"/>; <paramref name="dx"/> and <paramref name="db"/> may be null.</summary>
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

    /// <summary>Forward with run-time sizes (used by kernels whose sizes are products of dims).</summary>
    internal static void Forward(float* y, float* x, float* w, float* b, int rows, int nIn, int nOut)
        => Forward(y, x, nIn, w, b, rows, nIn, nOut);

    private static void Forward(float* y, float* x, long ldx, float* w, float* b, int rows, int nIn, int nOut)
        // y (rows, nOut) = x (rows, nIn; rows ldx apart) · wᵀ, w (nOut, nIn): B[p, j] = w[j·nIn + p].
        => Gemm.Multiply(y, nOut, x, ldx, 1, w, 1, nIn, rows, nOut, nIn, b, accumulate: false);

    /// <summary>Backward with run-time sizes (used by kernels whose sizes are products of dims).</summary>
    internal static void Backward(float* dx, float* dw, float* db, float* dy, float* x, float* w, int rows, int nIn, int nOut)
        => Backward(dx, dw, db, dy, x, nIn, w, rows, nIn, nOut);

    private static void Backward(float* dx, float* dw, float* db, float* dy, float* x, long ldx, float* w, int rows, int nIn, int nOut)
    {
        if (rows <= 0) return;
        // dx (rows, nIn) = dy (rows, nOut) · w (nOut, nIn).
        if (dx != null) Gemm.Multiply(dx, nIn, dy, nOut, 1, w, nIn, 1, rows, nIn, nOut, null, accumulate: false);
        // dw (nOut, nIn) += dyᵀ (nOut, rows) · x (rows, nIn; rows ldx apart): A[i, p] = dy[p·nOut + i].
        Gemm.Multiply(dw, nIn, dy, 1, nOut, x, ldx, 1, nOut, nIn, rows, null, accumulate: true);
        if (db != null) ColumnSums.Add(db, dy, rows, nOut);
    }
}
