using System.Numerics.Tensors;
using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>timm's class token and learned absolute position embedding (<c>cls_token</c>, <c>pos_embed</c>).</summary>
public static unsafe class PositionEmbedding
{
    /// <summary>In place: tokens[b, 0] = classToken, then tokens[b, t] += positions[t] for every row.</summary>
    /// <param name="tokens">Tokens, (batch, TTokens, TDim), updated in place.</param>
    /// <param name="classToken">Class token, (TDim).</param>
    /// <param name="positions">Position embedding, (TTokens, TDim).</param>
    /// <param name="batch">The number of images.</param>
    public static void Forward<TTokens, TDim>(TensorPtr tokens, TensorPtr classToken, TensorPtr positions, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        int t = TTokens.Value, d = TDim.Value;
        var pos = new ReadOnlySpan<float>(positions.Pointer, t * d);
        for (int b = 0; b < batch; b++)
        {
            var img = new Span<float>(tokens.Pointer + (long)b * t * d, t * d);
            new ReadOnlySpan<float>(classToken.Pointer, d).CopyTo(img);
            TensorPrimitives.Add(img, pos, img);
        }
    }

    /// <summary>Backward: dclassToken += Σ_b dtokens[b, 0]; dpositions += Σ_b dtokens[b].</summary>
    /// <param name="dclassToken">Class token gradient, (TDim), accumulated.</param>
    /// <param name="dpositions">Position embedding gradient, (TTokens, TDim), accumulated.</param>
    /// <param name="dtokens">Token gradient, (batch, TTokens, TDim).</param>
    /// <param name="batch">The number of images.</param>
    public static void Backward<TTokens, TDim>(TensorPtr dclassToken, TensorPtr dpositions, TensorPtr dtokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        int t = TTokens.Value, d = TDim.Value;
        var dpos = new Span<float>(dpositions.Pointer, t * d);
        var dcls = new Span<float>(dclassToken.Pointer, d);
        for (int b = 0; b < batch; b++)
        {
            var g = new ReadOnlySpan<float>(dtokens.Pointer + (long)b * t * d, t * d);
            TensorPrimitives.Add(dpos, g, dpos);
            TensorPrimitives.Add(dcls, g[..d], dcls);
        }
    }

    /// <summary>Scalar reference of the forward pass (in place).</summary>
    /// <param name="tokens">(batch, tokens, dim).</param>
    /// <param name="classToken">(dim).</param>
    /// <param name="positions">(tokens, dim).</param>
    /// <param name="batch">Images.</param>
    /// <param name="tokenCount">Tokens per image.</param>
    /// <param name="dim">Dimension.</param>
    public static void ReferenceForward(double[] tokens, double[] classToken, double[] positions, int batch, int tokenCount, int dim)
    {
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < tokenCount; t++)
                for (int i = 0; i < dim; i++)
                {
                    int k = (b * tokenCount + t) * dim + i;
                    tokens[k] = (t == 0 ? classToken[i] : tokens[k]) + positions[t * dim + i];
                }
    }

    /// <summary>Scalar reference of the backward pass (accumulates).</summary>
    /// <param name="dclassToken">(dim).</param>
    /// <param name="dpositions">(tokens, dim).</param>
    /// <param name="dtokens">(batch, tokens, dim).</param>
    /// <param name="batch">Images.</param>
    /// <param name="tokenCount">Tokens per image.</param>
    /// <param name="dim">Dimension.</param>
    public static void ReferenceBackward(double[] dclassToken, double[] dpositions, double[] dtokens, int batch, int tokenCount, int dim)
    {
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < tokenCount; t++)
                for (int i = 0; i < dim; i++)
                {
                    double g = dtokens[(b * tokenCount + t) * dim + i];
                    dpositions[t * dim + i] += g;
                    if (t == 0) dclassToken[i] += g;
                }
    }
}
