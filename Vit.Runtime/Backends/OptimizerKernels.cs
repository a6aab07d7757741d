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

    /// <summary>
    /// The part of the parameter layout an optimizer's state buffers cover: from the first trained
    /// parameter to the end of the last (rounded up to whole cache lines, within the buffer), so that
    /// parameters that are not trained, such as a frozen backbone before the head, have no state.
    /// Parameter p's state is at <c>p.Offset − Offset</c> in each state buffer.
    /// </summary>
    /// <param name="trained">The trained parameters (at least one).</param>
    /// <param name="parameterFloats">The parameter buffer's length.</param>
    /// <exception cref="ArgumentException">No parameter is trained.</exception>
    public static (long Offset, long Floats) StateRange(IReadOnlyList<ParameterInfo> trained, long parameterFloats)
    {
        ArgumentNullException.ThrowIfNull(trained);
        if (trained.Count == 0) throw new ArgumentException("An optimizer's state needs at least one trained parameter; found none.", nameof(trained));
        long first = trained.Min(p => p.Offset), end = trained.Max(p => p.Offset + p.Length);
        end = Math.Min(parameterFloats, (end + 15) / 16 * 16);
        return (first, Math.Max(1, end - first));
    }

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
