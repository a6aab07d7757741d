using Vit.Data;
using Vit.IO;
using Vit.Imaging;
using Xunit;

namespace Vit.Tests.IO;

/// <summary>A folder given for a file, or a file for a folder, is reported as such, not as missing.</summary>
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
}
