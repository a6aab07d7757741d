using System.Collections.ObjectModel;

namespace Vit.IO;

/// <summary>One tensor of a safetensors file: its name, element type, shape and where its bytes are.</summary>
/// <remarks>Instances come from <see cref="SafeTensorsFile"/>, which validated every field.</remarks>
public sealed class SafeTensorInfo
{
    internal SafeTensorInfo(string name, SafeTensorDType dtype, long[] shape, long elementCount, long dataBegin, long dataEnd)
    {
        Name = name;
        DType = dtype;
        Shape = new ReadOnlyCollection<long>(shape);
        ElementCount = elementCount;
        DataBegin = dataBegin;
        DataEnd = dataEnd;
    }

    /// <summary>The tensor's name, for example <c>blocks.0.attn.qkv.weight</c>.</summary>
    public string Name { get; }

    /// <summary>The element type.</summary>
    public SafeTensorDType DType { get; }

    /// <summary>The dimensions, outermost first; empty for a scalar.</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>The number of elements: the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long ElementCount { get; }

    /// <summary>The first byte of the data, relative to the start of the data section (the byte after the header).</summary>
    public long DataBegin { get; }

    /// <summary>One past the last byte of the data, relative to the start of the data section.</summary>
    public long DataEnd { get; }

    /// <summary>The size of the data in bytes: <see cref="ElementCount"/> times the dtype's size.</summary>
    public long ByteLength => DataEnd - DataBegin;

    /// <summary>The shape as text, for example <c>[3, 16, 16]</c>.</summary>
    public string ShapeText => FormatShape(Shape);

    /// <inheritdoc/>
    public override string ToString() => $"{Name}: {DType.GetName()} {ShapeText}";

    internal static string FormatShape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";
}
