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

    /// <summary>
    /// Makes the host copy of <paramref name="buffer"/> current (downloads it when the device copy
    /// is newer) and treats it as changed from then on: the device uploads it before its next use.
    /// </summary>
    public abstract void SyncToHost(ModelBuffer buffer);

    /// <summary>Sets every gradient to zero on the device.</summary>
    public abstract void ZeroGradients();

    /// <summary>
    /// <paramref name="width"/> floats per image of the last training step's tensor at
    /// <paramref name="offsetPerImage"/>, downloaded into host memory that stays valid until the next call.
    /// </summary>
    public abstract ReadOnlySpan<float> LastTrainingTensor(long offsetPerImage, int width, int batch);

    /// <summary>
    /// Device state for an optimizer over <paramref name="trained"/>, with
    /// <paramref name="stateBuffers"/> zeroed buffers laid out like the parameters.
    /// </summary>
    public abstract DeviceOptimizerState CreateOptimizerState(IReadOnlyList<ParameterInfo> trained, int stateBuffers);

}

/// <summary>
/// An optimizer's state buffers on a device, and its update steps as device kernels over the
/// trained parameters (cut into chunks once, with each chunk's weight-decay flag).
/// </summary>
public abstract class DeviceOptimizerState : IDisposable
{
    /// <summary>Σ g² over the trained parameters' gradients, summed in double from per-chunk partial sums.</summary>
    public abstract double GradientSumOfSquares();

    /// <summary>One AdamW update (see <c>Vit.Training.AdamW</c>): state buffer 0 is exp_avg, 1 exp_avg_sq.</summary>
    public abstract void AdamW(float learningRate, float decayFactor, float beta1, float beta2, float epsilon, float stepSize, float invSqrtBias2, float gradientScale);

    /// <summary>One SGD update (see <c>Vit.Training.Sgd</c>): state buffer 0 is momentum_buffer.</summary>
    public abstract void Sgd(float learningRate, float decayFactor, float momentum, bool nesterov, float gradientScale);

    /// <summary>Copies state buffer <paramref name="index"/> from the device into <paramref name="host"/>.</summary>
    public abstract void Download(int index, NativeBuffer host);

    /// <summary>Copies <paramref name="host"/> into state buffer <paramref name="index"/> on the device.</summary>
    public abstract void Upload(int index, NativeBuffer host);

    /// <summary>Frees the device buffers.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the device buffers.</summary>
    protected abstract void Dispose(bool disposing);
}
