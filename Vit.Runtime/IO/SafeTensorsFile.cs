using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Vit.Memory;

namespace Vit.IO;

/// <summary>
/// A safetensors file, memory-mapped and validated when opened. The layout is an 8-byte
/// little-endian header length N, N bytes of UTF-8 JSON mapping each tensor name to its
/// <c>dtype</c>, <c>shape</c> and <c>data_offsets</c> (plus an optional string-to-string
/// <c>__metadata__</c>), then the data section.
/// </summary>
/// <remarks>
/// Everything the header says is checked in <see cref="Open"/>, so the readers afterwards only
/// copy bytes. A malformed file raises <see cref="InvalidDataException"/> whose message names the
/// file and the problem. Reads are thread-safe; disposing while a read runs is not.
/// </remarks>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    /// <summary>The largest header accepted (100 MB); anything longer is treated as corruption.</summary>
    public const long MaxHeaderLength = 100_000_000;

    private const string MetadataKey = "__metadata__";

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly Dictionary<string, SafeTensorInfo> _byName;
    private byte* _data; // first byte of the data section; null once disposed

    private SafeTensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* data,
        long headerLength, SafeTensorInfo[] tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        _map = map;
        _view = view;
        _data = data;
        HeaderLength = headerLength;
        Tensors = Array.AsReadOnly(tensors);
        Metadata = metadata.AsReadOnly();
        _byName = new Dictionary<string, SafeTensorInfo>(tensors.Length, StringComparer.Ordinal);
        foreach (var t in tensors) _byName.Add(t.Name, t);
    }

    /// <summary>The path the file was opened from.</summary>
    public string Path { get; }

    /// <summary>The length N of the JSON header in bytes (the data section starts at byte 8 + N).</summary>
    public long HeaderLength { get; }

    /// <summary>The <c>__metadata__</c> entries (empty when the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Every tensor, in the order the header lists them.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    /// <summary>Memory-maps <paramref name="path"/> and validates its header and offsets.</summary>
    /// <exception cref="FileNotFoundException">There is no file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid safetensors file; the message says why.</exception>
    public static SafeTensorsFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        InputPath.RequireFile(path, "safetensors file", $"The safetensors file '{path}' does not exist.");
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors I/O needs a little-endian machine.");

        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        long fileLength = stream.Length;
        if (fileLength < 8)
        {
            stream.Dispose();
            throw Invalid(path, $"the file is {fileLength} bytes long, shorter than the 8-byte header length");
        }

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        byte* start = null;
        try
        {
            map = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0, MemoryMappedFileAccess.Read,
                HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
            start += view.PointerOffset;

            var head = new ReadOnlySpan<byte>(start, 8);
            // torch.save writes a zip (PK\x03\x04) holding a pickle, or a bare pickle (0x80, protocol 2–5).
            if (head.StartsWith("PK\u0003\u0004"u8) || (head[0] == 0x80 && head[1] is >= 2 and <= 5))
                throw new InvalidDataException(
                    $"'{path}' is a pickled PyTorch file (torch.save), not safetensors; vit never unpickles (a pickle can run code): convert it with python3 tools/pth_to_safetensors.py {System.IO.Path.GetFileName(path)} OUT.safetensors");
            ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(head);
            if (declared > MaxHeaderLength)
                throw Invalid(path, $"the header length is {declared} bytes, more than the {MaxHeaderLength} bytes allowed");
            long headerLength = (long)declared;
            if (8 + headerLength > fileLength)
                throw Invalid(path, $"the header length is {headerLength} bytes, but only {fileLength - 8} bytes follow the 8-byte length");

            var header = new ReadOnlySpan<byte>(start + 8, (int)headerLength);
            long dataLength = fileLength - 8 - headerLength;
            var (tensors, metadata) = ParseHeader(path, header, dataLength);
            return new SafeTensorsFile(path, map, view, start + 8 + headerLength, headerLength, tensors, metadata);
        }
        catch
        {
            if (start != null) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Looks a tensor up by name.</summary>
    /// <returns>False when the file has no tensor called <paramref name="name"/>.</returns>
    public bool TryGetTensor(string name, [MaybeNullWhen(false)] out SafeTensorInfo info) =>
        _byName.TryGetValue(name, out info);

    /// <summary>The tensor called <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">The file has no such tensor.</exception>
    public SafeTensorInfo GetTensor(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_byName.TryGetValue(name, out var info)) return info;
        throw new KeyNotFoundException($"'{Path}' has no tensor named '{name}' (it has {_byName.Count} tensors).");
    }

    /// <summary>
    /// Copies a floating-point tensor into <paramref name="destination"/> as <see cref="float"/>:
    /// F32 as is; F64, F16 and BF16 converted (F64 rounded to nearest).
    /// </summary>
    /// <exception cref="KeyNotFoundException">The file has no such tensor.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/>'s length is not the element count.</exception>
    /// <exception cref="InvalidDataException">The tensor is not of a floating-point dtype.</exception>
    public void ReadSingles(string name, Span<float> destination)
    {
        var info = GetTensor(name);
        CheckCount(info, destination.Length, nameof(destination));
        fixed (float* d = destination) CopySingles(info, d);
    }

    /// <summary>
    /// Copies a floating-point tensor to native memory (for parameter buffers larger than a span),
    /// converting as <see cref="ReadSingles(string, Span{float})"/> does.
    /// </summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="destination">Where the first float goes; <paramref name="count"/> floats are written.</param>
    /// <param name="count">Must equal the tensor's element count.</param>
    /// <exception cref="KeyNotFoundException">The file has no such tensor.</exception>
    /// <exception cref="ArgumentException"><paramref name="count"/> is not the element count, or the pointer is null.</exception>
    /// <exception cref="InvalidDataException">The tensor is not of a floating-point dtype.</exception>
    public void ReadSingles(string name, TensorPtr destination, long count)
    {
        var info = GetTensor(name);
        CheckCount(info, count, nameof(count));
        if (destination.IsNull && count > 0)
            throw new ArgumentException($"The destination for tensor '{name}' is a null pointer.", nameof(destination));
        CopySingles(info, destination.Pointer);
    }

    /// <summary>Reads a floating-point tensor as a new <see cref="float"/> array.</summary>
    /// <exception cref="KeyNotFoundException">The file has no such tensor.</exception>
    /// <exception cref="InvalidDataException">The tensor is not of a floating-point dtype, or too large for an array.</exception>
    public float[] ReadSingles(string name)
    {
        var info = GetTensor(name);
        var result = new float[CheckArrayLength(info)];
        ReadSingles(name, result);
        return result;
    }

    /// <summary>Reads a floating-point tensor as <see cref="double"/>: F64 as is; F32, F16 and BF16 widened exactly.</summary>
    /// <exception cref="KeyNotFoundException">The file has no such tensor.</exception>
    /// <exception cref="InvalidDataException">The tensor is not of a floating-point dtype, or too large for an array.</exception>
    public double[] ReadDoubles(string name)
    {
        var info = GetTensor(name);
        var result = new double[CheckArrayLength(info)];
        byte* src = Source(info);
        switch (info.DType)
        {
            case SafeTensorDType.F64:
                fixed (double* d = result) Buffer.MemoryCopy(src, d, info.ByteLength, info.ByteLength);
                break;
            case SafeTensorDType.F32:
                for (int i = 0; i < result.Length; i++) result[i] = Unsafe.ReadUnaligned<float>(src + 4L * i);
                break;
            case SafeTensorDType.F16:
                for (int i = 0; i < result.Length; i++) result[i] = (double)Unsafe.ReadUnaligned<Half>(src + 2L * i);
                break;
            case SafeTensorDType.BF16:
                for (int i = 0; i < result.Length; i++) result[i] = BFloat16ToSingle(Unsafe.ReadUnaligned<ushort>(src + 2L * i));
                break;
            default:
                throw WrongDType(info, "doubles", "F64, F32, F16, BF16");
        }
        return result;
    }

    /// <summary>Reads an integer tensor as <see cref="long"/>: I64 as is; I32, I16, I8, U32, U16, U8 and BOOL widened.</summary>
    /// <exception cref="KeyNotFoundException">The file has no such tensor.</exception>
    /// <exception cref="InvalidDataException">The tensor is not of a supported integer dtype, or too large for an array.</exception>
    public long[] ReadInt64s(string name)
    {
        var info = GetTensor(name);
        var result = new long[CheckArrayLength(info)];
        byte* src = Source(info);
        switch (info.DType)
        {
            case SafeTensorDType.I64:
                fixed (long* d = result) Buffer.MemoryCopy(src, d, info.ByteLength, info.ByteLength);
                break;
            case SafeTensorDType.I32:
                for (int i = 0; i < result.Length; i++) result[i] = Unsafe.ReadUnaligned<int>(src + 4L * i);
                break;
            case SafeTensorDType.U32:
                for (int i = 0; i < result.Length; i++) result[i] = Unsafe.ReadUnaligned<uint>(src + 4L * i);
                break;
            case SafeTensorDType.I16:
                for (int i = 0; i < result.Length; i++) result[i] = Unsafe.ReadUnaligned<short>(src + 2L * i);
                break;
            case SafeTensorDType.U16:
                for (int i = 0; i < result.Length; i++) result[i] = Unsafe.ReadUnaligned<ushort>(src + 2L * i);
                break;
            case SafeTensorDType.I8:
                for (int i = 0; i < result.Length; i++) result[i] = (sbyte)src[i];
                break;
            case SafeTensorDType.U8:
            case SafeTensorDType.Bool:
                for (int i = 0; i < result.Length; i++) result[i] = src[i];
                break;
            default:
                throw WrongDType(info, "64-bit integers", "I64, I32, I16, I8, U32, U16, U8, BOOL");
        }
        return result;
    }

    /// <summary>Unmaps the file. Reading afterwards throws <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (_data == null) return;
        _data = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Path}: {Tensors.Count} tensors, {Metadata.Count} metadata entries";

    private void CopySingles(SafeTensorInfo info, float* destination)
    {
        byte* src = Source(info);
        long n = info.ElementCount;
        switch (info.DType)
        {
            case SafeTensorDType.F32:
                Buffer.MemoryCopy(src, destination, info.ByteLength, info.ByteLength);
                break;
            case SafeTensorDType.F64:
                for (long i = 0; i < n; i++) destination[i] = (float)Unsafe.ReadUnaligned<double>(src + 8 * i);
                break;
            case SafeTensorDType.F16:
                for (long i = 0; i < n; i++) destination[i] = (float)Unsafe.ReadUnaligned<Half>(src + 2 * i);
                break;
            case SafeTensorDType.BF16:
                for (long i = 0; i < n; i++) destination[i] = BFloat16ToSingle(Unsafe.ReadUnaligned<ushort>(src + 2 * i));
                break;
            default:
                throw WrongDType(info, "singles", "F32, F64, F16, BF16");
        }
    }

    private static float BFloat16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    private byte* Source(SafeTensorInfo info)
    {
        ObjectDisposedException.ThrowIf(_data == null, this);
        return _data + info.DataBegin;
    }

    private void CheckCount(SafeTensorInfo info, long count, string parameter)
    {
        if (count != info.ElementCount)
            throw new ArgumentException(
                $"Tensor '{info.Name}' in '{Path}' has {info.ElementCount} elements (shape {info.ShapeText}), but the destination holds {count}.",
                parameter);
    }

    private int CheckArrayLength(SafeTensorInfo info)
    {
        if (info.ElementCount > Array.MaxLength)
            throw new InvalidDataException(
                $"Tensor '{info.Name}' in '{Path}' has {info.ElementCount} elements, more than an array can hold; read it into native memory.");
        return (int)info.ElementCount;
    }

    private InvalidDataException WrongDType(SafeTensorInfo info, string what, string accepted) =>
        new($"Tensor '{info.Name}' in '{Path}' is {info.DType.GetName()}; reading it as {what} needs one of {accepted}.");

    private static InvalidDataException Invalid(string path, string problem) =>
        new($"'{path}' is not a valid safetensors file: {problem}.");

    /// <summary>Parses and validates the JSON header against a data section of <paramref name="dataLength"/> bytes.</summary>
    private static (SafeTensorInfo[] Tensors, Dictionary<string, string> Metadata) ParseHeader(
        string path, ReadOnlySpan<byte> header, long dataLength)
    {
        if (!System.Text.Unicode.Utf8.IsValid(header))
            throw Invalid(path, "the header is not valid UTF-8");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw Invalid(path, $"the header is not valid JSON ({e.Message})");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Invalid(path, $"the header must be a JSON object, found {Kind(root)}");

            var tensors = new List<SafeTensorInfo>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            bool sawMetadata = false;
            foreach (var property in root.EnumerateObject())
            {
                if (property.NameEquals(MetadataKey))
                {
                    if (sawMetadata) throw Invalid(path, $"'{MetadataKey}' appears twice");
                    sawMetadata = true;
                    ParseMetadata(path, property.Value, metadata);
                    continue;
                }
                if (!names.Add(property.Name))
                    throw Invalid(path, $"tensor '{property.Name}' appears twice in the header");
                tensors.Add(ParseTensor(path, property.Name, property.Value, dataLength));
            }

            CheckNoOverlap(path, tensors);
            return (tensors.ToArray(), metadata);
        }
    }

    private static void ParseMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind == JsonValueKind.Null) return; // the reference implementation treats null as "no metadata"
        if (value.ValueKind != JsonValueKind.Object)
            throw Invalid(path, $"'{MetadataKey}' must be an object of strings, found {Kind(value)}");
        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw Invalid(path, $"metadata value '{entry.Name}' must be a string, found {Kind(entry.Value)}");
            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
                throw Invalid(path, $"metadata key '{entry.Name}' appears twice");
        }
    }

    private static SafeTensorInfo ParseTensor(string path, string name, JsonElement value, long dataLength)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Invalid(path, $"tensor '{name}' must be an object with dtype, shape and data_offsets, found {Kind(value)}");

        JsonElement? dtypeElement = null, shapeElement = null, offsetsElement = null;
        foreach (var field in value.EnumerateObject())
        {
            if (field.NameEquals("dtype")) Assign(ref dtypeElement, field);
            else if (field.NameEquals("shape")) Assign(ref shapeElement, field);
            else if (field.NameEquals("data_offsets")) Assign(ref offsetsElement, field);
            // Unknown fields are ignored, as the reference implementation does.
        }

        void Assign(ref JsonElement? slot, JsonProperty field)
        {
            if (slot.HasValue) throw Invalid(path, $"tensor '{name}' has '{field.Name}' twice");
            slot = field.Value;
        }

        if (dtypeElement is not { } dtypeValue) throw Invalid(path, $"tensor '{name}' has no 'dtype'");
        if (shapeElement is not { } shapeValue) throw Invalid(path, $"tensor '{name}' has no 'shape'");
        if (offsetsElement is not { } offsetsValue) throw Invalid(path, $"tensor '{name}' has no 'data_offsets'");

        if (dtypeValue.ValueKind != JsonValueKind.String)
            throw Invalid(path, $"tensor '{name}': 'dtype' must be a string, found {Kind(dtypeValue)}");
        string dtypeName = dtypeValue.GetString()!;
        if (!SafeTensorDTypes.TryParse(dtypeName, out var dtype))
            throw Invalid(path, $"tensor '{name}': unknown dtype '{dtypeName}' (expected one of {SafeTensorDTypes.KnownNames})");

        long[] shape = ReadIntegers(path, name, "shape", shapeValue, expectedCount: -1);
        long elements = 1;
        foreach (long d in shape)
        {
            if (d < 0) throw Invalid(path, $"tensor '{name}': shape {SafeTensorInfo.FormatShape(shape)} has a negative dimension");
            if (d != 0 && elements > long.MaxValue / d)
                throw Invalid(path, $"tensor '{name}': shape {SafeTensorInfo.FormatShape(shape)} has too many elements");
            elements *= d;
        }
        long[] offsets = ReadIntegers(path, name, "data_offsets", offsetsValue, expectedCount: 2);
        long begin = offsets[0], end = offsets[1];
        if (begin < 0 || end < begin)
            throw Invalid(path, $"tensor '{name}': data_offsets [{begin}, {end}] must satisfy 0 <= begin <= end");
        if (end > dataLength)
            throw Invalid(path, $"tensor '{name}': data_offsets [{begin}, {end}] run past the data section of {dataLength} bytes");
        int size = dtype.GetSize();
        if (elements > long.MaxValue / size || elements * size != end - begin)
            throw Invalid(path,
                $"tensor '{name}': shape {SafeTensorInfo.FormatShape(shape)} of {dtypeName} needs {(decimal)elements * size} bytes, but data_offsets [{begin}, {end}] span {end - begin}");
        return new SafeTensorInfo(name, dtype, shape, elements, begin, end);
    }

    private static long[] ReadIntegers(string path, string name, string field, JsonElement value, int expectedCount)
    {
        if (value.ValueKind != JsonValueKind.Array)
            throw Invalid(path, $"tensor '{name}': '{field}' must be an array of integers, found {Kind(value)}");
        int count = value.GetArrayLength();
        if (expectedCount >= 0 && count != expectedCount)
            throw Invalid(path, $"tensor '{name}': '{field}' must have {expectedCount} entries, found {count}");
        var result = new long[count];
        int i = 0;
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out result[i]))
                throw Invalid(path, $"tensor '{name}': '{field}' entry {i} must be an integer, found {Abbreviate(item.GetRawText())}");
            i++;
        }
        return result;
    }

    private static void CheckNoOverlap(string path, List<SafeTensorInfo> tensors)
    {
        var sorted = tensors.ToArray();
        Array.Sort(sorted, static (a, b) => a.DataBegin != b.DataBegin
            ? a.DataBegin.CompareTo(b.DataBegin)
            : a.DataEnd.CompareTo(b.DataEnd));
        for (int i = 1; i < sorted.Length; i++)
        {
            var previous = sorted[i - 1];
            var current = sorted[i];
            if (current.DataBegin < previous.DataEnd)
                throw Invalid(path,
                    $"tensors '{previous.Name}' [{previous.DataBegin}, {previous.DataEnd}] and '{current.Name}' [{current.DataBegin}, {current.DataEnd}] overlap");
        }
    }

    private static string Abbreviate(string text) => text.Length <= 40 ? text : text[..40] + "...";

    private static string Kind(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };
}
