using System.Runtime.CompilerServices;
using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Memory;
using Vit.Numerics;

namespace Vit.Backends.Cpu;

/// <summary>
/// The backend contract on the CPU: each operation is the SIMD kernel of the same name in
/// <c>Vit.Backends.Cpu</c>, on the model's native memory. A struct, so the generated passes are
/// compiled once for it and every call is direct.
/// </summary>
public readonly struct CpuKernels : IKernels<TensorPtr>
{
    private readonly CpuRunner _runner;

    internal CpuKernels(CpuRunner runner) => _runner = runner;

    /// <inheritdoc/>
    public TensorPtr Parameters => _runner.Memory.Parameters.Start;

    /// <inheritdoc/>
    public TensorPtr Gradients => _runner.Memory.Gradients.Start;

    /// <inheritdoc/>
    public TensorPtr Input => _runner.Memory.Input;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PatchEmbeddingForward<TChannels, TImage, TPatch, TDim>(TensorPtr tokens, TensorPtr patches, TensorPtr images, TensorPtr weight, TensorPtr bias, int batch)
        where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim where TDim : struct, IDim
        => PatchEmbedding.Forward<TChannels, TImage, TPatch, TDim>(tokens, patches, images, weight, bias, batch,
            _runner.Memory.Precision == Precision.Bf16 ? _runner.Memory.Bf16 : null, _runner.Memory, _runner.InferencePass);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PatchEmbeddingBackward<TChannels, TImage, TPatch, TDim>(TensorPtr dweight, TensorPtr dbias, TensorPtr dtokens, TensorPtr patches, int batch)
        where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim where TDim : struct, IDim
        => PatchEmbedding.Backward<TChannels, TImage, TPatch, TDim>(dweight, dbias, dtokens, patches, batch,
            _runner.Memory.Precision == Precision.Bf16 ? _runner.Memory.Bf16 : null, _runner.Memory);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PositionEmbeddingForward<TTokens, TDim>(TensorPtr tokens, TensorPtr classToken, TensorPtr positions, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => PositionEmbedding.Forward<TTokens, TDim>(tokens, classToken, positions, batch);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PositionEmbeddingBackward<TTokens, TDim>(TensorPtr dclassToken, TensorPtr dpositions, TensorPtr dtokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => PositionEmbedding.Backward<TTokens, TDim>(dclassToken, dpositions, dtokens, batch);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void LayerNormForward<TDim>(TensorPtr y, TensorPtr mean, TensorPtr rstd, TensorPtr x, TensorPtr weight, TensorPtr bias, int rows, float eps)
        where TDim : struct, IDim
        => LayerNorm.Forward<TDim>(y, mean, rstd, x, weight, bias, rows, eps);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void LayerNormBackward<TDim>(TensorPtr dx, TensorPtr dweight, TensorPtr dbias, TensorPtr dy, TensorPtr x, TensorPtr mean, TensorPtr rstd, TensorPtr weight, int rows)
        where TDim : struct, IDim
        => LayerNorm.Backward<TDim>(dx, dweight, dbias, dy, x, mean, rstd, weight, rows);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void LinearForward<TIn, TOut>(TensorPtr y, TensorPtr x, TensorPtr w, TensorPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
    {
        if (_runner.Memory.Precision == Precision.Bf16)
            _runner.Memory.Bf16.Forward(_runner.Memory, y, TOut.Value, x, TIn.Value, w, b, rows, TIn.Value, TOut.Value, accumulate: false, _runner.InferencePass);
        else if (_runner.Inference) Packed<TIn, TOut>(y, x, TIn.Value, w, b, rows, accumulate: false);
        else Linear.Forward<TIn, TOut>(y, x, w, b, rows);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void LinearForward<TIn, TOut>(TensorPtr y, TensorPtr x, long xStride, TensorPtr w, TensorPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
    {
        if (_runner.Memory.Precision == Precision.Bf16)
            _runner.Memory.Bf16.Forward(_runner.Memory, y, TOut.Value, x, xStride, w, b, rows, TIn.Value, TOut.Value, accumulate: false, _runner.InferencePass);
        else if (_runner.Inference) Packed<TIn, TOut>(y, x, Linear.CheckStride(xStride, TIn.Value), w, b, rows, accumulate: false);
        else Linear.Forward<TIn, TOut>(y, x, xStride, w, b, rows);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void LinearForwardGelu<TIn, TOut>(TensorPtr activation, TensorPtr preActivation, TensorPtr x, TensorPtr w, TensorPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
        => LinearForwardGelu<TIn, TOut>(activation, TOut.Value, preActivation, x, w, b, rows);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void LinearForwardGelu<TIn, TOut>(TensorPtr activation, long activationStride, TensorPtr preActivation, TensorPtr x, TensorPtr w, TensorPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
    {
        if (_runner.Memory.Precision != Precision.Bf16 && _runner.Inference)
        {
            var packed = _runner.Memory.PackedWeights.For(_runner.Memory, w.Pointer, TIn.Value, TOut.Value);
            Gemm.MultiplyPacked(preActivation.Pointer, TOut.Value, x.Pointer, TIn.Value, 1, packed, rows, b.Pointer, accumulate: false,
                activation.Pointer, Linear.CheckStride(activationStride, TOut.Value));
            return;
        }
        if (_runner.Memory.Precision != Precision.Bf16)
        {
            Linear.ForwardGelu<TIn, TOut>(activation, activationStride, preActivation, x, w, b, rows);
            return;
        }
        // bf16 product into preActivation, GELU (fp32) into the activation.
        _runner.Memory.Bf16.Forward(_runner.Memory, preActivation, TOut.Value, x, TIn.Value, w, b, rows, TIn.Value, TOut.Value, accumulate: false, _runner.InferencePass,
            activation, Linear.CheckStride(activationStride, TOut.Value));
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void LinearForwardResidual<TIn, TOut>(TensorPtr y, TensorPtr x, TensorPtr w, TensorPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
    {
        if (_runner.Memory.Precision == Precision.Bf16)
            _runner.Memory.Bf16.Forward(_runner.Memory, y, TOut.Value, x, TIn.Value, w, b, rows, TIn.Value, TOut.Value, accumulate: true, _runner.InferencePass);
        else if (_runner.Inference) Packed<TIn, TOut>(y, x, TIn.Value, w, b, rows, accumulate: true);
        else Linear.ForwardResidual<TIn, TOut>(y, x, w, b, rows);
    }

    // Inference in fp32: y (+)= x·wᵀ + b with w packed once per parameter version (PackedWeights).
    private unsafe void Packed<TIn, TOut>(TensorPtr y, TensorPtr x, long ldx, TensorPtr w, TensorPtr b, int rows, bool accumulate)
        where TIn : struct, IDim where TOut : struct, IDim
    {
        var packed = _runner.Memory.PackedWeights.For(_runner.Memory, w.Pointer, TIn.Value, TOut.Value);
        Gemm.MultiplyPacked(y.Pointer, TOut.Value, x.Pointer, ldx, 1, packed, rows, b.Pointer, accumulate);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void LinearBackward<TIn, TOut>(TensorPtr dx, TensorPtr dw, TensorPtr db, TensorPtr dy, TensorPtr x, TensorPtr w, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
    {
        if (_runner.Memory.Precision == Precision.Bf16) Bf16Backward(dx, dw, db, dy, x, TIn.Value, w, rows, TIn.Value, TOut.Value);
        else Linear.Backward<TIn, TOut>(dx, dw, db, dy, x, w, rows);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void LinearBackward<TIn, TOut>(TensorPtr dx, TensorPtr dw, TensorPtr db, TensorPtr dy, TensorPtr x, long xStride, TensorPtr w, int rows)
        where TIn : struct, IDim where TOut : struct, IDim
    {
        if (_runner.Memory.Precision == Precision.Bf16) Bf16Backward(dx, dw, db, dy, x, Linear.CheckStride(xStride, TIn.Value), w, rows, TIn.Value, TOut.Value);
        else Linear.Backward<TIn, TOut>(dx, dw, db, dy, x, xStride, w, rows);
    }

    // Mixed precision: dx = dy·W and dW += dyᵀ·x in bf16 with fp32 accumulation; the bias gradient in fp32.
    private unsafe void Bf16Backward(TensorPtr dx, TensorPtr dw, TensorPtr db, TensorPtr dy, TensorPtr x, long ldx, TensorPtr w, int rows, int nIn, int nOut)
    {
        _runner.Memory.Bf16.Backward(_runner.Memory, dx.Pointer, dw.Pointer, dy.Pointer, x.Pointer, ldx, w.Pointer, rows, nIn, nOut);
        if (!db.IsNull) ColumnSums.Add(db.Pointer, dy.Pointer, rows, nOut);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AttentionForward<TTokens, THeads, THeadDim>(TensorPtr output, TensorPtr probs, TensorPtr dropoutMask, TensorPtr qkv, int batch)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
        => Attention.Forward<TTokens, THeads, THeadDim>(output, probs, dropoutMask, qkv, batch, _runner.Memory.Precision);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AttentionBackward<TTokens, THeads, THeadDim>(TensorPtr dqkv, TensorPtr dprobs, TensorPtr doutput, TensorPtr probs, TensorPtr dropoutMask, TensorPtr qkv, int batch)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
        => Attention.Backward<TTokens, THeads, THeadDim>(dqkv, dprobs, doutput, probs, dropoutMask, qkv, batch, _runner.Memory.Precision);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ResidualForward(TensorPtr output, TensorPtr input, TensorPtr branch, TensorPtr sampleScale, int batch, long perImage)
        => Residual.Forward(output, input, branch, sampleScale, batch, perImage);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ResidualBackward(TensorPtr dbranch, TensorPtr doutput, TensorPtr sampleScale, int batch, long perImage)
        => Residual.Backward(dbranch, doutput, sampleScale, batch, perImage);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void DropoutFillMask(TensorPtr mask, long count, float rate, ref Rng rng)
        => Dropout.FillMask(mask, count, rate, ref rng);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void DropoutApply(TensorPtr x, TensorPtr mask, long count)
        => Dropout.Apply(x, mask, count);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void DropoutApply(TensorPtr x, long xStride, TensorPtr mask, int rows, int cols)
        => Dropout.Apply(x, xStride, mask, rows, cols);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void DropPathFillScales(TensorPtr scale, int batch, float rate, ref Rng rng)
        => DropPath.FillScales(scale, batch, rate, ref rng);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void GeluBackward(TensorPtr dx, TensorPtr dy, TensorPtr x, long count)
        => Gelu.Backward(dx, dy, x, count);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void TanhForward(TensorPtr y, TensorPtr x, long count)
        => Tanh.Forward(y, x, count);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void TanhBackward(TensorPtr dx, TensorPtr dy, TensorPtr y, long count)
        => Tanh.Backward(dx, dy, y, count);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void TokenPoolingForward<TTokens, TDim>(TensorPtr pooled, TensorPtr tokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => TokenPooling.Forward<TTokens, TDim>(pooled, tokens, batch);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void TokenPoolingBackward<TTokens, TDim>(TensorPtr dtokens, TensorPtr dpooled, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => TokenPooling.Backward<TTokens, TDim>(dtokens, dpooled, batch);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MeanPoolingForward<TTokens, TDim>(TensorPtr pooled, TensorPtr tokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => MeanPooling.Forward<TTokens, TDim>(pooled, tokens, batch);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MeanPoolingBackward<TTokens, TDim>(TensorPtr dtokens, TensorPtr dpooled, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
        => MeanPooling.Backward<TTokens, TDim>(dtokens, dpooled, batch);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Zero(TensorPtr x, long count)
        => Fill.Zero(x, count);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SoftmaxCrossEntropyForward<TClasses>(TensorPtr probs, TensorPtr logits, ReadOnlySpan<int> labels, int batch, float labelSmoothing)
        where TClasses : struct, IDim
        => _runner.Loss = SoftmaxCrossEntropy.Forward<TClasses>(probs, logits, labels, batch, labelSmoothing, _runner.Memory.ActiveClasses);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SoftmaxCrossEntropyBackward<TClasses>(TensorPtr dlogits, TensorPtr probs, ReadOnlySpan<int> labels, int batch, float labelSmoothing)
        where TClasses : struct, IDim
        => SoftmaxCrossEntropy.Backward<TClasses>(dlogits, probs, labels, batch, labelSmoothing, _runner.Memory.ActiveClasses);

    /// <inheritdoc/>
    public void GradientsFinal(long from) => _runner.Memory.GradientObserver?.GradientsFinal(from);

    /// <inheritdoc/>
    public void LayerScaleForward<TDim>(TensorPtr y, TensorPtr x, TensorPtr gamma, int rows)
        where TDim : struct, IDim
        => LayerScale.Forward(y, x, gamma, rows, TDim.Value);

    /// <inheritdoc/>
    public void LayerScaleBackward<TDim>(TensorPtr dx, TensorPtr dgamma, TensorPtr dy, TensorPtr x, TensorPtr gamma, int rows)
        where TDim : struct, IDim
        => LayerScale.Backward(dx, dgamma, dy, x, gamma, rows, TDim.Value);
}
