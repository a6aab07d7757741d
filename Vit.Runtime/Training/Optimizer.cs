using Vit.Backends;
using Vit.Memory;

namespace Vit.Training;

/// <summary>The update rules <c>vit train --optimizer</c> offers.</summary>
public enum OptimizerKind
{
    /// <summary>Adam with decoupled weight decay (PyTorch <c>torch.optim.AdamW</c>).</summary>
    AdamW,

    /// <summary>SGD with momentum, optionally Nesterov, and decoupled weight decay.</summary>
    Sgd,
}

/// <summary>Hyperparameters of an optimizer; the learning rate comes per step from the schedule.</summary>
public sealed record OptimizerOptions
{
    /// <summary>Which update rule.</summary>
    public OptimizerKind Kind { get; init; } = OptimizerKind.AdamW;

    /// <summary>Decoupled weight decay λ: each step multiplies decayed weights by (1 − lr·λ).</summary>
    public double WeightDecay { get; init; } = 0.05;

    /// <summary>AdamW β₁.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>AdamW β₂.</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>AdamW ε (added to √v̂).</summary>
    public double Epsilon { get; init; } = 1e-8;

    /// <summary>SGD momentum μ.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>SGD: Nesterov momentum.</summary>
    public bool Nesterov { get; init; } = true;

    /// <summary>Clips gradients to this global L2 norm (over the trained parameters); 0 turns clipping off.</summary>
    public double ClipNorm { get; init; } = 1.0;

    /// <summary>Checks the values, with a message that names the bad one.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of its range.</exception>
    public void Validate()
    {
        static void Check(bool ok, string name, double value, string range)
        {
            if (!ok) throw new ArgumentOutOfRangeException(name, value, $"{name} must be {range}, found {value}.");
        }
        Check(WeightDecay >= 0 && double.IsFinite(WeightDecay), nameof(WeightDecay), WeightDecay, "finite and ≥ 0");
        Check(Beta1 >= 0 && Beta1 < 1, nameof(Beta1), Beta1, "in [0, 1)");
        Check(Beta2 >= 0 && Beta2 < 1, nameof(Beta2), Beta2, "in [0, 1)");
        Check(Epsilon > 0, nameof(Epsilon), Epsilon, "> 0");
        Check(Momentum >= 0 && Momentum < 1, nameof(Momentum), Momentum, "in [0, 1)");
        Check(ClipNorm >= 0 && double.IsFinite(ClipNorm), nameof(ClipNorm), ClipNorm, "finite and ≥ 0 (0 = off)");
    }
}

/// <summary>
/// An optimizer over a compiled model's flat parameter and gradient buffers. Each parameter of the
/// model's table is a contiguous range in both; the optimizer keeps its state buffers in the same
/// layout. Weight decay follows the table's <see cref="ParameterInfo.WeightDecay"/> flag (timm's
/// rule: no decay for norms, biases, <c>cls_token</c> and <c>pos_embed</c>); frozen parameters are
/// neither decayed nor updated, and do not count toward the clipping norm.
/// </summary>
public abstract class Optimizer : IDisposable
{
    private readonly ParameterInfo[] _trained;
    private readonly NativeBuffer[] _state;
    private OptimizerKernels? _kernels;
    private bool _hostStateNewer;

    /// <summary>Sets up the optimizer for <paramref name="memory"/>'s parameters.</summary>
    /// <param name="memory">The model's memory.</param>
    /// <param name="options">Hyperparameters (validated).</param>
    /// <param name="stateNames">PyTorch's names of the per-parameter state buffers, e.g. <c>exp_avg</c>.</param>
    /// <param name="trainable">Which parameters to train (all when null); see <see cref="HeadOnly"/>.</param>
    /// <exception cref="ArgumentException">No parameter is trainable.</exception>
    protected Optimizer(ModelMemory memory, OptimizerOptions options, string[] stateNames, Func<ParameterInfo, bool>? trainable)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Memory = memory;
        Options = options;
        _trained = memory.Table.Parameters.Where(p => trainable?.Invoke(p) ?? true).ToArray();
        if (_trained.Length == 0)
            throw new ArgumentException($"No parameter of {memory.Table.ModelName} is trainable; nothing to optimize.", nameof(trainable));
        StateNames = stateNames;
        (StateOffset, long floats) = OptimizerKernels.StateRange(_trained, memory.Layout.ParameterFloats);
        _state = stateNames.Select(_ => new NativeBuffer(floats)).ToArray();
    }

    /// <summary>The model memory whose parameters are updated.</summary>
    public ModelMemory Memory { get; }

    /// <summary>The hyperparameters.</summary>
    public OptimizerOptions Options { get; }

    /// <summary>The optimizer's name as <c>vit train --optimizer</c> spells it.</summary>
    public abstract string Name { get; }

    /// <summary>Steps taken so far (AdamW's bias correction uses it); restored from checkpoints.</summary>
    public long Steps { get; set; }

    /// <summary>The parameters this optimizer updates.</summary>
    public IReadOnlyList<ParameterInfo> Trained => _trained;

    /// <summary>PyTorch's names of the state buffers (<c>exp_avg</c>, <c>exp_avg_sq</c>; <c>momentum_buffer</c>).</summary>
    public IReadOnlyList<string> StateNames { get; }

    /// <summary>
    /// Where the state buffers start in the parameter layout: the offset of the first trained
    /// parameter. The state covers the trained parameters only (from here to the end of the last),
    /// so a frozen backbone before the head has none; parameter p's state is at
    /// <c>p.Offset − StateOffset</c> (see <see cref="StateOf"/>).
    /// </summary>
    public long StateOffset { get; }

    /// <summary>
    /// A state buffer, laid out like the parameters from <see cref="StateOffset"/> on. When the model
    /// runs on a device, the state lives there: this downloads it first, and the next step uploads it
    /// again (checkpoints read and restore it through here).
    /// </summary>
    public NativeBuffer State(int index)
    {
        if (_kernels is not null && !_hostStateNewer)
        {
            for (int i = 0; i < _state.Length; i++) _kernels.Download(i, _state[i]);
            _hostStateNewer = true;
        }
        return _state[index];
    }

    /// <summary>The state of trained parameter <paramref name="parameter"/> in state buffer <paramref name="index"/> (<see cref="State"/>).</summary>
    /// <exception cref="ArgumentException"><paramref name="parameter"/> is not trained by this optimizer.</exception>
    public TensorPtr StateOf(int index, ParameterInfo parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        if (!_trained.Any(p => p.Name == parameter.Name))
            throw new ArgumentException($"'{parameter.Name}' is not trained by this optimizer, so it has no state.", nameof(parameter));
        return State(index).Start + (parameter.Offset - StateOffset);
    }

    /// <summary>Trains only the classifier: <c>head.*</c> and the optional <c>pre_logits.*</c> (the seeds' <c>--freeze-layers</c>).</summary>
    public static bool HeadOnly(ParameterInfo p) =>
        p.Name.StartsWith("head.", StringComparison.Ordinal) || p.Name.StartsWith("pre_logits.", StringComparison.Ordinal);

    /// <summary>Creates the optimizer <paramref name="options"/> names.</summary>
    public static Optimizer Create(ModelMemory memory, OptimizerOptions options, Func<ParameterInfo, bool>? trainable = null) =>
        options.Kind switch
        {
            OptimizerKind.AdamW => new AdamW(memory, options, trainable),
            OptimizerKind.Sgd => new Sgd(memory, options, trainable),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Kind, "Unknown optimizer."),
        };

    /// <summary>
    /// The L2 norm of the trained parameters' gradients times <paramref name="gradientScale"/>
    /// (accumulated in double).
    /// </summary>
    public double GradientNorm(float gradientScale = 1) => Math.Sqrt(Kernels().GradientSumOfSquares()) * gradientScale;

    /// <summary>
    /// One update with learning rate <paramref name="learningRate"/>. The gradients are first
    /// multiplied by <paramref name="gradientScale"/> (1/k when k micro-batches were accumulated),
    /// then clipped to <see cref="OptimizerOptions.ClipNorm"/>. Gradients are left as they were;
    /// call <c>ZeroGradients</c> before the next accumulation.
    /// </summary>
    /// <returns>The gradient norm before clipping. When it is not finite, nothing is updated.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The learning rate is negative or not finite.</exception>
    public double Step(double learningRate, float gradientScale = 1)
    {
        if (!(learningRate >= 0 && double.IsFinite(learningRate)))
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, $"The learning rate must be finite and ≥ 0, found {learningRate}.");
        double norm = GradientNorm(gradientScale);
        if (!double.IsFinite(norm)) return norm;
        double scale = gradientScale;
        if (Options.ClipNorm > 0 && norm > Options.ClipNorm)
            scale *= Options.ClipNorm / (norm + 1e-6); // torch.nn.utils.clip_grad_norm_
        Steps++;
        BeginStep();
        float decayFactor = (float)(1 - learningRate * Options.WeightDecay);
        Update(Kernels(), (float)learningRate, decayFactor, (float)scale);
        Memory.ParametersChanged();
        return norm;
    }

    /// <summary>Called once per step before the per-parameter updates (bias corrections and the like).</summary>
    protected virtual void BeginStep()
    {
    }

    /// <summary>
    /// The update of every trained parameter through the backend's optimizer kernels, with
    /// <paramref name="decayFactor"/> (1 − lr·λ) applied to the decayed ones.
    /// </summary>
    protected abstract void Update(OptimizerKernels kernels, float learningRate, float decayFactor, float gradientScale);

    // The backend's optimizer kernels, created on first use (on a device: the device state, uploaded
    // again when the host copy was touched; on the CPU: the host buffers themselves).
    private OptimizerKernels Kernels()
    {
        if (_kernels is null)
        {
            _kernels = Memory.Device is { } device
                ? device.CreateOptimizerState(_trained, _state.Length)
                : new Vit.Backends.Cpu.CpuOptimizerKernels(Memory, _trained, _state, StateOffset);
            _hostStateNewer = true; // the host state may already hold restored values
        }
        if (_hostStateNewer)
        {
            for (int i = 0; i < _state.Length; i++) _kernels.Upload(i, _state[i]);
            _hostStateNewer = false;
        }
        return _kernels;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var s in _state) s.Dispose();
        _kernels?.Dispose();
        GC.SuppressFinalize(this);
    }
}
