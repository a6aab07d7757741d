namespace Vit.Backends;

/// <summary>
/// A compiled model's passes on one backend: validates and stages the inputs, calls the generated
/// pass (<see cref="IModelPasses"/>) with the backend's kernel set, and returns the results.
/// Created by <see cref="Backend.CreateRunner"/> when a model is constructed; one per model.
/// </summary>
public abstract class ModelRunner : IDisposable
{
    /// <summary>Inference: <paramref name="images"/> (batch, C, H, W) → <paramref name="output"/> (batch, OutputSize).</summary>
    public abstract void Forward(IModelPasses passes, ReadOnlySpan<float> images, int batch, Span<float> output);

    /// <summary>One training step's forward and backward passes; returns the mean loss over the batch.</summary>
    public abstract float ForwardBackward(IModelPasses passes, ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch);

    /// <summary>
    /// One frozen-backbone training step (<see cref="IModelPasses.ForwardFrozen"/>, then
    /// <see cref="IModelPasses.BackwardHead"/>) over the inference activation buffer; returns the mean
    /// loss over the batch.
    /// </summary>
    public abstract float ForwardBackwardFrozen(IModelPasses passes, ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch);

    /// <summary>Frees what the runner holds (device memory on a device backend).</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees what the runner holds.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }
}
