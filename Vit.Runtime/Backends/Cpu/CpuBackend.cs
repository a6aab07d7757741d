using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>The SIMD C# kernels on this machine's cores, over the model's native memory (<see cref="Backend.Cpu"/>).</summary>
public sealed class CpuBackend : Backend
{
    internal CpuBackend()
    {
    }

    /// <inheritdoc/>
    public override string Name => "cpu";

    /// <inheritdoc/>
    public override string Description => $"{Simd.Level}, {WorkerPool.Shared.Threads} threads";

    /// <inheritdoc/>
    public override ModelRunner CreateRunner(ModelMemory memory) => new CpuRunner(memory);
}

/// <summary>Runs a model's passes with <see cref="CpuKernels"/> on its <see cref="ModelMemory"/>.</summary>
internal sealed class CpuRunner(ModelMemory memory) : ModelRunner
{
    public ModelMemory Memory { get; } = memory ?? throw new ArgumentNullException(nameof(memory));

    /// <summary>The mean loss of the current training step, set by the loss kernel.</summary>
    public float Loss { get; set; }

    /// <summary>True while an inference pass runs with <see cref="ModelMemory.KeepPackedWeights"/>: its fp32 Linear layers use the packed weights (<see cref="PackedWeights"/>).</summary>
    public bool Inference => InferencePass && Memory.KeepPackedWeights && !PackedWeights.Disabled;

    /// <summary>True while an inference pass runs (whatever <see cref="ModelMemory.KeepPackedWeights"/> says): bf16 on the FMA units keeps its rounded weights packed then.</summary>
    public bool InferencePass { get; private set; }

    public override void Forward(IModelPasses passes, ReadOnlySpan<float> images, int batch, Span<float> output)
    {
        var activations = Memory.BeginForward(images, batch, output);
        InferencePass = true;
        try
        {
            var result = Memory.Profile is { } profile
                ? passes.Forward<ProfiledKernels<CpuKernels, TensorPtr>, TensorPtr>(new(new CpuKernels(this), profile), activations, batch)
                : passes.Forward<CpuKernels, TensorPtr>(new CpuKernels(this), activations, batch);
            Memory.EndForward(result, batch, output);
        }
        finally
        {
            InferencePass = false;
        }
    }

    public override float ForwardBackward(IModelPasses passes, ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch)
    {
        var activations = Memory.BeginTraining(images, labels, batch);
        Train(passes, activations, labels, batch, frozen: false);
        return Loss;
    }

    public override float ForwardBackwardFrozen(IModelPasses passes, ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch)
    {
        var activations = Memory.BeginFrozenTraining(images, labels, batch);
        Train(passes, activations, labels, batch, frozen: true);
        return Loss;
    }

    // A training step's two passes over CpuKernels, or over ProfiledKernels when a profile is set.
    private void Train(IModelPasses passes, TensorPtr activations, ReadOnlySpan<int> labels, int batch, bool frozen)
    {
        var k = new CpuKernels(this);
        if (Memory.Profile is { } profile) Train(passes, new ProfiledKernels<CpuKernels, TensorPtr>(k, profile), activations, labels, batch, frozen);
        else Train(passes, k, activations, labels, batch, frozen);
    }

    private static void Train<TKernels>(IModelPasses passes, TKernels k, TensorPtr activations, ReadOnlySpan<int> labels, int batch, bool frozen)
        where TKernels : struct, IKernels<TensorPtr>
    {
        if (frozen)
        {
            passes.ForwardFrozen<TKernels, TensorPtr>(k, activations, labels, batch);
            passes.BackwardHead<TKernels, TensorPtr>(k, activations, labels, batch);
        }
        else
        {
            passes.ForwardTraining<TKernels, TensorPtr>(k, activations, labels, batch);
            passes.Backward<TKernels, TensorPtr>(k, activations, labels, batch);
        }
    }
}
