using System.Runtime.InteropServices;

namespace Vit.Memory;

/// <summary>
/// An owned, 64-byte aligned block of native <see cref="float"/> memory, zero-initialized.
/// Parameters, gradients and activations each live in one of these.
/// </summary>
public sealed unsafe class NativeBuffer : IDisposable
{
    /// <summary>Alignment in bytes: one cache line, one AVX-512 register.</summary>
    public const int Alignment = 64;

    private float* _data;

    /// <summary>Allocates <paramref name="length"/> zeroed floats.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The length is negative.</exception>
    public NativeBuffer(long length)
    {
        if (length < 0)
            throw new ArgumentOutOfRangeException(nameof(length), length, "A buffer length must be zero or positive.");
        Length = length;
        _data = Allocate(length);
    }

    /// <summary>The number of floats.</summary>
    public long Length { get; private set; }

    /// <summary>A pointer to the first float.</summary>
    public TensorPtr Start
    {
        get
        {
            ObjectDisposedException.ThrowIf(_data == null && Length > 0, this);
            return new TensorPtr(_data);
        }
    }

    /// <summary>A span over <paramref name="length"/> floats from <paramref name="offset"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is outside the buffer.</exception>
    public Span<float> Slice(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > Length)
            throw new ArgumentOutOfRangeException(nameof(offset),
                $"The range [{offset}, {offset + length}) is outside this buffer of {Length} floats.");
        return new Span<float>(_data + offset, length);
    }

    /// <summary>Sets every float to zero.</summary>
    public void Clear() => NativeMemory.Clear(_data, (nuint)Length * sizeof(float));

    /// <summary>
    /// Makes the buffer at least <paramref name="length"/> floats long. Grows (and zeroes) only
    /// when it is too small, so a steady state allocates nothing. Contents are not kept.
    /// </summary>
    /// <returns>True when the buffer was reallocated.</returns>
    public bool EnsureLength(long length)
    {
        if (length <= Length) return false;
        HugePages.Free(_data);
        _data = null;
        _data = Allocate(length);
        Length = length;
        return true;
    }

    private static float* Allocate(long length)
    {
        nuint bytes = (nuint)Math.Max(length, 1) * sizeof(float);
        try
        {
            var p = (float*)HugePages.Allocate(bytes);
            NativeMemory.Clear(p, bytes);
            return p;
        }
        catch (OutOfMemoryException e)
        {
            throw new OutOfMemoryException($"Could not allocate {length:N0} floats ({bytes / (1024.0 * 1024.0):F1} MiB) of native memory.", e);
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_data != null)
        {
            HugePages.Free(_data);
            _data = null;
        }
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the memory if <see cref="Dispose"/> was not called.</summary>
    ~NativeBuffer()
    {
        if (_data != null) HugePages.Free(_data);
    }
}
