using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Vit.Imaging;
using Vit.Tests.IO;
using Xunit;

namespace Vit.Tests.Imaging;

/// <summary>
/// PPM/PGM variants, PNG edge cases built by hand, round trips through <see cref="ImageEncoder"/>,
/// and the messages for unknown, damaged and truncated files.
/// </summary>
public sealed class ImageDecoderTests : IDisposable
{
    private readonly TemporaryFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static Image Pattern(int width, int height, int channels)
    {
        var pixels = new byte[width * height * channels];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * 37 + i / 7);
        return new Image(width, height, channels, pixels);
    }

    /// <summary>A PNG from raw (already filtered) scanlines and optional extra chunks before IDAT.</summary>
    private static byte[] Png(int width, int height, int depth, int color, byte[] scanlines, params (string Type, byte[] Data)[] extra)
    {
        using var s = new MemoryStream();
        s.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = (byte)depth;
        ihdr[9] = (byte)color;
        ImageEncoder.WriteChunk(s, "IHDR", ihdr);
        foreach (var (type, data) in extra) ImageEncoder.WriteChunk(s, type, data);
        using var z = new MemoryStream();
        using (var deflate = new ZLibStream(z, CompressionLevel.Fastest, leaveOpen: true)) deflate.Write(scanlines);
        ImageEncoder.WriteChunk(s, "IDAT", z.ToArray());
        ImageEncoder.WriteChunk(s, "IEND", []);
        return s.ToArray();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void PngRoundTrip(int channels)
    {
        var image = Pattern(17, 5, channels);
        string path = _folder.File($"c{channels}.png");
        ImageEncoder.WritePng(path, image);
        var back = ImageDecoder.Load(path);
        Assert.Equal((17, 5, channels), (back.Width, back.Height, back.Channels));
        Assert.Equal(image.Pixels, back.Pixels);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void PpmRoundTrip(int channels)
    {
        var image = Pattern(6, 9, channels);
        string path = _folder.File("x.ppm");
        ImageEncoder.WritePpm(path, image);
        Assert.Equal(channels == 3 ? "P6" : "P5", Encoding.ASCII.GetString(File.ReadAllBytes(path), 0, 2));
        Assert.Equal(image.Pixels, ImageDecoder.Load(path).Pixels);
        Assert.Throws<ArgumentException>(() => ImageEncoder.WritePpm(path, Pattern(2, 2, 4)));
    }

    [Fact]
    public void FromCifarInterleavesThePlanes()
    {
        var chw = new byte[3072];
        for (int i = 0; i < 1024; i++) (chw[i], chw[1024 + i], chw[2048 + i]) = ((byte)i, (byte)(i >> 2), (byte)(255 - i % 256));
        var image = Image.FromCifar(chw);
        Assert.Equal((32, 32, 3), (image.Width, image.Height, image.Channels));
        Assert.Equal(chw[5 * 32 + 7], image[7, 5, 0]);
        Assert.Equal(chw[1024 + 5 * 32 + 7], image[7, 5, 1]);
        Assert.Equal(chw[2048 + 31 * 32 + 31], image[31, 31, 2]);
        Assert.Throws<ArgumentException>(() => Image.FromCifar(new byte[3071]));
    }

    [Fact]
    public void PpmWithCommentsAndPlainVariants()
    {
        byte[] p6 = [.. "P6\n# made by hand\n2 1 # width height\n#maxval next\n255\n"u8, 10, 20, 30, 40, 50, 60];
        var a = ImageDecoder.Decode(p6, "a.ppm");
        Assert.Equal((2, 1, 3), (a.Width, a.Height, a.Channels));
        Assert.Equal([10, 20, 30, 40, 50, 60], a.Pixels);

        var b = ImageDecoder.Decode("P3 2 1 100\n# comment between samples\n0 50 100\n100 0 25"u8, "b.ppm");
        Assert.Equal([0, 128, 255, 255, 0, 64], b.Pixels); // round(v × 255 / 100)

        var c = ImageDecoder.Decode("P2\n3 1\n15\n0 7 15\n"u8, "c.pgm");
        Assert.Equal((3, 1, 1), (c.Width, c.Height, c.Channels));
        Assert.Equal([0, 119, 255], c.Pixels);

        byte[] p5 = [.. "P5 2 1 65535\n"u8, 0xFF, 0xFF, 0x80, 0x00];
        var d = ImageDecoder.Decode(p5, "d.pgm");
        Assert.Equal([255, 128], d.Pixels);
    }

    [Theory]
    [InlineData("P6 2 2 255\n\x01\x02\x03", "needs 12 bytes of pixels but only 3 follow the header; the file looks truncated")]
    [InlineData("P6 2 2", "the P6 (PPM, binary) header ends before the maxval; the file looks truncated")]
    [InlineData("P5 2 2 0\n", "maxval 0; it must be 1 to 65535")]
    [InlineData("P5 2 2 70000\n", "maxval 70000; it must be 1 to 65535")]
    [InlineData("P5 0 2 255\n", "a size of 0×2")]
    [InlineData("P2 2 1 10\n3 11", "sample 1 is 11, more than maxval 10")]
    [InlineData("P2 2 1 10\n3", "needs 2 samples but the file ends after 1; the file looks truncated")]
    [InlineData("P3 1 1 255\n1 x 3", "sample 1 starts with byte 0x78 ('x'); expected a decimal number")]
    [InlineData("P6 a 2 255\n", "the P6 (PPM, binary) header's width starts with byte 0x61 ('a')")]
    public void BadPpmFilesSayWhatIsWrong(string content, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(Encoding.Latin1.GetBytes(content), "bad.ppm"));
        Assert.StartsWith("bad.ppm: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData(new byte[] { 0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 0x4A, 0x46 }, "x.jpg: not a valid image: the JPEG header is incomplete; the file looks truncated.")]
    [InlineData(new byte[] { 0x47, 0x49, 0x46, 0x38, 0x39, 0x61 }, "x.jpg: not a valid image: the GIF header is incomplete; the file looks truncated.")]
    [InlineData(new byte[] { 0x49, 0x49, 0x2A, 0, 8, 0, 0, 0 }, "x.jpg: not an image vit can read (it starts with 49 49 2A 00, which looks like TIFF); expected JPEG, PNG, BMP, GIF, WebP or PPM/PGM: convert it to PNG or JPEG.")]
    [InlineData(new byte[] { 0x50, 0x34, 0x0A }, "x.jpg: not an image vit can read (it starts with 50 34 0A, which looks like PBM (a 1-bit Netpbm bitmap)); expected JPEG, PNG, BMP, GIF, WebP or PPM/PGM: convert it to PNG or JPEG.")]
    [InlineData(new byte[] { 1, 2, 3, 4, 5 }, "x.jpg: not an image vit can read (it starts with 01 02 03 04); expected JPEG, PNG, BMP, GIF, WebP or PPM/PGM.")]
    [InlineData(new byte[] { }, "x.jpg: the file is empty; expected an image (JPEG, PNG, BMP, GIF, WebP or PPM/PGM).")]
    [InlineData(new byte[] { 0x89, 0x50, 0x4E }, "x.jpg: the file is 3 bytes long, shorter than the 8-byte PNG signature; the file looks truncated.")]
    public void UnknownFormatsAreNamed(byte[] bytes, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(bytes, "x.jpg"));
        Assert.Equal(expected, e.Message);
    }

    [Fact]
    public void WebpIsRecognized()
    {
        byte[] webp = [.. "RIFF"u8, 0, 0, 0, 0, .. "WEBPVP8 "u8];
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(webp, "p.webp"));
        Assert.Equal("p.webp: not a valid image: the WebP header is incomplete; the file looks truncated.", e.Message);
    }

    [Fact]
    public void EveryTruncationOfAPngIsRejectedWithItsName()
    {
        byte[] png = ImageEncoder.EncodePng(Pattern(9, 7, 3));
        Assert.Equal(Pattern(9, 7, 3).Pixels, ImageDecoder.Decode(png, "ok.png").Pixels);
        for (int length = 0; length < png.Length; length++)
        {
            var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(png.AsSpan(0, length), "cut.png"));
            Assert.StartsWith("cut.png: ", e.Message);
            if (length >= 8) Assert.Contains("truncated", e.Message);
        }
        string path = _folder.File("cut.png");
        File.WriteAllBytes(path, png[..(png.Length / 2)]);
        var fromFile = Assert.Throws<InvalidDataException>(() => ImageDecoder.Load(path));
        Assert.StartsWith(path + ": ", fromFile.Message);
    }

    [Fact]
    public void EveryChunkCrcIsCheckedAndTheChunkNamed()
    {
        byte[] png = Png(4, 1, 8, 0, [0, 1, 2, 3, 4], ("tEXt", "Comment\0hello"u8.ToArray()));
        Assert.Equal([1, 2, 3, 4], ImageDecoder.Decode(png, "ok.png").Pixels);
        foreach (string type in new[] { "IHDR", "tEXt", "IDAT", "IEND" })
        {
            int at = png.AsSpan().IndexOf(Encoding.ASCII.GetBytes(type)) - 4;
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            foreach (int flip in new[] { at + 8 + length + 3, at + 4 + (length > 0 ? 4 : 0) }) // the CRC's last byte; the first data byte (IEND: its type)
            {
                byte[] bad = (byte[])png.Clone();
                bad[flip] ^= 0x01;
                var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(bad, "crc.png"));
                Assert.StartsWith($"crc.png: not a valid image: chunk {(flip == at + 4 ? "HEND" : type)} at byte {at} has CRC ", e.Message);
                Assert.EndsWith("; the file is damaged.", e.Message);
            }
        }
    }

    [Fact]
    public void ChunkLengthsAreCheckedBeforeTheirCrc()
    {
        byte[] png = ImageEncoder.EncodePng(Pattern(4, 4, 1));
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(33), int.MaxValue); // the IDAT length (8 signature + 8 + 13 IHDR data + 4 CRC = byte 33)
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(png, "len.png"));
        Assert.Contains("chunk IDAT at byte 33 declares 2147483647 bytes of data but only", e.Message);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(33), 0x80000000u);
        e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(png, "len.png"));
        Assert.Contains("more than a PNG chunk may hold", e.Message);
    }

    [Fact]
    public void A_huge_declared_image_is_refused_before_decoding()
    {
        // 16383² RGBA at 16 bits would need 2 GiB of scanlines: the header alone refuses it, at once.
        byte[] bomb = Png(16383, 16383, 16, 6, new byte[1 + 16383 * 8]);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(bomb, "bomb.png"));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal("bomb.png: the image is 16383×16383 (268,402,689 pixels), more than the 67,108,864 pixels allowed; it is refused before decoding.", e.Message);
        Assert.True(allocated < 1 << 20, $"refusing the header allocated {allocated:N0} bytes");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"refusing the header took {clock.Elapsed}");

        // The same budget for PPM/PGM; and a caller may allow more, up to MaxPixels.
        var ppm = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode("P5 8193 8192 255\n"u8, "big.pgm"));
        Assert.StartsWith("big.pgm: the image is 8193×8192 (67,117,056 pixels), more than the 67,108,864 pixels allowed", ppm.Message);
        var raised = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode("P5 8193 8192 255\n"u8, "big.pgm", ImageDecoder.MaxPixels));
        Assert.Contains("needs 67117056 bytes of pixels but only 0 follow the header", raised.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageDecoder.Decode(bomb, "bomb.png", ImageDecoder.MaxPixels + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageDecoder.Decode(bomb, "bomb.png", 0));
    }

    [Fact]
    public void BadPngStructureSaysWhatIsWrong()
    {
        byte[] oneGrayRow = [0, 1, 2];
        void Expect(byte[] png, string expected)
        {
            var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(png, "bad.png"));
            Assert.StartsWith("bad.png: not a valid image: ", e.Message);
            Assert.Contains(expected, e.Message);
        }

        // The structure is checked here; what is inside the compressed data, by libpng (through Skia).
        Expect(Png(2, 1, 8, 0, [5, 1, 2]), "the PNG data is damaged (an error in the data)"); // row filter type 5
        Expect(Png(2, 1, 4, 2, oneGrayRow), "bit depth 4 is not allowed with color type 2 (RGB); allowed: 8, 16");
        Expect(Png(2, 1, 8, 5, oneGrayRow), "color type 5 is not one of 0 (gray), 2 (RGB), 3 (palette), 4 (gray + alpha), 6 (RGBA)");
        Expect(Png(2, 1, 8, 3, oneGrayRow), "it is a palette image (color type 3) without a PLTE chunk");
        Expect(Png(2, 1, 8, 3, [0, 0, 0], ("PLTE", new byte[] { 1, 2, 3, 4 })), "the PLTE chunk is 4 bytes");
        Expect(Png(0, 1, 8, 0, []), "the image size 0×1 is invalid");
        Expect(Png(2, 2, 8, 0, oneGrayRow), "the PNG data ends early; the file looks truncated"); // 3 bytes of rows where 6 are needed
        Expect(Png(2, 1, 8, 0, oneGrayRow, ("abCD", new byte[3]), ("ZZZZ", new byte[1])), "it has an unknown critical chunk ZZZZ");

        byte[] valid = Png(2, 1, 8, 0, oneGrayRow);
        int idat = valid.AsSpan().IndexOf("IDAT"u8) - 4;
        Expect([.. valid[..idat], .. valid[(valid.Length - 12)..]], "it has no IDAT chunk"); // IDAT left out
        byte[] corrupt = (byte[])valid.Clone();
        corrupt[idat + 8] ^= 0x0F; // the zlib header, under a CRC that matches it
        int idatLength = BinaryPrimitives.ReadInt32BigEndian(corrupt.AsSpan(idat));
        BinaryPrimitives.WriteUInt32BigEndian(corrupt.AsSpan(idat + 8 + idatLength), ImageEncoder.ChunkCrc(corrupt.AsSpan(idat + 4, 4), corrupt.AsSpan(idat + 8, idatLength)));
        Expect(corrupt, "the PNG data "); // libpng: damaged, or ends early, by where the zlib stream breaks

        byte[] chunkFirst = [.. valid[..8], .. valid[(valid.Length - 12)..]];
        Expect(chunkFirst, "the first chunk is IEND; a PNG must start with IHDR");
        Expect(valid[..(valid.Length - 12)], "it ends before the IEND chunk; the file looks truncated");
    }

    [Fact]
    public void SixteenBitSamplesKeepTheirHighByte()
    {
        // Two RGB pixels at 16 bits: 0x0000, 0x8080, 0xFFFF; 0x00FF, 0x7F7F, 0xFF7F. libpng strips to the high byte, as PIL does for RGB.
        byte[] row = [0, 0x00, 0x00, 0x80, 0x80, 0xFF, 0xFF, 0x00, 0xFF, 0x7F, 0x7F, 0xFF, 0x7F];
        var image = ImageDecoder.Decode(Png(2, 1, 16, 2, row), "deep.png");
        Assert.Equal([0, 128, 255, 0, 127, 255], image.Pixels);
    }

    [Fact]
    public void ImageValidatesItsShape()
    {
        Assert.Throws<ArgumentException>(() => new Image(2, 2, 3, new byte[11]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Image(2, 2, 5, new byte[20]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Image(0, 2, 1, []));
        Assert.Throws<FileNotFoundException>(() => ImageDecoder.Load(_folder.File("missing.png")));
    }
}
