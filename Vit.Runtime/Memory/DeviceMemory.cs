namespace Vit.Memory;

/// <summary>The two flat buffers a device backend mirrors between host and device memory.</summary>
public enum ModelBuffer
{
    /// <summary>The parameters.</summary>
    Parameters,

    /// <summary>The gradients (same layout).</summary>
    Gradients,
}

/// <summary>
/// The device side of a model's memory on a device backend (OpenCL): device copies of the
/// parameters and gradients, the activations, and the optimizer state. The device copy is the one
/// the model's passes and the optimizer use; <see cref="ModelMemory"/> calls
/// <see cref="SyncToHost"/> before the host copy is read or written (weights I/O, checkpoints,
/// <c>Parameter(name)</c>), and the device uploads it again before its next use when it changed.
/// </summary>
public abstract class DeviceMemory : Vit.Backends.ModelRunner
{
    /// <summary>The backend's name, for messages (<c>opencl</c>).</summary>
    public abstract string BackendName { get; }

    /// <summary>Whether the backend's loss serves a head wider than the data (<see cref="ModelMemory.ActiveClasses"/> below Classes).</summary>
    public virtual bool ServesFewerClasses => false;

    /// <summary>
    /// Makes the host copy of <paramref name="buffer"/> current (downloads it when the device copy
    /// is newer) and treats it as changed from then on: the device uploads it before its next use.
    /// </summary>
    public abstract void SyncToHost(ModelBuffer buffer);

    /// <summary>Sets every gradient to zero on the device.</summary>
    public abstract void ZeroGradients();

    /// <summary>
    /// <paramref name="width"/> floats per image of the last training step's tensor at
    /// <paramref name="offsetPerImage"/>, downloaded into host memory that stays valid until the next call;
    /// from the inference buffer when the step was <paramref name="frozen"/> (<c>ForwardBackwardFrozen</c>).
    /// </summary>
    public abstract ReadOnlySpan<float> LastTrainingTensor(long offsetPerImage, int width, int batch, bool frozen);

    /// <summary>
    /// Device state for an optimizer over <paramref name="trained"/>, with
    /// <paramref name="stateBuffers"/> zeroed buffers laid out like the parameters over the trained range
    /// (<see cref="Vit.Backends.OptimizerKernels.StateRange"/>).
    /// </summary>
    public abstract Vit.Backends.OptimizerKernels CreateOptimizerState(IReadOnlyList<ParameterInfo> trained, int stateBuffers);

}
