using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Vit.Imaging;

/// <summary>
/// Writes <see cref="Image"/>s as 8-bit PNG (any channel count; filter 0, deflate through
/// <see cref="ZLibStream"/>, correct CRCs) or binary PPM/PGM (1 or 3 channels).
/// </summary>
public static class ImageEncoder
{
    private static readonly uint[] CrcTable = MakeCrcTable();

    /// <summary>Writes <paramref name="image"/> to <paramref name="path"/> as PNG.</summary>
    public static void WritePng(string path, Image image)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        File.WriteAllBytes(path, EncodePng(image));
    }

    /// <summary>
    /// The PNG file of <paramref name="image"/>: color type 0, 4, 2 or 6 for 1, 2, 3 or 4 channels,
    /// 8 bits per sample, not interlaced, every row with filter 0 (None).
    /// </summary>
    public static byte[] EncodePng(Image image)
    {
        ArgumentNullException.ThrowIfNull(image);
        byte colorType = image.Channels switch { 1 => 0, 2 => 4, 3 => 2, _ => 6 };
        int rowBytes = image.Width * image.Channels;

        using var idat = new MemoryStream();
        using (var deflate = new ZLibStream(idat, CompressionLevel.Optimal, leaveOpen: true))
        {
            for (int y = 0; y < image.Height; y++)
            {
                deflate.WriteByte(0);
                deflate.Write(image.Pixels, y * rowBytes, rowBytes);
            }
        }

        using var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, image.Width);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], image.Height);
        header[8] = 8;
        header[9] = colorType;
        header[10] = header[11] = header[12] = 0;
        WriteChunk(png, "IHDR", header);
        WriteChunk(png, "IDAT", idat.GetBuffer().AsSpan(0, (int)idat.Length));
        WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>Appends one PNG chunk (length, type, data, CRC-32 of type and data) to <paramref name="stream"/>.</summary>
    public static void WriteChunk(Stream stream, string type, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (type is null || type.Length != 4) throw new ArgumentException("A PNG chunk type is 4 ASCII letters.", nameof(type));
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        stream.Write(word);
        Span<byte> typeBytes = stackalloc byte[4];
        Encoding.ASCII.GetBytes(type, typeBytes);
        stream.Write(typeBytes);
        stream.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, ChunkCrc(typeBytes, data));
        stream.Write(word);
    }

    /// <summary>Writes <paramref name="image"/> to <paramref name="path"/> as binary PPM (P6, RGB) or PGM (P5, gray), maxval 255.</summary>
    /// <exception cref="ArgumentException">The image has alpha (2 or 4 channels), which PPM/PGM cannot hold.</exception>
    public static void WritePpm(string path, Image image)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        File.WriteAllBytes(path, EncodePpm(image));
    }

    /// <summary>The binary PPM (P6) or PGM (P5) file of <paramref name="image"/>, maxval 255.</summary>
    /// <exception cref="ArgumentException">The image has alpha (2 or 4 channels).</exception>
    public static byte[] EncodePpm(Image image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Channels is not (1 or 3))
            throw new ArgumentException($"PPM/PGM holds gray or RGB images, not {image.ChannelDescription}.", nameof(image));
        byte[] header = Encoding.ASCII.GetBytes($"{(image.Channels == 3 ? "P6" : "P5")}\n{image.Width} {image.Height}\n255\n");
        var file = new byte[header.Length + image.Pixels.Length];
        header.CopyTo(file, 0);
        image.Pixels.CopyTo(file, header.Length);
        return file;
    }

    /// <summary>A chunk's CRC-32 (PNG spec §5.5): over its 4 type bytes, then its data.</summary>
    internal static uint ChunkCrc(ReadOnlySpan<byte> type, ReadOnlySpan<byte> data) => Crc32(Crc32(0xFFFFFFFFu, type), data) ^ 0xFFFFFFFFu;

    private static uint Crc32(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    private static uint[] MakeCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }
}
