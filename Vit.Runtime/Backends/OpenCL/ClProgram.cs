namespace Vit.Backends.OpenCL;

/// <summary>
/// OpenCL C code built for one device by <see cref="ClContext.BuildProgram"/>; its
/// <c>__kernel</c> functions become <see cref="ClKernel"/>s. Kernels keep the program alive, so
/// disposing it after creating them is fine.
/// </summary>
public sealed unsafe class ClProgram : IDisposable
{
    private readonly ClProgramHandle _handle;
    private readonly nint _device;

    internal ClProgram(ClProgramHandle handle, nint device, string options, string buildLog)
    {
        _handle = handle;
        _device = device;
        Options = options;
        BuildLog = buildLog;
    }

    /// <summary>The build options the program was compiled with.</summary>
    public string Options { get; }

    /// <summary>The compiler's log for the successful build: warnings, or empty.</summary>
    public string BuildLog { get; }

    /// <summary>The <c>__kernel</c> function <paramref name="name"/>, ready for its arguments.</summary>
    /// <exception cref="ClException">The program has no such kernel; the message names it and lists the kernels there are.</exception>
    public ClKernel CreateKernel(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        byte[] nameBytes = System.Text.Encoding.UTF8.GetBytes(name + "\0");
        int code;
        ClKernelHandle kernel;
        fixed (byte* n = nameBytes) kernel = new ClKernelHandle(ClNative.clCreateKernel(_handle.Value, n, &code));
        if (code != 0)
        {
            kernel.Dispose();
            string kernels = KernelNames();
            throw ClException.Failure(code, $"clCreateKernel(\"{name}\")",
                $"The program's kernels are: {(kernels.Length == 0 ? "(none)" : kernels.Replace(";", ", ", StringComparison.Ordinal))}");
        }
        return new ClKernel(kernel, name, _device);
    }

    /// <summary>Releases the program (kernels created from it keep working).</summary>
    public void Dispose() => _handle.Dispose();

    /// <summary>The kernel names, separated by ';' (<c>CL_PROGRAM_KERNEL_NAMES</c>, OpenCL 1.2); empty when the query fails.</summary>
    private string KernelNames()
    {
        nuint size;
        if (ClNative.clGetProgramInfo(_handle.Value, ClNative.CL_PROGRAM_KERNEL_NAMES, 0, null, &size) != 0 || size == 0) return "";
        var bytes = new byte[size];
        fixed (byte* b = bytes)
            if (ClNative.clGetProgramInfo(_handle.Value, ClNative.CL_PROGRAM_KERNEL_NAMES, size, b, null) != 0) return "";
        return ClDevices.DecodeString(bytes);
    }
}
