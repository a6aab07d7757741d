using System.Diagnostics.CodeAnalysis;
using ILGPU;
using ILGPU.Runtime;
using Vit.Backends.Device;
using Vit.Memory;
using C = ILGPU.KernelConfig;
using S = ILGPU.Runtime.AcceleratorStream;
using V = ILGPU.ArrayView<float>;

namespace Vit.Backends.Ilgpu;

/// <summary>
/// One model on an ILGPU accelerator: the launches of every contract step (<see cref="IlgpuKernels"/>
/// calls these with the CPU kernels' arguments and meaning), over the device memory that
/// <see cref="DeviceModel{TKernels}"/> owns and lays out from the generator's plan. Kernels are
/// compiled per shape on first use and shared by every model of that shape on the device.
/// </summary>
public sealed unsafe class IlgpuModel : DeviceModel<IlgpuKernels>
{
    private readonly IlgpuBackend _backend;
    private readonly S? _stream;
    private readonly IlgpuBuffer _dummy;
    private readonly V _none;
    private readonly bool _wide;
    private readonly int _elements, _rows;
    private readonly float _attentionScale;

    /// <summary>Puts the model whose memory is <paramref name="memory"/> on <paramref name="backend"/>'s accelerator and allocates its device memory.</summary>
    public IlgpuModel(IlgpuBackend backend, ModelMemory memory)
        : base(backend.CreateApi(), memory, PatchRowsPerImage(memory))
    {
        _backend = backend;
        _stream = backend.Accelerator?.DefaultStream;
        _wide = backend.WideGroups;
        _elements = backend.ElementGroup;
        _rows = backend.RowGroup;
        // An absent tensor is this 1-float buffer with its flag clear (a launch needs a valid view).
        _dummy = (IlgpuBuffer)Api.Allocate(sizeof(float));
        _none = backend.Accelerator is null ? default : _dummy.Floats;
        _attentionScale = 1f / MathF.Sqrt(memory.Layout.Config.HeadDim); // as Vit.Backends.Cpu.Attention computes it
    }

    private static long PatchRowsPerImage(ModelMemory memory)
    {
        var c = memory.Layout.Config;
        return (long)(c.ImageSize / c.Patch) * (c.ImageSize / c.Patch) * c.Dim;
    }

    /// <summary>The backend (accelerator and kernel cache).</summary>
    public IlgpuBackend Backend => _backend;

    /// <inheritdoc/>
    public override string BackendName => "ilgpu";

    /// <inheritdoc/>
    /// <remarks>The loss kernels take <see cref="ModelMemory.ActiveClasses"/>: a wider head trains on fewer classes, as on the CPU.</remarks>
    public override bool ServesFewerClasses => true;

    /// <inheritdoc/>
    protected override IlgpuKernels Kernels => new(this);

    /// <inheritdoc/>
    public override OptimizerKernels CreateOptimizerState(IReadOnlyList<ParameterInfo> trained, int stateBuffers) =>
        new IlgpuOptimizerState(this, trained, stateBuffers);

    internal S Stream => _stream!;

    internal int OptimizerGroup => _elements;

    internal TDelegate? Kernel<TDelegate>(string name, Type? a = null, Type? b = null, Type? c = null, Type? d = null) where TDelegate : Delegate =>
        _backend.Kernel<TDelegate>(name, a, b, c, d);

    /// <summary>The view of a tensor from its offset on (the 1-float dummy for None).</summary>
    internal V View(DevicePtr p) => p.IsNull ? _none : ((IlgpuBuffer)p.Buffer!).Floats.SubView(p.Offset);

    internal static ArrayView<int> Ints(DeviceBuffer b) => ((IlgpuBuffer)b).Ints;

    internal static ArrayView<long> Longs(DeviceBuffer b) => ((IlgpuBuffer)b).Longs;

    internal static V Floats(DeviceBuffer b) => ((IlgpuBuffer)b).Floats;

    private static int Flag(DevicePtr p) => p.IsNull ? 0 : 1;

    // One thread per element, in groups of the element size.
    private C Elements(long count) => new(checked((int)((count + _elements - 1) / _elements)), _elements);

    private static int Count(long count) => checked((int)count);

    // ------------------------------------------------------------------------------------------
    // Linear layers: the tiled GEMM with its epilogues.
    // ------------------------------------------------------------------------------------------

    /// <summary>
    /// C (m×n, row stride ldc) = op(A)·op(B) [+ bias] [+ C], A(i, k) = a[i·sai + k·sak], B(k, j) =
    /// b[k·sbk + j·sbj]; <paramref name="act"/> (unless None) also receives gelu(C), row stride <paramref name="ldAct"/>.
    /// </summary>
    internal void Gemm(DevicePtr c, long ldc, DevicePtr a, long sai, long sak, DevicePtr b, long sbk, long sbj,
        DevicePtr bias, DevicePtr act, long ldAct, int m, int n, int k, bool accumulate)
    {
        var tensorCores = _backend.ActiveTensorCores;
        if (_backend.Accelerator is null)
        {
            // Planning for a CUDA GPU records the tensor-core variants too, for ptxas.
            Kernel<Action<S, C, V, V, V, V, V, GemmArgs>>(IlgpuBackend.TensorCoreGemm, typeof(MmaTf32), typeof(Warps4));
            Kernel<Action<S, C, V, V, V, V, V, GemmArgs>>(IlgpuBackend.TensorCoreGemm, typeof(MmaBf16), typeof(Warps4));
        }
        var kernel = tensorCores != IlgpuTensorCores.Off
            ? Kernel<Action<S, C, V, V, V, V, V, GemmArgs>>(IlgpuBackend.TensorCoreGemm, tensorCores == IlgpuTensorCores.Bf16 ? typeof(MmaBf16) : typeof(MmaTf32), typeof(Warps4))
            : Kernel<Action<S, C, V, V, V, V, V, GemmArgs>>(nameof(IlgpuKernelCode.Gemm), _wide ? typeof(GemmTile16) : typeof(GemmTile2));
        if (kernel is null || m <= 0 || n <= 0) return;
        int threads = _wide ? GemmTile16.Threads : GemmTile2.Threads, tile = 4 * threads;
        var args = new GemmArgs
        {
            CStride = ldc, ActStride = act.IsNull ? ldc : ldAct, Sai = sai, Sak = sak, Sbk = sbk, Sbj = sbj, M = m, N = n, K = k,
            Flags = (bias.IsNull ? 0 : IlgpuKernelCode.GemmBias) | (act.IsNull ? 0 : IlgpuKernelCode.GemmAct) | (accumulate ? IlgpuKernelCode.GemmAccumulate : 0),
        };
        // SIMT: (4T)² blocks of T² threads; tensor cores: 64×32 blocks of 4 warps.
        var config = tensorCores != IlgpuTensorCores.Off
            ? new C(new Index2D((n + 31) / 32, (m + 63) / 64), new Index2D(128, 1))
            : new C(new Index2D((n + tile - 1) / tile, (m + tile - 1) / tile), new Index2D(threads * threads, 1));
        kernel(Stream, config, View(c), View(a), View(b), View(bias), View(act), args);
    }

    /// <summary>dx = dy·w (unless None), dw += dyᵀ·x, db += Σ_rows dy (unless None); x's rows <paramref name="ldx"/> floats apart.</summary>
    internal void LinearBackward(DevicePtr dx, DevicePtr dw, DevicePtr db, DevicePtr dy, DevicePtr x, long ldx, DevicePtr w, int rows, int nIn, int nOut)
    {
        if (!dx.IsNull) Gemm(dx, nIn, dy, nOut, 1, w, nIn, 1, DevicePtr.None, DevicePtr.None, 0, rows, nIn, nOut, accumulate: false);
        Gemm(dw, nIn, dy, 1, nOut, x, ldx, 1, DevicePtr.None, DevicePtr.None, 0, nOut, nIn, rows, accumulate: true);
        if (!db.IsNull)
        {
            var sums = Kernel<Action<S, C, V, V, int, int>>(nameof(IlgpuKernelCode.ColumnSumsAdd));
            if (sums is null || rows <= 0) return;
            sums(Stream, Elements(nOut), View(db), View(dy), rows, nOut);
        }
    }

    // ------------------------------------------------------------------------------------------
    // LayerNorm, attention, patch embedding, positions, pooling.
    // ------------------------------------------------------------------------------------------

    internal void LayerNormForward<TDim>(DevicePtr y, DevicePtr mean, DevicePtr rstd, DevicePtr x, DevicePtr weight, DevicePtr bias, int rows, float eps)
        where TDim : struct, IDim
    {
        var k = Kernel<Action<S, C, V, V, V, V, V, V, int, float>>(nameof(IlgpuKernelCode.LayerNormForward), typeof(TDim));
        if (k is null || rows <= 0) return;
        int save = mean.IsNull || rstd.IsNull ? 0 : 1;
        k(Stream, new C(rows, _rows), View(y), View(mean), View(rstd), View(x), View(weight), View(bias), save, eps);
    }

    internal void LayerNormBackward<TDim>(DevicePtr dx, DevicePtr dweight, DevicePtr dbias, DevicePtr dy, DevicePtr x, DevicePtr mean, DevicePtr rstd,
        DevicePtr weight, int rows)
        where TDim : struct, IDim
    {
        var input = Kernel<Action<S, C, V, V, V, V, V, V>>(nameof(IlgpuKernelCode.LayerNormBackwardInput), typeof(TDim));
        var parameters = Kernel<Action<S, C, V, V, V, V, V, V, int>>(nameof(IlgpuKernelCode.LayerNormBackwardParams), typeof(TDim));
        if (input is null || parameters is null || rows <= 0) return;
        input(Stream, new C(rows, _rows), View(dx), View(dy), View(x), View(mean), View(rstd), View(weight));
        parameters(Stream, Elements(TDim.Value), View(dweight), View(dbias), View(dy), View(x), View(mean), View(rstd), rows);
    }

    internal void AttentionForward<TTokens, THeads, THeadDim>(DevicePtr output, DevicePtr probs, DevicePtr dropoutMask, DevicePtr qkv, int batch)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
    {
        // 16 query rows per group while their scores (16 × T floats) stay within 24 KiB of shared memory.
        bool rows16 = 16L * TTokens.Value * sizeof(float) <= 24 * 1024;
        var k = Kernel<Action<S, C, V, V, V, V, int, float>>(nameof(IlgpuKernelCode.AttentionForward),
            typeof(TTokens), typeof(THeads), typeof(THeadDim), rows16 ? typeof(AttentionRows16) : typeof(AttentionRows4));
        if (k is null || batch <= 0) return;
        int block = rows16 ? AttentionRows16.Value : AttentionRows4.Value;
        int flags = (probs.IsNull ? 0 : IlgpuKernelCode.AttentionProbs) | (dropoutMask.IsNull ? 0 : IlgpuKernelCode.AttentionMask);
        var config = new C(new Index2D((TTokens.Value + block - 1) / block, batch * THeads.Value), new Index2D(_rows, 1));
        k(Stream, config, View(output), View(probs), View(dropoutMask), View(qkv), flags, _attentionScale);
    }

    internal void AttentionBackward<TTokens, THeads, THeadDim>(DevicePtr dqkv, DevicePtr dprobs, DevicePtr doutput, DevicePtr probs, DevicePtr dropoutMask,
        DevicePtr qkv, int batch)
        where TTokens : struct, IDim where THeads : struct, IDim where THeadDim : struct, IDim
    {
        var query = Kernel<Action<S, C, V, V, V, V, V, V, int, int, float>>(nameof(IlgpuKernelCode.AttentionBackwardQuery), typeof(TTokens), typeof(THeads), typeof(THeadDim));
        var key = Kernel<Action<S, C, V, V, V, V, V, V, int, int>>(nameof(IlgpuKernelCode.AttentionBackwardKey), typeof(TTokens), typeof(THeads), typeof(THeadDim));
        if (query is null || key is null || batch <= 0) return;
        int rows = batch * THeads.Value * TTokens.Value, mask = Flag(dropoutMask);
        // Per query row: the score gradient and dq; then per key row: dk and dv.
        query(Stream, Elements(rows), View(dqkv), View(dprobs), View(doutput), View(probs), View(dropoutMask), View(qkv), mask, rows, _attentionScale);
        key(Stream, Elements(rows), View(dqkv), View(dprobs), View(doutput), View(probs), View(dropoutMask), View(qkv), mask, rows);
    }

    internal void PatchEmbeddingForward<TChannels, TImage, TPatch, TDim>(DevicePtr tokens, DevicePtr patches, DevicePtr images, DevicePtr weight, DevicePtr bias, int batch)
        where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim where TDim : struct, IDim
    {
        var im2col = Kernel<Action<S, C, V, V, int>>(nameof(IlgpuKernelCode.Im2Col), typeof(TChannels), typeof(TImage), typeof(TPatch));
        var scatter = Kernel<Action<S, C, V, V, int, int>>(nameof(IlgpuKernelCode.PatchScatter), typeof(PatchCount<TImage, TPatch>), typeof(TDim));
        int n = PatchCount<TImage, TPatch>.Value, kk = TChannels.Value * TPatch.Value * TPatch.Value, d = TDim.Value;
        if (im2col is null || scatter is null || batch <= 0)
        {
            Gemm(DevicePtr.None, d, DevicePtr.None, kk, 1, DevicePtr.None, 1, kk, DevicePtr.None, DevicePtr.None, 0, 0, d, kk, accumulate: false);
            return;
        }
        int count = Count((long)batch * n * kk);
        im2col(Stream, Elements(count), View(patches), View(images), count);
        var rows = Scratch;
        Gemm(rows, d, patches, kk, 1, weight, 1, kk, bias, DevicePtr.None, 0, batch * n, d, kk, accumulate: false);
        count = Count((long)batch * n * d);
        scatter(Stream, Elements(count), View(tokens), View(rows), 0, count);
    }

    internal void PatchEmbeddingBackward<TChannels, TImage, TPatch, TDim>(DevicePtr dweight, DevicePtr dbias, DevicePtr dtokens, DevicePtr patches, int batch)
        where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim where TDim : struct, IDim
    {
        var gather = Kernel<Action<S, C, V, V, int, int>>(nameof(IlgpuKernelCode.PatchScatter), typeof(PatchCount<TImage, TPatch>), typeof(TDim));
        int n = PatchCount<TImage, TPatch>.Value, kk = TChannels.Value * TPatch.Value * TPatch.Value, d = TDim.Value;
        if (gather is not null && batch > 0)
        {
            int count = Count((long)batch * n * d);
            gather(Stream, Elements(count), View(dtokens), View(Scratch), 1, count);
        }
        LinearBackward(DevicePtr.None, dweight, dbias, Scratch, patches, kk, DevicePtr.None, batch * n, kk, d);
    }

    internal void PositionEmbeddingForward<TTokens, TDim>(DevicePtr tokens, DevicePtr classToken, DevicePtr positions, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        var k = Kernel<Action<S, C, V, V, V, int>>(nameof(IlgpuKernelCode.PositionForward), typeof(TTokens), typeof(TDim));
        if (k is null || batch <= 0) return;
        int count = Count((long)batch * TTokens.Value * TDim.Value);
        k(Stream, Elements(count), View(tokens), View(classToken), View(positions), count);
    }

    internal void PositionEmbeddingBackward<TTokens, TDim>(DevicePtr dclassToken, DevicePtr dpositions, DevicePtr dtokens, int batch)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        var k = Kernel<Action<S, C, V, V, V, int>>(nameof(IlgpuKernelCode.PositionBackward), typeof(TTokens), typeof(TDim));
        if (k is null || batch <= 0) return;
        k(Stream, Elements((long)TTokens.Value * TDim.Value), View(dclassToken), View(dpositions), View(dtokens), batch);
    }

    internal void PoolingForward<TTokens, TDim>(DevicePtr pooled, DevicePtr tokens, int batch, bool mean)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        var k = Kernel<Action<S, C, V, V, int, int>>(nameof(IlgpuKernelCode.PoolForward), typeof(TTokens), typeof(TDim));
        if (k is null || batch <= 0) return;
        int count = Count((long)batch * TDim.Value);
        k(Stream, Elements(count), View(pooled), View(tokens), mean ? 1 : 0, count);
    }

    internal void PoolingBackward<TTokens, TDim>(DevicePtr dtokens, DevicePtr dpooled, int batch, bool mean)
        where TTokens : struct, IDim where TDim : struct, IDim
    {
        var k = Kernel<Action<S, C, V, V, int, int>>(nameof(IlgpuKernelCode.PoolBackward), typeof(TTokens), typeof(TDim));
        if (k is null || batch <= 0) return;
        int count = Count((long)batch * TTokens.Value * TDim.Value);
        k(Stream, Elements(count), View(dtokens), View(dpooled), mean ? 1 : 0, count);
    }

    // ------------------------------------------------------------------------------------------
    // Element-wise steps.
    // ------------------------------------------------------------------------------------------

    internal void LayerScaleForward<TDim>(DevicePtr y, DevicePtr x, DevicePtr gamma, int rows) where TDim : struct, IDim
    {
        var k = Kernel<Action<S, C, V, V, V, int>>(nameof(IlgpuKernelCode.LayerScale), typeof(TDim));
        if (k is null || rows <= 0) return;
        int count = Count((long)rows * TDim.Value);
        k(Stream, Elements(count), View(y), View(x), View(gamma), count);
    }

    internal void LayerScaleBackward<TDim>(DevicePtr dx, DevicePtr dgamma, DevicePtr dy, DevicePtr x, DevicePtr gamma, int rows) where TDim : struct, IDim
    {
        var scale = Kernel<Action<S, C, V, V, V, int>>(nameof(IlgpuKernelCode.LayerScale), typeof(TDim));
        var dg = Kernel<Action<S, C, V, V, V, int>>(nameof(IlgpuKernelCode.LayerScaleGamma), typeof(TDim));
        if (scale is null || dg is null || rows <= 0) return;
        // The gamma gradient first: the in-order stream then lets dx overwrite dy.
        dg(Stream, Elements(TDim.Value), View(dgamma), View(dy), View(x), rows);
        int count = Count((long)rows * TDim.Value);
        scale(Stream, Elements(count), View(dx), View(dy), View(gamma), count);
    }

    internal void ResidualForward(DevicePtr output, DevicePtr input, DevicePtr branch, DevicePtr sampleScale, int batch, long perImage)
    {
        var k = Kernel<Action<S, C, V, V, V, V, int, int, int>>(nameof(IlgpuKernelCode.ResidualForward));
        if (k is null || batch <= 0) return;
        int count = Count(batch * perImage);
        k(Stream, Elements(count), View(output), View(input), View(branch), View(sampleScale), Flag(sampleScale), Count(perImage), count);
    }

    internal void ResidualBackward(DevicePtr dbranch, DevicePtr doutput, DevicePtr sampleScale, int batch, long perImage)
    {
        var k = Kernel<Action<S, C, V, V, V, int, int, int>>(nameof(IlgpuKernelCode.ResidualBackward));
        if (k is null || batch <= 0 || (sampleScale.IsNull && dbranch == doutput)) return;
        int count = Count(batch * perImage);
        k(Stream, Elements(count), View(dbranch), View(doutput), View(sampleScale), Flag(sampleScale), Count(perImage), count);
    }

    internal void DropoutApply(DevicePtr x, DevicePtr mask, long count)
    {
        var k = Kernel<Action<S, C, V, V, int>>(nameof(IlgpuKernelCode.MultiplyMask));
        if (k is null || count <= 0) return;
        k(Stream, Elements(count), View(x), View(mask), Count(count));
    }

    internal void DropoutApply(DevicePtr x, long xStride, DevicePtr mask, int rows, int cols)
    {
        Vit.Backends.Cpu.Linear.CheckStride(xStride, cols);
        var k = Kernel<Action<S, C, V, long, V, int, int>>(nameof(IlgpuKernelCode.MultiplyMaskRows));
        long count = (long)rows * cols;
        if (k is null || count <= 0) return;
        k(Stream, Elements(count), View(x), xStride, View(mask), cols, Count(count));
    }

    internal void GeluBackward(DevicePtr dx, DevicePtr dy, DevicePtr x, long count) => Elementwise(nameof(IlgpuKernelCode.GeluBackward), dx, dy, x, count);

    internal void TanhForward(DevicePtr y, DevicePtr x, long count)
    {
        var k = Kernel<Action<S, C, V, V, int>>(nameof(IlgpuKernelCode.TanhForward));
        if (k is null || count <= 0) return;
        k(Stream, Elements(count), View(y), View(x), Count(count));
    }

    internal void TanhBackward(DevicePtr dx, DevicePtr dy, DevicePtr y, long count) => Elementwise(nameof(IlgpuKernelCode.TanhBackward), dx, dy, y, count);

    private void Elementwise(string name, DevicePtr a, DevicePtr b, DevicePtr c, long count)
    {
        var k = Kernel<Action<S, C, V, V, V, int>>(name);
        if (k is null || count <= 0) return;
        k(Stream, Elements(count), View(a), View(b), View(c), Count(count));
    }

    internal void Zero(DevicePtr x, long count) => Api.Zero(x, count);

    // ------------------------------------------------------------------------------------------
    // The loss; labels were uploaded by BeginTraining, the per-image losses are read by EndTraining.
    // ------------------------------------------------------------------------------------------

    internal void SoftmaxCrossEntropyForward<TClasses>(DevicePtr probs, DevicePtr logits, int batch, float labelSmoothing) where TClasses : struct, IDim
    {
        var k = Kernel<Action<S, C, V, V, V, ArrayView<int>, int, int, float>>(nameof(IlgpuKernelCode.SoftmaxXentForward), typeof(TClasses));
        if (k is null || batch <= 0) return;
        k(Stream, Elements(batch), View(probs), View(Losses), View(logits), Ints(Labels), batch, Memory.ActiveClasses, labelSmoothing);
    }

    internal void SoftmaxCrossEntropyBackward<TClasses>(DevicePtr dlogits, DevicePtr probs, int batch, float labelSmoothing) where TClasses : struct, IDim
    {
        var k = Kernel<Action<S, C, V, V, ArrayView<int>, int, int, float>>(nameof(IlgpuKernelCode.SoftmaxXentBackward), typeof(TClasses));
        if (k is null || batch <= 0) return;
        k(Stream, Elements((long)batch * TClasses.Value), View(dlogits), View(probs), Ints(Labels), batch, Memory.ActiveClasses, labelSmoothing);
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        _dummy.Dispose();
        base.Dispose(disposing);
        ((IlgpuDeviceApi)Api).Dispose();
    }
}
