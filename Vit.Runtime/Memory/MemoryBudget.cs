using System.Globalization;

namespace Vit.Memory;

/// <summary>
/// The host memory a batch needs, from the generator's plan (<see cref="ModelSummary"/>), checked
/// before anything is allocated, so that a batch too large for the machine is refused with the
/// numbers instead of failing halfway with an out-of-memory error or an overflow.
/// </summary>
public static class MemoryBudget
{
    private const double GiB = 1024.0 * 1024 * 1024;

    /// <summary>
    /// Bytes for a model at <paramref name="batch"/> images: parameters (with gradients and two
    /// optimizer state buffers when training), the activations of the pass, and the staged and
    /// caller's copies of the images and outputs. In double, so no batch overflows.
    /// </summary>
    /// <param name="config">The model.</param>
    /// <param name="summary">Its plan's sizes.</param>
    /// <param name="batch">Images per pass.</param>
    /// <param name="training">A training step rather than inference.</param>
    /// <param name="frozen">With <paramref name="training"/>: the frozen-backbone step (<c>ForwardBackwardFrozen</c>): the
    /// inference activations and the head's few floats per image, parameters and gradients, no backbone optimizer state.</param>
    public static double BytesFor(VisionTransformerConfig config, ModelSummary summary, int batch, bool training, bool frozen = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(summary);
        double input = (double)config.Channels * config.ImageSize * config.ImageSize;
        double output = config.Classes > 0 ? config.Classes : config.RepresentationSize > 0 ? config.RepresentationSize : config.Dim;
        double activations = training && !frozen ? summary.TrainingFloatsPerImage : summary.InferenceFloatsPerImage;
        // The frozen step's head: the pooled features, pre-logits and logits (probabilities too), each with its gradient.
        if (training && frozen) activations += 2.0 * (config.Dim + config.RepresentationSize + 2 * output);
        double parameters = summary.Parameters * (!training ? 1.0 : frozen ? 2.0 : 4.0);
        return sizeof(float) * (parameters + (double)batch * (activations + 2 * input + 2 * output));
    }

    /// <summary>The memory this process may use: the machine's, or the container's limit (what the GC reports).</summary>
    public static double AvailableBytes => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>Throws when a batch of <paramref name="batch"/> images needs more memory than <see cref="AvailableBytes"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The batch does not fit; the message gives both sizes in GiB.</exception>
    public static void Check(VisionTransformerConfig config, ModelSummary summary, int batch, bool training, bool frozen = false)
    {
        double needed = BytesFor(config, summary, batch, training, frozen), available = AvailableBytes;
        if (needed > available)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, string.Create(CultureInfo.InvariantCulture,
                $"{config.Name} {(!training ? "inference" : frozen ? "frozen-backbone training" : "training")} at a batch of {batch:N0} images needs {needed / GiB:N1} GiB of memory, but this machine has {available / GiB:N1} GiB; use a smaller batch"));
    }
}
