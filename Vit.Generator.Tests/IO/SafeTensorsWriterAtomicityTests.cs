using Vit.IO;
using Xunit;

namespace Vit.Tests.IO;

public sealed class SafeTensorsWriterAtomicityTests : IDisposable
{
    private readonly TemporaryFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string WriteGoodFile()
    {
        string path = _folder.File("model.safetensors");
        var writer = new SafeTensorsWriter();
        writer.Add("w", [2], [1f, 2f]);
        writer.Metadata["version"] = "good";
        writer.Write(path);
        return path;
    }

    private void AssertOnlyTheGoodFileRemains(string path, byte[] before)
    {
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal([Path.GetFileName(path)], Directory.GetFiles(_folder.FullPath).Select(Path.GetFileName));
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal("good", file.Metadata["version"]);
    }

    [Fact]
    public void FailureWhileStreamingDataKeepsTheOldFileAndDeletesTheTemporaryFile()
    {
        string path = WriteGoodFile();
        byte[] before = File.ReadAllBytes(path);

        var writer = new SafeTensorsWriter();
        writer.Add("a", [1000], new float[1000]);
        writer.Add("b", [1000], new float[1000]);
        writer.Metadata["version"] = "bad";
        string? tempSeen = null;
        writer.AfterTensorWritten = index =>
        {
            // The temporary file exists beside the target while writing.
            tempSeen = Directory.GetFiles(_folder.FullPath).Single(f => f.EndsWith(".tmp", StringComparison.Ordinal));
            if (index == 0) throw new IOException("simulated disk failure");
        };

        var ex = Assert.Throws<IOException>(() => writer.Write(path));
        Assert.Equal($"cannot write '{path}': simulated disk failure", ex.Message); // the target, not the temporary file
        Assert.NotNull(tempSeen);
        Assert.False(File.Exists(tempSeen));
        AssertOnlyTheGoodFileRemains(path, before);
    }

    [Fact]
    public void InvalidMetadataFailsBeforeTouchingTheDisk()
    {
        string path = WriteGoodFile();
        byte[] before = File.ReadAllBytes(path);

        var writer = new SafeTensorsWriter();
        writer.Add("w", [1], [3f]);
        writer.Metadata["version"] = null!;
        Assert.Contains("'version'", Assert.Throws<ArgumentException>(() => writer.Write(path)).Message);
        AssertOnlyTheGoodFileRemains(path, before);
    }

    [Fact]
    public void FailedRenameDeletesTheTemporaryFile()
    {
        // The target is a folder, so the final rename fails after the data was written.
        string target = _folder.File("taken");
        Directory.CreateDirectory(target);
        var writer = new SafeTensorsWriter();
        writer.Add("w", [1], [3f]);
        var e = Assert.ThrowsAny<IOException>(() => writer.Write(target));
        Assert.Contains($"'{target}'", e.Message);
        Assert.DoesNotContain(".tmp", e.Message);
        Assert.Empty(Directory.GetFiles(_folder.FullPath));
        Assert.True(Directory.Exists(target));
    }

    [Fact]
    public void SuccessfulWriteReplacesTheOldFile()
    {
        string path = WriteGoodFile();
        var writer = new SafeTensorsWriter();
        writer.Add("v", [3], [1.0, 2.0, 3.0]);
        writer.Write(path);
        Assert.Equal([Path.GetFileName(path)], Directory.GetFiles(_folder.FullPath).Select(Path.GetFileName));
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(["v"], file.Tensors.Select(t => t.Name));
        Assert.Empty(file.Metadata);
    }
}
