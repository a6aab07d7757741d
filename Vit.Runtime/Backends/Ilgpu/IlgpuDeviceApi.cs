using System.Diagnostics.CodeAnalysis;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using Vit.Backends.Device;
using Vit.Memory;

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

    /// <summary>The ILGPU buffer; null when planning.</summary>
    public MemoryBuffer1D<byte, Stride1D.Dense>? Memory => _buffer;

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
internal sealed unsafe class IlgpuDeviceApi : DeviceApi, IDisposable
{
    // Host copies go through this staging block: ILGPU's CopyFromCPU/CopyToCPU wrap the host
    // memory in a new CPUMemoryBuffer on every call (80 bytes each, measured), which a steady-state
    // step must not allocate. The staging block's wrapper is made once and remade only when it grows.
    private readonly NativeBuffer _staging = new(0);
    private CPUMemoryBuffer? _stagingView;
    private long _stagingBytes;

    public IlgpuDeviceApi(Accelerator? accelerator) => Accelerator = accelerator;

    /// <summary>The accelerator; null when planning.</summary>
    public Accelerator? Accelerator { get; }

    /// <summary>True when no accelerator runs anything (kernels are recorded, not launched).</summary>
    public bool Planning => Accelerator is null;

    public override DeviceBuffer Allocate(long bytes) => new IlgpuBuffer(Accelerator, bytes);

    public override void Write(DeviceBuffer buffer, long byteOffset, void* source, long bytes)
    {
        if (Planning || bytes <= 0) return;
        var staging = Staging(bytes);
        Buffer.MemoryCopy(source, _staging.Start.Pointer, bytes, bytes);
        ((IlgpuBuffer)buffer).Memory!.CopyFrom(Accelerator!.DefaultStream, staging, byteOffset);
        Accelerator.DefaultStream.Synchronize();
    }

    public override void Read(DeviceBuffer buffer, long byteOffset, void* destination, long bytes)
    {
        if (Planning || bytes <= 0) return;
        var staging = Staging(bytes);
        ((IlgpuBuffer)buffer).Memory!.CopyTo(Accelerator!.DefaultStream, byteOffset, staging);
        Accelerator.DefaultStream.Synchronize();
        Buffer.MemoryCopy(_staging.Start.Pointer, destination, bytes, bytes);
    }

    // The first `bytes` of the staging block as a host view ILGPU can copy to and from.
    private ArrayView<byte> Staging(long bytes)
    {
        if (_stagingView is null || _stagingBytes < bytes)
        {
            _stagingView?.Dispose();
            _staging.EnsureLength((bytes + sizeof(float) - 1) / sizeof(float));
            _stagingBytes = _staging.Length * sizeof(float);
            _stagingView = CPUMemoryBuffer.Create(Accelerator!, ref *(byte*)_staging.Start.Pointer, _stagingBytes);
        }
        return _stagingView.AsRawArrayView(0, bytes);
    }

    public override void Zero(DevicePtr x, long count)
    {
        if (Planning || count <= 0) return;
        ((IlgpuBuffer)x.Buffer!).Floats.SubView(x.Offset, count).MemSetToZero(Accelerator!.DefaultStream);
    }

    public override void Synchronize() => Accelerator?.Synchronize();

    public void Dispose()
    {
        _stagingView?.Dispose();
        _staging.Dispose();
    }
}
