using SkiaSharp;

namespace Vit.Imaging;

/// <summary>
/// An image with a title above it, as the documents' <c>predict.py</c> shows its prediction
/// (<c>plt.imshow(img)</c>, <c>plt.title("class: … prob: …")</c>): drawn with Skia, the image scaled
/// (bilinear) to at least <see cref="MinWidth"/> pixels wide, the title in a white band on top.
/// </summary>
/// <remarks>
/// The text needs a TrueType font. Skia's Linux build shipped here has no font manager, so the
/// font is read from a file: <c>VIT_FONT</c> when set, else the first of <see cref="FontFiles"/>
/// that exists (DejaVu Sans, Liberation Sans, Noto Sans: the fonts Linux distributions install).
/// </remarks>
public static class TitledImage
{
    /// <summary>The narrowest image drawn (smaller ones are scaled up so that the title fits).</summary>
    public const int MinWidth = 320;

    /// <summary>Where a font is looked for when <c>VIT_FONT</c> is not set.</summary>
    public static IReadOnlyList<string> FontFiles { get; } =
    [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
        "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
        "/usr/share/fonts/noto/NotoSans-Regular.ttf",
        "/System/Library/Fonts/Helvetica.ttc",
        "C:\\Windows\\Fonts\\arial.ttf",
    ];

    /// <summary>The font file used, or null when none is found.</summary>
    public static string? FontFile()
    {
        if (Environment.GetEnvironmentVariable("VIT_FONT") is { Length: > 0 } chosen) return File.Exists(chosen) ? chosen : null;
        return FontFiles.FirstOrDefault(File.Exists);
    }

    /// <summary>Draws <paramref name="image"/> under <paramref name="title"/>, as an RGB image.</summary>
    /// <exception cref="FileNotFoundException">No font file is found (the message says where it looked and how to choose one).</exception>
    public static Image Render(Image image, string title)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(title);
        string font = FontFile() ?? throw new FileNotFoundException(
            Environment.GetEnvironmentVariable("VIT_FONT") is { Length: > 0 } v
                ? $"VIT_FONT names '{v}', which does not exist; point it at a .ttf file"
                : $"no font to draw the title with: none of {string.Join(", ", FontFiles.Take(3))}, … exists; set VIT_FONT to a .ttf file");
        double scale = Math.Max(1.0, (double)MinWidth / image.Width);
        int width = (int)Math.Round(image.Width * scale), height = (int)Math.Round(image.Height * scale);
        using var typeface = SKTypeface.FromFile(font) ?? throw new InvalidDataException($"{font}: not a font Skia can read; set VIT_FONT to a .ttf file");
        float size = Math.Clamp(width / 22f, 14f, 40f);
        using var skFont = new SKFont(typeface, size);
        // Shrink the text until it fits the width.
        while (skFont.MeasureText(title) > width - 16 && skFont.Size > 8) skFont.Size -= 1;
        int band = (int)Math.Ceiling(skFont.Size * 1.8f);

        using var source = ToBitmap(image);
        var info = new SKImageInfo(width, height + band, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var surface = SKSurface.Create(info) ?? throw new InvalidOperationException($"Skia cannot create a {width}×{height + band} surface.");
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using (var skImage = SKImage.FromBitmap(source))
            canvas.DrawImage(skImage, new SKRect(0, band, width, band + height), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.None));
        using (var paint = new SKPaint { Color = SKColors.Black, IsAntialias = true })
            canvas.DrawText(title, width / 2f, band * 0.68f, SKTextAlign.Center, skFont, paint);
        canvas.Flush();

        var rgba = new byte[info.Width * info.Height * 4];
        unsafe
        {
            fixed (byte* p = rgba)
                if (!surface.ReadPixels(info, (nint)p, info.RowBytes, 0, 0))
                    throw new InvalidOperationException("Skia could not read back the titled image.");
        }
        var rgb = new byte[info.Width * info.Height * 3];
        for (int i = 0, j = 0; i < rgb.Length; i += 3, j += 4)
        {
            rgb[i] = rgba[j];
            rgb[i + 1] = rgba[j + 1];
            rgb[i + 2] = rgba[j + 2];
        }
        return new Image(info.Width, info.Height, 3, rgb);
    }

    /// <summary>The image as an RGBA Skia bitmap (gray repeated, alpha kept).</summary>
    private static SKBitmap ToBitmap(Image image)
    {
        var bitmap = new SKBitmap(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var pixels = new byte[image.Width * image.Height * 4];
        int c = image.Channels;
        for (int i = 0, o = 0; i < image.Width * image.Height; i++, o += 4)
        {
            byte r = image.Pixels[i * c];
            pixels[o] = r;
            pixels[o + 1] = c >= 3 ? image.Pixels[i * c + 1] : r;
            pixels[o + 2] = c >= 3 ? image.Pixels[i * c + 2] : r;
            pixels[o + 3] = c is 2 or 4 ? image.Pixels[i * c + c - 1] : (byte)255;
        }
        unsafe
        {
            fixed (byte* p = pixels) Buffer.MemoryCopy(p, (void*)bitmap.GetPixels(), pixels.Length, pixels.Length);
        }
        return bitmap;
    }
}
