using System.Buffers.Binary;
using Vit.IO;
using Xunit;
using Xunit.Abstractions;

namespace Vit.Tests.IO;

/// <summary>
/// Damaged files: every truncation and many byte replacements of a small valid file must end in
/// <see cref="InvalidDataException"/> (or open, when still valid, and read without crashing).
/// </summary>
public sealed class SafeTensorsRobustnessTests : IDisposable
{
    private readonly TemporaryFolder _folder = new();
    private readonly ITestOutputHelper _output;

    public SafeTensorsRobustnessTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _folder.Dispose();

    private byte[] SmallValidFile()
    {
        string path = _folder.File("valid.safetensors");
        var writer = new SafeTensorsWriter();
        writer.Add("cls_token", [1, 1, 3], [0.5f, -1f, 2f]);
        writer.Add("loss", [], [1.25]);
        writer.Add("labels", [2], [3L, 1L]);
        writer.Add("blocks.0.attn.qkv.bias", [6], [1, 2, 3, 4, 5, 6]);
        writer.Metadata["Dim"] = "3";
        writer.Write(path);
        return File.ReadAllBytes(path);
    }

    /// <summary>Opens the bytes as a file; null when they are valid, else the exception (which must be InvalidDataException).</summary>
    private Exception? TryOpenAndReadEverything(byte[] bytes, string path)
    {
        File.WriteAllBytes(path, bytes);
        try
        {
            using var file = SafeTensorsFile.Open(path);
            foreach (var t in file.Tensors)
            {
                try
                {
                    switch (t.DType)
                    {
                        case SafeTensorDType.F32 or SafeTensorDType.F64 or SafeTensorDType.F16 or SafeTensorDType.BF16:
                            file.ReadSingles(t.Name, new float[t.ElementCount]);
                            file.ReadDoubles(t.Name);
                            break;
                        default:
                            file.ReadInt64s(t.Name);
                            break;
                    }
                }
                catch (InvalidDataException) { } // a dtype the readers do not convert (for example U64)
            }
            _ = file.Metadata.Count;
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    [Fact]
    public void EveryTruncationIsRejected()
    {
        byte[] valid = SmallValidFile();
        Assert.Null(TryOpenAndReadEverything(valid, _folder.File("full.safetensors")));
        string path = _folder.File("truncated.safetensors");
        for (int length = 0; length < valid.Length; length++)
        {
            var e = TryOpenAndReadEverything(valid[..length], path);
            Assert.True(e is InvalidDataException, $"truncated to {length} of {valid.Length} bytes: {e?.GetType().Name ?? "opened"}: {e?.Message}");
            Assert.Contains(path, e!.Message);
        }
    }

    [Fact]
    public void ByteReplacementsInTheLengthAndHeaderNeverEscapeAsOtherExceptions()
    {
        byte[] valid = SmallValidFile();
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        byte[] replacements = [.. "\0 \"{}[]:,-.0129eE\\u"u8, 0x7F, 0x80, 0xC3, 0xFF];
        string path = _folder.File("damaged.safetensors");
        int rejected = 0, stillValid = 0;
        var failures = new List<string>();
        for (int position = 0; position < headerEnd; position++)
        {
            var candidates = new HashSet<byte>(replacements) { (byte)(valid[position] ^ 0x01), (byte)(valid[position] ^ 0x80), (byte)(valid[position] + 1) };
            candidates.Remove(valid[position]);
            foreach (byte b in candidates)
            {
                byte[] damaged = (byte[])valid.Clone();
                damaged[position] = b;
                var e = TryOpenAndReadEverything(damaged, path);
                if (e is null) stillValid++;
                else if (e is InvalidDataException) rejected++;
                else failures.Add($"byte {position} = 0x{b:X2}: {e.GetType().Name}: {e.Message}");
            }
        }
        _output.WriteLine($"{rejected} rejected, {stillValid} still valid");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
        Assert.True(rejected > 1000, $"only {rejected} damaged files were rejected");
    }

    [Theory]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 63)]
    [InlineData(100_000_001UL)]
    [InlineData(0UL)]
    [InlineData(1UL)]
    public void AbsurdHeaderLengthsAreRejected(ulong length)
    {
        byte[] bytes = SmallValidFile();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, length);
        var e = TryOpenAndReadEverything(bytes, _folder.File("length.safetensors"));
        Assert.IsType<InvalidDataException>(e);
    }

    [Fact]
    public void RandomGarbageIsRejected()
    {
        var random = new Random(12345);
        string path = _folder.File("garbage.safetensors");
        for (int i = 0; i < 300; i++)
        {
            byte[] bytes = new byte[random.Next(0, 200)];
            random.NextBytes(bytes);
            if (bytes.Length >= 8 && i % 2 == 0) // plausible length, garbage JSON
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)random.Next(0, bytes.Length - 7));
            var e = TryOpenAndReadEverything(bytes, path);
            Assert.True(e is InvalidDataException, $"garbage #{i}: {e?.GetType().Name ?? "opened"}: {e?.Message}");
        }
    }

    [Fact]
    public void DeeplyNestedJsonIsRejected()
    {
        string json = "{\"a\":" + new string('[', 10_000) + new string(']', 10_000) + "}";
        var e = TryOpenAndReadEverything(MalformedHeaderTests.FileWithHeader(json, 0), _folder.File("deep.safetensors"));
        Assert.IsType<InvalidDataException>(e);
    }
}
