using Vit.Backends.Device;
using Vit.Memory;

namespace Vit.Backends.OpenCL;

/// <summary>
/// One model instance on an OpenCL device: the kernels of the model's program and the steps
/// <see cref="ClKernels"/> calls (the same names and arguments as the CPU kernels). Everything
/// device-neutral (memory, coherence, staging, the passes) is <see cref="DeviceModel{TKernels}"/>,
/// over <see cref="ClDeviceApi"/>.
/// </summary>
public sealed unsafe partial class ClModel : DeviceModel<ClKernels>
{
    // Work-group sizes the kernels are written for (vit.cl: 16×16 GEMM tiles, LN_LOCAL, OPT_LOCAL).
    internal const int GemmLocal = 16, GemmTile = 64, LayerNormLocal = 128, OptimizerLocal = 256, ElementLocal = 64;


    internal readonly KernelRing GemmKernel, ColumnSumsKernel, LayerNormForwardKernel, LayerNormInputKernel, LayerNormParamsKernel,
        AttentionForwardKernel, AttentionQueryKernel, AttentionKeyKernel, GeluBackwardKernel, TanhForwardKernel, TanhBackwardKernel,
        MaskKernel, MaskRowsKernel, FillKernel, ResidualForwardKernel, ResidualBackwardKernel,
        LayerScaleForwardKernel, LayerScaleInputKernel, LayerScaleGammaKernel, Im2ColKernel, PatchScatterKernel, PatchGatherKernel,
        PositionForwardKernel, PositionBackwardKernel, PoolForwardKernel, PoolBackwardKernel, LossForwardKernel, LossBackwardKernel,
        SumSquaresKernel, AdamWKernel, SgdKernel;

    private readonly KernelRing[] _kernels;
    private bool _ringsDisposed;

    /// <summary>
    /// Puts the model whose memory is <paramref name="memory"/> on <paramref name="backend"/>'s
    /// device: compiles (or reuses) the program for its shape and allocates its device memory.
    /// </summary>
    /// <exception cref="ClBuildException">The program did not compile; the message holds the build log.</exception>
    /// <exception cref="NotSupportedException">The device's work-groups are smaller than the kernels need.</exception>
    public ClModel(OpenCLBackend backend, ModelMemory memory)
        : base(ClDeviceApi.For(backend, memory), memory, PatchRowsPerImage(memory))
    {
        Backend = backend;
        Context = backend.Context;
        var api = (ClDeviceApi)Api;
        var program = api.Program;
        _kernels =
        [
            GemmKernel = new KernelRing(program, "gemm"),
            ColumnSumsKernel = new KernelRing(program, "column_sums_add"),
            LayerNormForwardKernel = new KernelRing(program, "layernorm_forward"),
            LayerNormInputKernel = new KernelRing(program, "layernorm_backward_input"),
            LayerNormParamsKernel = new KernelRing(program, "layernorm_backward_params"),
            AttentionForwardKernel = new KernelRing(program, "attention_forward"),
            AttentionQueryKernel = new KernelRing(program, "attention_backward_query"),
            AttentionKeyKernel = new KernelRing(program, "attention_backward_key"),
            GeluBackwardKernel = new KernelRing(program, "gelu_backward"),
            TanhForwardKernel = new KernelRing(program, "tanh_forward"),
            TanhBackwardKernel = new KernelRing(program, "tanh_backward"),
            MaskKernel = new KernelRing(program, "multiply_mask"),
            MaskRowsKernel = new KernelRing(program, "multiply_mask_rows"),
            FillKernel = api.FillKernel,
            ResidualForwardKernel = new KernelRing(program, "residual_forward"),
            ResidualBackwardKernel = new KernelRing(program, "residual_backward"),
            LayerScaleForwardKernel = new KernelRing(program, "layer_scale_forward"),
            LayerScaleInputKernel = new KernelRing(program, "layer_scale_backward_input"),
            LayerScaleGammaKernel = new KernelRing(program, "layer_scale_backward_gamma"),
            Im2ColKernel = new KernelRing(program, "im2col"),
            PatchScatterKernel = new KernelRing(program, "patch_scatter"),
            PatchGatherKernel = new KernelRing(program, "patch_gather"),
            PositionForwardKernel = new KernelRing(program, "position_forward"),
            PositionBackwardKernel = new KernelRing(program, "position_backward"),
            PoolForwardKernel = new KernelRing(program, "pool_forward"),
            PoolBackwardKernel = new KernelRing(program, "pool_backward"),
            LossForwardKernel = new KernelRing(program, "softmax_xent_forward"),
            LossBackwardKernel = new KernelRing(program, "softmax_xent_backward"),
            SumSquaresKernel = new KernelRing(program, "sum_squares"),
            AdamWKernel = new KernelRing(program, "adamw_update"),
            SgdKernel = new KernelRing(program, "sgd_update"),
        ];
        foreach (var (kernel, needed) in new[] { (GemmKernel, GemmLocal * GemmLocal), (LayerNormForwardKernel, LayerNormLocal), (SumSquaresKernel, OptimizerLocal), (AdamWKernel, OptimizerLocal) })
            if (kernel.MaxWorkGroupSize < needed)
                throw new NotSupportedException(
                    $"OpenCL device '{backend.Device.Name}' runs at most {kernel.MaxWorkGroupSize} work-items per group for '{kernel.Name}'; Vit's kernels need {needed}.");

        LayerNorm = new LayerNormSteps(this);
        Linear = new LinearSteps(this);
        Attention = new AttentionSteps(this);
        PatchEmbedding = new PatchEmbeddingSteps(this);
        PositionEmbedding = new PositionEmbeddingSteps(this);
        TokenPooling = new PoolingSteps(this, mean: false);
        MeanPooling = new PoolingSteps(this, mean: true);
        Residual = new ResidualSteps(this);
        LayerScale = new LayerScaleSteps(this);
        Dropout = new DropoutSteps(this);
        DropPath = new DropPathSteps(this);
        Gelu = new GeluSteps(this);
        Tanh = new TanhSteps(this);
        Fill = new FillSteps(this);
        SoftmaxCrossEntropy = new LossSteps(this);
        api.Rings = _kernels;
    }

    // The patch embedding's GEMM writes rows 0..N-1 of each image before scattering them to tokens 1..N.
    private static long PatchRowsPerImage(ModelMemory memory)
    {
        var c = memory.Layout.Config;
        return (long)(c.ImageSize / c.Patch) * (c.ImageSize / c.Patch) * c.Dim;
    }

    /// <summary>The backend (device, context, program cache).</summary>
    public OpenCLBackend Backend { get; }

    /// <summary>The device's context and queue.</summary>
    public ClContext Context { get; }

    /// <inheritdoc/>
    public override string BackendName => "opencl";

    /// <summary>Kernel objects created so far (see <see cref="KernelRing"/>); constant in a steady state.</summary>
    public int KernelObjects
    {
        get
        {
            int n = 0;
            foreach (var ring in _kernels) n += ring.Count;
            return n;
        }
    }

    /// <summary>LayerNorm forward and backward.</summary>
    public LayerNormSteps LayerNorm { get; }

    /// <summary>Linear layers (the tiled GEMM with its epilogues).</summary>
    public LinearSteps Linear { get; }

    /// <summary>Multi-head self-attention.</summary>
    public AttentionSteps Attention { get; }

    /// <summary>The stride-P convolution as im2col and GEMM.</summary>
    public PatchEmbeddingSteps PatchEmbedding { get; }

    /// <summary>Class token and position embeddings.</summary>
    public PositionEmbeddingSteps PositionEmbedding { get; }

    /// <summary>Class-token pooling.</summary>
    public PoolingSteps TokenPooling { get; }

    /// <summary>Mean pooling over the patch tokens.</summary>
    public PoolingSteps MeanPooling { get; }

    /// <summary>Residual adds (with drop-path scales).</summary>
    public ResidualSteps Residual { get; }

    /// <summary>LayerScale (timm <c>init_values</c>): the per-channel scale of a block's branch.</summary>
    public LayerScaleSteps LayerScale { get; }

    /// <summary>Dropout masks and their application.</summary>
    public DropoutSteps Dropout { get; }

    /// <summary>Drop-path scales.</summary>
    public DropPathSteps DropPath { get; }

    /// <summary>GELU backward (the forward is the GEMM's epilogue).</summary>
    public GeluSteps Gelu { get; }

    /// <summary>tanh of the pre-logits layer.</summary>
    public TanhSteps Tanh { get; }

    /// <summary>Zero fills.</summary>
    public FillSteps Fill { get; }

    /// <summary>The loss.</summary>
    public LossSteps SoftmaxCrossEntropy { get; }

    /// <inheritdoc/>
    protected override ClKernels Kernels => new(this);

    /// <summary>The patch GEMM's rows on the device: (batch, N, D).</summary>
    internal DevicePtr PatchRows => Scratch;

    /// <inheritdoc/>
    public override OptimizerKernels CreateOptimizerState(IReadOnlyList<ParameterInfo> trained, int stateBuffers) =>
        new ClOptimizerState(this, trained, stateBuffers);

    /// <summary>Sets <paramref name="count"/> floats of <paramref name="x"/> to zero (the <c>fill</c> kernel).</summary>
    internal void Zero(DevicePtr x, long count) => Api.Zero(x, count);

    /// <summary>Throws unless <paramref name="dim"/> is the width the program was built with (the <c>DIM</c> define).</summary>
    internal void CheckWidth(int dim)
    {
        if (dim != Layout.Config.Dim)
            throw new ArgumentException($"The OpenCL program of {Layout.Config.Name} is built for width {Layout.Config.Dim}; found dim {dim}.", nameof(dim));
    }

    /// <summary>Sets a tensor argument: the buffer (null: a null pointer) and the offset in floats.</summary>
    internal static void SetTensor(ClKernel kernel, ref int index, DevicePtr tensor)
    {
        kernel.SetArg(index++, (ClBuffer?)tensor.Buffer);
        kernel.SetArg(index++, tensor.Offset);
    }

    /// <summary>Enqueues a one-dimensional kernel over <paramref name="count"/> work-items (rounded up to the group size).</summary>
    internal void Launch(ClKernel kernel, long count, int local = ElementLocal)
    {
        if (count <= 0) return;
        Context.Launch1D(kernel, RoundUp(count, local), local);
    }

    internal static long RoundUp(long n, int multiple) => (n + multiple - 1) / multiple * multiple;

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (_ringsDisposed) return;
        _ringsDisposed = true;
        foreach (var k in _kernels) k.Dispose();
        base.Dispose(disposing);
    }
}
