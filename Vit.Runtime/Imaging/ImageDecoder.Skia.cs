using System.Globalization;
using SkiaSharp;

namespace Vit.Imaging;

public static partial class ImageDecoder
{
    /// <summary>The formats <see cref="Decode"/> reads, as messages name them.</summary>
    public const string Formats = "JPEG, PNG, BMP, GIF, WebP or PPM/PGM";

    /// <summary>The format Skia decodes for these bytes, by signature; null when none.</summary>
    private static string? SkiaFormat(ReadOnlySpan<byte> bytes) =>
        bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]) ? "JPEG" :
        bytes.StartsWith("GIF87a"u8) || bytes.StartsWith("GIF89a"u8) ? "GIF" :
        bytes.Length >= 14 && bytes.StartsWith("BM"u8) ? "BMP" :
        bytes.Length >= 12 && bytes.StartsWith("RIFF"u8) && bytes[8..12].SequenceEqual("WEBP"u8) ? "WebP" :
        null;

    /// <summary>
    /// Decodes with Skia: reads the header, refuses an image over <paramref name="maxPixels"/>
    /// before decoding, decodes to 8 bits (gray, gray + alpha, RGB or RGBA), and turns it upright
    /// by its EXIF orientation.
    /// </summary>
    /// <param name="bytes">The file's contents.</param>
    /// <param name="name">Names the image in messages.</param>
    /// <param name="maxPixels">The most pixels accepted.</param>
    /// <param name="format">The format the signature names (JPEG, PNG, …), for messages.</param>
    /// <param name="grayWithAlpha">A PNG of color type 4: Skia gives it as RGBA with equal R, G, B; keep gray and alpha.</param>
    private static unsafe Image DecodeWithSkia(ReadOnlySpan<byte> bytes, string name, long maxPixels, string format, bool grayWithAlpha)
    {
        fixed (byte* start = bytes)
        {
            using var data = SKData.Create((nint)start, bytes.Length); // no copy: the span outlives the codec
            using var codec = SKCodec.Create(new SKMemoryStream(data), out var created); // the codec owns the stream
            if (codec is null)
                throw Invalid(name, created == SKCodecResult.IncompleteInput
                    ? $"the {format} header is incomplete; the file looks truncated"
                    : $"the {format} data cannot be decoded ({Describe(created)})");
            var info = codec.Info;
            if (info.Width <= 0 || info.Height <= 0) throw Invalid(name, $"the {format} image size {info.Width}×{info.Height} is invalid");
            if ((long)info.Width * info.Height > maxPixels) throw TooLarge(name, (uint)info.Width, (uint)info.Height, maxPixels);

            bool gray = info.ColorType == SKColorType.Gray8 && !grayWithAlpha;
            bool alpha = !gray && info.AlphaType != SKAlphaType.Opaque;
            var target = new SKImageInfo(info.Width, info.Height, gray ? SKColorType.Gray8 : SKColorType.Rgba8888, gray ? SKAlphaType.Opaque : SKAlphaType.Unpremul);
            var decoded = new byte[(long)target.BytesSize64];
            SKCodecResult result;
            fixed (byte* p = decoded) result = codec.GetPixels(target, (nint)p);
            // A progressive JPEG cut short still decodes (its first scans are a coarse image): PIL
            // calls it truncated, and so do we. Its end-of-image marker must follow the last scan.
            if (result == SKCodecResult.Success && format == "JPEG" && !JpegHasEnd(bytes)) result = SKCodecResult.IncompleteInput;
            if (result != SKCodecResult.Success)
                throw Invalid(name, result == SKCodecResult.IncompleteInput
                    ? $"the {format} data ends early; the file looks truncated"
                    : $"the {format} data is damaged ({Describe(result)})");

            // Alpha is kept only when some pixel is not opaque (Skia marks every palette PNG as having alpha).
            if (alpha && !grayWithAlpha && AllOpaque(decoded)) alpha = false;
            int channels = gray ? 1 : grayWithAlpha ? 2 : alpha ? 4 : 3;
            byte[] pixels = channels is 1 or 4 ? decoded : Narrow(decoded, info.Width * info.Height, channels);
            return Orient(new Image(info.Width, info.Height, channels, pixels), codec.EncodedOrigin);
        }
    }

    /// <summary>
    /// Whether an end-of-image marker (FF D9) follows the last start-of-scan (FF DA): in
    /// entropy-coded data a 0xFF byte is always followed by 00 or a restart marker, so FF D9 there
    /// is the real end (an EXIF thumbnail's own markers come before the first scan).
    /// </summary>
    private static bool JpegHasEnd(ReadOnlySpan<byte> bytes)
    {
        int scan = bytes.LastIndexOf((ReadOnlySpan<byte>)[0xFF, 0xDA]);
        return scan >= 0 && bytes[scan..].IndexOf((ReadOnlySpan<byte>)[0xFF, 0xD9]) >= 0;
    }

    private static bool AllOpaque(byte[] rgba)
    {
        for (long i = 3; i < rgba.LongLength; i += 4)
            if (rgba[i] != 255) return false;
        return true;
    }

    /// <summary>RGBA to RGB (drop alpha) or to gray + alpha (R and A).</summary>
    private static byte[] Narrow(byte[] rgba, long pixels, int channels)
    {
        var result = new byte[pixels * channels];
        for (long i = 0; i < pixels; i++)
        {
            if (channels == 3)
            {
                result[3 * i] = rgba[4 * i];
                result[3 * i + 1] = rgba[4 * i + 1];
                result[3 * i + 2] = rgba[4 * i + 2];
            }
            else
            {
                result[2 * i] = rgba[4 * i];
                result[2 * i + 1] = rgba[4 * i + 3];
            }
        }
        return result;
    }

    /// <summary>
    /// The image as a viewer shows it, by EXIF orientation (1–8, Skia's <see cref="SKEncodedOrigin"/>):
    /// output pixel (x, y) is stored pixel (sx, sy); orientations 5–8 swap width and height.
    /// </summary>
    internal static Image Orient(Image image, SKEncodedOrigin origin)
    {
        if (origin is SKEncodedOrigin.TopLeft or 0) return image;
        int w = image.Width, h = image.Height, c = image.Channels;
        bool swap = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        int ow = swap ? h : w, oh = swap ? w : h;
        var result = new byte[image.Pixels.Length];
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
            {
                var (sx, sy) = origin switch
                {
                    SKEncodedOrigin.TopRight => (w - 1 - x, y),           // 2: mirrored left-right
                    SKEncodedOrigin.BottomRight => (w - 1 - x, h - 1 - y), // 3: rotated 180°
                    SKEncodedOrigin.BottomLeft => (x, h - 1 - y),          // 4: mirrored top-bottom
                    SKEncodedOrigin.LeftTop => (y, x),                     // 5: transposed
                    SKEncodedOrigin.RightTop => (y, h - 1 - x),            // 6: stored 90° counter-clockwise; turn clockwise
                    SKEncodedOrigin.RightBottom => (w - 1 - y, h - 1 - x), // 7: transverse
                    SKEncodedOrigin.LeftBottom => (w - 1 - y, x),          // 8: stored 90° clockwise; turn counter-clockwise
                    _ => (x, y),
                };
                Array.Copy(image.Pixels, ((long)sy * w + sx) * c, result, ((long)y * ow + x) * c, c);
            }
        return new Image(ow, oh, c, result);
    }

    private static string Describe(SKCodecResult result) => result switch
    {
        SKCodecResult.InvalidInput => "invalid input",
        SKCodecResult.ErrorInInput => "an error in the data",
        SKCodecResult.Unimplemented => "a feature the decoder does not support",
        SKCodecResult.InvalidConversion => "no 8-bit conversion",
        _ => result.ToString().ToLower(CultureInfo.InvariantCulture),
    };
}
