using Vit.Imaging;
using Xunit;

namespace Vit.Tests.Imaging;

/// <summary>
/// The sample images in <c>docs/images/</c> (used by the README's predict command) are the CIFAR-10
/// test records their names say, pixel for pixel, with the label their names give.
/// </summary>
public sealed class SampleImageTests
{
    private static string Fixture(string folder, string file) => Path.Combine(AppContext.BaseDirectory, "Fixtures", folder, file);

    [Theory]
    [InlineData("cifar10-test-0-cat.png", 0, 3)]
    [InlineData("cifar10-test-1-ship.png", 1, 8)]
    public void A_sample_image_is_its_CIFAR_test_record(string file, int record, int label)
    {
        var image = ImageDecoder.Load(Fixture("sample-images", file));
        Assert.Equal((32, 32, 3), (image.Width, image.Height, image.Channels));

        // The embedded test subset starts with test_batch.bin's first records (Vit.Samples/Vit.Cli/Data/README.md).
        byte[] records = File.ReadAllBytes(Fixture("cifar10-subset", "cifar10-subset-test.bin"));
        var bytes = records.AsSpan(record * 3073, 3073);
        Assert.Equal(label, bytes[0]);
        Assert.Equal(Image.FromCifar(bytes[1..]).Pixels, image.Pixels);
        string[] names = File.ReadAllLines(Fixture("cifar10-subset", "batches.meta.txt"));
        Assert.EndsWith($"-{names[label]}.png", file);
    }
}
