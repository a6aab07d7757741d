using System.Runtime.InteropServices;
using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>Bulk zeroing and copying of float tensors (gradient resets, activation copies).</summary>
public static unsafe class Fill
{
    /// <summary>The largest span the element-wise kernels hand to span-based APIs at once.</summary>
    internal const int MaxSpan = 1 << 30;

    /// <summary>Sets <paramref name="count"/> floats to zero.</summary>
    /// <param name="x">The tensor, (count).</param>
    /// <param name="count">The number of elements.</param>
    public static void Zero(TensorPtr x, long count)
    {
        if (count > 0) NativeMemory.Clear(x.Pointer, (nuint)count * sizeof(float));
    }

    /// <summary>Copies <paramref name="count"/> floats (the ranges must not overlap).</summary>
    /// <param name="dst">Destination, (count).</param>
    /// <param name="src">Source, (count).</param>
    /// <param name="count">The number of elements.</param>
    public static void Copy(TensorPtr dst, TensorPtr src, long count)
    {
        if (count > 0) Buffer.MemoryCopy(src.Pointer, dst.Pointer, count * sizeof(float), count * sizeof(float));
    }
}
