namespace Vit.Backends.Device;

/// <summary>
/// What a device backend provides to the device-neutral host logic (<see cref="DeviceModel{TKernels}"/>,
/// <see cref="DeviceOptimizer"/>): buffers, copies, one fill launch, and synchronization. Work is
/// queued in order; a copy to or from the host waits for everything queued before it. A new
/// device backend writes this, its kernels (an <see cref="IKernels{TPtr}"/> struct over
/// <see cref="DevicePtr"/>) and the optimizer's three update launches, nothing else.
/// </summary>
public abstract unsafe class DeviceApi
{
    /// <summary>A new buffer of <paramref name="bytes"/> bytes (contents undefined).</summary>
    public abstract DeviceBuffer Allocate(long bytes);

    /// <summary>Copies <paramref name="bytes"/> bytes from host memory into the buffer at <paramref name="byteOffset"/>; returns when the host memory may be reused.</summary>
    public abstract void Write(DeviceBuffer buffer, long byteOffset, void* source, long bytes);

    /// <summary>Waits for the queued work, then copies <paramref name="bytes"/> bytes at <paramref name="byteOffset"/> into host memory.</summary>
    public abstract void Read(DeviceBuffer buffer, long byteOffset, void* destination, long bytes);

    /// <summary>Queues x[0..count) = 0 (a kernel launch on the device).</summary>
    public abstract void Zero(DevicePtr x, long count);

    /// <summary>Waits until every queued command has finished.</summary>
    public abstract void Synchronize();
}
