namespace Vit.Backends;

/// <summary>
/// The passes a generated model compiles, each written once and generic over a backend's kernels
/// (<see cref="IKernels{TPtr}"/>). A backend's <see cref="ModelRunner"/> stages the inputs, calls
/// the pass with its kernel set, and collects the results; the JIT (and NativeAOT) compile one
/// copy of each pass per kernel set, so a kernel call costs what a direct call costs.
/// </summary>
public interface IModelPasses
{
    /// <summary>
    /// Inference over the inference activation buffer <paramref name="activations"/> (sized for
    /// <paramref name="batch"/> images, the images staged at <see cref="IKernels{TPtr}.Input"/>).
    /// </summary>
    /// <returns>Where the outputs are: (batch, OutputSize) floats.</returns>
    TPtr Forward<TKernels, TPtr>(TKernels k, TPtr activations, int batch)
        where TKernels : struct, IKernels<TPtr>
        where TPtr : struct, ITensorPointer<TPtr>;

    /// <summary>
    /// The training forward pass over the training activation buffer: saves every tensor the
    /// backward pass reads, ends with the loss (<see cref="IKernels{TPtr}.SoftmaxCrossEntropyForward{TClasses}"/>).
    /// </summary>
    void ForwardTraining<TKernels, TPtr>(TKernels k, TPtr activations, ReadOnlySpan<int> labels, int batch)
        where TKernels : struct, IKernels<TPtr>
        where TPtr : struct, ITensorPointer<TPtr>;

    /// <summary>The backward pass: the training steps in reverse, adding d(loss)/d(parameters) into the gradients.</summary>
    void Backward<TKernels, TPtr>(TKernels k, TPtr activations, ReadOnlySpan<int> labels, int batch)
        where TKernels : struct, IKernels<TPtr>
        where TPtr : struct, ITensorPointer<TPtr>;

    /// <summary>
    /// The forward pass of a frozen-backbone training step, over the inference activation buffer
    /// (sized for <c>ModelLayout.FrozenFloatsPerImage</c>): the backbone's inference steps up to the
    /// pooled, normalized features (no dropout, nothing saved), then the head's training steps
    /// (<c>pre_logits</c>, <c>head</c>, the loss), which keep what <see cref="BackwardHead"/> reads
    /// after the inference layout.
    /// </summary>
    void ForwardFrozen<TKernels, TPtr>(TKernels k, TPtr activations, ReadOnlySpan<int> labels, int batch)
        where TKernels : struct, IKernels<TPtr>
        where TPtr : struct, ITensorPointer<TPtr>;

    /// <summary>
    /// The backward pass of a frozen-backbone training step: the head's steps in reverse, adding
    /// d(loss)/d(parameters) into the head's gradients only (<c>pre_logits.*</c>, <c>head.*</c>), and
    /// signalling <see cref="IKernels{TPtr}.GradientsFinal"/> once, from the head's first parameter.
    /// </summary>
    void BackwardHead<TKernels, TPtr>(TKernels k, TPtr activations, ReadOnlySpan<int> labels, int batch)
        where TKernels : struct, IKernels<TPtr>
        where TPtr : struct, ITensorPointer<TPtr>;
}
