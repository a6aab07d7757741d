using Vit.Data;
using Vit.IO;
using Vit.Imaging;
using Xunit;

namespace Vit.Tests.IO;

/// <summary>
/// A folder given for a file, or a file for a folder, is reported as such, not as missing; devices
/// and pipes are refused before they are read; files read whole have a size limit.
/// </summary>
public sealed class InputPathTests
{
    [Fact]
    public void A_folder_given_for_a_file_is_named_a_folder()
    {
        using var folder = new TemporaryFolder();
        var image = Assert.Throws<IOException>(() => ImageDecoder.Load(folder.FullPath));
        Assert.Equal($"{folder.FullPath}: expected an image file, found a folder", image.Message);
        var weights = Assert.Throws<IOException>(() => SafeTensorsFile.Open(folder.FullPath));
        Assert.Equal($"{folder.FullPath}: expected a safetensors file, found a folder", weights.Message);
    }

    [Fact]
    public void A_file_given_for_a_folder_is_named_a_file()
    {
        using var folder = new TemporaryFolder();
        string file = folder.File("data_batch_1.bin");
        File.WriteAllBytes(file, new byte[3073]);
        var e = Assert.Throws<IOException>(() => CifarDataset.ReadFolder(file, CifarSplit.Train));
        Assert.Equal($"{file}: expected a folder of CIFAR files, found a file", e.Message);
    }

    [Fact]
    public void A_missing_path_is_still_missing()
    {
        using var folder = new TemporaryFolder();
        string nothing = folder.File("nothing.png");
        Assert.Throws<FileNotFoundException>(() => ImageDecoder.Load(nothing));
        Assert.Throws<DirectoryNotFoundException>(() => CifarDataset.ReadFolder(nothing, CifarSplit.Train));
    }

    [SkippableFact]
    public void A_device_given_for_a_file_is_refused_before_it_is_read()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && File.Exists("/dev/zero"), "needs Linux's /dev/zero");
        var image = Assert.Throws<IOException>(() => ImageDecoder.Load("/dev/zero"));
        Assert.Equal("/dev/zero: expected an image file, found a character device; give a regular file", image.Message);
        var weights = Assert.Throws<IOException>(() => SafeTensorsFile.Open("/dev/zero"));
        Assert.Equal("/dev/zero: expected a safetensors file, found a character device; give a regular file", weights.Message);
        var names = Assert.Throws<IOException>(() => CifarDataset.ReadClassNames("/dev/zero", CifarKind.Cifar10));
        Assert.StartsWith("/dev/zero: expected a class-names file, found a character device", names.Message);
        var cifar = Assert.Throws<IOException>(() => CifarDataset.ReadFiles(["/dev/zero"], CifarKind.Cifar10));
        Assert.StartsWith("/dev/zero: expected a CIFAR file, found a character device", cifar.Message);
    }

    [Fact]
    public void A_symbolic_link_to_a_regular_file_is_followed()
    {
        using var folder = new TemporaryFolder();
        string target = folder.File("image.ppm"), link = folder.File("link.ppm");
        File.WriteAllBytes(target, ImageEncoder.EncodePpm(new Image(1, 1, 3, [1, 2, 3])));
        File.CreateSymbolicLink(link, target);
        Assert.Equal([1, 2, 3], ImageDecoder.Load(link).Pixels);
    }

    [Fact]
    public void An_image_file_over_the_limit_is_refused_with_its_name_and_the_limit()
    {
        using var folder = new TemporaryFolder();
        string path = folder.File("huge.ppm");
        using (var stream = new FileStream(path, FileMode.CreateNew)) stream.SetLength(3L << 30); // sparse: no disk space used
        var e = Assert.Throws<IOException>(() => ImageDecoder.Load(path));
        Assert.Equal($"{path}: the image file is 3 GiB (3,221,225,472 bytes); the limit for an image file is 1 GiB", e.Message);
    }

    [Fact]
    public void ReadAllBytes_reads_a_file_up_to_its_limit()
    {
        using var folder = new TemporaryFolder();
        string path = folder.File("data.bin");
        File.WriteAllBytes(path, [1, 2, 3]);
        Assert.Equal([1, 2, 3], InputPath.ReadAllBytes(path, "data file", "missing", maxBytes: 3));
        var e = Assert.Throws<IOException>(() => InputPath.ReadAllBytes(path, "data file", "missing", maxBytes: 2));
        Assert.Equal($"{path}: the data file is 3 bytes; the limit for a data file is 2 bytes", e.Message);
        Assert.Throws<FileNotFoundException>(() => InputPath.ReadAllBytes(folder.File("none"), "data file", "missing", 3));
    }
}
