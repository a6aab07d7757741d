using System.Runtime.Intrinsics;
using Vit.Memory;
using Vit.Numerics;

namespace Vit.Kernels;

/// <summary>
/// The exact (erf) GELU of timm's MLP: gelu(x) = ½·x·(1 + erf(x/√2)).
/// </summary>
/// <remarks>
/// The float path evaluates erfc(|x|/√2) four lanes at a time in double (see <see cref="Erf"/>),
/// writing 1 + erf(z) as erfc(−z) for negative z so that large negative inputs keep their
/// relative accuracy. Large tensors are split over <see cref="WorkerPool.Shared"/>.
/// </remarks>
public static unsafe class Gelu
{
    private const int Chunk = 8192;
    private const double InvSqrt2 = 0.7071067811865476;
    private const double InvSqrt2Pi = 0.3989422804014327;

    private struct Args
    {
        public float* Out, In, X;
        public long Count;
    }

    /// <summary>Forward: y = gelu(x).</summary>
    /// <param name="y">Output, (count); may alias <paramref name="x"/>.</param>
    /// <param name="x">Input, (count).</param>
    /// <param name="count">The number of elements.</param>
    public static void Forward(TensorPtr y, TensorPtr x, long count)
    {
        var args = new Args { Out = y.Pointer, In = x.Pointer, X = x.Pointer, Count = count };
        WorkerPool.Shared.Run(&ForwardChunks, &args, ChunkCount(count));
    }

    /// <summary>Backward: dx = dy·gelu'(x) (overwrite).</summary>
    /// <param name="dx">Input gradient, (count); may alias <paramref name="dy"/>.</param>
    /// <param name="dy">Output gradient, (count).</param>
    /// <param name="x">The forward input, (count).</param>
    /// <param name="count">The number of elements.</param>
    public static void Backward(TensorPtr dx, TensorPtr dy, TensorPtr x, long count)
    {
        var args = new Args { Out = dx.Pointer, In = dy.Pointer, X = x.Pointer, Count = count };
        WorkerPool.Shared.Run(&BackwardChunks, &args, ChunkCount(count));
    }

    /// <summary>Scalar reference: y = gelu(x).</summary>
    /// <param name="y">(count).</param>
    /// <param name="x">(count).</param>
    public static void ReferenceForward(double[] y, double[] x)
    {
        for (int i = 0; i < x.Length; i++) y[i] = 0.5 * x[i] * Erf.Complement(-x[i] * InvSqrt2);
    }

    /// <summary>Scalar reference: dx = dy·gelu'(x).</summary>
    /// <param name="dx">(count), overwritten.</param>
    /// <param name="dy">(count).</param>
    /// <param name="x">(count).</param>
    public static void ReferenceBackward(double[] dx, double[] dy, double[] x)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            dx[i] = dy[i] * (0.5 * Erf.Complement(-v * InvSqrt2) + v * Math.Exp(-0.5 * v * v) * InvSqrt2Pi);
        }
    }

    private static int ChunkCount(long count) => checked((int)((count + Chunk - 1) / Chunk));

    // Returns 1 + erf(x/√2) for four lanes.
    private static Vector256<double> OnePlusErf(Vector256<double> x)
    {
        var z = x * Vector256.Create(InvSqrt2);
        var c = Erf.ComplementOfAbs(Vector256.Abs(z));
        return Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(z, Vector256<double>.Zero), Vector256.Create(2.0) - c, c);
    }

    private static double OnePlusErf(double x)
    {
        double z = x * InvSqrt2;
        double c = Erf.ComplementOfAbs(Math.Abs(z));
        return z >= 0 ? 2 - c : c;
    }

    private static void ForwardChunks(void* context, int begin, int end)
    {
        ref Args a = ref *(Args*)context;
        long i = (long)begin * Chunk, stop = Math.Min((long)end * Chunk, a.Count);
        var half = Vector256.Create(0.5);
        for (; i + 4 <= stop; i += 4)
        {
            var xd = Widen(Vector128.Load(a.In + i));
            var y = half * xd * OnePlusErf(xd);
            Vector128.Narrow(y.GetLower(), y.GetUpper()).Store(a.Out + i);
        }
        for (; i < stop; i++)
        {
            double x = a.In[i];
            a.Out[i] = (float)(0.5 * x * OnePlusErf(x));
        }
    }

    private static void BackwardChunks(void* context, int begin, int end)
    {
        ref Args a = ref *(Args*)context;
        long i = (long)begin * Chunk, stop = Math.Min((long)end * Chunk, a.Count);
        var half = Vector256.Create(0.5);
        for (; i + 4 <= stop; i += 4)
        {
            var xd = Widen(Vector128.Load(a.X + i));
            var g = Widen(Vector128.Load(a.In + i));
            var d = half * OnePlusErf(xd) + xd * Vector256.Exp(-half * xd * xd) * Vector256.Create(InvSqrt2Pi);
            var r = g * d;
            Vector128.Narrow(r.GetLower(), r.GetUpper()).Store(a.Out + i);
        }
        for (; i < stop; i++)
        {
            double x = a.X[i];
            a.Out[i] = (float)(a.In[i] * (0.5 * OnePlusErf(x) + x * Math.Exp(-0.5 * x * x) * InvSqrt2Pi));
        }
    }

    private static Vector256<double> Widen(Vector128<float> v)
        => Vector256.Create(Vector128.WidenLower(v), Vector128.WidenUpper(v));
}
