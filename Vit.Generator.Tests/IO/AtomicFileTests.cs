using Vit.IO;
using Xunit;

namespace Vit.Tests.IO;

/// <summary>
/// The temporary file of an atomic write has a short name of its own, so every legal target name
/// works, and failures name the target rather than the hidden temporary file.
/// </summary>
public sealed class AtomicFileTests : IDisposable
{
    private readonly TemporaryFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void A_250_character_name_is_written_and_leaves_no_temporary_file()
    {
        // 250 characters: legal (the limit is 255 bytes), but not with the target's name inside the temporary one.
        string name = new string('m', 250 - ".safetensors".Length) + ".safetensors";
        string path = _folder.File(name);
        var writer = new SafeTensorsWriter();
        writer.Add("w", [2], [1f, 2f]);
        writer.Write(path);
        AtomicFile.WriteAllText(_folder.File(new string('t', 246) + ".csv"), "epoch\n");

        Assert.Equal([name, new string('t', 246) + ".csv"], Directory.GetFiles(_folder.FullPath).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(["w"], file.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void The_temporary_name_is_hidden_short_and_bounded()
    {
        Assert.Equal(".vit-1f-1.tmp", AtomicFile.TemporaryName(31, 1));
        string longest = AtomicFile.TemporaryName(int.MaxValue, long.MaxValue);
        Assert.Equal(AtomicFile.MaxTemporaryNameLength, longest.Length);
        Assert.True(AtomicFile.MaxTemporaryNameLength <= 40, longest);
        Assert.StartsWith(".", longest);
        Assert.Equal(-1, longest.IndexOfAny(Path.GetInvalidFileNameChars()));
    }

    [Fact]
    public void A_missing_folder_is_reported_with_the_target_name()
    {
        string path = Path.Combine(_folder.FullPath, "no-such-folder", "metrics.csv");
        var e = Assert.ThrowsAny<IOException>(() => AtomicFile.WriteAllText(path, "x"));
        Assert.Contains($"'{path}'", e.Message);
        Assert.DoesNotContain(".tmp", e.Message);
        Assert.DoesNotContain(".vit-", e.Message);
    }

    [Fact]
    public void A_name_too_long_for_the_file_system_is_reported_with_the_target_name()
    {
        string path = _folder.File(new string('n', 256));
        var e = Assert.ThrowsAny<IOException>(() => AtomicFile.WriteAllText(path, "x"));
        Assert.Contains($"'{path}'", e.Message);
        Assert.DoesNotContain(".tmp", e.Message);
        Assert.Empty(Directory.GetFiles(_folder.FullPath));
    }
}
