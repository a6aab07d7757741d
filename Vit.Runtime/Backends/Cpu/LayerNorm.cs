using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>Layer normalization over the last dimension with a learned affine map (biased variance).</summary>
public static unsafe class LayerNorm
{
    private const int ColumnChunk = 64;

    private struct Args
    {
        public float* Y, Mean, Rstd, X, Weight, Bias, Dx, Dweight, Dbias, Dy;
        public int Rows, Dim;
        public float Eps;
    }

    /// <summary>Forward: y = (x − mean)·rstd·weight + bias, rstd = 1/√(var + eps).</summary>
    /// <param name="y">Output, (rows, TDim); may alias <paramref name="x"/>.</param>
    /// <param name="mean">Row means, (rows), stored for backward; <see cref="TensorPtr.Null"/> in inference.</param>
    /// <param name="rstd">Row reciprocal standard deviations, (rows); <see cref="TensorPtr.Null"/> in inference.</param>
    /// <param name="x">Input, (rows, TDim).</param>
    /// <param name="weight">Scale, (TDim).</param>
    /// <param name="bias">Shift, (TDim).</param>
    /// <param name="rows">The number of rows.</param>
    /// <param name="eps">Added to the variance (timm uses 1e-6).</param>
    public static void Forward<TDim>(TensorPtr y, TensorPtr mean, TensorPtr rstd, TensorPtr x, TensorPtr weight, TensorPtr bias, int rows, float eps)
        where TDim : struct, IDim
    {
        var args = new Args { Y = y.Pointer, Mean = mean.Pointer, Rstd = rstd.Pointer, X = x.Pointer, Weight = weight.Pointer, Bias = bias.Pointer, Rows = rows, Dim = TDim.Value, Eps = eps };
        WorkerPool.Shared.Run(&ForwardRows, &args, rows);
    }

    /// <summary>Backward: dx += ∂L/∂x, dweight += Σ dy·x̂, dbias += Σ dy.</summary>
    /// <param name="dx">Input gradient, (rows, TDim), ACCUMULATED (adds into a residual-stream gradient).</param>
    /// <param name="dweight">Scale gradient, (TDim), accumulated.</param>
    /// <param name="dbias">Shift gradient, (TDim), accumulated.</param>
    /// <param name="dy">Output gradient, (rows, TDim).</param>
    /// <param name="x">The forward input, (rows, TDim).</param>
    /// <param name="mean">From forward, (rows).</param>
    /// <param name="rstd">From forward, (rows).</param>
    /// <param name="weight">Scale, (TDim).</param>
    /// <param name="rows">The number of rows.</param>
    public static void Backward<TDim>(TensorPtr dx, TensorPtr dweight, TensorPtr dbias, TensorPtr dy, TensorPtr x, TensorPtr mean, TensorPtr rstd, TensorPtr weight, int rows)
        where TDim : struct, IDim
    {
        var args = new Args { Dx = dx.Pointer, Dweight = dweight.Pointer, Dbias = dbias.Pointer, Dy = dy.Pointer, X = x.Pointer, Mean = mean.Pointer, Rstd = rstd.Pointer, Weight = weight.Pointer, Rows = rows, Dim = TDim.Value };
        WorkerPool.Shared.Run(&BackwardRows, &args, rows);
        WorkerPool.Shared.Run(&ParameterGradientColumns, &args, (args.Dim + ColumnChunk - 1) / ColumnChunk);
    }

    private static void ForwardRows(void* context, int begin, int end)
    {
        ref Args a = ref *(Args*)context;
        int d = a.Dim;
        var w = new ReadOnlySpan<float>(a.Weight, d);
        var b = new ReadOnlySpan<float>(a.Bias, d);
        for (int r = begin; r < end; r++)
        {
            var x = new ReadOnlySpan<float>(a.X + (long)r * d, d);
            var y = new Span<float>(a.Y + (long)r * d, d);
            float m = TensorPrimitives.Sum(x) / d;
            TensorPrimitives.Subtract(x, m, y);
            float s = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares<float>(y) / d + a.Eps);
            TensorPrimitives.Multiply(y, s, y);
            TensorPrimitives.FusedMultiplyAdd(y, w, b, y);
            if (a.Mean != null) a.Mean[r] = m;
            if (a.Rstd != null) a.Rstd[r] = s;
        }
    }

    private static void BackwardRows(void* context, int begin, int end)
    {
        ref Args a = ref *(Args*)context;
        int d = a.Dim;
        float* w = a.Weight;
        for (int r = begin; r < end; r++)
        {
            float* x = a.X + (long)r * d, dy = a.Dy + (long)r * d, dx = a.Dx + (long)r * d;
            float m = a.Mean[r], s = a.Rstd[r];
            // g = w·dy; with x̂ = (x − m)·s: dx += s·(g − mean(g) − x̂·mean(g·x̂)) = s·g + c1·x + c0.
            // Two passes over the row: the sums Σg and Σg·x, then the update.
            float sumG = 0, sumGx = 0;
            int i = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                Vector512<float> ag = default, agx = default;
                for (; i + 16 <= d; i += 16)
                {
                    var g = Vector512.Load(w + i) * Vector512.Load(dy + i);
                    ag += g;
                    agx = Vector512.FusedMultiplyAdd(g, Vector512.Load(x + i), agx);
                }
                sumG = Vector512.Sum(ag);
                sumGx = Vector512.Sum(agx);
            }
            for (; i < d; i++) { float g = w[i] * dy[i]; sumG += g; sumGx += g * x[i]; }
            float meanG = sumG / d;
            float meanGx = (sumGx / d - m * meanG) * s; // mean(g·x̂)
            float c1 = -s * s * meanGx;
            float c0 = -s * meanG - c1 * m;
            i = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var vs = Vector512.Create(s);
                var v1 = Vector512.Create(c1);
                var v0 = Vector512.Create(c0);
                for (; i + 16 <= d; i += 16)
                {
                    var t = Vector512.FusedMultiplyAdd(Vector512.Load(x + i), v1, Vector512.Load(dx + i) + v0);
                    Vector512.FusedMultiplyAdd(Vector512.Load(w + i) * Vector512.Load(dy + i), vs, t).Store(dx + i);
                }
            }
            for (; i < d; i++) dx[i] += s * w[i] * dy[i] + c1 * x[i] + c0;
        }
    }

    private static void ParameterGradientColumns(void* context, int begin, int end)
    {
        ref Args a = ref *(Args*)context;
        int d = a.Dim;
        int c0 = begin * ColumnChunk, n = Math.Min(end * ColumnChunk, d) - c0;
        var dw = new Span<float>(a.Dweight + c0, n);
        var db = new Span<float>(a.Dbias + c0, n);
        for (int r = 0; r < a.Rows; r++)
        {
            var x = new ReadOnlySpan<float>(a.X + (long)r * d + c0, n);
            var dy = new ReadOnlySpan<float>(a.Dy + (long)r * d + c0, n);
            // db += dy; dw += dy·(x − m)·s = dy·(x·s − m·s)
            float s = a.Rstd[r], ms = a.Mean[r] * s;
            int i = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var vs = Vector512.Create(s);
                var vms = Vector512.Create(ms);
                float* pw = a.Dweight + c0, pb = a.Dbias + c0, px = a.X + (long)r * d + c0, pdy = a.Dy + (long)r * d + c0;
                for (; i + 16 <= n; i += 16)
                {
                    var g = Vector512.Load(pdy + i);
                    var xh = Vector512.FusedMultiplyAdd(Vector512.Load(px + i), vs, -vms);
                    Vector512.FusedMultiplyAdd(g, xh, Vector512.Load(pw + i)).Store(pw + i);
                    (Vector512.Load(pb + i) + g).Store(pb + i);
                }
            }
            for (; i < n; i++) { db[i] += dy[i]; dw[i] += dy[i] * (x[i] * s - ms); }
        }
    }

    /// <summary>Scalar reference of the forward pass; <paramref name="mean"/> and <paramref name="rstd"/> may be null.</summary>
    /// <param name="y">(rows, dim).</param>
    /// <param name="mean">(rows) or null.</param>
    /// <param name="rstd">(rows) or null.</param>
    /// <param name="x">(rows, dim).</param>
    /// <param name="weight">(dim).</param>
    /// <param name="bias">(dim).</param>
    /// <param name="rows">Rows.</param>
    /// <param name="dim">Normalized dimension.</param>
    /// <param name="eps">Variance epsilon.</param>
    public static void ReferenceForward(double[] y, double[]? mean, double[]? rstd, double[] x, double[] weight, double[] bias, int rows, int dim, double eps)
    {
        for (int r = 0; r < rows; r++)
        {
            double m = 0, v = 0;
            for (int i = 0; i < dim; i++) m += x[r * dim + i];
            m /= dim;
            for (int i = 0; i < dim; i++) v += (x[r * dim + i] - m) * (x[r * dim + i] - m);
            double s = 1 / Math.Sqrt(v / dim + eps);
            for (int i = 0; i < dim; i++) y[r * dim + i] = (x[r * dim + i] - m) * s * weight[i] + bias[i];
            if (mean is not null) mean[r] = m;
            if (rstd is not null) rstd[r] = s;
        }
    }

    /// <summary>Scalar reference of the backward pass (all outputs accumulate).</summary>
    /// <param name="dx">(rows, dim), accumulated.</param>
    /// <param name="dweight">(dim), accumulated.</param>
    /// <param name="dbias">(dim), accumulated.</param>
    /// <param name="dy">(rows, dim).</param>
    /// <param name="x">(rows, dim).</param>
    /// <param name="mean">(rows).</param>
    /// <param name="rstd">(rows).</param>
    /// <param name="weight">(dim).</param>
    /// <param name="rows">Rows.</param>
    /// <param name="dim">Normalized dimension.</param>
    public static void ReferenceBackward(double[] dx, double[] dweight, double[] dbias, double[] dy, double[] x, double[] mean, double[] rstd, double[] weight, int rows, int dim)
    {
        for (int r = 0; r < rows; r++)
        {
            double gm = 0, gxm = 0;
            for (int i = 0; i < dim; i++)
            {
                double xh = (x[r * dim + i] - mean[r]) * rstd[r];
                double g = weight[i] * dy[r * dim + i];
                gm += g;
                gxm += g * xh;
                dbias[i] += dy[r * dim + i];
                dweight[i] += dy[r * dim + i] * xh;
            }
            gm /= dim;
            gxm /= dim;
            for (int i = 0; i < dim; i++)
            {
                double xh = (x[r * dim + i] - mean[r]) * rstd[r];
                dx[r * dim + i] += rstd[r] * (weight[i] * dy[r * dim + i] - gm - xh * gxm);
            }
        }
    }
}
