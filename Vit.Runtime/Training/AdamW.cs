using Vit.Backends;
using Vit.Memory;

namespace Vit.Training;

/// <summary>
/// AdamW as <c>torch.optim.AdamW</c> computes it: decoupled decay p ← p·(1 − lr·λ), then
/// m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², p ← p − (lr / (1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε).
/// State buffers <c>exp_avg</c> (m) and <c>exp_avg_sq</c> (v).
/// </summary>
public sealed class AdamW : Optimizer
{
    private float _stepSize, _invSqrtBias2;

    /// <summary>Creates AdamW over <paramref name="memory"/>'s parameters.</summary>
    public AdamW(ModelMemory memory, OptimizerOptions options, Func<ParameterInfo, bool>? trainable = null)
        : base(memory, options, ["exp_avg", "exp_avg_sq"], trainable)
    {
    }

    /// <inheritdoc/>
    public override string Name => "adamw";

    /// <inheritdoc/>
    protected override void BeginStep()
    {
        double bias1 = 1 - Math.Pow(Options.Beta1, Steps);
        double bias2 = 1 - Math.Pow(Options.Beta2, Steps);
        _stepSize = (float)(1 / bias1);
        _invSqrtBias2 = (float)(1 / Math.Sqrt(bias2));
    }

    /// <inheritdoc/>
    protected override void Update(OptimizerKernels kernels, float learningRate, float decayFactor, float gradientScale) =>
        kernels.AdamW(learningRate, decayFactor, (float)Options.Beta1, (float)(1 - Options.Beta1), (float)Options.Beta2, (float)(1 - Options.Beta2),
            (float)Options.Epsilon, _stepSize, _invSqrtBias2, gradientScale);

    /// <summary>
    /// Double-precision reference of one AdamW step on plain arrays (for tests), with
    /// <paramref name="t"/> the 1-based step number.
    /// </summary>
    public static void Reference(double[] p, double[] g, double[] m, double[] v, int t, double lr, double weightDecay,
        double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    {
        for (int i = 0; i < p.Length; i++)
        {
            p[i] *= 1 - lr * weightDecay;
            m[i] = beta1 * m[i] + (1 - beta1) * g[i];
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
            double mHat = m[i] / (1 - Math.Pow(beta1, t));
            double vHat = v[i] / (1 - Math.Pow(beta2, t));
            p[i] -= lr * mHat / (Math.Sqrt(vHat) + eps);
        }
    }
}
