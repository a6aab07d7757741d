using Vit.Memory;

namespace Vit.Backends.OpenCL;

/// <summary>
/// One model instance on an OpenCL device: the device memory pools (parameters, gradients,
/// activations, staging), the kernels of the model's program, and the steps the generated launch
/// sequence calls (<c>k.LayerNorm.Forward&lt;D768&gt;(…)</c>, the same names and arguments as the
/// CPU kernels in <c>Vit.Backends.Cpu</c>).
/// </summary>
/// <remarks>
/// <para>
/// Buffers are allocated when the model is created and grow only when a batch larger than every
/// earlier one arrives, so a steady-state step allocates nothing on the host or the device. Per
/// training step, the images and labels go up and the per-image losses come down; with dropout,
/// the masks are drawn on the host from the model's random stream (the same masks as on the CPU)
/// and uploaded.
/// </para>
/// <para>
/// Parameters and gradients have a host copy in <see cref="ModelMemory"/>. Whichever side changed
/// last is current: the host reads download first (<see cref="SyncToHost"/>), and the device
/// uploads before its next use when the host copy may have changed. Not thread-safe: one call at
/// a time, as on the CPU.
/// </para>
/// </remarks>
public sealed unsafe partial class ClModel : DeviceMemory
{
    // Work-group sizes the kernels are written for (vit.cl: 16×16 GEMM tiles, LN_LOCAL, OPT_LOCAL).
    internal const int GemmLocal = 16, GemmTile = 64, LayerNormLocal = 128, OptimizerLocal = 256, ElementLocal = 64;

    private enum Current { Host, Device, Both }

    private readonly ModelMemory _memory;
    private readonly ModelLayout _layout;
    private readonly ClBuffer _parameters, _gradients;
    private Current _parametersAt = Current.Host, _gradientsAt = Current.Device;
    private ClBuffer? _inference, _training, _input, _labels, _losses, _patchRows;
    private int _capacity;
    private readonly NativeBuffer _staging = new(0);
    private bool _disposed;

    internal readonly KernelRing GemmKernel, ColumnSumsKernel, LayerNormForwardKernel, LayerNormInputKernel, LayerNormParamsKernel,
        AttentionForwardKernel, AttentionQueryKernel, AttentionKeyKernel, GeluBackwardKernel, TanhForwardKernel, TanhBackwardKernel,
        MaskKernel, MaskRowsKernel, FillKernel, ResidualForwardKernel, ResidualBackwardKernel,
        LayerScaleForwardKernel, LayerScaleInputKernel, LayerScaleGammaKernel, Im2ColKernel, PatchScatterKernel, PatchGatherKernel,
        PositionForwardKernel, PositionBackwardKernel, PoolForwardKernel, PoolBackwardKernel, LossForwardKernel, LossBackwardKernel,
        SumSquaresKernel, AdamWKernel, SgdKernel;

    private readonly KernelRing[] _kernels;

    /// <summary>
    /// Puts the model whose memory is <paramref name="memory"/> on <paramref name="backend"/>'s
    /// device: compiles (or reuses) the program for its shape and allocates its device memory.
    /// </summary>
    /// <exception cref="ClBuildException">The program did not compile; the message holds the build log.</exception>
    /// <exception cref="NotSupportedException">The device's work-groups are smaller than the kernels need.</exception>
    public ClModel(OpenCLBackend backend, ModelMemory memory)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(memory);
        Backend = backend;
        Context = backend.Context;
        _memory = memory;
        _layout = memory.Layout;
        var program = backend.Program(_layout.Config);
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
            FillKernel = new KernelRing(program, "fill"),
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

        long bytes = _layout.ParameterFloats * sizeof(float);
        _parameters = Context.CreateBuffer(bytes);
        _gradients = Context.CreateBuffer(bytes);
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
        EnsureCapacity(memory.Capacity);
        Zero(new DevicePtr(_gradients, 0), _layout.ParameterFloats);
        memory.AttachDevice(this);
    }

    /// <summary>The backend (device, context, program cache).</summary>
    public OpenCLBackend Backend { get; }

    /// <summary>The device's context and queue.</summary>
    public ClContext Context { get; }

    /// <inheritdoc/>
    public override string BackendName => "opencl";

    /// <inheritdoc/>
    public override void Forward(IModelPasses passes, ReadOnlySpan<float> images, int batch, Span<float> output)
    {
        var activations = BeginForward(images, batch, output);
        var result = passes.Forward<ClKernels, DevicePtr>(new ClKernels(this), activations, batch);
        EndForward(result, batch, output);
    }

    /// <inheritdoc/>
    public override float ForwardBackward(IModelPasses passes, ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch)
    {
        var activations = BeginTraining(images, labels, batch);
        var k = new ClKernels(this);
        passes.ForwardTraining<ClKernels, DevicePtr>(k, activations, labels, batch);
        passes.Backward<ClKernels, DevicePtr>(k, activations, labels, batch);
        return EndTraining(batch);
    }

    /// <summary>Device bytes held by this model: parameters, gradients, activations and staging.</summary>
    public long DeviceBytes =>
        _parameters.Bytes + _gradients.Bytes + (_inference?.Bytes ?? 0) + (_training?.Bytes ?? 0) + (_input?.Bytes ?? 0)
        + (_labels?.Bytes ?? 0) + (_losses?.Bytes ?? 0) + (_patchRows?.Bytes ?? 0);

    /// <summary>How many times a device buffer was (re)allocated for a larger batch; constant in a steady state.</summary>
    public int Allocations { get; private set; }

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

    /// <summary>The queue has drained (a blocking transfer returned): kernel objects can be reused.</summary>
    internal void Drained()
    {
        foreach (var ring in _kernels) ring.Rewind();
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

    /// <summary>The parameters on the device, uploaded first when the host copy changed.</summary>
    public DevicePtr Parameters
    {
        get
        {
            Upload(ModelBuffer.Parameters, write: false);
            return new DevicePtr(_parameters, 0);
        }
    }

    /// <summary>The gradients on the device, uploaded first when the host copy changed; the device copy is then the current one.</summary>
    public DevicePtr Gradients
    {
        get
        {
            Upload(ModelBuffer.Gradients, write: true);
            return new DevicePtr(_gradients, 0);
        }
    }

    /// <summary>The images of the current call on the device, (batch, C, H, W).</summary>
    public DevicePtr Input => new(_input, 0);

    internal DevicePtr Losses => new(_losses, 0);

    internal ClBuffer Labels => _labels!;

    internal DevicePtr PatchRows => new(_patchRows, 0);

    /// <summary>Validates a <c>Forward</c> call, uploads the images, and returns the inference activation buffer.</summary>
    public DevicePtr BeginForward(ReadOnlySpan<float> images, int batch, Span<float> output)
    {
        _memory.CheckForward(images, batch, output.Length);
        EnsureCapacity(_memory.Capacity);
        _inference = Grow(_inference, _layout.InferenceFloatsPerImage * _capacity * sizeof(float));
        UploadImages(images);
        return new DevicePtr(_inference, 0);
    }

    /// <summary>Downloads <paramref name="batch"/> output rows from <paramref name="result"/> into <paramref name="output"/> (waits for the queue).</summary>
    public void EndForward(DevicePtr result, int batch, Span<float> output)
    {
        long count = (long)batch * _layout.OutputSize;
        fixed (float* o = output)
            Context.Read(result.Buffer!, result.Offset * sizeof(float), o, count * sizeof(float), blocking: true);
        Drained();
    }

    /// <summary>Validates a <c>ForwardBackward</c> call, uploads images and labels, and returns the training activation buffer.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A label is outside [0, Classes).</exception>
    public DevicePtr BeginTraining(ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch)
    {
        _memory.CheckTraining(images, labels, batch);
        Vit.Backends.Cpu.SoftmaxCrossEntropy.CheckLabels(labels, batch, _layout.Config.Classes);
        EnsureCapacity(_memory.Capacity);
        _training = Grow(_training, _layout.TrainingFloatsPerImage * _capacity * sizeof(float));
        UploadImages(images);
        fixed (int* l = labels)
            Context.Write(_labels!, 0, l, (long)batch * sizeof(int), blocking: true);
        Drained();
        _memory.SetLastTrainingBatch(batch);
        return new DevicePtr(_training, 0);
    }

    /// <summary>Waits for the step, downloads the per-image losses and returns their mean.</summary>
    public float EndTraining(int batch)
    {
        _staging.EnsureLength(batch);
        float* l = _staging.Start.Pointer;
        Context.Read(_losses!, 0, l, (long)batch * sizeof(float), blocking: true);
        Drained();
        double total = 0;
        for (int b = 0; b < batch; b++) total += l[b];
        return (float)(total / batch);
    }

    /// <inheritdoc/>
    public override void SyncToHost(ModelBuffer buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ref Current at = ref buffer == ModelBuffer.Parameters ? ref _parametersAt : ref _gradientsAt;
        if (at == Current.Device)
        {
            var (device, host) = Pair(buffer);
            Context.Read(device, 0, host.Start.Pointer, device.Bytes, blocking: true);
            Drained();
        }
        at = Current.Host;
    }

    /// <inheritdoc/>
    public override void ZeroGradients()
    {
        Zero(new DevicePtr(_gradients, 0), _layout.ParameterFloats);
        _gradientsAt = Current.Device;
    }

    /// <inheritdoc/>
    public override ReadOnlySpan<float> LastTrainingTensor(long offsetPerImage, int width, int batch)
    {
        long count = (long)batch * width;
        _staging.EnsureLength(count);
        Context.Read(_training!, offsetPerImage * batch * sizeof(float), _staging.Start.Pointer, count * sizeof(float), blocking: true);
        Drained();
        return _staging.Start.AsSpan(checked((int)count));
    }

    /// <inheritdoc/>
    public override DeviceOptimizerState CreateOptimizerState(IReadOnlyList<ParameterInfo> trained, int stateBuffers) =>
        new ClOptimizerState(this, trained, stateBuffers);

    /// <summary>Makes the device copy current (uploads when the host changed it); <paramref name="write"/>: the device is about to change it.</summary>
    internal void Upload(ModelBuffer buffer, bool write)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ref Current at = ref buffer == ModelBuffer.Parameters ? ref _parametersAt : ref _gradientsAt;
        if (at == Current.Host)
        {
            var (device, host) = Pair(buffer);
            Context.Write(device, 0, host.Start.Pointer, device.Bytes, blocking: true);
            Drained();
            at = Current.Both;
        }
        if (write) at = Current.Device;
    }

    internal ClBuffer DeviceBuffer(ModelBuffer buffer) => buffer == ModelBuffer.Parameters ? _parameters : _gradients;

    /// <summary>Host memory for values drawn on the host (dropout masks), valid until the next call.</summary>
    internal TensorPtr Staging(long floats)
    {
        _staging.EnsureLength(floats);
        return _staging.Start;
    }

    /// <summary>A new device buffer counted in <see cref="Allocations"/> (optimizer state, chunk tables).</summary>
    internal ClBuffer Allocate(long bytes)
    {
        Allocations++;
        return Context.CreateBuffer(bytes);
    }

    private (ClBuffer Device, NativeBuffer Host) Pair(ModelBuffer buffer) =>
        buffer == ModelBuffer.Parameters ? (_parameters, _memory.HostParameters) : (_gradients, _memory.HostGradients);

    private void UploadImages(ReadOnlySpan<float> images)
    {
        fixed (float* i = images)
            Context.Write(_input!, 0, i, (long)images.Length * sizeof(float), blocking: true);
        Drained();
    }

    // Batch-sized buffers other than the activations: images, labels, losses, the patch GEMM's rows.
    private void EnsureCapacity(int capacity)
    {
        if (capacity <= _capacity && _input is not null) return;
        _capacity = Math.Max(capacity, _capacity);
        var c = _layout.Config;
        int patches = (c.ImageSize / c.Patch) * (c.ImageSize / c.Patch);
        _input = Grow(_input, (long)_layout.InputFloatsPerImage * _capacity * sizeof(float));
        _labels = Grow(_labels, (long)_capacity * sizeof(int));
        _losses = Grow(_losses, (long)_capacity * sizeof(float));
        _patchRows = Grow(_patchRows, (long)patches * c.Dim * _capacity * sizeof(float));
    }

    private ClBuffer Grow(ClBuffer? buffer, long bytes)
    {
        if (buffer is not null && buffer.Bytes >= bytes) return buffer;
        buffer?.Dispose();
        Allocations++;
        return Context.CreateBuffer(bytes);
    }

    /// <summary>Sets <paramref name="count"/> floats of <paramref name="x"/> to zero (the <c>fill</c> kernel).</summary>
    internal void Zero(DevicePtr x, long count)
    {
        var k = FillKernel.Take();
        int i = 0;
        SetTensor(k, ref i, x);
        k.SetArg(i++, 0f);
        k.SetArg(i, count);
        Launch(k, count);
    }

    /// <summary>Fails unless <paramref name="dim"/> is the model width the program's kernels were built with (<c>DIM</c>).</summary>
    internal void CheckWidth(int dim)
    {
        if (dim != _layout.Config.Dim)
            throw new ArgumentException($"The OpenCL program of {_layout.Config.Name} is built for width {_layout.Config.Dim}; found dim {dim}.", nameof(dim));
    }

    /// <summary>Sets a tensor argument: the buffer (null: a null pointer) and the offset in floats.</summary>
    internal static void SetTensor(ClKernel kernel, ref int index, DevicePtr tensor)
    {
        kernel.SetArg(index++, tensor.Buffer);
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
        if (_disposed) return;
        _disposed = true;
        foreach (var k in _kernels) k.Dispose();
        _parameters.Dispose();
        _gradients.Dispose();
        _inference?.Dispose();
        _training?.Dispose();
        _input?.Dispose();
        _labels?.Dispose();
        _losses?.Dispose();
        _patchRows?.Dispose();
        _staging.Dispose();
    }
}
