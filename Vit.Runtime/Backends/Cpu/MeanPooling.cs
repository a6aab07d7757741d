using System.Numerics.Tensors;
using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>timm <c>global_pool='avg'</c>: the mean of the patch tokens, class token (row 0) excluded.</summary>
public static unsafe class MeanPooling
{
    /// <summary>Forward: pooled[b] = mean of tokens[b, 1..T−1].</summary>
    /// <param name="pooled">Output, (batch, TDim).</param>
    /// <param name="tokens">Tokens, (batch, TTokens, TDim).</param>
    /// <param name="batch">The number of images.</param>
    public static void Forward<TTokens, TDim>(TensorPtr pooled, TensorPtr tokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        int t = TTokens.Value, d = TDim.Value;
        float inv = 1f / (t - 1);
        for (int b = 0; b < batch; b++)
        {
            var o = new Span<float>(pooled.Pointer + (long)b * d, d);
            o.Clear();
            for (int r = 1; r < t; r++)
                TensorPrimitives.Add(o, new ReadOnlySpan<float>(tokens.Pointer + ((long)b * t + r) * d, d), o);
            TensorPrimitives.Multiply(o, inv, o);
        }
    }

    /// <summary>Backward: dtokens[b, 0] = 0, dtokens[b, 1..] = dpooled[b]/(T − 1) (the whole of dtokens is overwritten).</summary>
    /// <param name="dtokens">Output, (batch, TTokens, TDim), overwritten.</param>
    /// <param name="dpooled">Gradient of pooled, (batch, TDim).</param>
    /// <param name="batch">The number of images.</param>
    public static void Backward<TTokens, TDim>(TensorPtr dtokens, TensorPtr dpooled, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        int t = TTokens.Value, d = TDim.Value;
        float inv = 1f / (t - 1);
        for (int b = 0; b < batch; b++)
        {
            var g = new ReadOnlySpan<float>(dpooled.Pointer + (long)b * d, d);
            new Span<float>(dtokens.Pointer + (long)b * t * d, d).Clear();
            for (int r = 1; r < t; r++)
                TensorPrimitives.Multiply(g, inv, new Span<float>(dtokens.Pointer + ((long)b * t + r) * d, d));
        }
    }

    /// <summary>Scalar reference of the forward pass.</summary>
    /// <param name="pooled">(batch, dim).</param>
    /// <param name="tokens">(batch, tokens, dim).</param>
    /// <param name="batch">Images.</param>
    /// <param name="tokenCount">Tokens per image.</param>
    /// <param name="dim">Dimension.</param>
    public static void ReferenceForward(double[] pooled, double[] tokens, int batch, int tokenCount, int dim)
    {
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < dim; i++)
            {
                double s = 0;
                for (int t = 1; t < tokenCount; t++) s += tokens[(b * tokenCount + t) * dim + i];
                pooled[b * dim + i] = s / (tokenCount - 1);
            }
    }

    /// <summary>Scalar reference of the backward pass (overwrites).</summary>
    /// <param name="dtokens">(batch, tokens, dim).</param>
    /// <param name="dpooled">(batch, dim).</param>
    /// <param name="batch">Images.</param>
    /// <param name="tokenCount">Tokens per image.</param>
    /// <param name="dim">Dimension.</param>
    public static void ReferenceBackward(double[] dtokens, double[] dpooled, int batch, int tokenCount, int dim)
    {
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < tokenCount; t++)
                for (int i = 0; i < dim; i++)
                    dtokens[(b * tokenCount + t) * dim + i] = t == 0 ? 0 : dpooled[b * dim + i] / (tokenCount - 1);
    }
}
