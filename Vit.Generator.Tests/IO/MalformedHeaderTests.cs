using System.Buffers.Binary;
using System.Text;
using Vit.IO;
using Xunit;

namespace Vit.Tests.IO;

/// <summary>Hand-written malformed headers: each is rejected with a message naming the file and the problem.</summary>
public sealed class MalformedHeaderTests : IDisposable
{
    private readonly TemporaryFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>A file with the given header text and <paramref name="dataBytes"/> zero bytes of data.</summary>
    internal static byte[] FileWithHeader(string json, int dataBytes) => FileWithHeader(Encoding.UTF8.GetBytes(json), dataBytes);

    internal static byte[] FileWithHeader(byte[] header, int dataBytes)
    {
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        return bytes;
    }

    private InvalidDataException Rejected(byte[] bytes)
    {
        string path = _folder.File("bad.safetensors");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));
        Assert.Contains(path, e.Message);
        return e;
    }

    [Theory]
    [InlineData("{\"a\":", 0, "not valid JSON")]
    [InlineData("", 0, "not valid JSON")]
    [InlineData("{} {}", 0, "not valid JSON")]
    [InlineData("[]", 0, "must be a JSON object, found an array")]
    [InlineData("42", 0, "must be a JSON object, found a number")]
    [InlineData("{\"a\":[1]}", 0, "tensor 'a' must be an object")]
    [InlineData("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a' has no 'dtype'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "tensor 'a' has no 'shape'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor 'a' has no 'data_offsets'")]
    [InlineData("{\"a\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'F31'")]
    [InlineData("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'f32'")]
    [InlineData("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'dtype' must be a string, found a number")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1,2],\"data_offsets\":[0,4]}}", 4, "shape [-1, 2] has a negative dimension")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "'shape' entry 0 must be an integer, found 1.5")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4, "'shape' must be an array of integers, found a string")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "'data_offsets' must have 2 entries, found 3")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "data_offsets [4, 0] must satisfy 0 <= begin <= end")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, "data_offsets [-4, 0] must satisfy")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "data_offsets [0, 8] run past the data section of 4 bytes")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,12]}}", 12, "shape [2, 3] of F32 needs 24 bytes, but data_offsets [0, 12] span 12")]
    [InlineData("{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8, "has too many elements")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "tensors 'a' [0, 8] and 'b' [4, 8] overlap")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "tensor 'a' appears twice")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a' has 'dtype' twice")]
    [InlineData("{\"__metadata__\":{\"k\":1}}", 0, "metadata value 'k' must be a string, found a number")]
    [InlineData("{\"__metadata__\":{\"k\":null}}", 0, "metadata value 'k' must be a string, found null")]
    [InlineData("{\"__metadata__\":[\"k\"]}", 0, "'__metadata__' must be an object of strings, found an array")]
    [InlineData("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "'__metadata__' appears twice")]
    public void MalformedHeaderIsRejectedWithItsProblem(string header, int dataBytes, string problem)
    {
        var e = Rejected(FileWithHeader(header, dataBytes));
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void InvalidUtf8IsRejected()
    {
        byte[] header = [.. "{\"a\u00e9\":"u8, 0xC3, 0x28, .. "{}}"u8];
        Assert.Contains("not valid UTF-8", Rejected(FileWithHeader(header, 0)).Message);
    }

    [Fact]
    public void ShortFileIsRejected()
    {
        var e = Rejected([1, 0, 0]);
        Assert.Contains("3 bytes long, shorter than the 8-byte header length", e.Message);
    }

    [Fact]
    public void HeaderLongerThanTheFileIsRejected()
    {
        byte[] bytes = FileWithHeader("{}", 0);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 50);
        Assert.Contains("header length is 50 bytes, but only 2 bytes follow", Rejected(bytes).Message);
    }

    [Fact]
    public void AbsurdHeaderLengthIsRejected()
    {
        byte[] bytes = FileWithHeader("{}", 0);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1UL << 40);
        Assert.Contains("more than the 100000000 bytes allowed", Rejected(bytes).Message);
    }

    [Fact]
    public void AcceptedVariations()
    {
        // Null metadata, unknown fields, gaps between tensors, trailing whitespace and zero-sized tensors are all valid.
        const string json = "{\"__metadata__\":null,\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4],\"extra\":1}," +
                            "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[6,8]}}  \n ";
        byte[] bytes = FileWithHeader(json, 8);
        int data = bytes.Length - 8;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(data), 0x3FC0);     // bf16 1.5
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(data + 2), 0xC000); // bf16 -2
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(data + 6), 0x3C00); // f16 1
        string path = _folder.File("ok.safetensors");
        File.WriteAllBytes(path, bytes);
        using var file = SafeTensorsFile.Open(path);
        Assert.Empty(file.Metadata);
        Assert.Equal(["a", "z", "h"], file.Tensors.Select(t => t.Name));
        Assert.Equal([1.5f, -2f], file.ReadSingles("a"));
        Assert.Equal([1.0], file.ReadDoubles("h"));
        Assert.Empty(file.ReadSingles("z"));
    }
}
