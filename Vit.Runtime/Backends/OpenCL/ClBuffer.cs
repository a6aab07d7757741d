using Vit.Backends.Device;

namespace Vit.Backends.OpenCL;

/// <summary>
/// A read-write buffer in device memory, made by <see cref="ClContext.CreateBuffer"/>. Disposing
/// releases it (the driver frees it once no queued command uses it); disposing twice is safe.
/// </summary>
public sealed class ClBuffer : DeviceBuffer
{
    private readonly ClMemHandle _handle;

    internal ClBuffer(ClMemHandle handle, long bytes)
    {
        _handle = handle;
        Bytes = bytes;
    }

    /// <summary>The size asked for, in bytes (the device allocates at least 4 even when this is 0).</summary>
    public override long Bytes { get; }

    /// <summary>The <c>cl_mem</c>.</summary>
    /// <exception cref="ObjectDisposedException">The buffer was disposed.</exception>
    internal nint Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.Value;
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing) => _handle.Dispose();
}
