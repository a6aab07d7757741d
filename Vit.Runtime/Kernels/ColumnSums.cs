using System.Numerics.Tensors;

namespace Vit.Kernels;

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
        var sum = new Span<float>(a.Sum + c0, n);
        for (int r = 0; r < a.Rows; r++)
            TensorPrimitives.Add(sum, new ReadOnlySpan<float>(a.Matrix + (long)r * a.Columns + c0, n), sum);
    }
}
