using System.Numerics.Tensors;
using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>
/// timm's <c>LayerScale</c> (<c>init_values</c>, CaiT): a learned per-channel scale of a block's
/// branch, y = x ⊙ gamma, with gamma of shape (dim) broadcast over the rows.
/// </summary>
/// <remarks>
/// Element-wise and memory-bound, so it runs on the calling thread as the other element-wise
/// kernels do. The gamma gradient is summed over the rows in a fixed order (columns in blocks of
/// <see cref="ColumnBlock"/>, rows in order), so it is the same on every run.
/// </remarks>
public static unsafe class LayerScale
{
    // Columns whose gamma-gradient partial sums live on the stack at once (4 KiB).
    private const int ColumnBlock = 1024;

    /// <summary>Forward: y[r, c] = x[r, c]·gamma[c].</summary>
    /// <param name="y">Output, (rows, dim); may alias <paramref name="x"/>.</param>
    /// <param name="x">The branch before scaling, (rows, dim).</param>
    /// <param name="gamma">The scale, (dim).</param>
    /// <param name="rows">The number of rows (batch × tokens).</param>
    /// <param name="dim">Channels per row.</param>
    public static void Forward(TensorPtr y, TensorPtr x, TensorPtr gamma, long rows, int dim)
    {
        var g = new ReadOnlySpan<float>(gamma.Pointer, dim);
        for (long r = 0; r < rows; r++)
        {
            long at = r * dim;
            TensorPrimitives.Multiply(new ReadOnlySpan<float>(x.Pointer + at, dim), g, new Span<float>(y.Pointer + at, dim));
        }
    }

    /// <summary>
    /// Backward: dgamma[c] += Σ_r dy[r, c]·x[r, c] (accumulated) and dx[r, c] = dy[r, c]·gamma[c]
    /// (overwritten). Each row's dy is read for dgamma before dx overwrites it, so dx may be dy.
    /// </summary>
    /// <param name="dx">Input gradient, (rows, dim), overwritten; may alias <paramref name="dy"/>.</param>
    /// <param name="dgamma">Gradient of gamma, (dim), added to.</param>
    /// <param name="dy">Output gradient, (rows, dim).</param>
    /// <param name="x">The forward input (the branch before scaling), (rows, dim).</param>
    /// <param name="gamma">The scale, (dim).</param>
    /// <param name="rows">The number of rows.</param>
    /// <param name="dim">Channels per row.</param>
    public static void Backward(TensorPtr dx, TensorPtr dgamma, TensorPtr dy, TensorPtr x, TensorPtr gamma, long rows, int dim)
    {
        Span<float> partial = stackalloc float[Math.Min(dim, ColumnBlock)];
        for (int c0 = 0; c0 < dim; c0 += ColumnBlock)
        {
            int n = Math.Min(ColumnBlock, dim - c0);
            var sum = partial[..n];
            sum.Clear();
            var g = new ReadOnlySpan<float>(gamma.Pointer + c0, n);
            for (long r = 0; r < rows; r++)
            {
                long at = r * dim + c0;
                var gradient = new ReadOnlySpan<float>(dy.Pointer + at, n);
                TensorPrimitives.MultiplyAdd(gradient, new ReadOnlySpan<float>(x.Pointer + at, n), sum, sum);
                TensorPrimitives.Multiply(gradient, g, new Span<float>(dx.Pointer + at, n));
            }
            var dg = new Span<float>(dgamma.Pointer + c0, n);
            TensorPrimitives.Add(dg, sum, dg);
        }
    }

    /// <summary>Scalar reference of <see cref="Forward"/>: y[r, c] = x[r, c]·gamma[c].</summary>
    /// <param name="y">(rows, dim); may be <paramref name="x"/>.</param>
    /// <param name="x">(rows, dim).</param>
    /// <param name="gamma">(dim).</param>
    /// <param name="rows">Rows.</param>
    /// <param name="dim">Channels per row.</param>
    public static void ReferenceForward(double[] y, double[] x, double[] gamma, int rows, int dim)
    {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < dim; c++) y[r * dim + c] = x[r * dim + c] * gamma[c];
    }

    /// <summary>Scalar reference of <see cref="Backward"/>: dgamma += Σ_r dy ⊙ x, then dx = dy ⊙ gamma.</summary>
    /// <param name="dx">(rows, dim), overwritten; may be <paramref name="dy"/>.</param>
    /// <param name="dgamma">(dim), added to.</param>
    /// <param name="dy">(rows, dim).</param>
    /// <param name="x">The forward input, (rows, dim).</param>
    /// <param name="gamma">(dim).</param>
    /// <param name="rows">Rows.</param>
    /// <param name="dim">Channels per row.</param>
    public static void ReferenceBackward(double[] dx, double[] dgamma, double[] dy, double[] x, double[] gamma, int rows, int dim)
    {
        for (int c = 0; c < dim; c++)
        {
            double s = 0;
            for (int r = 0; r < rows; r++) s += dy[r * dim + c] * x[r * dim + c];
            dgamma[c] += s;
        }
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < dim; c++) dx[r * dim + c] = dy[r * dim + c] * gamma[c];
    }
}
