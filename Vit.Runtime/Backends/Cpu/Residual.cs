using System.Numerics.Tensors;
using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>The residual add of a transformer block, with an optional timm drop-path scale per image.</summary>
public static unsafe class Residual
{
    /// <summary>Forward: output[b] = input[b] + scale[b]·branch[b] for every image b.</summary>
    /// <param name="output">Output, (batch, perImage); may alias <paramref name="input"/>.</param>
    /// <param name="input">The residual stream, (batch, perImage).</param>
    /// <param name="branch">The branch output, (batch, perImage).</param>
    /// <param name="sampleScale">Per-image scales, (batch), or <see cref="TensorPtr.Null"/> for 1.</param>
    /// <param name="batch">The number of images.</param>
    /// <param name="perImage">Elements per image (tokens × dim).</param>
    public static void Forward(TensorPtr output, TensorPtr input, TensorPtr branch, TensorPtr sampleScale, int batch, long perImage)
    {
        for (int b = 0; b < batch; b++)
            for (long i = 0; i < perImage; i += Fill.MaxSpan)
            {
                long at = b * perImage + i;
                int n = (int)Math.Min(Fill.MaxSpan, perImage - i);
                var src = new ReadOnlySpan<float>(input.Pointer + at, n);
                var br = new ReadOnlySpan<float>(branch.Pointer + at, n);
                var dst = new Span<float>(output.Pointer + at, n);
                if (sampleScale.IsNull) TensorPrimitives.Add(src, br, dst);
                else TensorPrimitives.MultiplyAdd(br, sampleScale.Pointer[b], src, dst);
            }
    }

    /// <summary>Backward of the branch: dbranch[b] = doutput[b]·scale[b] (overwrite). The input's gradient is doutput itself.</summary>
    /// <param name="dbranch">Output, (batch, perImage); may alias <paramref name="doutput"/>.</param>
    /// <param name="doutput">The output gradient, (batch, perImage).</param>
    /// <param name="sampleScale">Per-image scales, (batch), or <see cref="TensorPtr.Null"/> for 1.</param>
    /// <param name="batch">The number of images.</param>
    /// <param name="perImage">Elements per image.</param>
    public static void Backward(TensorPtr dbranch, TensorPtr doutput, TensorPtr sampleScale, int batch, long perImage)
    {
        for (int b = 0; b < batch; b++)
            for (long i = 0; i < perImage; i += Fill.MaxSpan)
            {
                long at = b * perImage + i;
                int n = (int)Math.Min(Fill.MaxSpan, perImage - i);
                var src = new ReadOnlySpan<float>(doutput.Pointer + at, n);
                var dst = new Span<float>(dbranch.Pointer + at, n);
                if (sampleScale.IsNull) { if (dbranch != doutput) src.CopyTo(dst); }
                else TensorPrimitives.Multiply(src, sampleScale.Pointer[b], dst);
            }
    }

    /// <summary>Scalar reference of <see cref="Forward"/>; <paramref name="sampleScale"/> may be null.</summary>
    /// <param name="output">(batch, perImage).</param>
    /// <param name="input">(batch, perImage).</param>
    /// <param name="branch">(batch, perImage).</param>
    /// <param name="sampleScale">(batch) or null.</param>
    /// <param name="batch">Images.</param>
    /// <param name="perImage">Elements per image.</param>
    public static void ReferenceForward(double[] output, double[] input, double[] branch, double[]? sampleScale, int batch, int perImage)
    {
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < perImage; i++)
            {
                int k = b * perImage + i;
                output[k] = input[k] + (sampleScale is null ? 1 : sampleScale[b]) * branch[k];
            }
    }

    /// <summary>Scalar reference of <see cref="Backward"/>; <paramref name="sampleScale"/> may be null.</summary>
    /// <param name="dbranch">(batch, perImage), overwritten.</param>
    /// <param name="doutput">(batch, perImage).</param>
    /// <param name="sampleScale">(batch) or null.</param>
    /// <param name="batch">Images.</param>
    /// <param name="perImage">Elements per image.</param>
    public static void ReferenceBackward(double[] dbranch, double[] doutput, double[]? sampleScale, int batch, int perImage)
    {
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < perImage; i++)
                dbranch[b * perImage + i] = doutput[b * perImage + i] * (sampleScale is null ? 1 : sampleScale[b]);
    }
}
