using Vit.Backends;
using Vit.Memory;

namespace Vit.Training;

/// <summary>
/// SGD with momentum as <c>torch.optim.SGD</c> (dampening 0) computes it, with decoupled weight
/// decay: p ← p·(1 − lr·λ); b ← μb + g; d = g + μb (Nesterov) or b; p ← p − lr·d.
/// State buffer <c>momentum_buffer</c> (b).
/// </summary>
public sealed class Sgd : Optimizer
{
    /// <summary>Creates SGD over <paramref name="memory"/>'s parameters.</summary>
    public Sgd(ModelMemory memory, OptimizerOptions options, Func<ParameterInfo, bool>? trainable = null)
        : base(memory, options, ["momentum_buffer"], trainable)
    {
    }

    /// <inheritdoc/>
    public override string Name => "sgd";

    /// <inheritdoc/>
    protected override void Update(OptimizerKernels kernels, float learningRate, float decayFactor, float gradientScale) =>
        kernels.Sgd(learningRate, decayFactor, (float)Options.Momentum, Options.Nesterov, gradientScale);

    /// <summary>Double-precision reference of one SGD step on plain arrays (for tests).</summary>
    public static void Reference(double[] p, double[] g, double[] buffer, double lr, double weightDecay, double momentum, bool nesterov)
    {
        for (int i = 0; i < p.Length; i++)
        {
            p[i] *= 1 - lr * weightDecay;
            buffer[i] = momentum * buffer[i] + g[i];
            double d = nesterov ? g[i] + momentum * buffer[i] : buffer[i];
            p[i] -= lr * d;
        }
    }
}
