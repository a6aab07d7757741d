using System.Diagnostics;
using Vit.Numerics;

namespace Vit.Backends;

/// <summary>
/// <typeparamref name="TInner"/>'s kernels, each call timed into a <see cref="KernelProfile"/> with its
/// shape and FLOPs: the generated model runs over it unchanged (it is generic over its kernels), so
/// the profile is the real pass, kernel by kernel. The cost is two timestamps and a dictionary update
/// per call, a few hundred per ViT-B/16 forward.
/// </summary>
/// <typeparam name="TInner">The backend's kernels.</typeparam>
/// <typeparam name="TPtr">Its tensor pointer.</typeparam>
public readonly struct ProfiledKernels<TInner, TPtr> : IKernels<TPtr>
    where TInner : struct, IKernels<TPtr> where TPtr : struct, ITensorPointer<TPtr>
{
    private readonly TInner _inner;
    private readonly KernelProfile _profile;

    /// <summary>Times <paramref name="inner"/>'s calls into <paramref name="profile"/>.</summary>
    public ProfiledKernels(TInner inner, KernelProfile profile)
    {
        _inner = inner;
        _profile = profile ?? throw new ArgumentNullException(nameof(profile));
    }

    /// <inheritdoc/>
    public TPtr Parameters => _inner.Parameters;

    /// <inheritdoc/>
    public TPtr Gradients => _inner.Gradients;

    /// <inheritdoc/>
    public TPtr Input => _inner.Input;

    private static long Now => Stopwatch.GetTimestamp();

    // 2·rows·in·out: one product of x (rows × in) with wᵀ (in × out).
    private static double Product(int rows, int nIn, int nOut) => 2.0 * rows * nIn * nOut;

    /// <inheritdoc/>
    public void PatchEmbeddingForward<TChannels, TImage, TPatch, TDim>(TPtr tokens, TPtr patches, TPtr images, TPtr weight, TPtr bias, int batch)
        where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim where TDim : struct, IDim
    {
        long t = Now;
        _inner.PatchEmbeddingForward<TChannels, TImage, TPatch, TDim>(tokens, patches, images, weight, bias, batch);
        int grid = TImage.Value / TPatch.Value;
        _profile.Add("PatchEmbeddingForward", batch, TChannels.Value, TImage.Value, TPatch.Value, t,
            Product(batch * grid * grid, TChannels.Value * TPatch.Value * TPatch.Value, TDim.Value));
    }

    /// <inheritdoc/>
    public void PatchEmbeddingBackward<TChannels, TImage, TPatch, TDim>(TPtr dweight, TPtr dbias, TPtr dtokens, TPtr patches, int batch)
        where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim where TDim : struct, IDim
    {
        long t = Now;
        _inner.PatchEmbeddingBackward<TChannels, TImage, TPatch, TDim>(dweight, dbias, dtokens, patches, batch);
        int grid = TImage.Value / TPatch.Value;
        _profile.Add("PatchEmbeddingBackward", batch, TChannels.Value, TImage.Value, TPatch.Value, t,
            Product(batch * grid * grid, TChannels.Value * TPatch.Value * TPatch.Value, TDim.Value));
    }

    /// <inheritdoc/>
    public void PositionEmbeddingForward<TTokens, TDim>(TPtr tokens, TPtr classToken, TPtr positions, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        long t = Now;
        _inner.PositionEmbeddingForward<TTokens, TDim>(tokens, classToken, positions, batch);
        _profile.Add("PositionEmbeddingForward", batch, TTokens.Value, TDim.Value, 0, t, 0);
    }

    /// <inheritdoc/>
    public void PositionEmbeddingBackward<TTokens, TDim>(TPtr dclassToken, TPtr dpositions, TPtr dtokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        long t = Now;
        _inner.PositionEmbeddingBackward<TTokens, TDim>(dclassToken, dpositions, dtokens, batch);
        _profile.Add("PositionEmbeddingBackward", batch, TTokens.Value, TDim.Value, 0, t, 0);
    }

    /// <inheritdoc/>
    public void LayerNormForward<TDim>(TPtr y, TPtr mean, TPtr rstd, TPtr x, TPtr weight, TPtr bias, int rows, float eps)
        where TDim : struct, IDim
    {
        long t = Now;
        _inner.LayerNormForward<TDim>(y, mean, rstd, x, weight, bias, rows, eps);
        _profile.Add("LayerNormForward", rows, TDim.Value, 0, 0, t, 0);
    }

    /// <inheritdoc/>
    public void LayerNormBackward<TDim>(TPtr dx, TPtr dweight, TPtr dbias, TPtr dy, TPtr x, TPtr mean, TPtr rstd, TPtr weight, int rows)
        where TDim : struct, IDim
    {
        long t = Now;
        _inner.LayerNormBackward<TDim>(dx, dweight, dbias, dy, x, mean, rstd, weight, rows);
        _profile.Add("LayerNormBackward", rows, TDim.Value, 0, 0, t, 0);
    }

    /// <inheritdoc/>
    public void LinearForward<TIn, TOut>(TPtr y, TPtr x, TPtr w, TPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
    {
        long t = Now;
        _inner.LinearForward<TIn, TOut>(y, x, w, b, rows);
        _profile.Add("LinearForward", rows, TIn.Value, TOut.Value, 0, t, Product(rows, TIn.Value, TOut.Value));
    }

    /// <inheritdoc/>
    public void LinearForward<TIn, TOut>(TPtr y, TPtr x, long xStride, TPtr w, TPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
    {
        long t = Now;
        _inner.LinearForward<TIn, TOut>(y, x, xStride, w, b, rows);
        _profile.Add("LinearForward", rows, TIn.Value, TOut.Value, 0, t, Product(rows, TIn.Value, TOut.Value));
    }

    /// <inheritdoc/>
    public void LinearForwardGelu<TIn, TOut>(TPtr activation, TPtr preActivation, TPtr x, TPtr w, TPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
    {
        long t = Now;
        _inner.LinearForwardGelu<TIn, TOut>(activation, preActivation, x, w, b, rows);
        _profile.Add("LinearForwardGelu", rows, TIn.Value, TOut.Value, 0, t, Product(rows, TIn.Value, TOut.Value));
    }

    /// <inheritdoc/>
    public void LinearForwardGelu<TIn, TOut>(TPtr activation, long activationStride, TPtr preActivation, TPtr x, TPtr w, TPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
    {
        long t = Now;
        _inner.LinearForwardGelu<TIn, TOut>(activation, activationStride, preActivation, x, w, b, rows);
        _profile.Add("LinearForwardGelu", rows, TIn.Value, TOut.Value, 0, t, Product(rows, TIn.Value, TOut.Value));
    }

    /// <inheritdoc/>
    public void LinearForwardResidual<TIn, TOut>(TPtr y, TPtr x, TPtr w, TPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
    {
        long t = Now;
        _inner.LinearForwardResidual<TIn, TOut>(y, x, w, b, rows);
        _profile.Add("LinearForwardResidual", rows, TIn.Value, TOut.Value, 0, t, Product(rows, TIn.Value, TOut.Value));
    }

    // dw = dyᵀ·x always; dx = dy·w when the layer has an input gradient.
    private static double BackwardProducts(TPtr dx, int rows, int nIn, int nOut) => (dx.IsNull ? 1 : 2) * Product(rows, nIn, nOut);

    /// <inheritdoc/>
    public void LinearBackward<TIn, TOut>(TPtr dx, TPtr dw, TPtr db, TPtr dy, TPtr x, TPtr w, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
    {
        long t = Now;
        _inner.LinearBackward<TIn, TOut>(dx, dw, db, dy, x, w, rows);
        _profile.Add("LinearBackward", rows, TIn.Value, TOut.Value, 0, t, BackwardProducts(dx, rows, TIn.Value, TOut.Value));
    }

    /// <inheritdoc/>
    public void LinearBackward<TIn, TOut>(TPtr dx, TPtr dw, TPtr db, TPtr dy, TPtr x, long xStride, TPtr w, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
    {
        long t = Now;
        _inner.LinearBackward<TIn, TOut>(dx, dw, db, dy, x, xStride, w, rows);
        _profile.Add("LinearBackward", rows, TIn.Value, TOut.Value, 0, t, BackwardProducts(dx, rows, TIn.Value, TOut.Value));
    }

    /// <inheritdoc/>
    public void AttentionForward<TTokens, THeads, THeadDim>(TPtr output, TPtr probs, TPtr dropoutMask, TPtr qkv, int batch)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
    {
        long t = Now;
        _inner.AttentionForward<TTokens, THeads, THeadDim>(output, probs, dropoutMask, qkv, batch);
        // q·kᵀ and P·v per image and head: 2 · 2·T²·hd.
        _profile.Add("AttentionForward", batch, THeads.Value, TTokens.Value, THeadDim.Value, t,
            4.0 * batch * THeads.Value * TTokens.Value * TTokens.Value * THeadDim.Value);
    }

    /// <inheritdoc/>
    public void AttentionBackward<TTokens, THeads, THeadDim>(TPtr dqkv, TPtr dprobs, TPtr doutput, TPtr probs, TPtr dropoutMask, TPtr qkv, int batch)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
    {
        long t = Now;
        _inner.AttentionBackward<TTokens, THeads, THeadDim>(dqkv, dprobs, doutput, probs, dropoutMask, qkv, batch);
        // dv, dP, dq, dk: four products of 2·T²·hd per image and head.
        _profile.Add("AttentionBackward", batch, THeads.Value, TTokens.Value, THeadDim.Value, t,
            8.0 * batch * THeads.Value * TTokens.Value * TTokens.Value * THeadDim.Value);
    }

    /// <inheritdoc/>
    public void LayerScaleForward<TDim>(TPtr y, TPtr x, TPtr gamma, int rows)
        where TDim : struct, IDim
    {
        long t = Now;
        _inner.LayerScaleForward<TDim>(y, x, gamma, rows);
        _profile.Add("LayerScaleForward", rows, TDim.Value, 0, 0, t, 0);
    }

    /// <inheritdoc/>
    public void LayerScaleBackward<TDim>(TPtr dx, TPtr dgamma, TPtr dy, TPtr x, TPtr gamma, int rows)
        where TDim : struct, IDim
    {
        long t = Now;
        _inner.LayerScaleBackward<TDim>(dx, dgamma, dy, x, gamma, rows);
        _profile.Add("LayerScaleBackward", rows, TDim.Value, 0, 0, t, 0);
    }

    /// <inheritdoc/>
    public void ResidualForward(TPtr output, TPtr input, TPtr branch, TPtr sampleScale, int batch, long perImage)
    {
        long t = Now;
        _inner.ResidualForward(output, input, branch, sampleScale, batch, perImage);
        _profile.Add("ResidualForward", 0, 0, 0, batch * perImage, t, 0);
    }

    /// <inheritdoc/>
    public void ResidualBackward(TPtr dbranch, TPtr doutput, TPtr sampleScale, int batch, long perImage)
    {
        long t = Now;
        _inner.ResidualBackward(dbranch, doutput, sampleScale, batch, perImage);
        _profile.Add("ResidualBackward", 0, 0, 0, batch * perImage, t, 0);
    }

    /// <inheritdoc/>
    public void DropoutFillMask(TPtr mask, long count, float rate, ref Rng rng)
    {
        long t = Now;
        _inner.DropoutFillMask(mask, count, rate, ref rng);
        _profile.Add("DropoutFillMask", 0, 0, 0, count, t, 0);
    }

    /// <inheritdoc/>
    public void DropoutApply(TPtr x, TPtr mask, long count)
    {
        long t = Now;
        _inner.DropoutApply(x, mask, count);
        _profile.Add("DropoutApply", 0, 0, 0, count, t, 0);
    }

    /// <inheritdoc/>
    public void DropoutApply(TPtr x, long xStride, TPtr mask, int rows, int cols)
    {
        long t = Now;
        _inner.DropoutApply(x, xStride, mask, rows, cols);
        _profile.Add("DropoutApply", rows, cols, 0, 0, t, 0);
    }

    /// <inheritdoc/>
    public void DropPathFillScales(TPtr scale, int batch, float rate, ref Rng rng)
    {
        long t = Now;
        _inner.DropPathFillScales(scale, batch, rate, ref rng);
        _profile.Add("DropPathFillScales", batch, 0, 0, 0, t, 0);
    }

    /// <inheritdoc/>
    public void GeluBackward(TPtr dx, TPtr dy, TPtr x, long count)
    {
        long t = Now;
        _inner.GeluBackward(dx, dy, x, count);
        _profile.Add("GeluBackward", 0, 0, 0, count, t, 0);
    }

    /// <inheritdoc/>
    public void TanhForward(TPtr y, TPtr x, long count)
    {
        long t = Now;
        _inner.TanhForward(y, x, count);
        _profile.Add("TanhForward", 0, 0, 0, count, t, 0);
    }

    /// <inheritdoc/>
    public void TanhBackward(TPtr dx, TPtr dy, TPtr y, long count)
    {
        long t = Now;
        _inner.TanhBackward(dx, dy, y, count);
        _profile.Add("TanhBackward", 0, 0, 0, count, t, 0);
    }

    /// <inheritdoc/>
    public void TokenPoolingForward<TTokens, TDim>(TPtr pooled, TPtr tokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        long t = Now;
        _inner.TokenPoolingForward<TTokens, TDim>(pooled, tokens, batch);
        _profile.Add("TokenPoolingForward", batch, TTokens.Value, TDim.Value, 0, t, 0);
    }

    /// <inheritdoc/>
    public void TokenPoolingBackward<TTokens, TDim>(TPtr dtokens, TPtr dpooled, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        long t = Now;
        _inner.TokenPoolingBackward<TTokens, TDim>(dtokens, dpooled, batch);
        _profile.Add("TokenPoolingBackward", batch, TTokens.Value, TDim.Value, 0, t, 0);
    }

    /// <inheritdoc/>
    public void MeanPoolingForward<TTokens, TDim>(TPtr pooled, TPtr tokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        long t = Now;
        _inner.MeanPoolingForward<TTokens, TDim>(pooled, tokens, batch);
        _profile.Add("MeanPoolingForward", batch, TTokens.Value, TDim.Value, 0, t, 0);
    }

    /// <inheritdoc/>
    public void MeanPoolingBackward<TTokens, TDim>(TPtr dtokens, TPtr dpooled, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        long t = Now;
        _inner.MeanPoolingBackward<TTokens, TDim>(dtokens, dpooled, batch);
        _profile.Add("MeanPoolingBackward", batch, TTokens.Value, TDim.Value, 0, t, 0);
    }

    /// <inheritdoc/>
    public void Zero(TPtr x, long count)
    {
        long t = Now;
        _inner.Zero(x, count);
        _profile.Add("Zero", 0, 0, 0, count, t, 0);
    }

    /// <inheritdoc/>
    public void SoftmaxCrossEntropyForward<TClasses>(TPtr probs, TPtr logits, ReadOnlySpan<int> labels, int batch, float labelSmoothing)
        where TClasses : struct, IDim
    {
        long t = Now;
        _inner.SoftmaxCrossEntropyForward<TClasses>(probs, logits, labels, batch, labelSmoothing);
        _profile.Add("SoftmaxCrossEntropyForward", batch, TClasses.Value, 0, 0, t, 0);
    }

    /// <inheritdoc/>
    public void SoftmaxCrossEntropyBackward<TClasses>(TPtr dlogits, TPtr probs, ReadOnlySpan<int> labels, int batch, float labelSmoothing)
        where TClasses : struct, IDim
    {
        long t = Now;
        _inner.SoftmaxCrossEntropyBackward<TClasses>(dlogits, probs, labels, batch, labelSmoothing);
        _profile.Add("SoftmaxCrossEntropyBackward", batch, TClasses.Value, 0, 0, t, 0);
    }

    /// <inheritdoc/>
    public void GradientsFinal(long from)
    {
        long t = Now;
        _inner.GradientsFinal(from);
        _profile.Add("GradientsFinal", 0, 0, 0, 0, t, 0);
    }
}
