namespace Vit.Backends.OpenCL;

/// <summary>
/// One device's OpenCL context and its one in-order command queue: buffers are created, filled,
/// copied and read here, programs are built here, and kernels are launched here in the order
/// they are enqueued. Not thread-safe: one model call at a time.
/// </summary>
/// <remarks>
/// Errors of an asynchronous command (a kernel that reads out of bounds, an allocation the
/// driver deferred) may surface at a later call, typically <see cref="Finish"/> or a blocking
/// <see cref="Read"/>. Buffers, programs and kernels created here stay valid after the
/// context is disposed until they are disposed themselves (OpenCL reference-counts them).
/// </remarks>
public sealed unsafe class ClContext : IDisposable
{
    private readonly ClContextHandle _context;
    private readonly ClQueueHandle _queue;

    private ClContext(ClDeviceInfo device, ClContextHandle context, ClQueueHandle queue)
    {
        Device = device;
        _context = context;
        _queue = queue;
    }

    /// <summary>The device the context runs on.</summary>
    public ClDeviceInfo Device { get; }

    /// <summary>Creates a context and an in-order command queue for <paramref name="device"/>.</summary>
    /// <exception cref="ClException">The driver refused (the message names the device).</exception>
    public static ClContext Create(ClDeviceInfo device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (device.DeviceHandle == 0)
            throw new ArgumentException($"The device {device.Id} ({device.Name}) was not found by ClDevices.List; pass one of its results.", nameof(device));
        nint* properties = stackalloc nint[] { ClNative.CL_CONTEXT_PLATFORM, device.PlatformHandle, 0 };
        nint deviceHandle = device.DeviceHandle;
        int code;
        var context = new ClContextHandle(ClNative.clCreateContext(properties, 1, &deviceHandle, 0, 0, &code));
        if (code != 0)
        {
            context.Dispose();
            throw ClException.Failure(code, "clCreateContext", $"Device {device.Describe()}");
        }
        var queue = new ClQueueHandle(ClNative.clCreateCommandQueue(context.Value, deviceHandle, 0, &code));
        if (code != 0)
        {
            queue.Dispose();
            context.Dispose();
            throw ClException.Failure(code, "clCreateCommandQueue", $"Device {device.Describe()}");
        }
        return new ClContext(device, context, queue);
    }

    /// <summary>
    /// A read-write device buffer of <paramref name="bytes"/> bytes, contents undefined. A size of
    /// 0 is allowed (OpenCL is not: at least 4 bytes are allocated), so empty tensors need no case.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The size is negative.</exception>
    /// <exception cref="ClException">The device could not allocate it; the message gives the size and the device's limits.</exception>
    public ClBuffer CreateBuffer(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        long allocate = Math.Max(bytes, sizeof(float));
        int code;
        var handle = new ClMemHandle(ClNative.clCreateBuffer(Context, ClNative.CL_MEM_READ_WRITE, (nuint)allocate, null, &code));
        if (code != 0)
        {
            handle.Dispose();
            throw ClException.Failure(code, "clCreateBuffer",
                $"Asked for {bytes} bytes ({bytes / (1024.0 * 1024.0):F1} MiB) on {Device.Name}; its largest single allocation is " +
                $"{Device.MaxAllocationBytes / (1024.0 * 1024.0):F1} MiB and its memory {Device.GlobalMemoryBytes / (1024.0 * 1024.0):F1} MiB");
        }
        return new ClBuffer(handle, bytes);
    }

    /// <summary>
    /// Copies <paramref name="bytes"/> bytes from host memory at <paramref name="source"/> into
    /// <paramref name="buffer"/> at <paramref name="byteOffset"/>. When not
    /// <paramref name="blocking"/>, the source must stay valid and unchanged until <see cref="Finish"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is outside the buffer.</exception>
    public void Write(ClBuffer buffer, long byteOffset, void* source, long bytes, bool blocking = true)
    {
        CheckRange(buffer, byteOffset, bytes, nameof(byteOffset));
        if (bytes == 0) return;
        ArgumentNullException.ThrowIfNull(source);
        int code = ClNative.clEnqueueWriteBuffer(Queue, buffer.Handle, blocking ? ClNative.CL_TRUE : ClNative.CL_FALSE,
            (nuint)byteOffset, (nuint)bytes, source, 0, null, null);
        if (code != 0) throw ClException.Failure(code, "clEnqueueWriteBuffer", $"Writing {bytes} bytes at offset {byteOffset} of a {buffer.Bytes}-byte buffer");
    }

    /// <summary>
    /// Copies <paramref name="bytes"/> bytes of <paramref name="buffer"/> from
    /// <paramref name="byteOffset"/> to host memory at <paramref name="destination"/>, after every
    /// command queued before it. When not <paramref name="blocking"/>, the data is there only after <see cref="Finish"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is outside the buffer.</exception>
    public void Read(ClBuffer buffer, long byteOffset, void* destination, long bytes, bool blocking = true)
    {
        CheckRange(buffer, byteOffset, bytes, nameof(byteOffset));
        if (bytes == 0) return;
        ArgumentNullException.ThrowIfNull(destination);
        int code = ClNative.clEnqueueReadBuffer(Queue, buffer.Handle, blocking ? ClNative.CL_TRUE : ClNative.CL_FALSE,
            (nuint)byteOffset, (nuint)bytes, destination, 0, null, null);
        if (code != 0) throw ClException.Failure(code, "clEnqueueReadBuffer", $"Reading {bytes} bytes at offset {byteOffset} of a {buffer.Bytes}-byte buffer");
    }

    /// <summary>Sets <paramref name="bytes"/> / 4 floats of <paramref name="buffer"/>, from <paramref name="byteOffset"/>, to <paramref name="value"/>.</summary>
    /// <exception cref="ArgumentException">The offset or size is not a multiple of 4 bytes.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The range is outside the buffer.</exception>
    public void Fill(ClBuffer buffer, long byteOffset, long bytes, float value)
    {
        CheckRange(buffer, byteOffset, bytes, nameof(byteOffset));
        if (byteOffset % sizeof(float) != 0 || bytes % sizeof(float) != 0)
            throw new ArgumentException($"A float fill needs an offset and a size that are multiples of 4 bytes, found offset {byteOffset} and size {bytes}.", nameof(bytes));
        if (bytes == 0) return;
        int code = ClNative.clEnqueueFillBuffer(Queue, buffer.Handle, &value, sizeof(float), (nuint)byteOffset, (nuint)bytes, 0, null, null);
        if (code != 0) throw ClException.Failure(code, "clEnqueueFillBuffer", $"Filling {bytes} bytes at offset {byteOffset} of a {buffer.Bytes}-byte buffer");
    }

    /// <summary>
    /// Copies <paramref name="bytes"/> bytes from <paramref name="source"/> at
    /// <paramref name="sourceOffset"/> to <paramref name="destination"/> at
    /// <paramref name="destinationOffset"/>, on the device. Ranges within one buffer must not overlap.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A range is outside its buffer.</exception>
    public void Copy(ClBuffer source, long sourceOffset, ClBuffer destination, long destinationOffset, long bytes)
    {
        CheckRange(source, sourceOffset, bytes, nameof(sourceOffset));
        CheckRange(destination, destinationOffset, bytes, nameof(destinationOffset));
        if (bytes == 0) return;
        int code = ClNative.clEnqueueCopyBuffer(Queue, source.Handle, destination.Handle, (nuint)sourceOffset, (nuint)destinationOffset, (nuint)bytes, 0, null, null);
        if (code != 0)
            throw ClException.Failure(code, "clEnqueueCopyBuffer", $"Copying {bytes} bytes from offset {sourceOffset} of a {source.Bytes}-byte buffer to offset {destinationOffset} of a {destination.Bytes}-byte buffer");
    }

    /// <summary>Waits until every queued command has completed; errors of earlier asynchronous commands surface here.</summary>
    public void Finish() => ClException.Check(ClNative.clFinish(Queue), "clFinish");

    /// <summary>
    /// Compiles OpenCL C <paramref name="source"/> for this device with <paramref name="options"/>
    /// (for example <c>-cl-std=CL1.2 -D TOKENS=197</c>).
    /// </summary>
    /// <exception cref="ClBuildException">The source did not compile; the exception carries the device's build log.</exception>
    public ClProgram BuildProgram(string source, string options)
    {
        ArgumentNullException.ThrowIfNull(source);
        options ??= "";
        byte[] sourceBytes = System.Text.Encoding.UTF8.GetBytes(source);
        byte[] optionBytes = System.Text.Encoding.UTF8.GetBytes(options + "\0");
        int code;
        ClProgramHandle program;
        fixed (byte* s = sourceBytes)
        {
            byte* strings = s;
            nuint length = (nuint)sourceBytes.Length;
            program = new ClProgramHandle(ClNative.clCreateProgramWithSource(Context, 1, &strings, &length, &code));
        }
        if (code != 0)
        {
            program.Dispose();
            throw ClException.Failure(code, "clCreateProgramWithSource", $"Device {Device.Describe()}");
        }
        nint device = Device.DeviceHandle;
        fixed (byte* o = optionBytes) code = ClNative.clBuildProgram(program.Value, 1, &device, o, 0, 0);
        string log = BuildLog(program.Value, device);
        if (code != 0)
        {
            program.Dispose();
            throw new ClBuildException(code, Device.Describe(), options, log);
        }
        return new ClProgram(program, device, options, log);
    }

    /// <summary>
    /// Enqueues <paramref name="kernel"/> over <paramref name="global"/> work-items in work-groups
    /// of <paramref name="local"/> (1 to 3 dimensions, the same count for both; an empty
    /// <paramref name="local"/> lets the driver choose). Each global size must already be a
    /// multiple of its local size: the caller rounds up and the kernel guards the excess. A
    /// global size of 0 launches nothing. Allocates no managed memory.
    /// </summary>
    /// <exception cref="ArgumentException">The dimensions are not 1 to 3, differ, or a global size is not a multiple of its local size.</exception>
    /// <exception cref="ClException">The launch was refused; the message names the kernel and the sizes.</exception>
    public void Launch(ClKernel kernel, ReadOnlySpan<nuint> global, ReadOnlySpan<nuint> local)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        int dimensions = global.Length;
        if (dimensions is < 1 or > 3 || (local.Length != 0 && local.Length != dimensions))
            throw new ArgumentException($"Kernel '{kernel.Name}': expected 1 to 3 global sizes and as many local sizes (or none), found {global.Length} and {local.Length}.", nameof(global));
        nuint* globalSizes = stackalloc nuint[3];
        nuint* localSizes = stackalloc nuint[3];
        for (int i = 0; i < dimensions; i++)
        {
            if (global[i] == 0) return;
            globalSizes[i] = global[i];
            if (local.Length == 0) continue;
            if (local[i] == 0 || global[i] % local[i] != 0)
                throw new ArgumentException($"Kernel '{kernel.Name}': global size {global[i]} in dimension {i} is not a multiple of local size {local[i]}; round the global size up.", nameof(global));
            localSizes[i] = local[i];
        }
        int code = ClNative.clEnqueueNDRangeKernel(Queue, kernel.Handle, (uint)dimensions, null, globalSizes, local.Length == 0 ? null : localSizes, 0, null, null);
        if (code != 0) throw LaunchFailure(code, kernel, global, local);
    }

    /// <summary>A one-dimensional <see cref="Launch"/>: <paramref name="global"/> must be a multiple of <paramref name="local"/>.</summary>
    public void Launch1D(ClKernel kernel, long global, int local)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(global);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(local);
        nuint g = (nuint)global, l = (nuint)local;
        Launch(kernel, new ReadOnlySpan<nuint>(&g, 1), new ReadOnlySpan<nuint>(&l, 1));
    }

    /// <summary>A two-dimensional <see cref="Launch"/>: each global size must be a multiple of its local size.</summary>
    public void Launch2D(ClKernel kernel, long globalX, long globalY, int localX, int localY)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(globalX);
        ArgumentOutOfRangeException.ThrowIfNegative(globalY);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(localX);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(localY);
        nuint* g = stackalloc nuint[] { (nuint)globalX, (nuint)globalY };
        nuint* l = stackalloc nuint[] { (nuint)localX, (nuint)localY };
        Launch(kernel, new ReadOnlySpan<nuint>(g, 2), new ReadOnlySpan<nuint>(l, 2));
    }

    /// <summary>Releases the queue (letting queued work finish) and the context. Safe to call twice.</summary>
    public void Dispose()
    {
        _queue.Dispose();
        _context.Dispose();
    }

    private nint Context
    {
        get
        {
            ObjectDisposedException.ThrowIf(_context.IsClosed, this);
            return _context.Value;
        }
    }

    private nint Queue
    {
        get
        {
            ObjectDisposedException.ThrowIf(_queue.IsClosed, this);
            return _queue.Value;
        }
    }

    private static void CheckRange(ClBuffer buffer, long byteOffset, long bytes, string parameter)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (byteOffset < 0 || bytes < 0 || byteOffset > buffer.Bytes - bytes)
            throw new ArgumentOutOfRangeException(parameter, $"The range of {bytes} bytes at offset {byteOffset} is outside the {buffer.Bytes}-byte buffer.");
    }

    private ClException LaunchFailure(int code, ClKernel kernel, ReadOnlySpan<nuint> global, ReadOnlySpan<nuint> local)
    {
        string detail = $"Kernel '{kernel.Name}', global [{string.Join(", ", global.ToArray())}], local " +
            (local.Length == 0 ? "chosen by the driver" : $"[{string.Join(", ", local.ToArray())}]") +
            $"; the kernel allows {kernel.MaxWorkGroupSize} work-items per group on {Device.Name}";
        return ClException.Failure(code, "clEnqueueNDRangeKernel", detail);
    }

    /// <summary>The device's build log for a program (warnings after a successful build, errors after a failed one).</summary>
    private static string BuildLog(nint program, nint device)
    {
        nuint size;
        if (ClNative.clGetProgramBuildInfo(program, device, ClNative.CL_PROGRAM_BUILD_LOG, 0, null, &size) != 0 || size == 0) return "";
        var bytes = new byte[size];
        fixed (byte* b = bytes)
            if (ClNative.clGetProgramBuildInfo(program, device, ClNative.CL_PROGRAM_BUILD_LOG, size, b, null) != 0) return "";
        return ClDevices.DecodeString(bytes);
    }
}
