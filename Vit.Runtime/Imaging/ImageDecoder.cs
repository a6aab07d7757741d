using System.Buffers.Binary;

namespace Vit.Imaging;

/// <summary>
/// Decodes JPEG (baseline and progressive), PNG, BMP, GIF (the first frame), WebP and PPM/PGM
/// (Netpbm P6, P3, P5, P2) images to 8-bit <see cref="Image"/>s, choosing the format by the
/// file's signature, not its extension.
/// </summary>
/// <remarks>
/// <para>The decoding is Skia's (SkiaSharp: libjpeg-turbo, libpng, libwebp, Skia's GIF and BMP
/// codecs), a well-kept library rather than code of ours. JPEG's EXIF orientation is applied, so
/// the image is upright as a viewer shows it. Grayscale images decode to one channel (two with
/// alpha), color images to RGB, or RGBA when the format carries alpha; 16-bit PNG samples become
/// 8 bits as libpng strips them (the high byte, as PIL does for RGB).</para>
/// <para>Before a PNG reaches Skia, its chunk structure is walked here so that a damaged file
/// gets a precise message: every chunk's length against the data and its CRC-32 against its
/// bytes, IHDR first and valid, a palette for palette images, IDAT present, IEND at the end.</para>
/// <para>PPM/PGM is decoded here (a header and raw samples): binary and plain variants, maxval
/// 1–65535, comments anywhere in the header (and, for plain files, between samples); samples are
/// scaled to 0–255 with rounding.</para>
/// <para>Limits, checked before anything large is allocated: a file is read only when it is a
/// regular file of at most <see cref="MaxFileBytes"/>; an image is decoded only when its declared
/// size (from its header, which Skia reads without decoding) is at most <c>maxPixels</c>
/// (<see cref="DefaultMaxPixels"/> unless the caller raises it, up to <see cref="MaxPixels"/>),
/// so a small file that declares a huge image is refused at once.</para>
/// <para>Every malformed input raises <see cref="InvalidDataException"/> whose message starts with
/// the file's name and says what was expected and what was found.</para>
/// </remarks>
public static partial class ImageDecoder
{
    /// <summary>The most pixels an image may have unless the caller allows more: 64 Mi (8192 × 8192).</summary>
    public const long DefaultMaxPixels = 1L << 26;

    /// <summary>The most pixels any caller may allow (2^28, 16384 × 16384).</summary>
    public const long MaxPixels = 1L << 28;

    /// <summary>The largest image file read: 1 GiB (a 64-megapixel RGBA image at 16 bits is 512 MiB uncompressed).</summary>
    public const long MaxFileBytes = 1L << 30;

    private static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Reads and decodes the image at <paramref name="path"/>.</summary>
    /// <param name="path">A PNG or PPM/PGM file.</param>
    /// <param name="maxPixels">The most pixels accepted (width × height), 1 to <see cref="MaxPixels"/>.</param>
    /// <exception cref="FileNotFoundException">There is no file at <paramref name="path"/>.</exception>
    /// <exception cref="IOException">The path is a folder, a device or pipe, or a file over <see cref="MaxFileBytes"/>.</exception>
    /// <exception cref="InvalidDataException">The file is not a PNG or PPM/PGM image, is malformed, or has more than <paramref name="maxPixels"/> pixels.</exception>
    public static Image Load(string path, long maxPixels = DefaultMaxPixels)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPixels, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxPixels, MaxPixels);
        byte[] bytes = Vit.IO.InputPath.ReadAllBytes(path, "image file", $"{path}: the image file does not exist.", MaxFileBytes);
        return Decode(bytes, path, maxPixels);
    }

    /// <summary>Decodes an image held in memory.</summary>
    /// <param name="bytes">The file's contents.</param>
    /// <param name="name">Names the image in messages (usually its path).</param>
    /// <param name="maxPixels">The most pixels accepted (width × height), 1 to <see cref="MaxPixels"/>.</param>
    /// <exception cref="InvalidDataException">The bytes are not a PNG or PPM/PGM image, are malformed, or have more than <paramref name="maxPixels"/> pixels.</exception>
    public static Image Decode(ReadOnlySpan<byte> bytes, string name, long maxPixels = DefaultMaxPixels)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPixels, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxPixels, MaxPixels);
        if (bytes.StartsWith(PngSignature)) return DecodePng(bytes, name, maxPixels);
        if (bytes.Length >= 2 && bytes[0] == (byte)'P' && bytes[1] is (byte)'2' or (byte)'3' or (byte)'5' or (byte)'6')
            return DecodeNetpbm(bytes, name, maxPixels);
        if (SkiaFormat(bytes) is { } format) return DecodeWithSkia(bytes, name, maxPixels, format, grayWithAlpha: false);
        throw new InvalidDataException(UnknownFormat(bytes, name));
    }

    private static string UnknownFormat(ReadOnlySpan<byte> bytes, string name)
    {
        if (bytes.IsEmpty) return $"{name}: the file is empty; expected an image ({Formats}).";
        if (bytes.Length < PngSignature.Length && PngSignature.StartsWith(bytes))
            return $"{name}: the file is {bytes.Length} bytes long, shorter than the 8-byte PNG signature; the file looks truncated.";
        string start = Convert.ToHexString(bytes[..Math.Min(4, bytes.Length)]);
        start = string.Join(' ', Enumerable.Range(0, start.Length / 2).Select(i => start.Substring(2 * i, 2)));
        string? guess =
            bytes.StartsWith("II*\0"u8) || bytes.StartsWith("MM\0*"u8) ? "TIFF" :
            bytes.Length >= 12 && bytes[4..8].SequenceEqual("ftyp"u8) ? "HEIC/AVIF" :
            bytes.StartsWith("P1"u8) || bytes.StartsWith("P4"u8) ? "PBM (a 1-bit Netpbm bitmap)" :
            bytes.StartsWith("P7"u8) ? "PAM" :
            bytes.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G']) ? "a PNG with a damaged signature" :
            null;
        return guess is null
            ? $"{name}: not an image vit can read (it starts with {start}); expected {Formats}."
            : $"{name}: not an image vit can read (it starts with {start}, which looks like {guess}); expected {Formats}: convert it to PNG or JPEG.";
    }

    // ---------------------------------------------------------------- PNG

    private static Image DecodePng(ReadOnlySpan<byte> bytes, string name, long maxPixels)
    {
        int pos = PngSignature.Length;
        int bitDepth = 0, colorType = 0;
        bool haveHeader = false, haveEnd = false;
        bool havePalette = false, haveData = false;

        while (pos < bytes.Length)
        {
            if (bytes.Length - pos < 12)
                throw Invalid(name, $"a chunk at byte {pos} needs at least 12 bytes (length, type, CRC) but only {bytes.Length - pos} remain; the file looks truncated");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(bytes[pos..]);
            ReadOnlySpan<byte> typeBytes = bytes.Slice(pos + 4, 4);
            string type = ChunkType(typeBytes);
            if (length > int.MaxValue)
                throw Invalid(name, $"chunk {type} at byte {pos} declares {length} bytes, more than a PNG chunk may hold (2^31 − 1)");
            if (length > bytes.Length - pos - 12)
                throw Invalid(name, $"chunk {type} at byte {pos} declares {length} bytes of data but only {bytes.Length - pos - 12} remain (with its CRC); the file looks truncated");
            ReadOnlySpan<byte> data = bytes.Slice(pos + 8, (int)length);
            uint stored = BinaryPrimitives.ReadUInt32BigEndian(bytes[(pos + 8 + (int)length)..]), actual = ImageEncoder.ChunkCrc(typeBytes, data);
            if (stored != actual)
                throw Invalid(name, $"chunk {type} at byte {pos} has CRC {stored:X8} but its bytes give {actual:X8}; the file is damaged");
            pos += 12 + (int)length;

            if (!haveHeader && type != "IHDR")
                throw Invalid(name, $"the first chunk is {type}; a PNG must start with IHDR");
            switch (type)
            {
                case "IHDR":
                    if (haveHeader) throw Invalid(name, "it has a second IHDR chunk");
                    if (length != 13) throw Invalid(name, $"the IHDR chunk is {length} bytes; it must be 13");
                    uint w = BinaryPrimitives.ReadUInt32BigEndian(data), h = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
                    if (w == 0 || h == 0 || w > int.MaxValue || h > int.MaxValue)
                        throw Invalid(name, $"the image size {w}×{h} is invalid; both sides must be 1 to 2^31 − 1");
                    if ((long)w * h > maxPixels) throw TooLarge(name, w, h, maxPixels);
                    bitDepth = data[8];
                    colorType = data[9];
                    bool validDepth = colorType switch
                    {
                        0 => bitDepth is 1 or 2 or 4 or 8 or 16,
                        3 => bitDepth is 1 or 2 or 4 or 8,
                        2 or 4 or 6 => bitDepth is 8 or 16,
                        _ => throw Invalid(name, $"color type {colorType} is not one of 0 (gray), 2 (RGB), 3 (palette), 4 (gray + alpha), 6 (RGBA)"),
                    };
                    if (!validDepth)
                        throw Invalid(name, $"bit depth {bitDepth} is not allowed with color type {colorType} ({ColorTypeName(colorType)}); allowed: {AllowedDepths(colorType)}");
                    if (data[10] != 0) throw Invalid(name, $"compression method {data[10]} is unknown; PNG defines only 0 (deflate)");
                    if (data[11] != 0) throw Invalid(name, $"filter method {data[11]} is unknown; PNG defines only 0");
                    if (data[12] > 1) throw Invalid(name, $"interlace method {data[12]} is unknown; PNG defines 0 (none) and 1 (Adam7)");
                    haveHeader = true;
                    break;
                case "PLTE":
                    if (length == 0 || length % 3 != 0 || length > 768)
                        throw Invalid(name, $"the PLTE chunk is {length} bytes; it must hold 1 to 256 RGB entries (a multiple of 3, at most 768 bytes)");
                    havePalette = true;
                    break;
                case "IDAT":
                    haveData = true;
                    break;
                case "IEND":
                    haveEnd = true;
                    break;
                default:
                    // Ancillary chunks (lowercase first letter) are skipped; an unknown critical one cannot be.
                    if ((typeBytes[0] & 0x20) == 0)
                        throw Invalid(name, $"it has an unknown critical chunk {type}");
                    break;
            }
            if (haveEnd) break;
        }

        if (!haveHeader) throw Invalid(name, "it has no IHDR chunk; the file looks truncated");
        if (!haveData) throw Invalid(name, "it has no IDAT chunk (no image data); the file looks truncated");
        if (!haveEnd) throw Invalid(name, "it ends before the IEND chunk; the file looks truncated");
        if (colorType == 3 && !havePalette) throw Invalid(name, "it is a palette image (color type 3) without a PLTE chunk");

        // The structure is sound: Skia (libpng) decodes it.
        return DecodeWithSkia(bytes, name, maxPixels, "PNG", grayWithAlpha: colorType == 4);
    }

    private static string ChunkType(ReadOnlySpan<byte> type)
    {
        Span<char> chars = stackalloc char[4];
        for (int i = 0; i < 4; i++) chars[i] = type[i] is >= 0x20 and < 0x7F ? (char)type[i] : '?';
        return new string(chars);
    }

    private static string ColorTypeName(int colorType) => colorType switch
    {
        0 => "gray",
        2 => "RGB",
        3 => "palette",
        4 => "gray + alpha",
        6 => "RGBA",
        _ => "unknown",
    };

    private static string AllowedDepths(int colorType) => colorType switch
    {
        0 => "1, 2, 4, 8, 16",
        3 => "1, 2, 4, 8",
        _ => "8, 16",
    };

    // ---------------------------------------------------------------- PPM / PGM

    private static Image DecodeNetpbm(ReadOnlySpan<byte> bytes, string name, long maxPixels)
    {
        char kind = (char)bytes[1];
        bool plain = kind is '2' or '3';
        int channels = kind is '3' or '6' ? 3 : 1;
        string format = $"P{kind} ({(channels == 3 ? "PPM" : "PGM")}, {(plain ? "plain" : "binary")})";
        int pos = 2;
        int width = HeaderNumber(bytes, ref pos, name, "width", format);
        int height = HeaderNumber(bytes, ref pos, name, "height", format);
        int maxval = HeaderNumber(bytes, ref pos, name, "maxval", format);
        if (width == 0 || height == 0) throw Invalid(name, $"the {format} header gives a size of {width}×{height}; both sides must be at least 1");
        if (maxval is < 1 or > 65535) throw Invalid(name, $"the {format} header gives maxval {maxval}; it must be 1 to 65535");
        if ((long)width * height > maxPixels) throw TooLarge(name, (uint)width, (uint)height, maxPixels);

        long count = (long)width * height * channels;
        var pixels = new byte[count];
        if (!plain)
        {
            // Exactly one whitespace byte separates maxval from the raster.
            if (pos >= bytes.Length || !IsSpace(bytes[pos]))
                throw Invalid(name, $"the {format} header must end with one whitespace byte after maxval; the file looks truncated");
            pos++;
            int sampleBytes = maxval > 255 ? 2 : 1;
            long need = count * sampleBytes;
            if (bytes.Length - pos < need)
                throw Invalid(name, $"a {width}×{height} {format} image with maxval {maxval} needs {need} bytes of pixels but only {bytes.Length - pos} follow the header; the file looks truncated");
            for (long i = 0; i < count; i++)
            {
                int v = sampleBytes == 1 ? bytes[pos + (int)i] : (bytes[pos + 2 * (int)i] << 8) | bytes[pos + 2 * (int)i + 1];
                if (v > maxval) throw Invalid(name, $"sample {i} is {v}, more than maxval {maxval}");
                pixels[i] = Scale(v, maxval);
            }
        }
        else
        {
            for (long i = 0; i < count; i++)
            {
                SkipSpaceAndComments(bytes, ref pos);
                if (pos >= bytes.Length)
                    throw Invalid(name, $"a {width}×{height} {format} image needs {count} samples but the file ends after {i}; the file looks truncated");
                long v = 0;
                int start = pos;
                while (pos < bytes.Length && bytes[pos] is >= (byte)'0' and <= (byte)'9')
                {
                    v = v * 10 + (bytes[pos++] - '0');
                    if (v > 65535) break;
                }
                if (pos == start) throw Invalid(name, $"sample {i} starts with byte 0x{bytes[pos]:X2} ('{(char)bytes[pos]}'); expected a decimal number");
                if (v > maxval) throw Invalid(name, $"sample {i} is {v}, more than maxval {maxval}");
                pixels[i] = Scale((int)v, maxval);
            }
        }
        return new Image(width, height, channels, pixels);
    }

    private static byte Scale(int v, int maxval) => maxval == 255 ? (byte)v : (byte)((v * 255L + maxval / 2) / maxval);

    private static bool IsSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or 0x0B or 0x0C;

    private static void SkipSpaceAndComments(ReadOnlySpan<byte> bytes, ref int pos)
    {
        while (pos < bytes.Length)
        {
            if (IsSpace(bytes[pos])) pos++;
            else if (bytes[pos] == (byte)'#')
                while (pos < bytes.Length && bytes[pos] != (byte)'\n' && bytes[pos] != (byte)'\r') pos++;
            else break;
        }
    }

    private static int HeaderNumber(ReadOnlySpan<byte> bytes, ref int pos, string name, string field, string format)
    {
        int before = pos;
        SkipSpaceAndComments(bytes, ref pos);
        if (pos >= bytes.Length)
            throw Invalid(name, $"the {format} header ends before the {field}; the file looks truncated");
        if (pos == before)
            throw Invalid(name, $"the {format} header needs whitespace before the {field} but has byte 0x{bytes[pos]:X2}");
        long v = 0;
        int start = pos;
        while (pos < bytes.Length && bytes[pos] is >= (byte)'0' and <= (byte)'9')
        {
            v = v * 10 + (bytes[pos++] - '0');
            if (v > int.MaxValue) throw Invalid(name, $"the {format} header's {field} is larger than {int.MaxValue}");
        }
        if (pos == start)
            throw Invalid(name, $"the {format} header's {field} starts with byte 0x{bytes[pos]:X2} ('{(char)bytes[pos]}'); expected a decimal number");
        return (int)v;
    }

    private static InvalidDataException TooLarge(string name, uint width, uint height, long maxPixels) =>
        new(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{name}: the image is {width}×{height} ({(long)width * height:N0} pixels), more than the {maxPixels:N0} pixels allowed; it is refused before decoding."));

    private static InvalidDataException Invalid(string name, string problem) =>
        new($"{name}: not a valid image: {problem}.");
}
