using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>timm <c>global_pool='token'</c>: the class token (row 0) is the image's feature vector.</summary>
public static unsafe class TokenPooling
{
    /// <summary>Forward: pooled[b] = tokens[b, 0].</summary>
    /// <param name="pooled">Output, (batch, TDim).</param>
    /// <param name="tokens">Tokens, (batch, TTokens, TDim).</param>
    /// <param name="batch">The number of images.</param>
    public static void Forward<TTokens, TDim>(TensorPtr pooled, TensorPtr tokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        int t = TTokens.Value, d = TDim.Value;
        for (int b = 0; b < batch; b++)
            new ReadOnlySpan<float>(tokens.Pointer + (long)b * t * d, d).CopyTo(new Span<float>(pooled.Pointer + (long)b * d, d));
    }

    /// <summary>Backward: dtokens[b, 0] = dpooled[b], every other row 0 (the whole of dtokens is overwritten).</summary>
    /// <param name="dtokens">Output, (batch, TTokens, TDim), overwritten.</param>
    /// <param name="dpooled">Gradient of pooled, (batch, TDim).</param>
    /// <param name="batch">The number of images.</param>
    public static void Backward<TTokens, TDim>(TensorPtr dtokens, TensorPtr dpooled, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        int t = TTokens.Value, d = TDim.Value;
        for (int b = 0; b < batch; b++)
        {
            var img = new Span<float>(dtokens.Pointer + (long)b * t * d, t * d);
            new ReadOnlySpan<float>(dpooled.Pointer + (long)b * d, d).CopyTo(img);
            img[d..].Clear();
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
            for (int i = 0; i < dim; i++) pooled[b * dim + i] = tokens[b * tokenCount * dim + i];
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
                    dtokens[(b * tokenCount + t) * dim + i] = t == 0 ? dpooled[b * dim + i] : 0;
    }
}
