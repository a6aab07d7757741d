using System.Buffers.Binary;
using Vit.IO;
using Vit.Memory;
using Xunit;

namespace Vit.Tests.IO;

public sealed class SafeTensorsRoundTripTests : IDisposable
{
    private readonly TemporaryFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void RoundTripKeepsNamesShapesOrderMetadataAndValues()
    {
        string path = _folder.File("model.safetensors");
        var writer = new SafeTensorsWriter();
        float[] weight = [1.5f, -2.25f, 3.0f, float.MaxValue, float.Epsilon, -0.0f];
        double[] doubles = [Math.PI, -1e300, 0.1];
        long[] labels = [0, 4, long.MaxValue, -7];
        int[] ints = [1, -2, int.MinValue];
        writer.Add("patch_embed.proj.weight", [2, 3], weight);
        writer.Add("loss", [], [2.5]);
        writer.Add("grad.x", [3], doubles);
        writer.Add("labels", [4], labels);
        writer.Add("small", [1, 3], ints);
        writer.Add("empty", [0, 5], Array.Empty<float>());
        writer.Metadata["Dim"] = "768";
        writer.Metadata["note"] = "äöü \"quoted\" \\ ✓";
        writer.Write(path);

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(["patch_embed.proj.weight", "loss", "grad.x", "labels", "small", "empty"], file.Tensors.Select(t => t.Name));
        Assert.Equal(new Dictionary<string, string> { ["Dim"] = "768", ["note"] = "äöü \"quoted\" \\ ✓" }, file.Metadata);
        Assert.Equal(0, file.HeaderLength % 8);

        // Data is contiguous, in insertion order.
        long expectedBegin = 0;
        foreach (var t in file.Tensors)
        {
            Assert.Equal(expectedBegin, t.DataBegin);
            Assert.Equal(t.ElementCount * t.DType.GetSize(), t.ByteLength);
            expectedBegin = t.DataEnd;
        }
        Assert.Equal(new FileInfo(path).Length, 8 + file.HeaderLength + expectedBegin);

        var w = file.GetTensor("patch_embed.proj.weight");
        Assert.Equal(SafeTensorDType.F32, w.DType);
        Assert.Equal([2L, 3L], w.Shape);
        Assert.Equal(6, w.ElementCount);
        var readBack = new float[6];
        file.ReadSingles("patch_embed.proj.weight", readBack);
        Assert.Equal(weight.Select(BitConverter.SingleToInt32Bits), readBack.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(weight.Select(x => (double)x), file.ReadDoubles("patch_embed.proj.weight"));

        Assert.True(file.TryGetTensor("loss", out var loss));
        Assert.Empty(loss.Shape);
        Assert.Equal(1, loss.ElementCount);
        Assert.Equal(SafeTensorDType.F64, loss.DType);
        Assert.Equal([2.5], file.ReadDoubles("loss"));

        Assert.Equal(doubles, file.ReadDoubles("grad.x"));
        Assert.Equal(doubles.Select(x => (float)x), file.ReadSingles("grad.x")); // F64 rounded to F32
        Assert.Equal(labels, file.ReadInt64s("labels"));
        Assert.Equal(ints.Select(x => (long)x), file.ReadInt64s("small"));
        Assert.Equal(SafeTensorDType.I32, file.GetTensor("small").DType);

        var empty = file.GetTensor("empty");
        Assert.Equal([0L, 5L], empty.Shape);
        Assert.Equal(0, empty.ElementCount);
        Assert.Empty(file.ReadSingles("empty"));
    }

    [Fact]
    public void EmptyWriterWritesAValidFile()
    {
        string path = _folder.File("empty.safetensors");
        new SafeTensorsWriter().Write(path);
        using var file = SafeTensorsFile.Open(path);
        Assert.Empty(file.Tensors);
        Assert.Empty(file.Metadata);
        Assert.Equal(16, new FileInfo(path).Length); // 8 + "{}" padded to 8
    }

    [Fact]
    public unsafe void NativeMemoryRoundTripStreamsLargeTensorsInChunks()
    {
        const long count = 700_000; // 2.8 MB: several 1 MiB chunks and a partial one
        using var source = new NativeBuffer(count);
        var span = source.Slice(0, (int)count);
        for (int i = 0; i < span.Length; i++) span[i] = i * 0.5f - 1000f;
        string path = _folder.File("big.safetensors");
        var writer = new SafeTensorsWriter();
        writer.Add("cls_token", [1, 1, 4], [1f, 2f, 3f, 4f]);
        writer.Add("blocks.0.mlp.fc1.weight", [700, 1000], source.Start);
        writer.Write(path);

        using var file = SafeTensorsFile.Open(path);
        using var destination = new NativeBuffer(count);
        file.ReadSingles("blocks.0.mlp.fc1.weight", destination.Start, count);
        Assert.True(span.SequenceEqual(destination.Slice(0, (int)count)));
        Assert.Equal([1f, 2f, 3f, 4f], file.ReadSingles("cls_token"));

        var ex = Assert.Throws<ArgumentException>(() => file.ReadSingles("blocks.0.mlp.fc1.weight", destination.Start, count - 1));
        Assert.Contains("700000", ex.Message);
    }

    [Fact]
    public void F64ReadsIntoNativeMemoryAsRoundedSingles()
    {
        string path = _folder.File("f64.safetensors");
        var writer = new SafeTensorsWriter();
        writer.Add("x", [3], [0.1, 1e-50, -3.0]);
        writer.Write(path);
        using var file = SafeTensorsFile.Open(path);
        using var buffer = new NativeBuffer(3);
        file.ReadSingles("x", buffer.Start, 3);
        Assert.Equal([0.1f, 0f, -3f], buffer.Slice(0, 3).ToArray());
    }

    [Fact]
    public void ReadersReportMissingNamesWrongLengthsAndWrongDTypes()
    {
        string path = _folder.File("m.safetensors");
        var writer = new SafeTensorsWriter();
        writer.Add("labels", [2], [1L, 2L]);
        writer.Add("w", [2, 2], [1f, 2f, 3f, 4f]);
        writer.Write(path);
        using var file = SafeTensorsFile.Open(path);

        Assert.False(file.TryGetTensor("head.weight", out _));
        Assert.Contains("'head.weight'", Assert.Throws<KeyNotFoundException>(() => file.ReadSingles("head.weight", new float[1])).Message);
        Assert.Contains("'head.weight'", Assert.Throws<KeyNotFoundException>(() => file.ReadDoubles("head.weight")).Message);
        Assert.Contains("'head.weight'", Assert.Throws<KeyNotFoundException>(() => file.ReadInt64s("head.weight")).Message);

        var length = Assert.Throws<ArgumentException>(() => file.ReadSingles("w", new float[3]));
        Assert.Contains("4 elements", length.Message);
        Assert.Contains("[2, 2]", length.Message);

        Assert.Contains("I64", Assert.Throws<InvalidDataException>(() => file.ReadSingles("labels")).Message);
        Assert.Contains("F32", Assert.Throws<InvalidDataException>(() => file.ReadInt64s("w")).Message);
    }

    [Fact]
    public void ReadingAfterDisposeThrowsObjectDisposed()
    {
        string path = _folder.File("d.safetensors");
        var writer = new SafeTensorsWriter();
        writer.Add("w", [1], [1f]);
        writer.Write(path);
        var file = SafeTensorsFile.Open(path);
        file.Dispose();
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.ReadSingles("w"));
    }

    [Fact]
    public void MissingFileThrowsFileNotFoundNamingThePath()
    {
        string path = _folder.File("nope/missing.safetensors");
        var ex = Assert.Throws<FileNotFoundException>(() => SafeTensorsFile.Open(path));
        Assert.Contains(path, ex.Message);
        Assert.Equal(path, ex.FileName);
    }

    [Fact]
    public void WriterRejectsBadEntriesWhenAdded()
    {
        var writer = new SafeTensorsWriter();
        writer.Add("a", [2], [1f, 2f]);
        Assert.Contains("already added", Assert.Throws<ArgumentException>(() => writer.Add("a", [1], [1f])).Message);
        Assert.Contains("reserved", Assert.Throws<ArgumentException>(() => writer.Add("__metadata__", [1], [1f])).Message);
        Assert.Contains("negative", Assert.Throws<ArgumentException>(() => writer.Add("b", [-1, 2], [1f])).Message);
        Assert.Contains("3 elements", Assert.Throws<ArgumentException>(() => writer.Add("c", [3], [1f, 2f])).Message);
        Assert.Throws<ArgumentException>(() => writer.Add("", [1], [1f]));
        Assert.Contains("null pointer", Assert.Throws<ArgumentException>(() => writer.Add("d", [2], TensorPtr.Null)).Message);
        Assert.Equal(1, writer.Count);
    }

    [Fact]
    public void HeaderIsPaddedWithSpacesToEightBytes()
    {
        for (int nameLength = 1; nameLength <= 9; nameLength++)
        {
            string path = _folder.File($"pad{nameLength}.safetensors");
            var writer = new SafeTensorsWriter();
            writer.Add(new string('n', nameLength), [1], [1f]);
            writer.Write(path);
            byte[] bytes = File.ReadAllBytes(path);
            long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            Assert.Equal(0, n % 8);
            string header = System.Text.Encoding.UTF8.GetString(bytes, 8, (int)n);
            int jsonEnd = header.LastIndexOf('}') + 1;
            Assert.True(header.Length - jsonEnd < 8, $"padding of {header.Length - jsonEnd} bytes");
            Assert.All(header[jsonEnd..], c => Assert.Equal(' ', c));
        }
    }
}
