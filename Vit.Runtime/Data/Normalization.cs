namespace Vit.Data;

/// <summary>
/// Per-channel normalization of 8-bit RGB pixels: a pixel x of channel c becomes
/// <c>(x / 255 − Mean[c]) / Std[c]</c>, as torchvision's <c>ToTensor</c> + <c>Normalize</c> do.
/// </summary>
/// <param name="MeanR">Mean of the red channel, on the [0, 1] scale.</param>
/// <param name="MeanG">Mean of the green channel, on the [0, 1] scale.</param>
/// <param name="MeanB">Mean of the blue channel, on the [0, 1] scale.</param>
/// <param name="StdR">Standard deviation of the red channel, on the [0, 1] scale; positive.</param>
/// <param name="StdG">Standard deviation of the green channel, on the [0, 1] scale; positive.</param>
/// <param name="StdB">Standard deviation of the blue channel, on the [0, 1] scale; positive.</param>
public readonly record struct Normalization(float MeanR, float MeanG, float MeanB, float StdR, float StdG, float StdB)
{
    /// <summary>CIFAR-10 statistics: mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616).</summary>
    public static Normalization Cifar10 => new(0.4914f, 0.4822f, 0.4465f, 0.2470f, 0.2435f, 0.2616f);

    /// <summary>CIFAR-100 statistics: mean (0.5071, 0.4865, 0.4409), std (0.2673, 0.2564, 0.2762).</summary>
    public static Normalization Cifar100 => new(0.5071f, 0.4865f, 0.4409f, 0.2673f, 0.2564f, 0.2762f);

    /// <summary>ImageNet statistics (timm's IMAGENET_DEFAULT_MEAN/STD): mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).</summary>
    public static Normalization ImageNet => new(0.485f, 0.456f, 0.406f, 0.229f, 0.224f, 0.225f);

    /// <summary>Inception-style statistics (timm's IMAGENET_INCEPTION_MEAN/STD, used by the original ViT weights): mean 0.5, std 0.5.</summary>
    public static Normalization Inception => new(0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f);

    /// <summary>Only the scale to [0, 1]: mean 0, std 1.</summary>
    public static Normalization Identity => new(0f, 0f, 0f, 1f, 1f, 1f);

    /// <summary>The standard statistics of <paramref name="kind"/>.</summary>
    public static Normalization For(CifarKind kind) => kind == CifarKind.Cifar10 ? Cifar10 : Cifar100;

    /// <summary>The mean of channel <paramref name="channel"/> (0 = R, 1 = G, 2 = B).</summary>
    public float Mean(int channel) => channel switch
    {
        0 => MeanR,
        1 => MeanG,
        2 => MeanB,
        _ => throw new ArgumentOutOfRangeException(nameof(channel), channel, "The channel must be 0 (R), 1 (G) or 2 (B)."),
    };

    /// <summary>The standard deviation of channel <paramref name="channel"/> (0 = R, 1 = G, 2 = B).</summary>
    public float Std(int channel) => channel switch
    {
        0 => StdR,
        1 => StdG,
        2 => StdB,
        _ => throw new ArgumentOutOfRangeException(nameof(channel), channel, "The channel must be 0 (R), 1 (G) or 2 (B)."),
    };

    /// <summary>The normalized value of 8-bit pixel <paramref name="pixel"/> in channel <paramref name="channel"/>.</summary>
    public float Apply(int channel, byte pixel) => (pixel / 255f - Mean(channel)) / Std(channel);

    /// <summary>
    /// The 256 normalized values of each channel, <c>table[c * 256 + x]</c>, so that per-pixel
    /// work is one lookup (the values are those of <see cref="Apply"/>).
    /// </summary>
    /// <exception cref="ArgumentException">A standard deviation is not positive and finite, or a mean is not finite.</exception>
    public float[] LookupTable()
    {
        Validate();
        var table = new float[3 * 256];
        for (int c = 0; c < 3; c++)
            for (int x = 0; x < 256; x++)
                table[c * 256 + x] = Apply(c, (byte)x);
        return table;
    }

    /// <summary>Throws when a standard deviation is not positive and finite, or a mean is not finite.</summary>
    /// <exception cref="ArgumentException">The values are not usable.</exception>
    public void Validate()
    {
        for (int c = 0; c < 3; c++)
        {
            if (!float.IsFinite(Mean(c)))
                throw new ArgumentException($"The normalization mean of channel {c} is {Mean(c)}; it must be finite.");
            if (!(Std(c) > 0) || !float.IsFinite(Std(c)))
                throw new ArgumentException($"The normalization std of channel {c} is {Std(c)}; it must be positive and finite.");
        }
    }
}
