using Vit.Data;

namespace Vit.Imaging;

/// <summary>
/// An 8-bit image with interleaved channels (HWC): 1 = grayscale, 2 = grayscale + alpha,
/// 3 = RGB, 4 = RGBA. Pixel (x, y) channel c is <c>Pixels[(y * Width + x) * Channels + c]</c>.
/// </summary>
public sealed class Image
{
    /// <summary>Wraps <paramref name="pixels"/> (not copied).</summary>
    /// <exception cref="ArgumentException">A size is not positive, the channel count is not 1–4,
    /// or the pixel array's length is not Width × Height × Channels.</exception>
    public Image(int width, int height, int channels, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        if (channels is < 1 or > 4)
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "An image has 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) channels.");
        if ((long)width * height * channels != pixels.LongLength)
            throw new ArgumentException(
                $"A {width}×{height} image with {channels} channels needs {(long)width * height * channels} bytes, but {pixels.Length} were given.", nameof(pixels));
        Width = width;
        Height = height;
        Channels = channels;
        Pixels = pixels;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>Channels per pixel: 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).</summary>
    public int Channels { get; }

    /// <summary>The samples, row-major, channels interleaved (HWC), 8 bits each.</summary>
    public byte[] Pixels { get; }

    /// <summary>Whether the last channel is alpha (2 or 4 channels).</summary>
    public bool HasAlpha => Channels is 2 or 4;

    /// <summary>"grayscale", "grayscale with alpha", "RGB" or "RGBA".</summary>
    public string ChannelDescription => DescribeChannels(Channels);

    /// <summary>Sample <paramref name="channel"/> of pixel (<paramref name="x"/>, <paramref name="y"/>).</summary>
    public byte this[int x, int y, int channel] => Pixels[((long)y * Width + x) * Channels + channel];

    /// <summary>A CIFAR image (3072 bytes, planes R, G, B of 32×32) as a 32×32 RGB image.</summary>
    /// <exception cref="ArgumentException"><paramref name="chw"/> is not 3072 bytes.</exception>
    public static Image FromCifar(ReadOnlySpan<byte> chw)
    {
        const int side = CifarDataset.Side, plane = side * side;
        if (chw.Length != CifarDataset.ImageBytes)
            throw new ArgumentException($"A CIFAR image is {CifarDataset.ImageBytes} bytes (3 planes of 32×32), not {chw.Length}.", nameof(chw));
        var pixels = new byte[CifarDataset.ImageBytes];
        for (int i = 0; i < plane; i++)
        {
            pixels[3 * i] = chw[i];
            pixels[3 * i + 1] = chw[plane + i];
            pixels[3 * i + 2] = chw[2 * plane + i];
        }
        return new Image(side, side, 3, pixels);
    }

    internal static string DescribeChannels(int channels) => channels switch
    {
        1 => "grayscale",
        2 => "grayscale with alpha",
        3 => "RGB",
        4 => "RGBA",
        _ => $"{channels} channels",
    };
}
