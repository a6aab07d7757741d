using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Backends.Device;
using Vit.Numerics;

namespace Vit.Backends.OpenCL;

// The steps the generated OpenCL launch sequence calls. Each mirrors the CPU kernel of the same
// name in Vit.Backends.Cpu (same arguments, same meaning of every tensor, same accumulate/overwrite
// rules) and enqueues the vit.cl kernels that compute it. Sizes that the program was not built
// with (the GEMM's) come from the dimension type arguments.
public sealed partial class ClModel
{
    /// <summary>The base of the step groups: the model whose kernels they launch.</summary>
    public abstract class Steps
    {
        private protected Steps(ClModel model) => Model = model;

        private protected ClModel Model { get; }

        // An element-wise kernel over count floats: its tensors, then count, one work-item each.
        private protected void Elementwise(KernelRing kernels, long count, DevicePtr a, DevicePtr b)
        {
            var k = kernels.Take();
            int i = 0;
            SetTensor(k, ref i, a); SetTensor(k, ref i, b);
            k.SetArg(i, count);
            Model.Launch(k, count);
        }

        private protected void Elementwise(KernelRing kernels, long count, DevicePtr a, DevicePtr b, DevicePtr c)
        {
            var k = kernels.Take();
            int i = 0;
            SetTensor(k, ref i, a); SetTensor(k, ref i, b); SetTensor(k, ref i, c);
            k.SetArg(i, count);
            Model.Launch(k, count);
        }
    }

    /// <summary>LayerNorm over the model's width (see <see cref="Vit.Backends.Cpu.LayerNorm"/>).</summary>
    public sealed class LayerNormSteps : Steps
    {
        internal LayerNormSteps(ClModel model) : base(model) { }

        /// <summary>y = (x − mean)·rstd·weight + bias per row; mean and rstd saved unless None.</summary>
        public void Forward<TDim>(DevicePtr y, DevicePtr mean, DevicePtr rstd, DevicePtr x, DevicePtr weight, DevicePtr bias, int rows, float eps)
            where TDim : struct, IDim
        {
            var k = Model.LayerNormForwardKernel.Take();
            int i = 0;
            SetTensor(k, ref i, y); SetTensor(k, ref i, mean); SetTensor(k, ref i, rstd); SetTensor(k, ref i, x);
            SetTensor(k, ref i, weight); SetTensor(k, ref i, bias);
            k.SetArg(i++, rows); k.SetArg(i, eps);
            Model.Launch(k, (long)rows * LayerNormLocal, LayerNormLocal);
        }

        /// <summary>dx += ∂L/∂x (accumulated), dweight += Σ dy·x̂, dbias += Σ dy.</summary>
        public void Backward<TDim>(DevicePtr dx, DevicePtr dweight, DevicePtr dbias, DevicePtr dy, DevicePtr x, DevicePtr mean, DevicePtr rstd, DevicePtr weight, int rows)
            where TDim : struct, IDim
        {
            var k = Model.LayerNormInputKernel.Take();
            int i = 0;
            SetTensor(k, ref i, dx); SetTensor(k, ref i, dy); SetTensor(k, ref i, x); SetTensor(k, ref i, mean);
            SetTensor(k, ref i, rstd); SetTensor(k, ref i, weight);
            k.SetArg(i, rows);
            Model.Launch(k, (long)rows * LayerNormLocal, LayerNormLocal);

            k = Model.LayerNormParamsKernel.Take();
            i = 0;
            SetTensor(k, ref i, dweight); SetTensor(k, ref i, dbias); SetTensor(k, ref i, dy); SetTensor(k, ref i, x);
            SetTensor(k, ref i, mean); SetTensor(k, ref i, rstd);
            k.SetArg(i, rows);
            Model.Launch(k, TDim.Value);
        }
    }

    /// <summary>Linear layers as the tiled GEMM (see <see cref="Vit.Backends.Cpu.Linear"/>).</summary>
    public sealed class LinearSteps : Steps
    {
        internal LinearSteps(ClModel model) : base(model) { }

        /// <summary>y = x·wᵀ + b.</summary>
        public void Forward<TIn, TOut>(DevicePtr y, DevicePtr x, DevicePtr w, DevicePtr b, int rows)
            where TIn : struct, IDim where TOut : struct, IDim
            => Forward<TIn, TOut>(y, x, TIn.Value, w, b, rows);

        /// <summary>y = x·wᵀ + b with x's rows <paramref name="xStride"/> floats apart (the padded MLP activation).</summary>
        public void Forward<TIn, TOut>(DevicePtr y, DevicePtr x, long xStride, DevicePtr w, DevicePtr b, int rows)
            where TIn : struct, IDim where TOut : struct, IDim
            => Model.Gemm(y, TOut.Value, x, Vit.Backends.Cpu.Linear.CheckStride(xStride, TIn.Value), 1, w, 1, TIn.Value, b, DevicePtr.None, 0, rows, TOut.Value, TIn.Value, accumulate: false);

        /// <summary>preActivation = x·wᵀ + b and activation = gelu(preActivation), in one GEMM epilogue.</summary>
        public void ForwardGelu<TIn, TOut>(DevicePtr activation, DevicePtr preActivation, DevicePtr x, DevicePtr w, DevicePtr b, int rows)
            where TIn : struct, IDim where TOut : struct, IDim
            => ForwardGelu<TIn, TOut>(activation, TOut.Value, preActivation, x, w, b, rows);

        /// <summary>As the overload without a stride, with the activation's rows <paramref name="activationStride"/> floats apart.</summary>
        public void ForwardGelu<TIn, TOut>(DevicePtr activation, long activationStride, DevicePtr preActivation, DevicePtr x, DevicePtr w, DevicePtr b, int rows)
            where TIn : struct, IDim where TOut : struct, IDim
            => Model.Gemm(preActivation, TOut.Value, x, TIn.Value, 1, w, 1, TIn.Value, b, activation, Vit.Backends.Cpu.Linear.CheckStride(activationStride, TOut.Value),
                rows, TOut.Value, TIn.Value, accumulate: false);

        /// <summary>y += x·wᵀ + b (the residual add fused).</summary>
        public void ForwardResidual<TIn, TOut>(DevicePtr y, DevicePtr x, DevicePtr w, DevicePtr b, int rows)
            where TIn : struct, IDim where TOut : struct, IDim
            => Model.Gemm(y, TOut.Value, x, TIn.Value, 1, w, 1, TIn.Value, b, DevicePtr.None, 0, rows, TOut.Value, TIn.Value, accumulate: true);

        /// <summary>dx = dy·w (overwrite, unless None), dw += dyᵀ·x, db += Σ_rows dy (unless None).</summary>
        public void Backward<TIn, TOut>(DevicePtr dx, DevicePtr dw, DevicePtr db, DevicePtr dy, DevicePtr x, DevicePtr w, int rows)
            where TIn : struct, IDim where TOut : struct, IDim
            => Model.LinearBackward(dx, dw, db, dy, x, TIn.Value, w, rows, TIn.Value, TOut.Value);

        /// <summary>As the overload without a stride, with the forward input's rows <paramref name="xStride"/> floats apart.</summary>
        public void Backward<TIn, TOut>(DevicePtr dx, DevicePtr dw, DevicePtr db, DevicePtr dy, DevicePtr x, long xStride, DevicePtr w, int rows)
            where TIn : struct, IDim where TOut : struct, IDim
            => Model.LinearBackward(dx, dw, db, dy, x, Vit.Backends.Cpu.Linear.CheckStride(xStride, TIn.Value), w, rows, TIn.Value, TOut.Value);
    }

    /// <summary>Multi-head self-attention (see <see cref="Vit.Backends.Cpu.Attention"/>).</summary>
    public sealed class AttentionSteps : Steps
    {
        internal AttentionSteps(ClModel model) : base(model) { }

        /// <summary>probs = softmax(q·kᵀ·scale) (pre-dropout), output = (probs ⊙ mask)·v.</summary>
        public void Forward<TTokens, THeads, THeadDim>(DevicePtr output, DevicePtr probs, DevicePtr dropoutMask, DevicePtr qkv, int batch)
            where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
        {
            var k = Model.AttentionForwardKernel.Take();
            int i = 0;
            SetTensor(k, ref i, output); SetTensor(k, ref i, probs); SetTensor(k, ref i, dropoutMask); SetTensor(k, ref i, qkv);
            k.SetArg(i, batch);
            Model.Launch(k, (long)batch * THeads.Value * TTokens.Value);
        }

        /// <summary>dqkv = ∂L/∂qkv (overwrite); dprobs is scratch for the score gradient.</summary>
        public void Backward<TTokens, THeads, THeadDim>(DevicePtr dqkv, DevicePtr dprobs, DevicePtr doutput, DevicePtr probs, DevicePtr dropoutMask, DevicePtr qkv, int batch)
            where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
        {
            long rows = (long)batch * THeads.Value * TTokens.Value;
            // Per query row: the score gradient and dq; then per key row: dk and dv.
            Launch(Model.AttentionQueryKernel.Take(), dqkv, dprobs, doutput, probs, dropoutMask, qkv, batch, rows);
            Launch(Model.AttentionKeyKernel.Take(), dqkv, dprobs, doutput, probs, dropoutMask, qkv, batch, rows);
        }

        private void Launch(ClKernel k, DevicePtr dqkv, DevicePtr dscores, DevicePtr doutput, DevicePtr probs, DevicePtr mask, DevicePtr qkv, int batch, long rows)
        {
            int i = 0;
            SetTensor(k, ref i, dqkv); SetTensor(k, ref i, dscores); SetTensor(k, ref i, doutput); SetTensor(k, ref i, probs);
            SetTensor(k, ref i, mask); SetTensor(k, ref i, qkv);
            k.SetArg(i, batch);
            Model.Launch(k, rows);
        }
    }

    /// <summary>The patch embedding (see <see cref="Vit.Backends.Cpu.PatchEmbedding"/>): im2col, the GEMM, and a scatter into rows 1..N.</summary>
    public sealed class PatchEmbeddingSteps : Steps
    {
        internal PatchEmbeddingSteps(ClModel model) : base(model) { }

        /// <summary>patches = im2col(images); tokens[b, 1 + n] = patches[b, n]·weightᵀ + bias.</summary>
        public void Forward<TChannels, TImage, TPatch, TDim>(DevicePtr tokens, DevicePtr patches, DevicePtr images, DevicePtr weight, DevicePtr bias, int batch)
            where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim where TDim : struct, IDim
        {
            int grid = TImage.Value / TPatch.Value, n = grid * grid, kk = TChannels.Value * TPatch.Value * TPatch.Value, d = TDim.Value;
            var k = Model.Im2ColKernel.Take();
            int i = 0;
            SetTensor(k, ref i, patches); SetTensor(k, ref i, images);
            k.SetArg(i, batch);
            Model.Launch(k, (long)batch * n * kk);
            var rows = Model.PatchRows;
            Model.Gemm(rows, d, patches, kk, 1, weight, 1, kk, bias, DevicePtr.None, 0, batch * n, d, kk, accumulate: false);
            k = Model.PatchScatterKernel.Take();
            i = 0;
            SetTensor(k, ref i, tokens); SetTensor(k, ref i, rows);
            k.SetArg(i, batch);
            Model.Launch(k, (long)batch * n * d);
        }

        /// <summary>dweight += Σ dtokens[b, 1..]ᵀ·patches[b], dbias += Σ dtokens[b, 1..].</summary>
        public void Backward<TChannels, TImage, TPatch, TDim>(DevicePtr dweight, DevicePtr dbias, DevicePtr dtokens, DevicePtr patches, int batch)
            where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim where TDim : struct, IDim
        {
            int grid = TImage.Value / TPatch.Value, n = grid * grid, kk = TChannels.Value * TPatch.Value * TPatch.Value, d = TDim.Value;
            var rows = Model.PatchRows;
            var k = Model.PatchGatherKernel.Take();
            int i = 0;
            SetTensor(k, ref i, rows); SetTensor(k, ref i, dtokens);
            k.SetArg(i, batch);
            Model.Launch(k, (long)batch * n * d);
            Model.LinearBackward(DevicePtr.None, dweight, dbias, rows, patches, kk, DevicePtr.None, batch * n, kk, d);
        }
    }

    /// <summary>Class token and position embeddings (see <see cref="Vit.Backends.Cpu.PositionEmbedding"/>).</summary>
    public sealed class PositionEmbeddingSteps : Steps
    {
        internal PositionEmbeddingSteps(ClModel model) : base(model) { }

        /// <summary>tokens[b, 0] = cls_token; tokens[b] += pos_embed.</summary>
        public void Forward<TTokens, TDim>(DevicePtr tokens, DevicePtr classToken, DevicePtr positions, int batch)
            where TTokens : struct, IDim where TDim : struct, IDim
        {
            var k = Model.PositionForwardKernel.Take();
            int i = 0;
            SetTensor(k, ref i, tokens); SetTensor(k, ref i, classToken); SetTensor(k, ref i, positions);
            k.SetArg(i, batch);
            Model.Launch(k, (long)batch * TTokens.Value * TDim.Value);
        }

        /// <summary>dpositions += Σ_b dtokens[b]; dclassToken += Σ_b dtokens[b, 0].</summary>
        public void Backward<TTokens, TDim>(DevicePtr dclassToken, DevicePtr dpositions, DevicePtr dtokens, int batch)
            where TTokens : struct, IDim where TDim : struct, IDim
        {
            var k = Model.PositionBackwardKernel.Take();
            int i = 0;
            SetTensor(k, ref i, dclassToken); SetTensor(k, ref i, dpositions); SetTensor(k, ref i, dtokens);
            k.SetArg(i, batch);
            Model.Launch(k, (long)TTokens.Value * TDim.Value);
        }
    }

    /// <summary>Token or mean pooling (see <see cref="Vit.Backends.Cpu.TokenPooling"/>, <see cref="Vit.Backends.Cpu.MeanPooling"/>).</summary>
    public sealed class PoolingSteps : Steps
    {
        private readonly int _mean;

        internal PoolingSteps(ClModel model, bool mean) : base(model) => _mean = mean ? 1 : 0;

        /// <summary>pooled[b] = tokens[b, 0], or the mean of tokens[b, 1:].</summary>
        public void Forward<TTokens, TDim>(DevicePtr pooled, DevicePtr tokens, int batch)
            where TTokens : struct, IDim where TDim : struct, IDim
        {
            var k = Model.PoolForwardKernel.Take();
            int i = 0;
            SetTensor(k, ref i, pooled); SetTensor(k, ref i, tokens);
            k.SetArg(i++, batch); k.SetArg(i, _mean);
            Model.Launch(k, (long)batch * TDim.Value);
        }

        /// <summary>dtokens (overwritten) from dpooled.</summary>
        public void Backward<TTokens, TDim>(DevicePtr dtokens, DevicePtr dpooled, int batch)
            where TTokens : struct, IDim where TDim : struct, IDim
        {
            var k = Model.PoolBackwardKernel.Take();
            int i = 0;
            SetTensor(k, ref i, dtokens); SetTensor(k, ref i, dpooled);
            k.SetArg(i++, batch); k.SetArg(i, _mean);
            Model.Launch(k, (long)batch * TTokens.Value * TDim.Value);
        }
    }

    /// <summary>Residual adds with optional per-image drop-path scales (see <see cref="Vit.Backends.Cpu.Residual"/>).</summary>
    public sealed class ResidualSteps : Steps
    {
        internal ResidualSteps(ClModel model) : base(model) { }

        /// <summary>output = input + branch·scale[image].</summary>
        public void Forward(DevicePtr output, DevicePtr input, DevicePtr branch, DevicePtr sampleScale, int batch, long perImage)
        {
            var k = Model.ResidualForwardKernel.Take();
            int i = 0;
            SetTensor(k, ref i, output); SetTensor(k, ref i, input); SetTensor(k, ref i, branch); SetTensor(k, ref i, sampleScale);
            k.SetArg(i++, perImage); k.SetArg(i, batch * perImage);
            Model.Launch(k, batch * perImage);
        }

        /// <summary>dbranch = doutput·scale[image] (a copy without scales; nothing when they are the same tensor).</summary>
        public void Backward(DevicePtr dbranch, DevicePtr doutput, DevicePtr sampleScale, int batch, long perImage)
        {
            if (sampleScale.IsNull && dbranch == doutput) return;
            var k = Model.ResidualBackwardKernel.Take();
            int i = 0;
            SetTensor(k, ref i, dbranch); SetTensor(k, ref i, doutput); SetTensor(k, ref i, sampleScale);
            k.SetArg(i++, perImage); k.SetArg(i, batch * perImage);
            Model.Launch(k, batch * perImage);
        }
    }

    /// <summary>LayerScale over the model's width (see <see cref="Vit.Backends.Cpu.LayerScale"/>).</summary>
    public sealed class LayerScaleSteps : Steps
    {
        internal LayerScaleSteps(ClModel model) : base(model) { }

        /// <summary>y[r, c] = x[r, c]·gamma[c]; y may be x.</summary>
        /// <exception cref="ArgumentException"><paramref name="dim"/> is not the width the program was built for.</exception>
        public void Forward(DevicePtr y, DevicePtr x, DevicePtr gamma, long rows, int dim)
        {
            Model.CheckWidth(dim);
            var k = Model.LayerScaleForwardKernel.Take();
            int i = 0;
            SetTensor(k, ref i, y); SetTensor(k, ref i, x); SetTensor(k, ref i, gamma);
            k.SetArg(i, rows);
            Model.Launch(k, rows * dim);
        }

        /// <summary>dgamma[c] += Σ_r dy[r, c]·x[r, c] (accumulated), then dx = dy·gamma (overwrite; dx may be dy).</summary>
        /// <exception cref="ArgumentException"><paramref name="dim"/> is not the width the program was built for.</exception>
        public void Backward(DevicePtr dx, DevicePtr dgamma, DevicePtr dy, DevicePtr x, DevicePtr gamma, long rows, int dim)
        {
            Model.CheckWidth(dim);
            // The gamma gradient first: the in-order queue then lets dx overwrite dy.
            var k = Model.LayerScaleGammaKernel.Take();
            int i = 0;
            SetTensor(k, ref i, dgamma); SetTensor(k, ref i, dy); SetTensor(k, ref i, x);
            k.SetArg(i, rows);
            Model.Launch(k, rows > 0 ? dim : 0);

            k = Model.LayerScaleInputKernel.Take();
            i = 0;
            SetTensor(k, ref i, dx); SetTensor(k, ref i, dy); SetTensor(k, ref i, gamma);
            k.SetArg(i, rows);
            Model.Launch(k, rows * dim);
        }
    }

    /// <summary>Dropout (see <see cref="Vit.Backends.Cpu.Dropout"/>).</summary>
    public sealed unsafe class DropoutSteps : Steps
    {
        internal DropoutSteps(ClModel model) : base(model) { }

        /// <summary>
        /// Draws the mask on the host from <paramref name="rng"/>, exactly as the CPU does (so both
        /// backends drop the same values), and uploads it.
        /// </summary>
        public void FillMask(DevicePtr mask, long count, float rate, ref Rng rng) => Model.DropoutFillMask(mask, count, rate, ref rng);

        /// <summary>x *= mask.</summary>
        public void Apply(DevicePtr x, DevicePtr mask, long count) => Elementwise(Model.MaskKernel, count, x, mask);

        /// <summary>x *= mask with x's rows <paramref name="xStride"/> floats apart and the mask contiguous, (rows, cols), as <see cref="Vit.Backends.Cpu.Dropout"/>.</summary>
        public void Apply(DevicePtr x, long xStride, DevicePtr mask, int rows, int cols)
        {
            Vit.Backends.Cpu.Linear.CheckStride(xStride, cols);
            var k = Model.MaskRowsKernel.Take();
            int i = 0;
            SetTensor(k, ref i, x); k.SetArg(i++, xStride); SetTensor(k, ref i, mask);
            long count = (long)rows * cols;
            k.SetArg(i++, (long)cols); k.SetArg(i, count);
            Model.Launch(k, count);
        }
    }

    /// <summary>Drop path (see <see cref="Vit.Backends.Cpu.DropPath"/>).</summary>
    public sealed unsafe class DropPathSteps : Steps
    {
        internal DropPathSteps(ClModel model) : base(model) { }

        /// <summary>Draws the per-image scales on the host from <paramref name="rng"/> (as the CPU does) and uploads them.</summary>
        public void FillScales(DevicePtr scale, int batch, float rate, ref Rng rng) => Model.DropPathFillScales(scale, batch, rate, ref rng);
    }

    /// <summary>GELU backward (see <see cref="Vit.Backends.Cpu.Gelu"/>).</summary>
    public sealed class GeluSteps : Steps
    {
        internal GeluSteps(ClModel model) : base(model) { }

        /// <summary>dx = dy·gelu'(x); dx may be dy.</summary>
        public void Backward(DevicePtr dx, DevicePtr dy, DevicePtr x, long count) => Elementwise(Model.GeluBackwardKernel, count, dx, dy, x);
    }

    /// <summary>tanh (see <see cref="Vit.Backends.Cpu.Tanh"/>).</summary>
    public sealed class TanhSteps : Steps
    {
        internal TanhSteps(ClModel model) : base(model) { }

        /// <summary>y = tanh(x).</summary>
        public void Forward(DevicePtr y, DevicePtr x, long count) => Elementwise(Model.TanhForwardKernel, count, y, x);

        /// <summary>dx = dy·(1 − y²).</summary>
        public void Backward(DevicePtr dx, DevicePtr dy, DevicePtr y, long count) => Elementwise(Model.TanhBackwardKernel, count, dx, dy, y);
    }

    /// <summary>Fills (see <see cref="Vit.Backends.Cpu.Fill"/>).</summary>
    public sealed class FillSteps : Steps
    {
        internal FillSteps(ClModel model) : base(model) { }

        /// <summary>x[0..count) = 0.</summary>
        public void Zero(DevicePtr x, long count) => Model.Zero(x, count);
    }

    /// <summary>Softmax cross-entropy (see <see cref="Vit.Backends.Cpu.SoftmaxCrossEntropy"/>); labels were uploaded by <see cref="DeviceModel{TKernels}.BeginTraining"/>.</summary>
    public sealed class LossSteps : Steps
    {
        internal LossSteps(ClModel model) : base(model) { }

        /// <summary>probs = softmax(logits) and the per-image losses (read back by <see cref="DeviceModel{TKernels}.EndTraining"/>).</summary>
        public void Forward<TClasses>(DevicePtr probs, DevicePtr logits, ReadOnlySpan<int> labels, int batch, float labelSmoothing)
            where TClasses : struct, IDim
        {
            var k = Model.LossForwardKernel.Take();
            int i = 0;
            SetTensor(k, ref i, probs); SetTensor(k, ref i, Model.Losses); SetTensor(k, ref i, logits);
            k.SetArg(i++, (ClBuffer)Model.Labels); k.SetArg(i++, batch); k.SetArg(i, labelSmoothing);
            Model.Launch(k, batch);
        }

        /// <summary>dlogits = (probs − target) / B.</summary>
        public void Backward<TClasses>(DevicePtr dlogits, DevicePtr probs, ReadOnlySpan<int> labels, int batch, float labelSmoothing)
            where TClasses : struct, IDim
        {
            var k = Model.LossBackwardKernel.Take();
            int i = 0;
            SetTensor(k, ref i, dlogits); SetTensor(k, ref i, probs);
            k.SetArg(i++, (ClBuffer)Model.Labels); k.SetArg(i++, batch); k.SetArg(i, labelSmoothing);
            Model.Launch(k, (long)batch * TClasses.Value);
        }
    }

    /// <summary>
    /// C (m×n, row stride ldc) = op(A)·op(B) [+ bias] [+ C], with A(i, k) = a[i·sai + k·sak] and
    /// B(k, j) = b[k·sbk + j·sbj]; <paramref name="act"/> (unless None) also receives gelu(C), with
    /// row stride <paramref name="ldAct"/>.
    /// </summary>
    internal void Gemm(DevicePtr c, long ldc, DevicePtr a, long sai, long sak, DevicePtr b, long sbk, long sbj,
        DevicePtr bias, DevicePtr act, long ldAct, int m, int n, int k, bool accumulate)
    {
        if (m <= 0 || n <= 0) return;
        var kernel = GemmKernel.Take();
        int i = 0;
        SetTensor(kernel, ref i, c); kernel.SetArg(i++, ldc);
        SetTensor(kernel, ref i, a); kernel.SetArg(i++, sai); kernel.SetArg(i++, sak);
        SetTensor(kernel, ref i, b); kernel.SetArg(i++, sbk); kernel.SetArg(i++, sbj);
        SetTensor(kernel, ref i, bias); SetTensor(kernel, ref i, act); kernel.SetArg(i++, act.IsNull ? ldc : ldAct);
        kernel.SetArg(i++, m); kernel.SetArg(i++, n); kernel.SetArg(i++, k); kernel.SetArg(i, accumulate ? 1 : 0);
        long groupsX = (n + GemmTile - 1) / GemmTile, groupsY = (m + GemmTile - 1) / GemmTile;
        Context.Launch2D(kernel, groupsX * GemmLocal, groupsY * GemmLocal, GemmLocal, GemmLocal);
    }

    /// <summary>dx = dy·w (unless None), dw += dyᵀ·x, db += Σ_rows dy (unless None), as <see cref="Vit.Backends.Cpu.Linear"/>; x's rows are <paramref name="ldx"/> floats apart.</summary>
    internal void LinearBackward(DevicePtr dx, DevicePtr dw, DevicePtr db, DevicePtr dy, DevicePtr x, long ldx, DevicePtr w, int rows, int nIn, int nOut)
    {
        if (rows <= 0) return;
        if (!dx.IsNull) Gemm(dx, nIn, dy, nOut, 1, w, nIn, 1, DevicePtr.None, DevicePtr.None, 0, rows, nIn, nOut, accumulate: false);
        Gemm(dw, nIn, dy, 1, nOut, x, ldx, 1, DevicePtr.None, DevicePtr.None, 0, nOut, nIn, rows, accumulate: true);
        if (!db.IsNull)
        {
            var k = ColumnSumsKernel.Take();
            int i = 0;
            SetTensor(k, ref i, db); SetTensor(k, ref i, dy);
            k.SetArg(i++, rows); k.SetArg(i, nOut);
            Launch(k, nOut);
        }
    }
}
