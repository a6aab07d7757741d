using System.Diagnostics.CodeAnalysis;
using ILGPU;
using ILGPU.Runtime;
using Vit.Backends.Device;

namespace Vit.Backends.Ilgpu;

/// <summary>
/// A block of accelerator memory: one ILGPU byte buffer, seen as floats, ints or longs. In a
/// planning run (<see cref="IlgpuDeviceApi.Planning"/>) it holds no memory.
/// </summary>
internal sealed class IlgpuBuffer : DeviceBuffer
{
    private MemoryBuffer1D<byte, Stride1D.Dense>? _buffer;
    private readonly long _bytes;

    public IlgpuBuffer(Accelerator? accelerator, long bytes)
    {
        _bytes = bytes;
        if (accelerator is null) return;
        // Rounded up to whole longs, so that every typed view covers the buffer.
        _buffer = accelerator.Allocate1D<byte>((Math.Max(bytes, 1) + 7) / 8 * 8);
        Raw = _buffer.View;
        Floats = Raw.Cast<float>();
        Ints = Raw.Cast<int>();
        Longs = Raw.Cast<long>();
    }

    public override long Bytes => _bytes;

    public ArrayView<byte> Raw { get; }

    public ArrayView<float> Floats { get; }

    public ArrayView<int> Ints { get; }

    public ArrayView<long> Longs { get; }

    protected override void Dispose(bool disposing)
    {
        _buffer?.Dispose();
        _buffer = null;
    }
}

/// <summary>
/// The device API on an ILGPU accelerator: buffers from <see cref="Accelerator.Allocate1D{T}(long)"/>,
/// copies and zero fills on its default stream (in order with the kernels), and
/// <see cref="Accelerator.Synchronize"/>. Without an accelerator (<see cref="Planning"/>) every
/// call does nothing: <c>vit kernels</c> uses that to run a model's passes and record its kernels
/// without a device.
/// </summary>
internal sealed unsafe class IlgpuDeviceApi : DeviceApi
{
    public IlgpuDeviceApi(Accelerator? accelerator) => Accelerator = accelerator;

    /// <summary>The accelerator; null when planning.</summary>
    public Accelerator? Accelerator { get; }

    /// <summary>True when no accelerator runs anything (kernels are recorded, not launched).</summary>
    public bool Planning => Accelerator is null;

    public override DeviceBuffer Allocate(long bytes) => new IlgpuBuffer(Accelerator, bytes);

    public override void Write(DeviceBuffer buffer, long byteOffset, void* source, long bytes)
    {
        if (Planning || bytes <= 0) return;
        var view = ((IlgpuBuffer)buffer).Raw.SubView(byteOffset, bytes);
        view.CopyFromCPU(ref *(byte*)source, bytes);
    }

    public override void Read(DeviceBuffer buffer, long byteOffset, void* destination, long bytes)
    {
        if (Planning || bytes <= 0) return;
        var view = ((IlgpuBuffer)buffer).Raw.SubView(byteOffset, bytes);
        view.CopyToCPU(ref *(byte*)destination, bytes);
    }

    public override void Zero(DevicePtr x, long count)
    {
        if (Planning || count <= 0) return;
        ((IlgpuBuffer)x.Buffer!).Floats.SubView(x.Offset, count).MemSetToZero(Accelerator!.DefaultStream);
    }

    public override void Synchronize() => Accelerator?.Synchronize();
}
