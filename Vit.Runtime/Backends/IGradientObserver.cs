namespace Vit.Backends;

/// <summary>
/// Receives the backward pass's <see cref="IKernels{TPtr}.GradientsFinal"/> signals, on the thread
/// that runs the pass, in falling order of <c>from</c>: once after the head, once after each block
/// (deepest first) and once after the stem (<c>from</c> = 0).
/// </summary>
public interface IGradientObserver
{
    /// <summary>Every gradient at <paramref name="from"/> floats into the gradient buffer or beyond is final for this pass.</summary>
    void GradientsFinal(long from);
}
