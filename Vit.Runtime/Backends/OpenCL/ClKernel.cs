namespace Vit.Backends.OpenCL;

/// <summary>
/// One <c>__kernel</c> function of a <see cref="ClProgram"/> with its arguments. Arguments stay
/// set between launches, so a steady state sets only those that change. Setting an argument
/// allocates no managed memory.
/// </summary>
/// <remarks>
/// A buffer argument records the <c>cl_mem</c>, not a reference: the buffer must stay
/// undisposed until the launches that use it have completed.
/// </remarks>
public sealed unsafe class ClKernel : IDisposable
{
    private readonly ClKernelHandle _handle;

    internal ClKernel(ClKernelHandle handle, string name, nint device)
    {
        _handle = handle;
        Name = name;
        nuint size = 0, multiple = 0;
        ClException.Check(ClNative.clGetKernelWorkGroupInfo(handle.Value, device, ClNative.CL_KERNEL_WORK_GROUP_SIZE, (nuint)sizeof(nuint), &size, null),
            $"clGetKernelWorkGroupInfo(kernel '{name}', CL_KERNEL_WORK_GROUP_SIZE)");
        // Informational; a driver that does not report it (OpenCL 1.0) leaves it at 1.
        if (ClNative.clGetKernelWorkGroupInfo(handle.Value, device, ClNative.CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE, (nuint)sizeof(nuint), &multiple, null) != 0)
            multiple = 1;
        MaxWorkGroupSize = (long)size;
        PreferredWorkGroupSizeMultiple = (long)Math.Max(multiple, 1);
    }

    /// <summary>The kernel's function name.</summary>
    public string Name { get; }

    /// <summary>The most work-items per work-group this kernel allows on its device (<c>CL_KERNEL_WORK_GROUP_SIZE</c>): the device's limit or less, depending on its registers and local memory.</summary>
    public long MaxWorkGroupSize { get; }

    /// <summary>Work-group sizes should be a multiple of this (<c>CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE</c>): the warp or SIMD width.</summary>
    public long PreferredWorkGroupSizeMultiple { get; }

    /// <summary>The <c>cl_kernel</c>.</summary>
    /// <exception cref="ObjectDisposedException">The kernel was disposed.</exception>
    internal nint Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.Value;
        }
    }

    /// <summary>Sets a <c>__global</c> (or <c>__constant</c>) pointer argument; null passes a NULL pointer, which the kernel can test with <c>p == 0</c>.</summary>
    /// <exception cref="ClException">The kernel refused the argument; the message names the kernel and the index.</exception>
    public void SetArg(int index, ClBuffer? buffer)
    {
        nint mem = buffer is null ? 0 : buffer.Handle;
        // OpenCL allows either arg_value == NULL or a pointer to a NULL cl_mem for a NULL buffer.
        Set(index, (nuint)sizeof(nint), buffer is null ? null : &mem, "a buffer");
    }

    /// <summary>Sets an <c>int</c> argument.</summary>
    /// <exception cref="ClException">The kernel refused the argument; the message names the kernel and the index.</exception>
    public void SetArg(int index, int value) => Set(index, sizeof(int), &value, "an int");

    /// <summary>Sets a <c>long</c> argument (64-bit in OpenCL C).</summary>
    /// <exception cref="ClException">The kernel refused the argument; the message names the kernel and the index.</exception>
    public void SetArg(int index, long value) => Set(index, sizeof(long), &value, "a long");

    /// <summary>Sets a <c>float</c> argument.</summary>
    /// <exception cref="ClException">The kernel refused the argument; the message names the kernel and the index.</exception>
    public void SetArg(int index, float value) => Set(index, sizeof(float), &value, "a float");

    /// <summary>Sizes a <c>__local</c> pointer argument: <paramref name="bytes"/> bytes of local memory per work-group.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The size is not positive.</exception>
    /// <exception cref="ClException">The kernel refused the argument; the message names the kernel and the index.</exception>
    public void SetLocal(int index, long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        Set(index, (nuint)bytes, null, "a __local size");
    }

    /// <summary>Releases the kernel. Safe to call twice.</summary>
    public void Dispose() => _handle.Dispose();

    private void Set(int index, nuint size, void* value, string what)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        int code = ClNative.clSetKernelArg(Handle, (uint)index, size, value);
        if (code != 0) throw ArgumentFailure(code, index, size, what);
    }

    private ClException ArgumentFailure(int code, int index, nuint size, string what) =>
        ClException.Failure(code, $"clSetKernelArg(kernel '{Name}', argument {index})", $"The value was {what} ({size} bytes)");
}
