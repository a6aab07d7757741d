using Vit.Memory;

namespace Vit.Backends;

/// <summary>
/// The optimizer half of the backend contract: an optimizer's state and its updates over the
/// trained parameters, as each backend runs them (<c>CpuOptimizerKernels</c> on the host memory,
/// <c>DeviceOptimizer</c> as one launch per update on a device). <c>Vit.Training.Optimizer</c>
/// computes the step's scalars (learning rate, bias corrections, the clipping scale) and calls these.
/// </summary>
public abstract class OptimizerKernels : IDisposable
{
    /// <summary>Σ g² over the trained parameters' gradients, summed in double.</summary>
    public abstract double GradientSumOfSquares();

    /// <summary>
    /// One AdamW update (see <c>Vit.Training.AdamW</c>): state buffer 0 is exp_avg, 1 exp_avg_sq.
    /// The complements 1 − β are passed rounded from double (as torch computes them), not
    /// computed from the rounded β in float, which would bias exp_avg_sq by up to 1e-5 at β₂ = 0.999.
    /// </summary>
    public abstract void AdamW(float learningRate, float decayFactor, float beta1, float oneMinusBeta1, float beta2, float oneMinusBeta2,
        float epsilon, float stepSize, float invSqrtBias2, float gradientScale);

    /// <summary>One SGD update (see <c>Vit.Training.Sgd</c>): state buffer 0 is momentum_buffer.</summary>
    public abstract void Sgd(float learningRate, float decayFactor, float momentum, bool nesterov, float gradientScale);

    /// <summary>Copies state buffer <paramref name="index"/> from the device into <paramref name="host"/> (nothing on the CPU, whose state is the host buffer).</summary>
    public abstract void Download(int index, NativeBuffer host);

    /// <summary>Copies <paramref name="host"/> into state buffer <paramref name="index"/> on the device (nothing on the CPU).</summary>
    public abstract void Upload(int index, NativeBuffer host);

    /// <summary>Throws unless an update that needs <paramref name="needed"/> state buffers has them.</summary>
    protected static void CheckStateBuffers(string update, int needed, int have)
    {
        if (have != needed)
            throw new InvalidOperationException($"{update} needs {needed} state buffers; this state has {have}.");
    }

    /// <summary>Frees the state's device buffers.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the state's device buffers.</summary>
    protected abstract void Dispose(bool disposing);
}
