namespace Vit.Backends.Device;

/// <summary>
/// A block of device memory, made by <see cref="DeviceApi.Allocate"/>. Disposing releases it
/// (once no queued work uses it); disposing twice is safe.
/// </summary>
public abstract class DeviceBuffer : IDisposable
{
    /// <summary>The size asked for, in bytes.</summary>
    public abstract long Bytes { get; }

    /// <summary>Releases the device memory.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the device memory.</summary>
    protected abstract void Dispose(bool disposing);
}
