using System.Text.Json;
using Vit.Imaging;
using Xunit;

namespace Vit.Tests.Imaging;

/// <summary>
/// JPEG (baseline, progressive, grayscale, 4:4:4 and 4:2:0, EXIF orientations 3, 6 and 8), BMP,
/// GIF (still and the first frame of an animation) and WebP (lossless, with alpha, lossy), each
/// encoded by PIL and compared with PIL's own decoding of the same file (tools/make_codec_fixtures.py):
/// an independent decoder.
/// </summary>
public sealed class CodecFixtureTests
{
    private static string Folder => Path.Combine(AppContext.BaseDirectory, "Fixtures", "codecs");

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "index.json")));
        foreach (var e in index.RootElement.EnumerateArray()) data.Add(e.GetProperty("name").GetString()!);
        return data;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void DecodesAsPilDoes(string name)
    {
        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "index.json")));
        var entry = index.RootElement.EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        int width = entry.GetProperty("width").GetInt32(), height = entry.GetProperty("height").GetInt32();
        int channels = entry.GetProperty("mode").GetString() switch { "L" => 1, "RGBA" => 4, _ => 3 };
        byte[] expected = File.ReadAllBytes(Path.Combine(Folder, name + ".rgb"));

        var image = ImageDecoder.Load(Path.Combine(Folder, name));
        Assert.Equal((width, height, channels), (image.Width, image.Height, image.Channels));
        // libjpeg-turbo decodes both (PIL's and Skia's builds): measured identical here; the
        // lossless formats must be. Allow no difference at all.
        int differing = 0, worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            int d = Math.Abs(expected[i] - image.Pixels[i]);
            if (d != 0) differing++;
            worst = Math.Max(worst, d);
        }
        Assert.True(differing == 0, $"{name}: {differing} of {expected.Length} samples differ from PIL's, by up to {worst}");
    }

    [Fact]
    public void ExifOrientationTurnsTheImageUpright()
    {
        // The three files hold the same stored pixels; only their EXIF orientation differs.
        var stored = ImageDecoder.Load(Path.Combine(Folder, "pattern-444.jpg"));
        Assert.Equal((37, 23), (stored.Width, stored.Height));
        var turned = ImageDecoder.Load(Path.Combine(Folder, "pattern-exif6.jpg")); // shown rotated 90° clockwise
        Assert.Equal((23, 37), (turned.Width, turned.Height));
        var reference = ImageDecoder.Load(Path.Combine(Folder, "pattern-420.jpg")); // same encoder settings as the EXIF files
        Assert.Equal((reference.Width, reference.Height), (37, 23));
        // Pixel (x, y) of the upright image is stored pixel (y, H − 1 − x) (H = 23 rows stored).
        for (int y = 0; y < turned.Height; y++)
            for (int x = 0; x < turned.Width; x++)
                for (int c = 0; c < 3; c++)
                    Assert.Equal(reference[y, 22 - x, c], turned[x, y, c]);
    }

    [Fact]
    public void APixelBudgetRefusesABigJpegBeforeDecoding()
    {
        string path = Path.Combine(Folder, "ship-baseline.jpg");
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Load(path, maxPixels: 96 * 96 - 1));
        Assert.Contains("the image is 96×96 (9,216 pixels), more than the 9,215 pixels allowed; it is refused before decoding", e.Message);
        Assert.Equal(96, ImageDecoder.Load(path, maxPixels: 96 * 96).Width);
    }

    [Fact]
    public void TruncatedJpegAndWebpSayTheFileLooksTruncated()
    {
        foreach (var name in new[] { "ship-baseline.jpg", "ship-progressive.jpg", "ship-lossy.webp", "pattern.gif" })
        {
            byte[] bytes = File.ReadAllBytes(Path.Combine(Folder, name));
            var e = Record.Exception(() => ImageDecoder.Decode(bytes.AsSpan(0, bytes.Length / 2), name));
            Assert.True(e is InvalidDataException, $"{name} cut in half: {(e is null ? "no error" : e.Message)}");
            Assert.StartsWith($"{name}: not a valid image: ", e!.Message);
            Assert.Contains("truncated", e.Message);
        }
    }
}
