using Vit.Numerics;

namespace Vit.Backends;

/// <summary>
/// The backend contract: every operation of the model's passes, forward and backward, and the
/// loss, as llm.c's kernel set written as a C# interface. The generated passes are written once
/// against it (<see cref="IModelPasses"/>); the CPU (<c>CpuKernels</c>) and OpenCL
/// (<c>ClKernels</c>) backends implement it as structs, so every call is specialized and direct.
/// </summary>
/// <remarks>
/// <para>
/// Conventions, as in llm.c: outputs first, then inputs, then sizes. Tensors are (rows, width)
/// row-major unless a stride says otherwise; shapes are per call (B images). Parameter gradients
/// accumulate (<c>+=</c>); activation gradients overwrite unless a method says it adds. An
/// optional tensor is <c>TPtr.None</c>. Dimension type arguments (<see cref="IDim"/>) carry the
/// model's sizes as compile-time constants; every backend receives the same ones.
/// </para>
/// <para>The optimizer updates are the other half of the contract: <see cref="OptimizerKernels"/>.</para>
/// </remarks>
/// <typeparam name="TPtr">The backend's tensor pointer.</typeparam>
public interface IKernels<TPtr> where TPtr : struct, ITensorPointer<TPtr>
{
    /// <summary>The flat parameter buffer (timm <c>state_dict</c> layout), current on this backend.</summary>
    TPtr Parameters { get; }

    /// <summary>The flat gradient buffer (same layout), current on this backend.</summary>
    TPtr Gradients { get; }

    /// <summary>The images of the current call, (B, C, H, W).</summary>
    TPtr Input { get; }

    /// <summary><c>patch_embed.proj</c>: patches = im2col(images) (B, N, C·P·P); tokens[:, 1 + n] = patches·weightᵀ + bias (B, N, D).</summary>
    void PatchEmbeddingForward<TChannels, TImage, TPatch, TDim>(TPtr tokens, TPtr patches, TPtr images, TPtr weight, TPtr bias, int batch)
        where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim where TDim : struct, IDim;

    /// <summary>dweight += Σ dtokens[:, 1:]ᵀ·patches, dbias += Σ dtokens[:, 1:] (the images need no gradient).</summary>
    void PatchEmbeddingBackward<TChannels, TImage, TPatch, TDim>(TPtr dweight, TPtr dbias, TPtr dtokens, TPtr patches, int batch)
        where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim where TDim : struct, IDim;

    /// <summary><c>cls_token</c>, <c>pos_embed</c>: tokens[:, 0] = cls_token; tokens += pos_embed (B, T, D).</summary>
    void PositionEmbeddingForward<TTokens, TDim>(TPtr tokens, TPtr classToken, TPtr positions, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim;

    /// <summary>dpositions += Σ_b dtokens[b]; dclassToken += Σ_b dtokens[b, 0].</summary>
    void PositionEmbeddingBackward<TTokens, TDim>(TPtr dclassToken, TPtr dpositions, TPtr dtokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim;

    /// <summary>y = (x − mean)·rstd·weight + bias per row of width TDim; mean and rstd (rows) saved unless None.</summary>
    void LayerNormForward<TDim>(TPtr y, TPtr mean, TPtr rstd, TPtr x, TPtr weight, TPtr bias, int rows, float eps)
        where TDim : struct, IDim;

    /// <summary>dx += ∂L/∂x (adds), dweight += Σ dy·x̂, dbias += Σ dy.</summary>
    void LayerNormBackward<TDim>(TPtr dx, TPtr dweight, TPtr dbias, TPtr dy, TPtr x, TPtr mean, TPtr rstd, TPtr weight, int rows)
        where TDim : struct, IDim;

    /// <summary>y (rows, TOut) = x (rows, TIn)·wᵀ + b.</summary>
    void LinearForward<TIn, TOut>(TPtr y, TPtr x, TPtr w, TPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim;

    /// <summary>y (rows, TOut) = x (rows, TIn; rows <paramref name="xStride"/> apart)·wᵀ + b.</summary>
    void LinearForward<TIn, TOut>(TPtr y, TPtr x, long xStride, TPtr w, TPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim;

    /// <summary>preActivation = x·wᵀ + b and activation = gelu(preActivation), in one GEMM epilogue; activation may be preActivation.</summary>
    void LinearForwardGelu<TIn, TOut>(TPtr activation, TPtr preActivation, TPtr x, TPtr w, TPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim;

    /// <summary>As the overload without a stride, with the activation's rows <paramref name="activationStride"/> floats apart.</summary>
    void LinearForwardGelu<TIn, TOut>(TPtr activation, long activationStride, TPtr preActivation, TPtr x, TPtr w, TPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim;

    /// <summary>y += x·wᵀ + b: the linear layer fused with the residual add that follows it.</summary>
    void LinearForwardResidual<TIn, TOut>(TPtr y, TPtr x, TPtr w, TPtr b, int rows)
        where TIn : struct, IDim where TOut : struct, IDim;

    /// <summary>dx = dy·w (overwrites; skipped when None), dw += dyᵀ·x, db += Σ_rows dy (unless None).</summary>
    void LinearBackward<TIn, TOut>(TPtr dx, TPtr dw, TPtr db, TPtr dy, TPtr x, TPtr w, int rows)
        where TIn : struct, IDim where TOut : struct, IDim;

    /// <summary>As the overload without a stride, with x's rows <paramref name="xStride"/> floats apart.</summary>
    void LinearBackward<TIn, TOut>(TPtr dx, TPtr dw, TPtr db, TPtr dy, TPtr x, long xStride, TPtr w, int rows)
        where TIn : struct, IDim where TOut : struct, IDim;

    /// <summary>probs = softmax(q·kᵀ·HeadDim^-0.5) (B, H, T, T), output = (probs ⊙ dropoutMask)·v, heads merged (B, T, H·HeadDim).</summary>
    void AttentionForward<TTokens, THeads, THeadDim>(TPtr output, TPtr probs, TPtr dropoutMask, TPtr qkv, int batch)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim;

    /// <summary>dqkv = ∂L/∂qkv (overwrites) (B, T, 3·H·HeadDim); dprobs is scratch (B, H, T, T).</summary>
    void AttentionBackward<TTokens, THeads, THeadDim>(TPtr dqkv, TPtr dprobs, TPtr doutput, TPtr probs, TPtr dropoutMask, TPtr qkv, int batch)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim;

    /// <summary>timm <c>LayerScale</c>: y[r, c] = x[r, c]·gamma[c] (rows, TDim); y may be x.</summary>
    void LayerScaleForward<TDim>(TPtr y, TPtr x, TPtr gamma, int rows)
        where TDim : struct, IDim;

    /// <summary>dgamma += Σ_rows dy·x (adds); dx = dy·gamma (overwrites; dx may be dy). x is the layer scale's input.</summary>
    void LayerScaleBackward<TDim>(TPtr dx, TPtr dgamma, TPtr dy, TPtr x, TPtr gamma, int rows)
        where TDim : struct, IDim;

    /// <summary>output = input + branch·sampleScale[image] (scale None: 1), <paramref name="perImage"/> floats per image; output may be input.</summary>
    void ResidualForward(TPtr output, TPtr input, TPtr branch, TPtr sampleScale, int batch, long perImage);

    /// <summary>dbranch = doutput·sampleScale[image] (nothing when there is no scale and they are the same tensor).</summary>
    void ResidualBackward(TPtr dbranch, TPtr doutput, TPtr sampleScale, int batch, long perImage);

    /// <summary>Draws a dropout mask (0, or 1 / (1 − rate)) from <paramref name="rng"/>; every backend draws the same mask.</summary>
    void DropoutFillMask(TPtr mask, long count, float rate, ref Rng rng);

    /// <summary>x *= mask over <paramref name="count"/> floats.</summary>
    void DropoutApply(TPtr x, TPtr mask, long count);

    /// <summary>x *= mask with x (rows, cols) rows <paramref name="xStride"/> floats apart, the mask contiguous.</summary>
    void DropoutApply(TPtr x, long xStride, TPtr mask, int rows, int cols);

    /// <summary>Draws drop-path scales (0, or 1 / (1 − rate)), one per image, from <paramref name="rng"/>.</summary>
    void DropPathFillScales(TPtr scale, int batch, float rate, ref Rng rng);

    /// <summary>dx = dy·gelu'(x) over <paramref name="count"/> floats; dx may be dy.</summary>
    void GeluBackward(TPtr dx, TPtr dy, TPtr x, long count);

    /// <summary>y = tanh(x); y may be x.</summary>
    void TanhForward(TPtr y, TPtr x, long count);

    /// <summary>dx = dy·(1 − y²); dx may be dy.</summary>
    void TanhBackward(TPtr dx, TPtr dy, TPtr y, long count);

    /// <summary>pooled[b] = tokens[b, 0] (B, D): the class token.</summary>
    void TokenPoolingForward<TTokens, TDim>(TPtr pooled, TPtr tokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim;

    /// <summary>dtokens (overwritten, B, T, D) = dpooled on the class token, 0 elsewhere.</summary>
    void TokenPoolingBackward<TTokens, TDim>(TPtr dtokens, TPtr dpooled, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim;

    /// <summary>pooled[b] = mean of tokens[b, 1:] (B, D).</summary>
    void MeanPoolingForward<TTokens, TDim>(TPtr pooled, TPtr tokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim;

    /// <summary>dtokens (overwritten) = dpooled / patches on each patch token, 0 on the class token.</summary>
    void MeanPoolingBackward<TTokens, TDim>(TPtr dtokens, TPtr dpooled, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim;

    /// <summary>x[0..count) = 0.</summary>
    void Zero(TPtr x, long count);

    /// <summary>
    /// The loss: probs = softmax(logits) (B, TClasses) and the mean cross-entropy against
    /// (1 − ε)·one_hot(labels) + ε/classes, which the backend's runner returns at the end of the step.
    /// </summary>
    void SoftmaxCrossEntropyForward<TClasses>(TPtr probs, TPtr logits, ReadOnlySpan<int> labels, int batch, float labelSmoothing)
        where TClasses : struct, IDim;

    /// <summary>dlogits = (probs − target) / B.</summary>
    void SoftmaxCrossEntropyBackward<TClasses>(TPtr dlogits, TPtr probs, ReadOnlySpan<int> labels, int batch, float labelSmoothing)
        where TClasses : struct, IDim;

    /// <summary>
    /// Not a kernel but a signal from the backward pass: every parameter gradient at an offset of
    /// <paramref name="from"/> floats or more into the gradient buffer is final for this pass (the
    /// parameters are laid out in timm order and the backward pass visits them in reverse, so
    /// <paramref name="from"/> only falls). Data-parallel training starts reducing those gradients
    /// while the pass goes on (<see cref="Memory.ModelMemory.GradientObserver"/>).
    /// </summary>
    void GradientsFinal(long from);
}
