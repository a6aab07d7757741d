using Vit.Memory;
using Vit.Numerics;

namespace Vit.Backends.Device;

/// <summary>
/// One model on a device backend: the device-neutral host logic every device shares, over a
/// <see cref="DeviceApi"/>. It owns the device memory (parameters, gradients, activations, images,
/// labels, losses, and the kernels' per-batch scratch), keeps the host and device copies of the
/// parameters and gradients coherent, stages each call's inputs, draws dropout masks on the host
/// (the same masks as the CPU) and runs the generated passes with the backend's kernel set
/// <typeparamref name="TKernels"/>.
/// </summary>
/// <remarks>
/// <para>
/// Buffers are allocated when the model is created and grow only when a batch larger than every
/// earlier one arrives, so a steady-state step allocates nothing on the host or the device. Per
/// training step, the images and labels go up and the per-image losses come down.
/// </para>
/// <para>
/// Parameters and gradients have a host copy in <see cref="ModelMemory"/>. Whichever side changed
/// last is current: host reads download first (<see cref="SyncToHost"/>), and the device uploads
/// before its next use when the host copy may have changed. Not thread-safe: one call at a time.
/// </para>
/// </remarks>
/// <typeparam name="TKernels">The backend's kernels.</typeparam>
public abstract unsafe class DeviceModel<TKernels> : DeviceMemory
    where TKernels : struct, IKernels<DevicePtr>
{
    private enum Current { Host, Device, Both }

    private readonly ModelMemory _memory;
    private readonly ModelLayout _layout;
    private readonly DeviceBuffer _parameters, _gradients;
    private Current _parametersAt = Current.Host, _gradientsAt = Current.Device;
    private DeviceBuffer? _inference, _training, _input, _labels, _losses, _scratch;
    private int _capacity;
    private readonly NativeBuffer _staging = new(0);
    private bool _disposed;

    /// <summary>Allocates the model's device memory through <paramref name="api"/> and attaches it to <paramref name="memory"/>.</summary>
    /// <param name="api">The device.</param>
    /// <param name="memory">The model's host memory.</param>
    /// <param name="scratchFloatsPerImage">Per-batch device scratch the backend's kernels need (floats per image).</param>
    protected DeviceModel(DeviceApi api, ModelMemory memory, long scratchFloatsPerImage)
    {
        ArgumentNullException.ThrowIfNull(api);
        ArgumentNullException.ThrowIfNull(memory);
        Api = api;
        _memory = memory;
        _layout = memory.Layout;
        ScratchFloatsPerImage = scratchFloatsPerImage;
        long bytes = _layout.ParameterFloats * sizeof(float);
        _parameters = api.Allocate(bytes);
        _gradients = api.Allocate(bytes);
        EnsureCapacity(memory.Capacity);
        api.Zero(new DevicePtr(_gradients, 0), _layout.ParameterFloats);
        memory.AttachDevice(this);
    }

    /// <summary>The device.</summary>
    public DeviceApi Api { get; }

    /// <summary>The model's layout (sizes, config).</summary>
    public ModelLayout Layout => _layout;

    /// <summary>The model's host memory (its settings: active classes, label smoothing).</summary>
    public ModelMemory Memory => _memory;

    /// <summary>Per-batch scratch the backend's kernels use, floats per image.</summary>
    public long ScratchFloatsPerImage { get; }

    /// <summary>The backend's kernel set for this model.</summary>
    protected abstract TKernels Kernels { get; }

    /// <summary>Device bytes held by this model: parameters, gradients, activations, inputs and scratch.</summary>
    public long DeviceBytes =>
        _parameters.Bytes + _gradients.Bytes + (_inference?.Bytes ?? 0) + (_training?.Bytes ?? 0) + (_input?.Bytes ?? 0)
        + (_labels?.Bytes ?? 0) + (_losses?.Bytes ?? 0) + (_scratch?.Bytes ?? 0);

    /// <summary>How many times a device buffer was (re)allocated for a larger batch; constant in a steady state.</summary>
    public int Allocations { get; private set; }

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

    /// <summary>The per-image losses of the current training step, (batch).</summary>
    public DevicePtr Losses => new(_losses, 0);

    /// <summary>The labels of the current training step, (batch) ints.</summary>
    public DeviceBuffer Labels => _labels!;

    /// <summary>The kernels' per-batch scratch, <see cref="ScratchFloatsPerImage"/> floats per image.</summary>
    public DevicePtr Scratch => new(_scratch, 0);

    /// <inheritdoc/>
    public override void Forward(IModelPasses passes, ReadOnlySpan<float> images, int batch, Span<float> output)
    {
        var activations = BeginForward(images, batch, output);
        var result = passes.Forward<TKernels, DevicePtr>(Kernels, activations, batch);
        EndForward(result, batch, output);
    }

    /// <inheritdoc/>
    public override float ForwardBackward(IModelPasses passes, ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch)
    {
        var activations = BeginTraining(images, labels, batch);
        var k = Kernels;
        passes.ForwardTraining<TKernels, DevicePtr>(k, activations, labels, batch);
        passes.Backward<TKernels, DevicePtr>(k, activations, labels, batch);
        return EndTraining(batch);
    }

    /// <inheritdoc/>
    public override float ForwardBackwardFrozen(IModelPasses passes, ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch)
    {
        var activations = BeginFrozenTraining(images, labels, batch);
        var k = Kernels;
        passes.ForwardFrozen<TKernels, DevicePtr>(k, activations, labels, batch);
        passes.BackwardHead<TKernels, DevicePtr>(k, activations, labels, batch);
        return EndTraining(batch);
    }

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
            Api.Read(result.Buffer!, result.Offset * sizeof(float), o, count * sizeof(float));
    }

    /// <summary>Validates a <c>ForwardBackward</c> call, uploads images and labels, and returns the training activation buffer.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A label is outside [0, Classes).</exception>
    public DevicePtr BeginTraining(ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch)
    {
        _memory.CheckTraining(images, labels, batch);
        Vit.Backends.Cpu.SoftmaxCrossEntropy.CheckLabels(labels, batch, _layout.Config.Classes);
        EnsureCapacity(_memory.Capacity);
        _training = Grow(_training, _layout.TrainingFloatsPerImage * _capacity * sizeof(float));
        StageTraining(images, labels, batch, frozen: false);
        return new DevicePtr(_training, 0);
    }

    /// <summary>
    /// Validates a <c>ForwardBackwardFrozen</c> call, grows the inference buffer to hold the head's
    /// training tensors after the inference layout, uploads images and labels, and returns the
    /// inference buffer (the training buffer is not allocated).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A label is outside [0, Classes).</exception>
    public DevicePtr BeginFrozenTraining(ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch)
    {
        _memory.CheckFrozenTraining(images, labels, batch);
        Vit.Backends.Cpu.SoftmaxCrossEntropy.CheckLabels(labels, batch, _layout.Config.Classes);
        EnsureCapacity(_memory.Capacity);
        _inference = Grow(_inference, _layout.FrozenFloatsPerImage * _capacity * sizeof(float));
        StageTraining(images, labels, batch, frozen: true);
        return new DevicePtr(_inference, 0);
    }

    private void StageTraining(ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch, bool frozen)
    {
        UploadImages(images);
        fixed (int* l = labels)
            Api.Write(_labels!, 0, l, (long)batch * sizeof(int));
        _memory.SetLastTrainingBatch(batch, frozen);
    }

    /// <summary>Waits for the step, downloads the per-image losses and returns their mean.</summary>
    public float EndTraining(int batch)
    {
        _staging.EnsureLength(batch);
        float* l = _staging.Start.Pointer;
        Api.Read(_losses!, 0, l, (long)batch * sizeof(float));
        double total = 0;
        for (int b = 0; b < batch; b++) total += l[b];
        return (float)(total / batch);
    }

    /// <summary>
    /// Draws a dropout mask on the host from <paramref name="rng"/>, exactly as the CPU does (so
    /// every backend drops the same values), and uploads it.
    /// </summary>
    public void DropoutFillMask(DevicePtr mask, long count, float rate, ref Rng rng)
    {
        var host = Staging(count);
        Vit.Backends.Cpu.Dropout.FillMask(host, count, rate, ref rng);
        Api.Write(mask.Buffer!, mask.Offset * sizeof(float), host.Pointer, count * sizeof(float));
    }

    /// <summary>Draws the per-image drop-path scales on the host from <paramref name="rng"/> (as the CPU does) and uploads them.</summary>
    public void DropPathFillScales(DevicePtr scale, int batch, float rate, ref Rng rng)
    {
        var host = Staging(batch);
        Vit.Backends.Cpu.DropPath.FillScales(host, batch, rate, ref rng);
        Api.Write(scale.Buffer!, scale.Offset * sizeof(float), host.Pointer, (long)batch * sizeof(float));
    }

    /// <inheritdoc/>
    public override void SyncToHost(ModelBuffer buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ref Current at = ref buffer == ModelBuffer.Parameters ? ref _parametersAt : ref _gradientsAt;
        if (at == Current.Device)
        {
            var (device, host) = Pair(buffer);
            Api.Read(device, 0, host.Start.Pointer, device.Bytes);
        }
        at = Current.Host;
    }

    /// <inheritdoc/>
    public override void ZeroGradients()
    {
        Api.Zero(new DevicePtr(_gradients, 0), _layout.ParameterFloats);
        _gradientsAt = Current.Device;
    }

    /// <inheritdoc/>
    public override ReadOnlySpan<float> LastTrainingTensor(long offsetPerImage, int width, int batch, bool frozen)
    {
        long count = (long)batch * width;
        _staging.EnsureLength(count);
        Api.Read((frozen ? _inference : _training)!, offsetPerImage * batch * sizeof(float), _staging.Start.Pointer, count * sizeof(float));
        return _staging.Start.AsSpan(checked((int)count));
    }

    /// <summary>Makes the device copy current (uploads when the host changed it); <paramref name="write"/>: the device is about to change it.</summary>
    public void Upload(ModelBuffer buffer, bool write)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ref Current at = ref buffer == ModelBuffer.Parameters ? ref _parametersAt : ref _gradientsAt;
        if (at == Current.Host)
        {
            var (device, host) = Pair(buffer);
            Api.Write(device, 0, host.Start.Pointer, device.Bytes);
            at = Current.Both;
        }
        if (write) at = Current.Device;
    }

    /// <summary>The device copy of the parameters or gradients (no upload).</summary>
    public DeviceBuffer DeviceBuffer(ModelBuffer buffer) => buffer == ModelBuffer.Parameters ? _parameters : _gradients;

    /// <summary>Host memory for values drawn on the host, valid until the next call.</summary>
    public TensorPtr Staging(long floats)
    {
        _staging.EnsureLength(floats);
        return _staging.Start;
    }

    /// <summary>A new device buffer counted in <see cref="Allocations"/> (optimizer state, chunk tables).</summary>
    public DeviceBuffer Allocate(long bytes)
    {
        Allocations++;
        return Api.Allocate(bytes);
    }

    private (DeviceBuffer Device, NativeBuffer Host) Pair(ModelBuffer buffer) =>
        buffer == ModelBuffer.Parameters ? (_parameters, _memory.HostParameters) : (_gradients, _memory.HostGradients);

    private void UploadImages(ReadOnlySpan<float> images)
    {
        fixed (float* i = images)
            Api.Write(_input!, 0, i, (long)images.Length * sizeof(float));
    }

    // Batch-sized buffers other than the activations: images, labels, losses, the kernels' scratch.
    private void EnsureCapacity(int capacity)
    {
        if (capacity <= _capacity && _input is not null) return;
        _capacity = Math.Max(capacity, _capacity);
        _input = Grow(_input, (long)_layout.InputFloatsPerImage * _capacity * sizeof(float));
        _labels = Grow(_labels, (long)_capacity * sizeof(int));
        _losses = Grow(_losses, (long)_capacity * sizeof(float));
        _scratch = Grow(_scratch, Math.Max(1, ScratchFloatsPerImage * _capacity) * sizeof(float));
    }

    private DeviceBuffer Grow(DeviceBuffer? buffer, long bytes)
    {
        if (buffer is not null && buffer.Bytes >= bytes) return buffer;
        buffer?.Dispose();
        Allocations++;
        return Api.Allocate(bytes);
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (_disposed) return;
        _disposed = true;
        _parameters.Dispose();
        _gradients.Dispose();
        _inference?.Dispose();
        _training?.Dispose();
        _input?.Dispose();
        _labels?.Dispose();
        _losses?.Dispose();
        _scratch?.Dispose();
        _staging.Dispose();
    }
}
