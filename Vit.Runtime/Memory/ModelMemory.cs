using Vit.IO;

namespace Vit.Memory;

/// <summary>
/// The memory of one compiled model instance: the flat parameter and gradient buffers, the
/// activation buffers for inference and training (sized per image by the generator's plan,
/// for the largest batch seen), and the staging buffers that images enter and outputs leave by.
/// </summary>
/// <remarks>
/// Buffers are allocated on first use and grow only when a batch larger than every earlier one
/// arrives, so steady-state calls allocate nothing. Not thread-safe: one call at a time.
/// </remarks>
public sealed class ModelMemory : IDisposable
{
    private readonly NativeBuffer _parameters;
    private NativeBuffer? _gradients;
    private readonly NativeBuffer _input = new(0);
    private readonly NativeBuffer _inference = new(0);
    private readonly NativeBuffer _training = new(0);
    private float _labelSmoothing;
    private DeviceMemory? _device;

    /// <summary>Creates the memory for a model with room for <paramref name="maxBatch"/> images.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxBatch"/> is not positive.</exception>
    public ModelMemory(ModelLayout layout, int maxBatch)
    {
        ArgumentNullException.ThrowIfNull(layout);
        if (maxBatch <= 0)
            throw new ArgumentOutOfRangeException(nameof(maxBatch), maxBatch, $"maxBatch must be at least 1, found {maxBatch}.");
        Layout = layout;
        Table = new ParameterTable(layout.Config.Name, layout.Parameters);
        Capacity = maxBatch;
        _parameters = new NativeBuffer(layout.ParameterFloats);
    }

    /// <summary>The plan this memory follows.</summary>
    public ModelLayout Layout { get; }

    /// <summary>Parameter lookup by timm name.</summary>
    public ParameterTable Table { get; }

    /// <summary>The largest batch the activation buffers are sized for; grows when a larger batch arrives.</summary>
    public int Capacity { get; private set; }

    /// <summary>
    /// The flat parameter buffer (timm order, 64-byte aligned offsets). On a device backend this is
    /// the host copy: reading it downloads the device's values first, and the device uploads the
    /// buffer again before its next use.
    /// </summary>
    public NativeBuffer Parameters
    {
        get
        {
            _device?.SyncToHost(ModelBuffer.Parameters);
            return _parameters;
        }
    }

    /// <summary>
    /// The flat gradient buffer, same layout as <see cref="Parameters"/> (allocated on first use). On
    /// a device backend, the host copy (see <see cref="Parameters"/>).
    /// </summary>
    public NativeBuffer Gradients
    {
        get
        {
            _device?.SyncToHost(ModelBuffer.Gradients);
            return HostGradients;
        }
    }

    /// <summary>The host parameter buffer as it is, without synchronizing (for the device side).</summary>
    internal NativeBuffer HostParameters => _parameters;

    /// <summary>The host gradient buffer as it is, without synchronizing (for the device side).</summary>
    internal NativeBuffer HostGradients => _gradients ??= new NativeBuffer(Layout.ParameterFloats);

    /// <summary>The device side of this memory when the model runs on a device backend; null on the CPU.</summary>
    public DeviceMemory? Device => _device;

    /// <summary>Connects the device side (once, by the model's constructor).</summary>
    internal void AttachDevice(DeviceMemory device)
    {
        if (_device is not null) throw new InvalidOperationException($"{Layout.Config.Name} already has a device.");
        _device = device;
    }

    /// <summary>
    /// Told by the backward pass when parameter gradients become final
    /// (<see cref="Vit.Backends.IKernels{TPtr}.GradientsFinal"/>): data-parallel training sets it
    /// for the last micro-batch of each optimizer step, to reduce gradients while backward runs.
    /// Null (the default) costs one null check per block.
    /// </summary>
    public Vit.Backends.IGradientObserver? GradientObserver { get; set; }

    /// <summary>
    /// When set, the CPU backend runs the model's passes over
    /// <see cref="Vit.Backends.ProfiledKernels{TInner, TPtr}"/> and records each kernel call's wall
    /// time, shape and FLOPs into it (<c>vit bench --profile</c>). Null (the default) runs the kernels
    /// directly. Other backends do not record: their kernels return before the device has run them.
    /// </summary>
    public Vit.Backends.KernelProfile? Profile { get; set; }

    /// <summary>
    /// Label smoothing ε of the training loss, in [0, 1): the target is (1 − ε)·one_hot + ε/classes.
    /// 0 (the default) is plain cross-entropy.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1).</exception>
    public float LabelSmoothing
    {
        get => _labelSmoothing;
        set
        {
            if (!(value >= 0 && value < 1))
                throw new ArgumentOutOfRangeException(nameof(value), value, $"Label smoothing must be in [0, 1), found {value}.");
            _labelSmoothing = value;
        }
    }

    /// <summary>
    /// The classes the head serves at runtime, in [1, Classes] (Classes until set): a head compiled
    /// for Classes outputs trains and predicts as a head of the first <see cref="ActiveClasses"/>
    /// (the loss's softmax and target cover those; the other logits get no gradient and are
    /// ignored), so one compiled model fine-tunes on a dataset of any class count up to Classes.
    /// The CPU and ILGPU backends train with fewer; the OpenCL backend trains only with all.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [1, Classes].</exception>
    public int ActiveClasses
    {
        get => _activeClasses == 0 ? Layout.Config.Classes : _activeClasses;
        set
        {
            if (value < 1 || value > Layout.Config.Classes)
                throw new ArgumentOutOfRangeException(nameof(value), value,
                    $"{Layout.Config.Name} has a head of {Layout.Config.Classes} classes, so it serves 1 to {Layout.Config.Classes} classes, not {value}.");
            _activeClasses = value;
        }
    }

    private int _activeClasses;

    /// <summary>
    /// How the CPU backend multiplies: fp32 (the default) or bf16 with fp32 accumulation in the Linear
    /// layers (<see cref="Vit.Backends.Cpu.Precision.Bf16"/>; weights packed once and kept until they
    /// change). In training, bf16 is mixed precision: the forward and backward products in bf16, the
    /// master weights, gradients and optimizer in fp32; bf16 needs no loss scaling (its exponent range
    /// is fp32's).
    /// </summary>
    public Vit.Backends.Cpu.Precision Precision
    {
        get => _precision;
        set
        {
            if (value != Vit.Backends.Cpu.Precision.Fp32 && Device is not null)
                throw new NotSupportedException($"{Layout.Config.Name} runs on a device here; bf16 runs on the CPU backend (--backend cpu)");
            _precision = value;
            ParametersChanged(); // pack afresh from the parameters as they are now
        }
    }

    private Vit.Backends.Cpu.Precision _precision;

    /// <summary>Counts changes of the parameters (loads, writes through <see cref="Parameter"/>, optimizer steps): a cache of packed weights is kept only while it stays.</summary>
    public long ParameterVersion => Volatile.Read(ref _parameterVersion);

    private long _parameterVersion;

    /// <summary>Records that the parameters changed (loaded, written, or stepped by an optimizer).</summary>
    public void ParametersChanged() => Interlocked.Increment(ref _parameterVersion);

    /// <summary>The bf16 weights and scratch of <see cref="Precision"/> = Bf16 (created on first use).</summary>
    internal Vit.Backends.Cpu.Bf16Linear Bf16 => _bf16 ??= new Vit.Backends.Cpu.Bf16Linear();

    private Vit.Backends.Cpu.Bf16Linear? _bf16;

    /// <summary>
    /// Keep the fp32 Linear weights packed across inference calls on the CPU backend (off by
    /// default): each <c>Forward</c> then skips transposing every weight into the GEMM's panels,
    /// which at ViT-B/16 batch 1 is a third of the step. It costs a second copy of the Linear
    /// weights (344 MB at ViT-B/16) and one rule: the copies are repacked when
    /// <see cref="ParameterVersion"/> changes (loads, optimizer steps, each call of
    /// <see cref="Parameter"/>), so writes through a span kept from an earlier
    /// <see cref="Parameter"/> call must be followed by <see cref="ParametersChanged"/>. The
    /// products are bit for bit the same either way. <c>vit</c>'s inference commands turn it on.
    /// </summary>
    public bool KeepPackedWeights { get; set; }

    /// <summary>The fp32 Linear weights packed for inference (created on first use when <see cref="KeepPackedWeights"/> is on).</summary>
    internal Vit.Backends.Cpu.PackedWeights PackedWeights => _packedWeights ??= new Vit.Backends.Cpu.PackedWeights();

    /// <summary>The packed weights if any were made.</summary>
    internal Vit.Backends.Cpu.PackedWeights? PackedWeightsIfAny => _packedWeights;

    private Vit.Backends.Cpu.PackedWeights? _packedWeights;

    /// <summary>The batch of the last <c>ForwardBackward</c> or <c>ForwardBackwardFrozen</c> call (0 before the first).</summary>
    public int LastTrainingBatch { get; private set; }

    /// <summary>
    /// Whether the last training step was a frozen-backbone step (<c>ForwardBackwardFrozen</c>): its
    /// tensors are then in the inference buffer (the generated model's <c>Frozen</c> offsets), not
    /// in the training buffer.
    /// </summary>
    public bool LastTrainingFrozen { get; private set; }

    /// <summary>
    /// A tensor of the last training step: <paramref name="width"/> floats per image at
    /// <paramref name="offsetPerImage"/> (a <c>Training</c> offset of the generated model, or a
    /// <c>Frozen</c> one when <see cref="LastTrainingFrozen"/>).
    /// </summary>
    public ReadOnlySpan<float> LastTrainingTensor(long offsetPerImage, int width) =>
        LastTrainingBatch == 0 ? default
        : _device is not null ? _device.LastTrainingTensor(offsetPerImage, width, LastTrainingBatch, LastTrainingFrozen)
        : ((LastTrainingFrozen ? _inference : _training).Start + offsetPerImage * LastTrainingBatch).AsSpan(LastTrainingBatch * width);

    /// <summary>Staged input images of the current call: (batch, C, H, W).</summary>
    public TensorPtr Input => _input.Start;

    /// <summary>The values of one parameter.</summary>
    public Span<float> Parameter(string timmName)
    {
        var p = Table.Find(timmName);
        ParametersChanged(); // the caller may write through the span
        return Parameters.Slice(p.Offset, checked((int)p.Length));
    }

    /// <summary>The gradient of one parameter.</summary>
    public Span<float> Gradient(string timmName)
    {
        var p = Table.Find(timmName);
        return Gradients.Slice(p.Offset, checked((int)p.Length));
    }

    /// <summary>Sets every gradient to zero.</summary>
    public void ZeroGradients()
    {
        if (_device is not null) _device.ZeroGradients();
        else Gradients.Clear();
    }

    /// <summary>
    /// Validates a <c>Forward</c> call, grows buffers if the batch is the largest yet, copies the
    /// images in, and returns the inference activation buffer.
    /// </summary>
    public TensorPtr BeginForward(ReadOnlySpan<float> images, int batch, Span<float> output)
    {
        CheckForward(images, batch, output.Length);
        _inference.EnsureLength(Layout.InferenceFloatsPerImage * Capacity);
        Stage(images);
        return _inference.Start;
    }

    /// <summary>Copies <paramref name="batch"/> output rows from <paramref name="result"/> to <paramref name="output"/>.</summary>
    public void EndForward(TensorPtr result, int batch, Span<float> output)
    {
        int count = batch * Layout.OutputSize;
        result.AsSpan(count).CopyTo(output);
    }

    /// <summary>
    /// Validates a <c>ForwardBackward</c> call, grows buffers if needed, copies the images in, and
    /// returns the training activation buffer. Labels are checked by the loss kernel.
    /// </summary>
    public TensorPtr BeginTraining(ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch)
    {
        CheckTraining(images, labels, batch);
        _training.EnsureLength(Layout.TrainingFloatsPerImage * Capacity);
        SetLastTrainingBatch(batch, frozen: false);
        _ = Gradients;
        Stage(images);
        return _training.Start;
    }

    /// <summary>
    /// Validates a <c>ForwardBackwardFrozen</c> call, grows the inference buffer to hold the head's
    /// training tensors after the inference layout (<see cref="ModelLayout.FrozenFloatsPerImage"/>),
    /// copies the images in, and returns the inference buffer. The training buffer is not allocated.
    /// </summary>
    public TensorPtr BeginFrozenTraining(ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch)
    {
        CheckFrozenTraining(images, labels, batch);
        _inference.EnsureLength(Layout.FrozenFloatsPerImage * Capacity);
        SetLastTrainingBatch(batch, frozen: true);
        _ = Gradients;
        Stage(images);
        return _inference.Start;
    }

    /// <summary>Loads every parameter from a safetensors file with timm names.</summary>
    public void LoadWeights(string path)
    {
        WeightFile.Load(path, Table, Parameters.Start);
        ParametersChanged();
    }

    /// <summary>
    /// Loads pretrained weights for fine-tuning: as <see cref="LoadWeights(string)"/>, but a
    /// classifier (<c>head.*</c>, <c>pre_logits.*</c>) for other classes is skipped and the model's
    /// freshly initialized one kept; the report says what was missing and what was unexpected.
    /// With <paramref name="replaceHead"/>, <c>head.*</c> is skipped even where it fits: the file's
    /// head is for other classes (of the same count).
    /// </summary>
    public WeightLoadReport LoadPretrained(string path, bool replaceHead = false)
    {
        var report = WeightFile.Load(path, Table, Parameters.Start, newHead: true, replaceHead);
        ParametersChanged();
        return report;
    }

    /// <summary>Saves every parameter to a safetensors file with timm names and the config as metadata (atomic).</summary>
    public void SaveWeights(string path) => WeightFile.Save(path, Table, Parameters.Start, Layout.Config.ToMetadata());

    /// <summary>
    /// Checks a <c>ForwardBackward</c> call (images, a head, one label per image), grows the batch
    /// capacity and records the batch; <see cref="BeginTraining"/> and device backends call it.
    /// </summary>
    internal void CheckTraining(ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch)
    {
        CheckImages(images, batch);
        if (Layout.Config.Classes == 0)
            throw new InvalidOperationException(
                $"{Layout.Config.Name} has no classification head (Classes = 0), so it has no cross-entropy loss to train; set Classes in [VisionTransformer].");
        if (labels.Length != batch)
            throw new ArgumentException($"{Layout.Config.Name}.ForwardBackward: expected {batch} labels (one per image), found {labels.Length}.", nameof(labels));
        Grow(batch);
    }

    /// <summary>
    /// Checks a <c>ForwardBackwardFrozen</c> call as <see cref="CheckTraining"/> does, and that the
    /// layout has room for the head's tensors after the inference layout.
    /// </summary>
    internal void CheckFrozenTraining(ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch)
    {
        CheckTraining(images, labels, batch);
        if (Layout.FrozenFloatsPerImage <= Layout.InferenceFloatsPerImage)
            throw new InvalidOperationException(
                $"{Layout.Config.Name}'s layout has no frozen-backbone step: FrozenFloatsPerImage is {Layout.FrozenFloatsPerImage}, expected more than InferenceFloatsPerImage ({Layout.InferenceFloatsPerImage}).");
    }

    /// <summary>Checks a <c>Forward</c> call's images and output and grows the batch capacity (for device backends).</summary>
    internal void CheckForward(ReadOnlySpan<float> images, int batch, int outputLength)
    {
        CheckImages(images, batch);
        long needed = (long)batch * Layout.OutputSize;
        if (outputLength < needed)
            throw new ArgumentException(
                $"{Layout.Config.Name}.Forward: expected an output of batch × OutputSize = {batch} × {Layout.OutputSize} = {needed} floats, found {outputLength}.",
                "output");
        Grow(batch);
    }

    /// <summary>Records the batch of a training step and whether it was frozen (for <see cref="LastTrainingTensor"/>).</summary>
    internal void SetLastTrainingBatch(int batch, bool frozen)
    {
        LastTrainingBatch = batch;
        LastTrainingFrozen = frozen;
    }

    private void CheckImages(ReadOnlySpan<float> images, int batch)
    {
        var c = Layout.Config;
        if (batch <= 0)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"{c.Name}: batch must be at least 1, found {batch}.");
        long expected = (long)batch * Layout.InputFloatsPerImage;
        if (images.Length != expected)
            throw new ArgumentException(
                $"{c.Name}: expected images of batch × Channels × ImageSize × ImageSize = {batch} × {c.Channels} × {c.ImageSize} × {c.ImageSize} = {expected} floats (NCHW), found {images.Length}.",
                nameof(images));
    }

    private void Grow(int batch)
    {
        if (batch > Capacity) Capacity = batch;
    }

    private void Stage(ReadOnlySpan<float> images)
    {
        _input.EnsureLength((long)Layout.InputFloatsPerImage * Capacity);
        images.CopyTo(_input.Start.AsSpan(images.Length));
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _parameters.Dispose();
        _gradients?.Dispose();
        _input.Dispose();
        _inference.Dispose();
        _training.Dispose();
        _bf16?.Dispose();
        _packedWeights?.Dispose();
    }
}
