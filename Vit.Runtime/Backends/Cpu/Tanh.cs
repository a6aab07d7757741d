using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>The hyperbolic tangent (timm's pre-logits activation).</summary>
public static unsafe class Tanh
{
    /// <summary>Forward: y = tanh(x).</summary>
    /// <param name="y">Output, (count); may alias <paramref name="x"/>.</param>
    /// <param name="x">Input, (count).</param>
    /// <param name="count">The number of elements.</param>
    public static void Forward(TensorPtr y, TensorPtr x, long count)
    {
        for (long i = 0; i < count; i += Fill.MaxSpan)
        {
            int n = (int)Math.Min(Fill.MaxSpan, count - i);
            TensorPrimitives.Tanh(new ReadOnlySpan<float>(x.Pointer + i, n), new Span<float>(y.Pointer + i, n));
        }
    }

    /// <summary>Backward: dx = dy·(1 − y²) (overwrite).</summary>
    /// <param name="dx">Input gradient, (count); may alias <paramref name="dy"/>.</param>
    /// <param name="dy">Output gradient, (count).</param>
    /// <param name="y">The forward output, (count).</param>
    /// <param name="count">The number of elements.</param>
    public static void Backward(TensorPtr dx, TensorPtr dy, TensorPtr y, long count)
    {
        float* g = dy.Pointer, o = y.Pointer, d = dx.Pointer;
        long i = 0;
        var one = Vector256<float>.One;
        for (; i + 8 <= count; i += 8)
        {
            var yv = Vector256.Load(o + i);
            (Vector256.Load(g + i) * (one - yv * yv)).Store(d + i);
        }
        for (; i < count; i++) d[i] = g[i] * (1 - o[i] * o[i]);
    }

    /// <summary>Scalar reference: y = tanh(x).</summary>
    /// <param name="y">(count).</param>
    /// <param name="x">(count).</param>
    public static void ReferenceForward(double[] y, double[] x)
    {
        for (int i = 0; i < x.Length; i++) y[i] = Math.Tanh(x[i]);
    }

    /// <summary>Scalar reference: dx = dy·(1 − y²).</summary>
    /// <param name="dx">(count), overwritten.</param>
    /// <param name="dy">(count).</param>
    /// <param name="y">(count).</param>
    public static void ReferenceBackward(double[] dx, double[] dy, double[] y)
    {
        for (int i = 0; i < y.Length; i++) dx[i] = dy[i] * (1 - y[i] * y[i]);
    }
}
