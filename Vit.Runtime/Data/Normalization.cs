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

    /// <summary>Mean 0.5 and std 0.5 in every channel, mapping [0, 1] to [−1, 1]: the documents' <c>Normalize([0.5]*3, [0.5]*3)</c> (the same values as <see cref="Inception"/>).</summary>
    public static Normalization Half => new(0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f);

    /// <summary>Only the scale to [0, 1]: mean 0, std 1.</summary>
    public static Normalization Identity => new(0f, 0f, 0f, 1f, 1f, 1f);

    /// <summary>The names <see cref="Parse"/> accepts, and the explicit syntax, for messages and help text.</summary>
    public const string Syntax = "imagenet, half, cifar10, cifar100, or explicit means and stds as \"m1,m2,m3:s1,s2,s3\" (for example \"0.5,0.5,0.5:0.5,0.5,0.5\")";

    /// <summary>
    /// Parses a preset name (<c>imagenet</c>, <c>half</c>, <c>cifar10</c>, <c>cifar100</c>; any case)
    /// or explicit values <c>"m1,m2,m3:s1,s2,s3"</c>: the R, G, B means, a colon, the R, G, B stds,
    /// invariant-culture numbers on the [0, 1] scale.
    /// </summary>
    /// <exception cref="FormatException">The text is neither; the message names what was expected.</exception>
    public static Normalization Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        switch (text.Trim().ToLowerInvariant())
        {
            case "imagenet": return ImageNet;
            case "half": return Half;
            case "cifar10": return Cifar10;
            case "cifar100": return Cifar100;
        }
        string[] parts = text.Split(':');
        if (parts.Length == 2
            && TryParseThree(parts[0], out float m0, out float m1, out float m2)
            && TryParseThree(parts[1], out float s0, out float s1, out float s2))
        {
            var n = new Normalization(m0, m1, m2, s0, s1, s2);
            if (float.IsFinite(m0) && float.IsFinite(m1) && float.IsFinite(m2)
                && s0 > 0 && s1 > 0 && s2 > 0 && float.IsFinite(s0) && float.IsFinite(s1) && float.IsFinite(s2))
                return n;
        }
        throw new FormatException($"Normalization \"{text}\" is not {Syntax}, with finite means and positive stds.");
    }

    private static bool TryParseThree(string text, out float a, out float b, out float c)
    {
        a = b = c = 0;
        string[] v = text.Split(',');
        var style = System.Globalization.NumberStyles.Float;
        var culture = System.Globalization.CultureInfo.InvariantCulture;
        return v.Length == 3
            && float.TryParse(v[0], style, culture, out a)
            && float.TryParse(v[1], style, culture, out b)
            && float.TryParse(v[2], style, culture, out c);
    }

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
