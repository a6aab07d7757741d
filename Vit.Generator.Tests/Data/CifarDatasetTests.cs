using Vit.Data;
using Vit.Tests.IO;
using Xunit;

namespace Vit.Tests.Data;

/// <summary>
/// The CIFAR binary reader: counts from file sizes, folder detection, CIFAR-100 layout, and one
/// clear error per kind of damage. The embedded subset (copied next to the tests) checks real records.
/// </summary>
public sealed class CifarDatasetTests : IDisposable
{
    private readonly TemporaryFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static string SubsetPath(string file) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "cifar10-subset", file);

    /// <summary>Synthetic records: label = label(i), pixel bytes a function of (record, offset).</summary>
    internal static byte[] Records(CifarKind kind, int count, Func<int, int> label)
    {
        int size = CifarDataset.RecordBytes(kind), header = size - CifarDataset.ImageBytes;
        var bytes = new byte[count * size];
        for (int i = 0; i < count; i++)
        {
            int at = i * size;
            if (kind == CifarKind.Cifar100) bytes[at] = (byte)(label(i) / 5); // coarse label
            bytes[at + header - 1] = (byte)label(i);
            for (int p = 0; p < CifarDataset.ImageBytes; p++) bytes[at + header + p] = PixelOf(i, p);
        }
        return bytes;
    }

    internal static byte PixelOf(int record, int offset) => (byte)((record * 31 + offset * 7 + offset / 1024 * 13) & 0xFF);

    [Theory]
    [InlineData(CifarKind.Cifar10, 1)]
    [InlineData(CifarKind.Cifar10, 1017)]
    [InlineData(CifarKind.Cifar100, 3)]
    [InlineData(CifarKind.Cifar100, 250)]
    public void CountsRecordsFromTheFileSize(CifarKind kind, int count)
    {
        string path = _folder.File("records.bin");
        File.WriteAllBytes(path, Records(kind, count, i => i % CifarDataset.ClassCountOf(kind)));
        var data = CifarDataset.ReadFiles([path], kind);
        Assert.Equal(count, data.Count);
        Assert.Equal(kind == CifarKind.Cifar10 ? 10 : 100, data.ClassCount);
        Assert.Equal(data.ClassCount, data.ClassNames.Count);
        for (int i = 0; i < count; i += Math.Max(1, count / 7))
        {
            Assert.Equal(i % data.ClassCount, data.Label(i));
            var image = data.Image(i);
            Assert.Equal(CifarDataset.ImageBytes, image.Length);
            for (int p = 0; p < CifarDataset.ImageBytes; p += 97) Assert.Equal(PixelOf(i, p), image[p]);
        }
    }

    [Fact]
    public void ConcatenatesFilesInOrder()
    {
        string a = _folder.File("a.bin"), b = _folder.File("b.bin");
        File.WriteAllBytes(a, Records(CifarKind.Cifar10, 3, i => 1));
        File.WriteAllBytes(b, Records(CifarKind.Cifar10, 5, i => 2));
        var data = CifarDataset.ReadFiles([a, b], CifarKind.Cifar10);
        Assert.Equal(8, data.Count);
        Assert.Equal([1, 1, 1, 2, 2, 2, 2, 2], Enumerable.Range(0, 8).Select(data.Label));
        Assert.Equal(PixelOf(4, 5), data.Image(7)[5]); // record 4 of the second file
        Assert.Equal([0, 3, 5, 0, 0, 0, 0, 0, 0, 0], data.ClassHistogram());
    }

    [Fact]
    public void TruncatedFileSaysHowManyBytesAreLeftOver()
    {
        string path = _folder.File("data_batch_2.bin");
        File.WriteAllBytes(path, Records(CifarKind.Cifar10, 1017, i => i % 10)[..3125000]);
        var e = Assert.Throws<InvalidDataException>(() => CifarDataset.ReadFiles([path], CifarKind.Cifar10));
        Assert.Equal(
            $"{path}: 3125000 bytes is not a whole number of 3073-byte CIFAR-10 records (1016 records and 2,832 bytes left over); the file looks truncated.",
            e.Message);
    }

    [Fact]
    public void EmptyAndTooShortFilesAreRejected()
    {
        string empty = _folder.File("empty.bin"), shortFile = _folder.File("short.bin");
        File.WriteAllBytes(empty, []);
        File.WriteAllBytes(shortFile, new byte[100]);
        var e1 = Assert.Throws<InvalidDataException>(() => CifarDataset.ReadFiles([empty], CifarKind.Cifar10));
        Assert.Equal($"{empty}: the file is empty; expected whole 3073-byte CIFAR-10 records.", e1.Message);
        var e2 = Assert.Throws<InvalidDataException>(() => CifarDataset.ReadFiles([shortFile], CifarKind.Cifar100));
        Assert.Contains("100 bytes is not a whole number of 3074-byte CIFAR-100 records (0 records and 100 bytes left over); the file is shorter than one record", e2.Message);
    }

    [Fact]
    public void Cifar10FileReadAsCifar100SaysSo()
    {
        string path = _folder.File("data_batch_1.bin");
        File.WriteAllBytes(path, Records(CifarKind.Cifar10, 4, i => 3));
        var e = Assert.Throws<InvalidDataException>(() => CifarDataset.ReadFiles([path], CifarKind.Cifar100));
        Assert.StartsWith(path + ":", e.Message);
        Assert.Contains("3074-byte CIFAR-100", e.Message);
    }

    [Theory]
    [InlineData(CifarKind.Cifar10, 10, "label 10; CIFAR-10 labels are 0–9")]
    [InlineData(CifarKind.Cifar10, 255, "label 255; CIFAR-10 labels are 0–9")]
    [InlineData(CifarKind.Cifar100, 100, "label 100; CIFAR-100 fine labels are 0–99")]
    public void LabelOutOfRangeNamesTheRecord(CifarKind kind, int bad, string expected)
    {
        string path = _folder.File("bad.bin");
        byte[] bytes = Records(kind, 6, i => 1);
        int header = CifarDataset.RecordBytes(kind) - CifarDataset.ImageBytes;
        bytes[4 * CifarDataset.RecordBytes(kind) + header - 1] = (byte)bad;
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => CifarDataset.ReadFiles([path], kind));
        Assert.StartsWith($"{path}: record 4 ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Cifar100CoarseLabelOutOfRangeIsRejected()
    {
        string path = _folder.File("train.bin");
        byte[] bytes = Records(CifarKind.Cifar100, 2, i => 7);
        bytes[CifarDataset.RecordBytes(CifarKind.Cifar100)] = 20;
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => CifarDataset.ReadFiles([path], CifarKind.Cifar100));
        Assert.Equal($"{path}: record 1 (byte offset 3074) has coarse label 20; CIFAR-100 coarse labels are 0–19.", e.Message);
    }

    [Fact]
    public void MissingFileAndFolderAreNamed()
    {
        string missing = _folder.File("nothing.bin");
        var e1 = Assert.Throws<FileNotFoundException>(() => CifarDataset.ReadFiles([missing], CifarKind.Cifar10));
        Assert.Contains(missing, e1.Message);

        string folder = Path.Combine(_folder.FullPath, "no-such-folder");
        var e2 = Assert.Throws<DirectoryNotFoundException>(() => CifarDataset.ReadFolder(folder, CifarSplit.Train));
        Assert.Equal($"{folder}: the CIFAR folder does not exist.", e2.Message);
    }

    [Fact]
    public void FolderWithoutCifarFilesListsWhatItHolds()
    {
        File.WriteAllText(_folder.File("notes.txt"), "hello");
        var e = Assert.Throws<FileNotFoundException>(() => CifarDataset.ReadFolder(_folder.FullPath, CifarSplit.Test));
        Assert.StartsWith($"{_folder.FullPath}: no CIFAR files found; expected data_batch_1.bin", e.Message);
        Assert.EndsWith("but it holds notes.txt.", e.Message);

        string empty = Path.Combine(_folder.FullPath, "empty");
        Directory.CreateDirectory(empty);
        e = Assert.Throws<FileNotFoundException>(() => CifarDataset.ReadFolder(empty, CifarSplit.Test));
        Assert.EndsWith("but the folder is empty.", e.Message);
    }

    [Fact]
    public void Cifar10FolderReadsBothSplitsAndNames()
    {
        string dir = Path.Combine(_folder.FullPath, "cifar-10-batches-bin");
        Directory.CreateDirectory(dir);
        for (int b = 1; b <= 5; b++)
            File.WriteAllBytes(Path.Combine(dir, $"data_batch_{b}.bin"), Records(CifarKind.Cifar10, b, i => b));
        File.WriteAllBytes(Path.Combine(dir, "test_batch.bin"), Records(CifarKind.Cifar10, 7, i => 9));
        File.WriteAllText(Path.Combine(dir, "batches.meta.txt"), string.Join("\n", Enumerable.Range(0, 10).Select(i => $"c{i}")) + "\n\n");

        foreach (string folder in new[] { dir, _folder.FullPath }) // the folder itself or the one that contains it
        {
            var train = CifarDataset.ReadFolder(folder, CifarSplit.Train);
            Assert.Equal(CifarKind.Cifar10, train.Kind);
            Assert.Equal(1 + 2 + 3 + 4 + 5, train.Count);
            Assert.Equal(5, train.Label(14));
            Assert.Equal("c3", train.ClassNames[3]);
            var test = CifarDataset.ReadFolder(folder, CifarSplit.Test);
            Assert.Equal(7, test.Count);
            Assert.Equal(9, test.Label(6));
        }

        File.Delete(Path.Combine(dir, "data_batch_3.bin"));
        var e = Assert.Throws<FileNotFoundException>(() => CifarDataset.ReadFolder(dir, CifarSplit.Train));
        Assert.Contains("the CIFAR-10 train split needs data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin, but data_batch_3.bin is missing", e.Message);
    }

    [Fact]
    public void Cifar100FolderUsesFineLabelsAndNames()
    {
        string dir = Path.Combine(_folder.FullPath, "cifar-100-binary");
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, "train.bin"), Records(CifarKind.Cifar100, 120, i => i % 100));
        File.WriteAllBytes(Path.Combine(dir, "test.bin"), Records(CifarKind.Cifar100, 30, i => 99 - i));
        File.WriteAllLines(Path.Combine(dir, "fine_label_names.txt"), Enumerable.Range(0, 100).Select(i => $"fine{i}"));

        var train = CifarDataset.ReadFolder(_folder.FullPath, CifarSplit.Train);
        Assert.Equal(CifarKind.Cifar100, train.Kind);
        Assert.Equal(100, train.ClassCount);
        Assert.Equal(120, train.Count);
        Assert.Equal(17, train.Label(117));
        Assert.Equal("fine42", train.ClassNames[42]);
        Assert.Equal(PixelOf(117, 2000), train.Image(117)[2000]);
        var test = CifarDataset.ReadFolder(dir, CifarSplit.Test);
        Assert.Equal(30, test.Count);
        Assert.Equal(70, test.Label(29));

        File.WriteAllLines(Path.Combine(dir, "fine_label_names.txt"), ["a", "b"]);
        var e = Assert.Throws<InvalidDataException>(() => CifarDataset.ReadFolder(dir, CifarSplit.Test));
        Assert.Equal($"{Path.Combine(dir, "fine_label_names.txt")}: expected 100 class names (one per line) but found 2.", e.Message);
    }

    [Fact]
    public void DefaultNamesWhenTheMetaFileIsMissing()
    {
        File.WriteAllBytes(_folder.File("test.bin"), Records(CifarKind.Cifar100, 1, i => 0));
        var data = CifarDataset.ReadFolder(_folder.FullPath, CifarSplit.Test);
        Assert.Equal("apple", data.ClassNames[0]);
        Assert.Equal("worm", data.ClassNames[99]);
        Assert.Equal(100, CifarDataset.DefaultClassNames(CifarKind.Cifar100).Distinct().Count());
        Assert.Equal("truck", CifarDataset.DefaultClassNames(CifarKind.Cifar10)[9]);
    }

    [Fact]
    public void FromRecordsAndTake()
    {
        var data = CifarDataset.FromRecords(Records(CifarKind.Cifar10, 9, i => i), CifarKind.Cifar10, "memory", null);
        Assert.Equal("memory", data.Source);
        var head = data.Take(4);
        Assert.Equal(4, head.Count);
        Assert.Equal(3, head.Label(3));
        Assert.True(head.Image(2).SequenceEqual(data.Image(2)));
        Assert.Equal(0, data.Take(0).Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Take(10));
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Image(9));
        Assert.Throws<ArgumentException>(() => CifarDataset.FromRecords(Records(CifarKind.Cifar10, 1, i => 0), CifarKind.Cifar10, "m", ["one"]));
    }

    [Fact]
    public void EmbeddedSubsetIsClassBalancedRealRecords()
    {
        var names = CifarDataset.ReadClassNames(SubsetPath("batches.meta.txt"), CifarKind.Cifar10);
        Assert.Equal(CifarDataset.DefaultClassNames(CifarKind.Cifar10), names);
        var train = CifarDataset.ReadFiles([SubsetPath("cifar10-subset-train.bin")], CifarKind.Cifar10, names);
        var test = CifarDataset.ReadFiles([SubsetPath("cifar10-subset-test.bin")], CifarKind.Cifar10, names);
        Assert.Equal(2000, train.Count);
        Assert.Equal(500, test.Count);
        Assert.All(train.ClassHistogram(), n => Assert.Equal(200, n));
        Assert.All(test.ClassHistogram(), n => Assert.Equal(50, n));
        // Real photographs, not constant or synthetic images: every image has varied pixels.
        for (int i = 0; i < train.Count; i += 37)
        {
            var image = train.Image(i);
            Assert.True(image.ToArray().Distinct().Count() > 20, $"image {i} looks synthetic");
        }
    }
}
