using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Vit.Backends.Cpu;

/// <summary>Column sums of a row-major matrix, added into a vector: the bias gradient of a linear layer.</summary>
internal static unsafe class ColumnSums
{
    private const int Chunk = 64;

    private struct Args
    {
        public float* Sum, Matrix;
        public int Rows, Columns;
    }

    /// <summary>sum[j] += Σ_r matrix[r, j], split by column chunks over <see cref="WorkerPool.Shared"/>.</summary>
    public static void Add(float* sum, float* matrix, int rows, int columns)
    {
        var args = new Args { Sum = sum, Matrix = matrix, Rows = rows, Columns = columns };
        WorkerPool.Shared.Run(&Columns, &args, (columns + Chunk - 1) / Chunk);
    }

    private static void Columns(void* context, int begin, int end)
    {
        ref Args a = ref *(Args*)context;
        int c0 = begin * Chunk, n = Math.Min(end * Chunk, a.Columns) - c0;
        if (n == Chunk && Vector512.IsHardwareAccelerated)
        {
            // 64 columns in four registers down all the rows, then one add into sum.
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            float* m = a.Matrix + c0;
            for (int r = 0; r < a.Rows; r++, m += a.Columns)
            {
                s0 += Vector512.Load(m); s1 += Vector512.Load(m + 16);
                s2 += Vector512.Load(m + 32); s3 += Vector512.Load(m + 48);
            }
            float* o = a.Sum + c0;
            (Vector512.Load(o) + s0).Store(o); (Vector512.Load(o + 16) + s1).Store(o + 16);
            (Vector512.Load(o + 32) + s2).Store(o + 32); (Vector512.Load(o + 48) + s3).Store(o + 48);
            return;
        }
        var sum = new Span<float>(a.Sum + c0, n);
        for (int r = 0; r < a.Rows; r++)
            TensorPrimitives.Add(sum, new ReadOnlySpan<float>(a.Matrix + (long)r * a.Columns + c0, n), sum);
    }
}
