using Vit.Data;
using Vit.Imaging;
using Xunit;

namespace Vit.Tests.Imaging;

/// <summary>
/// Resize (shorter side), center crop and normalize against a straightforward double-precision
/// reference that sums the bilinear (triangle) filter over every source pixel; exact cases for
/// the crop offsets; and the error messages.
/// </summary>
public sealed class PreprocessTests
{
    private static Image Random(int width, int height, int channels, int seed)
    {
        var rng = new System.Random(seed);
        var pixels = new byte[width * height * channels];
        rng.NextBytes(pixels);
        return new Image(width, height, channels, pixels);
    }

    /// <summary>Weights of every source index for output index <paramref name="o"/> of a resize from <paramref name="inSize"/> to <paramref name="outSize"/>.</summary>
    private static double[] Weights(int inSize, int outSize, int o)
    {
        double scale = (double)inSize / outSize, filterScale = Math.Max(1, scale);
        double center = (o + 0.5) * scale; // in source pixel units, pixel i covers [i, i + 1)
        var w = new double[inSize];
        double total = 0;
        for (int i = 0; i < inSize; i++)
        {
            double d = Math.Abs(i + 0.5 - center) / filterScale;
            w[i] = d < 1 ? 1 - d : 0;
            total += w[i];
        }
        for (int i = 0; i < inSize; i++) w[i] /= total;
        return w;
    }

    private static double[] Reference(Image image, int size, Normalization n)
    {
        int w = image.Width, h = image.Height;
        int rw = w <= h ? size : (int)Math.Floor((double)size * w / h);
        int rh = w <= h ? (int)Math.Floor((double)size * h / w) : size;
        int left = (int)Math.Round((rw - size) / 2.0), top = (int)Math.Round((rh - size) / 2.0); // Python round: ties to even
        var result = new double[3 * size * size];
        for (int oy = 0; oy < size; oy++)
        {
            double[] wy = Weights(h, rh, top + oy);
            for (int ox = 0; ox < size; ox++)
            {
                double[] wx = Weights(w, rw, left + ox);
                for (int c = 0; c < 3; c++)
                {
                    double v = 0;
                    for (int y = 0; y < h; y++)
                        for (int x = 0; x < w; x++)
                            v += wy[y] * wx[x] * image[x, y, c];
                    result[c * size * size + oy * size + ox] = (v / 255 - n.Mean(c)) / n.Std(c);
                }
            }
        }
        return result;
    }

    [Theory]
    [InlineData(50, 37, 3, 16)]   // shrink, landscape
    [InlineData(37, 50, 4, 16)]   // shrink, portrait, RGBA
    [InlineData(20, 20, 3, 32)]   // enlarge
    [InlineData(13, 40, 3, 24)]   // enlarge the short side, shrink nothing, crop the long one
    [InlineData(97, 33, 3, 8)]    // strong shrink (area averaging over many pixels)
    [InlineData(32, 32, 3, 32)]   // identity
    public void MatchesTheDoubleReference(int width, int height, int channels, int size)
    {
        var image = Random(width, height, channels, seed: width * 100 + height);
        var n = Normalization.ImageNet;
        var actual = new float[3 * size * size];
        Preprocess.ToModelInput(image, size, 4, n, actual, "r.png");
        double[] expected = Reference(image, size, n);
        double worst = 0;
        int at = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            if (err > worst) (worst, at) = (err, i);
        }
        Assert.True(worst <= 1e-5 + 1e-5 * Math.Abs(expected[Math.Max(at, 0)]), $"worst |a-b| = {worst} at {at}: {actual[Math.Max(at, 0)]} vs {expected[Math.Max(at, 0)]}");
    }

    [Fact]
    public void SameSizeImageIsOnlyNormalized()
    {
        var image = Random(8, 8, 3, 1);
        var output = new float[3 * 64];
        Preprocess.ToModelInput(image, 8, 4, Normalization.Identity, output, "same.png");
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++)
                for (int c = 0; c < 3; c++)
                    Assert.Equal(image[x, y, c] / 255f, output[c * 64 + y * 8 + x], 6);
    }

    [Theory]
    [InlineData(64, 32, 16, 0)]  // (64 − 32) / 2
    [InlineData(33, 32, 0, 0)]   // round(0.5) = 0 (ties to even, as Python)
    [InlineData(35, 32, 2, 0)]   // round(1.5) = 2
    [InlineData(32, 37, 0, 2)]   // round(2.5) = 2
    public void CenterCropTakesTheMiddle(int width, int height, int left, int top)
    {
        // The shorter side already equals the size, so only the crop acts.
        var image = Random(width, height, 3, width + height);
        var output = new float[3 * 32 * 32];
        Preprocess.ToModelInput(image, 32, 4, Normalization.Identity, output, "crop.png");
        for (int y = 0; y < 32; y += 3)
            for (int x = 0; x < 32; x += 5)
                Assert.Equal(image[x + left, y + top, 1] / 255f, output[1024 + y * 32 + x], 6);
        Assert.Equal(left, Preprocess.CropOffset(width, 32));
        Assert.Equal((width, height), Preprocess.ResizedSize(width, height, 32));
    }

    [Fact]
    public void ResizedSizeTruncatesTheLongSide()
    {
        Assert.Equal((224, 298), Preprocess.ResizedSize(480, 640, 224)); // 224 × 640 / 480 = 298.67
        Assert.Equal((341, 256), Preprocess.ResizedSize(1200, 900, 256)); // 341.33
        Assert.Equal((10, 10), Preprocess.ResizedSize(3, 3, 10));
    }

    [Fact]
    public void ConstantImageStaysConstantAndAlphaIsDropped()
    {
        var rgba = new byte[45 * 29 * 4];
        for (int i = 0; i < rgba.Length; i += 4) (rgba[i], rgba[i + 1], rgba[i + 2], rgba[i + 3]) = (200, 100, 50, (byte)(i % 256));
        var output = new float[3 * 16 * 16];
        Preprocess.ToModelInput(new Image(45, 29, 4, rgba), 16, 4, Normalization.Cifar10, output, "flat.png");
        var n = Normalization.Cifar10;
        for (int c = 0; c < 3; c++)
        {
            double expected = ((c == 0 ? 200 : c == 1 ? 100 : 50) / 255.0 - n.Mean(c)) / n.Std(c);
            for (int i = 0; i < 256; i++) Assert.Equal(expected, output[c * 256 + i], 1e-5);
        }
    }

    [Fact]
    public void ErrorsNameTheImage()
    {
        var output = new float[3 * 16 * 16];
        var gray = Assert.Throws<InvalidDataException>(() =>
            Preprocess.ToModelInput(new Image(20, 20, 1, new byte[400]), 16, 4, Normalization.ImageNet, output, "photo.png"));
        Assert.Equal("photo.png: the model expects 3 channels (RGB) but the image has 1 (grayscale); convert it to RGB.", gray.Message);
        var grayAlpha = Assert.Throws<InvalidDataException>(() =>
            Preprocess.ToModelInput(new Image(20, 20, 2, new byte[800]), 16, 4, Normalization.ImageNet, output, "ga.png"));
        Assert.Contains("has 2 (grayscale with alpha)", grayAlpha.Message);
        var tiny = Assert.Throws<InvalidDataException>(() =>
            Preprocess.ToModelInput(new Image(2, 3, 3, new byte[18]), 16, 4, Normalization.ImageNet, output, "tiny.png"));
        Assert.Equal("tiny.png: 2×3 pixels is too small; the shorter side must be at least 4 pixels (one patch).", tiny.Message);
        Assert.Throws<ArgumentException>(() =>
            Preprocess.ToModelInput(new Image(20, 20, 3, new byte[1200]), 16, 4, Normalization.ImageNet, new float[10], "x.png"));
    }

    [Fact]
    public void CifarImageThroughPngAndPreprocessMatchesTheLoader()
    {
        // A CIFAR image written as PNG, read back and preprocessed at size 32 equals the loader's un-augmented output.
        var chw = new byte[3072];
        new System.Random(5).NextBytes(chw);
        byte[] png = ImageEncoder.EncodePng(Image.FromCifar(chw));
        var image = ImageDecoder.Decode(png, "cifar.png");
        var viaImage = new float[3072];
        Preprocess.ToModelInput(image, 32, 4, Normalization.Cifar10, viaImage, "cifar.png");
        var viaLoader = new float[3072];
        CifarLoader.Render(chw, Augmentation.None, Normalization.Cifar10, viaLoader);
        for (int i = 0; i < 3072; i++) Assert.Equal(viaLoader[i], viaImage[i], 1e-5);
    }
}
