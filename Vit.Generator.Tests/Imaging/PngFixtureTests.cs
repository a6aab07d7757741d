using System.Globalization;
using System.Text.RegularExpressions;
using Vit.Imaging;
using Xunit;

namespace Vit.Tests.Imaging;

/// <summary>
/// The PNG fixtures of tools/make_png_fixtures.py: every color type and bit depth, all five row
/// filters, Adam7 and plain, several IDAT chunks, tRNS and tEXt chunks. The pattern the script
/// wrote is recomputed here and compared pixel for pixel with what the decoder (Skia's libpng)
/// gives.
/// </summary>
public sealed partial class PngFixtureTests
{
    private static string Folder => Path.Combine(AppContext.BaseDirectory, "Fixtures", "images");

    [GeneratedRegex(@"^ct(\d)_d(\d+)_i(\d)_(\d+)x(\d+)\.png$")]
    private static partial Regex FixtureName();

    public static TheoryData<string> Fixtures()
    {
        var data = new TheoryData<string>();
        foreach (string path in Directory.GetFiles(Folder, "*.png").Order(StringComparer.Ordinal)) data.Add(Path.GetFileName(path));
        return data;
    }

    [Fact]
    public void EveryColorTypeDepthAndInterlaceIsCovered()
    {
        var names = Directory.GetFiles(Folder, "*.png").Select(Path.GetFileName).ToHashSet();
        foreach (var (color, depths) in new[] { (0, new[] { 1, 2, 4, 8, 16 }), (2, [8, 16]), (3, [1, 2, 4, 8]), (4, [8, 16]), (6, [8, 16]) })
            foreach (int depth in depths)
                foreach (int interlace in new[] { 0, 1 })
                    Assert.Contains($"ct{color}_d{depth}_i{interlace}_13x11.png", names);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void DecodesThePattern(string file)
    {
        var m = FixtureName().Match(file);
        Assert.True(m.Success, file);
        int I(int g) => int.Parse(m.Groups[g].Value, CultureInfo.InvariantCulture);
        int color = I(1), depth = I(2), width = I(4), height = I(5);

        var image = ImageDecoder.Load(Path.Combine(Folder, file));
        Assert.Equal(width, image.Width);
        Assert.Equal(height, image.Height);
        int samples = color switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, _ => 4 };
        // A palette image becomes RGBA: the fixtures' tRNS chunk gives entry i the alpha (17 i) mod 256.
        Assert.Equal(color == 3 ? 4 : samples, image.Channels);

        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                if (color == 3)
                {
                    int entries = Math.Min(1 << depth, 200), i = (3 * x + 5 * y) % entries;
                    Assert.Equal((byte)((37 * i + 11) % 256), image[x, y, 0]);
                    Assert.Equal((byte)((91 * i + 7) % 256), image[x, y, 1]);
                    Assert.Equal((byte)((53 * i + 200) % 256), image[x, y, 2]);
                    Assert.Equal((byte)(17 * i % 256), image[x, y, 3]);
                    continue;
                }
                for (int c = 0; c < samples; c++)
                {
                    long v = ((long)x * 7919 + (long)y * 104729 + c * 31337L + 12345) % (1L << depth);
                    byte expected = depth switch
                    {
                        8 => (byte)v,
                        16 => (byte)(v >> 8), // libpng strips 16 bits to the high byte (as PIL does for RGB)
                        _ => (byte)(v * 255 / ((1 << depth) - 1)),
                    };
                    Assert.True(expected == image[x, y, c], $"{file}: pixel ({x}, {y}) channel {c}: expected {expected}, got {image[x, y, c]}");
                }
            }
    }

    [Fact]
    public void InterlacedAndPlainFilesDecodeToTheSamePixels()
    {
        foreach (string plain in Directory.GetFiles(Folder, "*_i0_13x11.png"))
        {
            var a = ImageDecoder.Load(plain);
            var b = ImageDecoder.Load(plain.Replace("_i0_", "_i1_"));
            Assert.Equal(a.Pixels, b.Pixels);
        }
    }
}
