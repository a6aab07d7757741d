namespace Vit.IO;

/// <summary>An element type of a safetensors tensor, as named by the format's <c>"dtype"</c> field.</summary>
public enum SafeTensorDType
{
    /// <summary><c>"F64"</c>: IEEE 754 binary64.</summary>
    F64,

    /// <summary><c>"F32"</c>: IEEE 754 binary32.</summary>
    F32,

    /// <summary><c>"F16"</c>: IEEE 754 binary16.</summary>
    F16,

    /// <summary><c>"BF16"</c>: bfloat16 (the upper half of a binary32).</summary>
    BF16,

    /// <summary><c>"F8_E4M3"</c>: 8-bit float, 4 exponent and 3 mantissa bits.</summary>
    F8_E4M3,

    /// <summary><c>"F8_E5M2"</c>: 8-bit float, 5 exponent and 2 mantissa bits.</summary>
    F8_E5M2,

    /// <summary><c>"I64"</c>: signed 64-bit integer.</summary>
    I64,

    /// <summary><c>"I32"</c>: signed 32-bit integer.</summary>
    I32,

    /// <summary><c>"I16"</c>: signed 16-bit integer.</summary>
    I16,

    /// <summary><c>"I8"</c>: signed 8-bit integer.</summary>
    I8,

    /// <summary><c>"U64"</c>: unsigned 64-bit integer.</summary>
    U64,

    /// <summary><c>"U32"</c>: unsigned 32-bit integer.</summary>
    U32,

    /// <summary><c>"U16"</c>: unsigned 16-bit integer.</summary>
    U16,

    /// <summary><c>"U8"</c>: unsigned 8-bit integer.</summary>
    U8,

    /// <summary><c>"BOOL"</c>: one byte per element, 0 or 1.</summary>
    Bool,
}

/// <summary>The byte size and the format name of each <see cref="SafeTensorDType"/>.</summary>
public static class SafeTensorDTypes
{
    private static readonly string[] Names =
        ["F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL"];

    private static readonly int[] Sizes = [8, 4, 2, 2, 1, 1, 8, 4, 2, 1, 8, 4, 2, 1, 1];

    /// <summary>The size of one element in bytes.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined dtype.</exception>
    public static int GetSize(this SafeTensorDType dtype) => Sizes[Index(dtype)];

    /// <summary>The name used in a safetensors header, for example <c>"F32"</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined dtype.</exception>
    public static string GetName(this SafeTensorDType dtype) => Names[Index(dtype)];

    /// <summary>Parses a header name such as <c>"F32"</c> (case-sensitive, as the format defines it).</summary>
    /// <returns>False when the name is not a dtype this library knows.</returns>
    public static bool TryParse(string? name, out SafeTensorDType dtype)
    {
        int index = Array.IndexOf(Names, name);
        dtype = (SafeTensorDType)Math.Max(index, 0);
        return index >= 0;
    }

    /// <summary>Every dtype name this library knows, comma-separated (for error messages).</summary>
    internal static string KnownNames => string.Join(", ", Names);

    private static int Index(SafeTensorDType dtype)
    {
        int index = (int)dtype;
        if ((uint)index >= (uint)Names.Length)
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"Expected one of the {Names.Length} safetensors dtypes.");
        return index;
    }
}
