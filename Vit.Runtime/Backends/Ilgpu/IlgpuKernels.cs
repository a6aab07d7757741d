using Vit.Backends.Device;
using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Numerics;

namespace Vit.Backends.Ilgpu;

/// <summary>
/// The backend contract on an ILGPU accelerator: each operation launches the ILGPU kernels that
/// compute it (<see cref="IlgpuKernelCode"/>) on the model's device buffers, through
/// <see cref="IlgpuModel"/>, with the same arguments and meaning as the CPU kernels.
/// </summary>
public readonly struct IlgpuKernels : IKernels<DevicePtr>
{
    private readonly IlgpuModel _model;

    internal IlgpuKernels(IlgpuModel model) => _model = model;

    /// <inheritdoc/>
    public DevicePtr Parameters => _model.Parameters;

    /// <inheritdoc/>
    public DevicePtr Gradients => _model.Gradients;

    /// <inheritdoc/>
    public DevicePtr Input => _model.Input;

    /// <inheritdoc/>
    public void PatchEmbeddingForward<TChannels, TImage, TPatch, TDim>(DevicePtr tokens, DevicePtr patches, DevicePtr images, DevicePtr weight, DevicePtr bias, int batch)
        where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim where TDim : struct, IDim
        => _model.PatchEmbeddingForward<TChannels, TImage, TPatch, TDim>(tokens, patches, images, weight, bias, batch);

    /// <inheritdoc/>
    public void PatchEmbeddingBackward<TChannels, TImage, TPatch, TDim>(DevicePtr dweight, DevicePtr dbias, DevicePtr dtokens, DevicePtr patches, int batch)
        where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim where TDim : struct, IDim
        => _model.PatchEmbeddingBackward<TChannels, TImage, TPatch, TDim>(dweight, dbias, dtokens, patches, batch);

    /// <inheritdoc/>
    public void PositionEmbeddingForward<TTokens, TDim>(DevicePtr tokens, DevicePtr classToken, DevicePtr positions, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => _model.PositionEmbeddingForward<TTokens, TDim>(tokens, classToken, positions, batch);

    /// <inheritdoc/>
    public void PositionEmbeddingBackward<TTokens, TDim>(DevicePtr dclassToken, DevicePtr dpositions, DevicePtr dtokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => _model.PositionEmbeddingBackward<TTokens, TDim>(dclassToken, dpositions, dtokens, batch);

    /// <inheritdoc/>
    public void LayerNormForward<TDim>(DevicePtr y, DevicePtr mean, DevicePtr rstd, DevicePtr x, DevicePtr weight, DevicePtr bias, int rows, float eps)
        where TDim : struct, IDim
        => _model.LayerNormForward<TDim>(y, mean, rstd, x, weight, bias, rows, eps);

    /// <inheritdoc/>
    public void LayerNormBackward<TDim>(DevicePtr dx, DevicePtr dweight, DevicePtr dbias, DevicePtr dy, DevicePtr x, DevicePtr mean, DevicePtr rstd, DevicePtr weight, int rows)
        where TDim : struct, IDim
        => _model.LayerNormBackward<TDim>(dx, dweight, dbias, dy, x, mean, rstd, weight, rows);

    /// <inheritdoc/>
    public void LinearForward<TIn, TOut>(DevicePtr y, DevicePtr x, DevicePtr w, DevicePtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => _model.Gemm(y, TOut.Value, x, TIn.Value, 1, w, 1, TIn.Value, b, DevicePtr.None, 0, rows, TOut.Value, TIn.Value, accumulate: false);

    /// <inheritdoc/>
    public void LinearForward<TIn, TOut>(DevicePtr y, DevicePtr x, long xStride, DevicePtr w, DevicePtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => _model.Gemm(y, TOut.Value, x, Vit.Backends.Cpu.Linear.CheckStride(xStride, TIn.Value), 1, w, 1, TIn.Value, b, DevicePtr.None, 0, rows, TOut.Value, TIn.Value, accumulate: false);

    /// <inheritdoc/>
    public void LinearForwardGelu<TIn, TOut>(DevicePtr activation, DevicePtr preActivation, DevicePtr x, DevicePtr w, DevicePtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => _model.Gemm(preActivation, TOut.Value, x, TIn.Value, 1, w, 1, TIn.Value, b, activation, TOut.Value, rows, TOut.Value, TIn.Value, accumulate: false);

    /// <inheritdoc/>
    public void LinearForwardGelu<TIn, TOut>(DevicePtr activation, long activationStride, DevicePtr preActivation, DevicePtr x, DevicePtr w, DevicePtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => _model.Gemm(preActivation, TOut.Value, x, TIn.Value, 1, w, 1, TIn.Value, b, activation, Vit.Backends.Cpu.Linear.CheckStride(activationStride, TOut.Value), rows, TOut.Value, TIn.Value, accumulate: false);

    /// <inheritdoc/>
    public void LinearForwardResidual<TIn, TOut>(DevicePtr y, DevicePtr x, DevicePtr w, DevicePtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => _model.Gemm(y, TOut.Value, x, TIn.Value, 1, w, 1, TIn.Value, b, DevicePtr.None, 0, rows, TOut.Value, TIn.Value, accumulate: true);

    /// <inheritdoc/>
    public void LinearBackward<TIn, TOut>(DevicePtr dx, DevicePtr dw, DevicePtr db, DevicePtr dy, DevicePtr x, DevicePtr w, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => _model.LinearBackward(dx, dw, db, dy, x, TIn.Value, w, rows, TIn.Value, TOut.Value);

    /// <inheritdoc/>
    public void LinearBackward<TIn, TOut>(DevicePtr dx, DevicePtr dw, DevicePtr db, DevicePtr dy, DevicePtr x, long xStride, DevicePtr w, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => _model.LinearBackward(dx, dw, db, dy, x, Vit.Backends.Cpu.Linear.CheckStride(xStride, TIn.Value), w, rows, TIn.Value, TOut.Value);

    /// <inheritdoc/>
    public void AttentionForward<TTokens, THeads, THeadDim>(DevicePtr output, DevicePtr probs, DevicePtr dropoutMask, DevicePtr qkv, int batch)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
        => _model.AttentionForward<TTokens, THeads, THeadDim>(output, probs, dropoutMask, qkv, batch);

    /// <inheritdoc/>
    public void AttentionBackward<TTokens, THeads, THeadDim>(DevicePtr dqkv, DevicePtr dprobs, DevicePtr doutput, DevicePtr probs, DevicePtr dropoutMask, DevicePtr qkv, int batch)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
        => _model.AttentionBackward<TTokens, THeads, THeadDim>(dqkv, dprobs, doutput, probs, dropoutMask, qkv, batch);

    /// <inheritdoc/>
    public void ResidualForward(DevicePtr output, DevicePtr input, DevicePtr branch, DevicePtr sampleScale, int batch, long perImage)
        => _model.ResidualForward(output, input, branch, sampleScale, batch, perImage);

    /// <inheritdoc/>
    public void ResidualBackward(DevicePtr dbranch, DevicePtr doutput, DevicePtr sampleScale, int batch, long perImage)
        => _model.ResidualBackward(dbranch, doutput, sampleScale, batch, perImage);

    /// <inheritdoc/>
    public void DropoutFillMask(DevicePtr mask, long count, float rate, ref Rng rng)
        => _model.DropoutFillMask(mask, count, rate, ref rng);

    /// <inheritdoc/>
    public void DropoutApply(DevicePtr x, DevicePtr mask, long count)
        => _model.DropoutApply(x, mask, count);

    /// <inheritdoc/>
    public void DropoutApply(DevicePtr x, long xStride, DevicePtr mask, int rows, int cols)
        => _model.DropoutApply(x, xStride, mask, rows, cols);

    /// <inheritdoc/>
    public void DropPathFillScales(DevicePtr scale, int batch, float rate, ref Rng rng)
        => _model.DropPathFillScales(scale, batch, rate, ref rng);

    /// <inheritdoc/>
    public void GeluBackward(DevicePtr dx, DevicePtr dy, DevicePtr x, long count)
        => _model.GeluBackward(dx, dy, x, count);

    /// <inheritdoc/>
    public void TanhForward(DevicePtr y, DevicePtr x, long count)
        => _model.TanhForward(y, x, count);

    /// <inheritdoc/>
    public void TanhBackward(DevicePtr dx, DevicePtr dy, DevicePtr y, long count)
        => _model.TanhBackward(dx, dy, y, count);

    /// <inheritdoc/>
    public void TokenPoolingForward<TTokens, TDim>(DevicePtr pooled, DevicePtr tokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => _model.PoolingForward<TTokens, TDim>(pooled, tokens, batch, mean: false);

    /// <inheritdoc/>
    public void TokenPoolingBackward<TTokens, TDim>(DevicePtr dtokens, DevicePtr dpooled, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => _model.PoolingBackward<TTokens, TDim>(dtokens, dpooled, batch, mean: false);

    /// <inheritdoc/>
    public void MeanPoolingForward<TTokens, TDim>(DevicePtr pooled, DevicePtr tokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => _model.PoolingForward<TTokens, TDim>(pooled, tokens, batch, mean: true);

    /// <inheritdoc/>
    public void MeanPoolingBackward<TTokens, TDim>(DevicePtr dtokens, DevicePtr dpooled, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => _model.PoolingBackward<TTokens, TDim>(dtokens, dpooled, batch, mean: true);

    /// <inheritdoc/>
    public void Zero(DevicePtr x, long count)
        => _model.Zero(x, count);

    /// <inheritdoc/>
    public void SoftmaxCrossEntropyForward<TClasses>(DevicePtr probs, DevicePtr logits, ReadOnlySpan<int> labels, int batch, float labelSmoothing)
        where TClasses : struct, IDim
        => _model.SoftmaxCrossEntropyForward<TClasses>(probs, logits, batch, labelSmoothing);

    /// <inheritdoc/>
    public void SoftmaxCrossEntropyBackward<TClasses>(DevicePtr dlogits, DevicePtr probs, ReadOnlySpan<int> labels, int batch, float labelSmoothing)
        where TClasses : struct, IDim
        => _model.SoftmaxCrossEntropyBackward<TClasses>(dlogits, probs, batch, labelSmoothing);

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
        => _model.LayerScaleForward<TDim>(y, x, gamma, rows);

    /// <inheritdoc/>
    public void LayerScaleBackward<TDim>(DevicePtr dx, DevicePtr dgamma, DevicePtr dy, DevicePtr x, DevicePtr gamma, int rows)
        where TDim : struct, IDim
        => _model.LayerScaleBackward<TDim>(dx, dgamma, dy, x, gamma, rows);
}
