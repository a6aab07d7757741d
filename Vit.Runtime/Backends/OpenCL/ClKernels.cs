using Vit.Backends.Device;
using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Numerics;

namespace Vit.Backends.OpenCL;

/// <summary>
/// The backend contract on an OpenCL device: each operation enqueues the <c>vit.cl</c> kernels
/// that compute it on the model's device buffers (<see cref="ClModel"/>'s step groups), with the
/// same arguments and meaning as the CPU kernels.
/// </summary>
public readonly struct ClKernels : IKernels<DevicePtr>
{
    private readonly ClModel _model;

    internal ClKernels(ClModel model) => _model = model;

    /// <inheritdoc/>
    public DevicePtr Parameters => _model.Parameters;

    /// <inheritdoc/>
    public DevicePtr Gradients => _model.Gradients;

    /// <inheritdoc/>
    public DevicePtr Input => _model.Input;

    /// <inheritdoc/>
    public void PatchEmbeddingForward<TChannels, TImage, TPatch, TDim>(DevicePtr tokens, DevicePtr patches, DevicePtr images, DevicePtr weight, DevicePtr bias, int batch)
        where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim where TDim : struct, IDim
        => _model.PatchEmbedding.Forward<TChannels, TImage, TPatch, TDim>(tokens, patches, images, weight, bias, batch);

    /// <inheritdoc/>
    public void PatchEmbeddingBackward<TChannels, TImage, TPatch, TDim>(DevicePtr dweight, DevicePtr dbias, DevicePtr dtokens, DevicePtr patches, int batch)
        where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim where TDim : struct, IDim
        => _model.PatchEmbedding.Backward<TChannels, TImage, TPatch, TDim>(dweight, dbias, dtokens, patches, batch);

    /// <inheritdoc/>
    public void PositionEmbeddingForward<TTokens, TDim>(DevicePtr tokens, DevicePtr classToken, DevicePtr positions, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => _model.PositionEmbedding.Forward<TTokens, TDim>(tokens, classToken, positions, batch);

    /// <inheritdoc/>
    public void PositionEmbeddingBackward<TTokens, TDim>(DevicePtr dclassToken, DevicePtr dpositions, DevicePtr dtokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => _model.PositionEmbedding.Backward<TTokens, TDim>(dclassToken, dpositions, dtokens, batch);

    /// <inheritdoc/>
    public void LayerNormForward<TDim>(DevicePtr y, DevicePtr mean, DevicePtr rstd, DevicePtr x, DevicePtr weight, DevicePtr bias, int rows, float eps)
        where TDim : struct, IDim
        => _model.LayerNorm.Forward<TDim>(y, mean, rstd, x, weight, bias, rows, eps);

    /// <inheritdoc/>
    public void LayerNormBackward<TDim>(DevicePtr dx, DevicePtr dweight, DevicePtr dbias, DevicePtr dy, DevicePtr x, DevicePtr mean, DevicePtr rstd, DevicePtr weight, int rows)
        where TDim : struct, IDim
        => _model.LayerNorm.Backward<TDim>(dx, dweight, dbias, dy, x, mean, rstd, weight, rows);

    /// <inheritdoc/>
    public void LinearForward<TIn, TOut>(DevicePtr y, DevicePtr x, DevicePtr w, DevicePtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => _model.Linear.Forward<TIn, TOut>(y, x, w, b, rows);

    /// <inheritdoc/>
    public void LinearForward<TIn, TOut>(DevicePtr y, DevicePtr x, long xStride, DevicePtr w, DevicePtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => _model.Linear.Forward<TIn, TOut>(y, x, xStride, w, b, rows);

    /// <inheritdoc/>
    public void LinearForwardGelu<TIn, TOut>(DevicePtr activation, DevicePtr preActivation, DevicePtr x, DevicePtr w, DevicePtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => _model.Linear.ForwardGelu<TIn, TOut>(activation, preActivation, x, w, b, rows);

    /// <inheritdoc/>
    public void LinearForwardGelu<TIn, TOut>(DevicePtr activation, long activationStride, DevicePtr preActivation, DevicePtr x, DevicePtr w, DevicePtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => _model.Linear.ForwardGelu<TIn, TOut>(activation, activationStride, preActivation, x, w, b, rows);

    /// <inheritdoc/>
    public void LinearForwardResidual<TIn, TOut>(DevicePtr y, DevicePtr x, DevicePtr w, DevicePtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => _model.Linear.ForwardResidual<TIn, TOut>(y, x, w, b, rows);

    /// <inheritdoc/>
    public void LinearBackward<TIn, TOut>(DevicePtr dx, DevicePtr dw, DevicePtr db, DevicePtr dy, DevicePtr x, DevicePtr w, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => _model.Linear.Backward<TIn, TOut>(dx, dw, db, dy, x, w, rows);

    /// <inheritdoc/>
    public void LinearBackward<TIn, TOut>(DevicePtr dx, DevicePtr dw, DevicePtr db, DevicePtr dy, DevicePtr x, long xStride, DevicePtr w, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => _model.Linear.Backward<TIn, TOut>(dx, dw, db, dy, x, xStride, w, rows);

    /// <inheritdoc/>
    public void AttentionForward<TTokens, THeads, THeadDim>(DevicePtr output, DevicePtr probs, DevicePtr dropoutMask, DevicePtr qkv, int batch)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
        => _model.Attention.Forward<TTokens, THeads, THeadDim>(output, probs, dropoutMask, qkv, batch);

    /// <inheritdoc/>
    public void AttentionBackward<TTokens, THeads, THeadDim>(DevicePtr dqkv, DevicePtr dprobs, DevicePtr doutput, DevicePtr probs, DevicePtr dropoutMask, DevicePtr qkv, int batch)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
        => _model.Attention.Backward<TTokens, THeads, THeadDim>(dqkv, dprobs, doutput, probs, dropoutMask, qkv, batch);

    /// <inheritdoc/>
    public void ResidualForward(DevicePtr output, DevicePtr input, DevicePtr branch, DevicePtr sampleScale, int batch, long perImage)
        => _model.Residual.Forward(output, input, branch, sampleScale, batch, perImage);

    /// <inheritdoc/>
    public void ResidualBackward(DevicePtr dbranch, DevicePtr doutput, DevicePtr sampleScale, int batch, long perImage)
        => _model.Residual.Backward(dbranch, doutput, sampleScale, batch, perImage);

    /// <inheritdoc/>
    public void DropoutFillMask(DevicePtr mask, long count, float rate, ref Rng rng)
        => _model.Dropout.FillMask(mask, count, rate, ref rng);

    /// <inheritdoc/>
    public void DropoutApply(DevicePtr x, DevicePtr mask, long count)
        => _model.Dropout.Apply(x, mask, count);

    /// <inheritdoc/>
    public void DropoutApply(DevicePtr x, long xStride, DevicePtr mask, int rows, int cols)
        => _model.Dropout.Apply(x, xStride, mask, rows, cols);

    /// <inheritdoc/>
    public void DropPathFillScales(DevicePtr scale, int batch, float rate, ref Rng rng)
        => _model.DropPath.FillScales(scale, batch, rate, ref rng);

    /// <inheritdoc/>
    public void GeluBackward(DevicePtr dx, DevicePtr dy, DevicePtr x, long count)
        => _model.Gelu.Backward(dx, dy, x, count);

    /// <inheritdoc/>
    public void TanhForward(DevicePtr y, DevicePtr x, long count)
        => _model.Tanh.Forward(y, x, count);

    /// <inheritdoc/>
    public void TanhBackward(DevicePtr dx, DevicePtr dy, DevicePtr y, long count)
        => _model.Tanh.Backward(dx, dy, y, count);

    /// <inheritdoc/>
    public void TokenPoolingForward<TTokens, TDim>(DevicePtr pooled, DevicePtr tokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => _model.TokenPooling.Forward<TTokens, TDim>(pooled, tokens, batch);

    /// <inheritdoc/>
    public void TokenPoolingBackward<TTokens, TDim>(DevicePtr dtokens, DevicePtr dpooled, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => _model.TokenPooling.Backward<TTokens, TDim>(dtokens, dpooled, batch);

    /// <inheritdoc/>
    public void MeanPoolingForward<TTokens, TDim>(DevicePtr pooled, DevicePtr tokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => _model.MeanPooling.Forward<TTokens, TDim>(pooled, tokens, batch);

    /// <inheritdoc/>
    public void MeanPoolingBackward<TTokens, TDim>(DevicePtr dtokens, DevicePtr dpooled, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => _model.MeanPooling.Backward<TTokens, TDim>(dtokens, dpooled, batch);

    /// <inheritdoc/>
    public void Zero(DevicePtr x, long count)
        => _model.Fill.Zero(x, count);

    /// <inheritdoc/>
    public void SoftmaxCrossEntropyForward<TClasses>(DevicePtr probs, DevicePtr logits, ReadOnlySpan<int> labels, int batch, float labelSmoothing)
        where TClasses : struct, IDim
        => _model.SoftmaxCrossEntropy.Forward<TClasses>(probs, logits, labels, batch, labelSmoothing);

    /// <inheritdoc/>
    public void SoftmaxCrossEntropyBackward<TClasses>(DevicePtr dlogits, DevicePtr probs, ReadOnlySpan<int> labels, int batch, float labelSmoothing)
        where TClasses : struct, IDim
        => _model.SoftmaxCrossEntropy.Backward<TClasses>(dlogits, probs, labels, batch, labelSmoothing);

    /// <inheritdoc/>
    /// <remarks>
    /// Nothing to do: the gradients stay on the device until the optimizer's kernels read them there,
    /// and data-parallel training (the only observer) runs on the CPU backend.
    /// </remarks>
    public void GradientsFinal(long from)
    {
    }

    /// <inheritdoc/>
    public void LayerScaleForward<TDim>(DevicePtr y, DevicePtr x, DevicePtr gamma, int rows)
        where TDim : struct, IDim
        => _model.LayerScale.Forward(y, x, gamma, rows, TDim.Value);

    /// <inheritdoc/>
    public void LayerScaleBackward<TDim>(DevicePtr dx, DevicePtr dgamma, DevicePtr dy, DevicePtr x, DevicePtr gamma, int rows)
        where TDim : struct, IDim
        => _model.LayerScale.Backward(dx, dgamma, dy, x, gamma, rows, TDim.Value);
}
