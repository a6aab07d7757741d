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
    public static double BytesFor(VisionTransformerConfig config, ModelSummary summary, int batch, bool training)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(summary);
        double input = (double)config.Channels * config.ImageSize * config.ImageSize;
        double output = config.Classes > 0 ? config.Classes : config.RepresentationSize > 0 ? config.RepresentationSize : config.Dim;
        double activations = training ? summary.TrainingFloatsPerImage : summary.InferenceFloatsPerImage;
        double parameters = summary.Parameters * (training ? 4.0 : 1.0);
        return sizeof(float) * (parameters + (double)batch * (activations + 2 * input + 2 * output));
    }

    /// <summary>The memory this process may use: the machine's, or the container's limit (what the GC reports).</summary>
    public static double AvailableBytes => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>Throws when a batch of <paramref name="batch"/> images needs more memory than <see cref="AvailableBytes"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The batch does not fit; the message gives both sizes in GiB.</exception>
    public static void Check(VisionTransformerConfig config, ModelSummary summary, int batch, bool training)
    {
        double needed = BytesFor(config, summary, batch, training), available = AvailableBytes;
        if (needed > available)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, string.Create(CultureInfo.InvariantCulture,
                $"{config.Name} {(training ? "training" : "inference")} at a batch of {batch:N0} images needs {needed / GiB:N1} GiB of memory, but this machine has {available / GiB:N1} GiB; use a smaller batch"));
    }
}
