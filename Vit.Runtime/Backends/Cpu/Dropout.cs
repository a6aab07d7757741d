using System.Numerics.Tensors;
using Vit.Memory;
using Vit.Numerics;

namespace Vit.Backends.Cpu;

/// <summary>Inverted dropout through an explicit mask, so forward and backward share it.</summary>
public static unsafe class Dropout
{
    /// <summary>Writes a mask of 0 (probability <paramref name="rate"/>) or 1/(1 − rate).</summary>
    /// <param name="mask">Output, (count).</param>
    /// <param name="count">The number of elements.</param>
    /// <param name="rate">The drop probability, in [0, 1).</param>
    /// <param name="rng">The generator; advanced by one draw per element.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rate"/> is outside [0, 1).</exception>
    public static void FillMask(TensorPtr mask, long count, float rate, ref Rng rng)
    {
        if (!(rate >= 0f && rate < 1f))
            throw new ArgumentOutOfRangeException(nameof(rate), rate, "The dropout rate must be in [0, 1).");
        float keep = 1f / (1f - rate);
        float* m = mask.Pointer;
        for (long i = 0; i < count; i++) m[i] = rng.NextSingle() < rate ? 0f : keep;
    }

    /// <summary>x *= mask, in place; the same call serves the forward and the backward pass.</summary>
    /// <param name="x">The tensor (activation or its gradient), (count).</param>
    /// <param name="mask">The mask from <see cref="FillMask"/>, (count).</param>
    /// <param name="count">The number of elements.</param>
    public static void Apply(TensorPtr x, TensorPtr mask, long count)
    {
        for (long i = 0; i < count; i += Fill.MaxSpan)
        {
            int n = (int)Math.Min(Fill.MaxSpan, count - i);
            var xs = new Span<float>(x.Pointer + i, n);
            TensorPrimitives.Multiply(xs, new ReadOnlySpan<float>(mask.Pointer + i, n), xs);
        }
    }

    /// <summary>
    /// x *= mask on a tensor whose rows are <paramref name="xStride"/> floats apart (the padded MLP
    /// activation of the training layout); the mask is contiguous, (rows, cols), so it holds the
    /// same draws as an unpadded one, and the padding between rows is left as it is.
    /// </summary>
    /// <param name="x">The tensor, (rows, cols), row stride <paramref name="xStride"/>.</param>
    /// <param name="xStride">Row stride of <paramref name="x"/> in floats, at least <paramref name="cols"/>.</param>
    /// <param name="mask">The mask from <see cref="FillMask"/>, (rows · cols).</param>
    /// <param name="rows">The number of rows.</param>
    /// <param name="cols">Floats per row.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="xStride"/> is less than <paramref name="cols"/>.</exception>
    public static void Apply(TensorPtr x, long xStride, TensorPtr mask, int rows, int cols)
    {
        Linear.CheckStride(xStride, cols);
        for (int r = 0; r < rows; r++)
            Apply(x + r * xStride, mask + (long)r * cols, cols);
    }

    /// <summary>Scalar reference of <see cref="Apply(TensorPtr, TensorPtr, long)"/>: x *= mask.</summary>
    /// <param name="x">(count), updated.</param>
    /// <param name="mask">(count).</param>
    public static void ReferenceApply(double[] x, double[] mask)
    {
        for (int i = 0; i < x.Length; i++) x[i] *= mask[i];
    }
}
