namespace Vit.Backends.Device;

/// <summary>
/// A tensor in device memory: a buffer and an offset in floats, on any device backend. The device counterpart of
/// <see cref="Vit.Memory.TensorPtr"/>, so that the generated launch sequence reads like the CPU
/// pass (<c>At(offset)</c>, <c>p + Params.X</c>). Kernels receive the buffer and the offset as two
/// arguments.
/// </summary>
public readonly struct DevicePtr : IEquatable<DevicePtr>, ITensorPointer<DevicePtr>
{
    /// <summary>A tensor at <paramref name="offset"/> floats into <paramref name="buffer"/> (null: <see cref="None"/>).</summary>
    public DevicePtr(DeviceBuffer? buffer, long offset)
    {
        Buffer = buffer;
        Offset = offset;
    }

    /// <summary>"This optional tensor is absent": the kernel receives a null pointer.</summary>
    public static DevicePtr None => default;

    /// <summary>The device buffer; null for <see cref="None"/>.</summary>
    public DeviceBuffer? Buffer { get; }

    /// <summary>The offset into <see cref="Buffer"/>, in floats.</summary>
    public long Offset { get; }

    /// <summary>True for <see cref="None"/>.</summary>
    public bool IsNull => Buffer is null;

    /// <summary>The tensor <paramref name="elements"/> floats further on in the same buffer.</summary>
    public static DevicePtr operator +(DevicePtr p, long elements) => new(p.Buffer, p.Offset + elements);

    /// <inheritdoc/>
    public bool Equals(DevicePtr other) => ReferenceEquals(Buffer, other.Buffer) && Offset == other.Offset;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is DevicePtr p && Equals(p);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Buffer, Offset);

    /// <summary>Same buffer and offset.</summary>
    public static bool operator ==(DevicePtr a, DevicePtr b) => a.Equals(b);

    /// <summary>Different buffer or offset.</summary>
    public static bool operator !=(DevicePtr a, DevicePtr b) => !a.Equals(b);

    /// <inheritdoc/>
    public override string ToString() => IsNull ? "None" : $"buffer+{Offset}";
}
