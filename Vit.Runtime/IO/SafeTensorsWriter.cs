using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using Vit.Memory;

namespace Vit.IO;

/// <summary>
/// Collects named tensors and writes them as one safetensors file. Entries keep the order they
/// were added in, and their data follows the header contiguously in that order.
/// </summary>
/// <remarks>
/// <see cref="Write(string)"/> is atomic: it writes a temporary file beside the target, flushes
/// it to disk and renames it over the target, so a failed write never damages an existing file.
/// Data is streamed from its source; nothing is copied in full.
/// </remarks>
public sealed class SafeTensorsWriter
{
    /// <summary>Bytes handed to the stream per write when copying native memory.</summary>
    private const int ChunkBytes = 1 << 20;

    private readonly List<Entry> _entries = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    /// <summary>The <c>__metadata__</c> entries to write (string to string).</summary>
    public IDictionary<string, string> Metadata { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The number of tensors added so far.</summary>
    public int Count => _entries.Count;

    /// <summary>
    /// Called after each tensor's data has been written, with the tensor's index. A test seam for
    /// failures in the middle of a write.
    /// </summary>
    internal Action<int>? AfterTensorWritten { get; set; }

    /// <summary>
    /// Adds an F32 tensor whose floats live in native memory. The memory is read during
    /// <see cref="Write(string)"/>, so it must stay valid and unchanged until then.
    /// </summary>
    /// <param name="name">A unique tensor name (not <c>__metadata__</c>).</param>
    /// <param name="shape">The dimensions; empty for a scalar.</param>
    /// <param name="data">The first float; product(<paramref name="shape"/>) floats are read.</param>
    /// <exception cref="ArgumentException">The name is empty, reserved or already added, a dimension is negative, or the pointer is null.</exception>
    public void Add(string name, IReadOnlyList<long> shape, TensorPtr data)
    {
        long[] dims = CheckEntry(name, shape);
        long count = ElementCount(name, dims);
        if (data.IsNull && count > 0)
            throw new ArgumentException($"The data of tensor '{name}' is a null pointer.", nameof(data));
        _entries.Add(new Entry(name, SafeTensorDType.F32, dims, count * sizeof(float), null, data));
        _names.Add(name);
    }

    /// <summary>Adds an F32 tensor. The array is read during <see cref="Write(string)"/>.</summary>
    /// <exception cref="ArgumentException">The name is empty, reserved or already added, a dimension is negative, or the length is not product(<paramref name="shape"/>).</exception>
    public void Add(string name, IReadOnlyList<long> shape, float[] data) => AddArray(name, shape, SafeTensorDType.F32, data);

    /// <summary>Adds an F64 tensor. The array is read during <see cref="Write(string)"/>.</summary>
    /// <exception cref="ArgumentException">The name is empty, reserved or already added, a dimension is negative, or the length is not product(<paramref name="shape"/>).</exception>
    public void Add(string name, IReadOnlyList<long> shape, double[] data) => AddArray(name, shape, SafeTensorDType.F64, data);

    /// <summary>Adds an I64 tensor. The array is read during <see cref="Write(string)"/>.</summary>
    /// <exception cref="ArgumentException">The name is empty, reserved or already added, a dimension is negative, or the length is not product(<paramref name="shape"/>).</exception>
    public void Add(string name, IReadOnlyList<long> shape, long[] data) => AddArray(name, shape, SafeTensorDType.I64, data);

    /// <summary>Adds an I32 tensor. The array is read during <see cref="Write(string)"/>.</summary>
    /// <exception cref="ArgumentException">The name is empty, reserved or already added, a dimension is negative, or the length is not product(<paramref name="shape"/>).</exception>
    public void Add(string name, IReadOnlyList<long> shape, int[] data) => AddArray(name, shape, SafeTensorDType.I32, data);

    /// <summary>
    /// Writes the file atomically: a temporary file in the same folder, flushed to disk, then
    /// renamed over <paramref name="path"/>. On failure the temporary file is deleted and any
    /// existing file at <paramref name="path"/> is left as it was.
    /// </summary>
    /// <exception cref="ArgumentException">A metadata key or value is null.</exception>
    /// <exception cref="IOException">The file could not be written or renamed.</exception>
    public void Write(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] header = BuildHeader(); // validates before anything touches the disk
        AtomicFile.Write(path, stream => WriteTo(stream, header));
    }

    /// <summary>Writes the file to <paramref name="destination"/> (not atomic; the caller owns the stream).</summary>
    /// <exception cref="ArgumentException">A metadata key or value is null.</exception>
    public void Write(Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        WriteTo(destination, BuildHeader());
    }

    private void WriteTo(Stream stream, byte[] header)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors I/O needs a little-endian machine.");
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);
        for (int i = 0; i < _entries.Count; i++)
        {
            _entries[i].WriteData(stream);
            AfterTensorWritten?.Invoke(i);
        }
    }

    /// <summary>The JSON header, padded with spaces so that the data section starts at a multiple of 8 bytes.</summary>
    private byte[] BuildHeader()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (Metadata.Count > 0)
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in Metadata)
                {
                    if (key is null || value is null)
                        throw new ArgumentException($"Metadata entry '{key}' has a null value; safetensors metadata maps strings to strings.", nameof(Metadata));
                    json.WriteString(key, value);
                }
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var entry in _entries)
            {
                json.WriteStartObject(entry.Name);
                json.WriteString("dtype", entry.DType.GetName());
                json.WriteStartArray("shape");
                foreach (long d in entry.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + entry.ByteLength);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += entry.ByteLength;
            }
            json.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    private void AddArray<T>(string name, IReadOnlyList<long> shape, SafeTensorDType dtype, T[] data) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(data);
        long[] dims = CheckEntry(name, shape);
        long count = ElementCount(name, dims);
        if (count != data.Length)
            throw new ArgumentException(
                $"Tensor '{name}' has shape {SafeTensorInfo.FormatShape(dims)} ({count} elements), but its data has {data.Length}.", nameof(data));
        _entries.Add(new Entry(name, dtype, dims, count * dtype.GetSize(), data, default));
        _names.Add(name);
    }

    private long[] CheckEntry(string name, IReadOnlyList<long> shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (name == "__metadata__")
            throw new ArgumentException("'__metadata__' is reserved for the metadata and cannot name a tensor.", nameof(name));
        if (_names.Contains(name))
            throw new ArgumentException($"A tensor named '{name}' was already added.", nameof(name));
        long[] dims = [.. shape];
        foreach (long d in dims)
            if (d < 0)
                throw new ArgumentException($"Tensor '{name}' has a negative dimension in shape {SafeTensorInfo.FormatShape(dims)}.", nameof(shape));
        return dims;
    }

    private static long ElementCount(string name, long[] dims)
    {
        try
        {
            long count = 1;
            foreach (long d in dims) count = checked(count * d);
            _ = checked(count * sizeof(double));
            return count;
        }
        catch (OverflowException)
        {
            throw new ArgumentException($"Tensor '{name}' with shape {SafeTensorInfo.FormatShape(dims)} is too large.", "shape");
        }
    }

    /// <summary>One tensor to write: either a managed array or native floats.</summary>
    private sealed record Entry(string Name, SafeTensorDType DType, long[] Shape, long ByteLength, Array? Array, TensorPtr Pointer)
    {
        public unsafe void WriteData(Stream stream)
        {
            switch (Array)
            {
                case float[] a: stream.Write(MemoryMarshal.AsBytes(a.AsSpan())); break;
                case double[] a: stream.Write(MemoryMarshal.AsBytes(a.AsSpan())); break;
                case long[] a: stream.Write(MemoryMarshal.AsBytes(a.AsSpan())); break;
                case int[] a: stream.Write(MemoryMarshal.AsBytes(a.AsSpan())); break;
                case null:
                    byte* source = (byte*)Pointer.Pointer;
                    for (long done = 0; done < ByteLength; done += ChunkBytes)
                    {
                        int bytes = (int)Math.Min(ChunkBytes, ByteLength - done);
                        stream.Write(new ReadOnlySpan<byte>(source + done, bytes));
                    }
                    break;
                default:
                    throw new InvalidOperationException($"Unsupported data for tensor '{Name}'.");
            }
        }
    }
}
