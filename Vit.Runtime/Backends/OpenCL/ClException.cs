namespace Vit.Backends.OpenCL;

/// <summary>
/// An OpenCL call returned an error code. The message names the call, the code's name
/// (<c>CL_INVALID_KERNEL_ARGS</c>) and, for the common codes, what usually causes it.
/// </summary>
public class ClException : Exception
{
    /// <summary>Creates the exception with a complete message and the OpenCL error code it reports.</summary>
    /// <param name="message">The whole message; <see cref="Check"/> composes it from the call and the code.</param>
    /// <param name="errorCode">The negative <c>cl_int</c> the call returned.</param>
    public ClException(string message, int errorCode) : base(message) => ErrorCode = errorCode;

    /// <summary>The <c>cl_int</c> error code, for example -5 for <c>CL_OUT_OF_RESOURCES</c>.</summary>
    public int ErrorCode { get; }

    /// <summary>
    /// The name of an OpenCL error code as in <c>CL/cl.h</c>: -5 → <c>CL_OUT_OF_RESOURCES</c>.
    /// A code the headers do not define gives <c>CL error -1234</c>.
    /// </summary>
    public static string ErrorName(int code) => code switch
    {
        0 => "CL_SUCCESS",
        -1 => "CL_DEVICE_NOT_FOUND",
        -2 => "CL_DEVICE_NOT_AVAILABLE",
        -3 => "CL_COMPILER_NOT_AVAILABLE",
        -4 => "CL_MEM_OBJECT_ALLOCATION_FAILURE",
        -5 => "CL_OUT_OF_RESOURCES",
        -6 => "CL_OUT_OF_HOST_MEMORY",
        -7 => "CL_PROFILING_INFO_NOT_AVAILABLE",
        -8 => "CL_MEM_COPY_OVERLAP",
        -9 => "CL_IMAGE_FORMAT_MISMATCH",
        -10 => "CL_IMAGE_FORMAT_NOT_SUPPORTED",
        -11 => "CL_BUILD_PROGRAM_FAILURE",
        -12 => "CL_MAP_FAILURE",
        -13 => "CL_MISALIGNED_SUB_BUFFER_OFFSET",
        -14 => "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST",
        -15 => "CL_COMPILE_PROGRAM_FAILURE",
        -16 => "CL_LINKER_NOT_AVAILABLE",
        -17 => "CL_LINK_PROGRAM_FAILURE",
        -18 => "CL_DEVICE_PARTITION_FAILED",
        -19 => "CL_KERNEL_ARG_INFO_NOT_AVAILABLE",
        -30 => "CL_INVALID_VALUE",
        -31 => "CL_INVALID_DEVICE_TYPE",
        -32 => "CL_INVALID_PLATFORM",
        -33 => "CL_INVALID_DEVICE",
        -34 => "CL_INVALID_CONTEXT",
        -35 => "CL_INVALID_QUEUE_PROPERTIES",
        -36 => "CL_INVALID_COMMAND_QUEUE",
        -37 => "CL_INVALID_HOST_PTR",
        -38 => "CL_INVALID_MEM_OBJECT",
        -39 => "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR",
        -40 => "CL_INVALID_IMAGE_SIZE",
        -41 => "CL_INVALID_SAMPLER",
        -42 => "CL_INVALID_BINARY",
        -43 => "CL_INVALID_BUILD_OPTIONS",
        -44 => "CL_INVALID_PROGRAM",
        -45 => "CL_INVALID_PROGRAM_EXECUTABLE",
        -46 => "CL_INVALID_KERNEL_NAME",
        -47 => "CL_INVALID_KERNEL_DEFINITION",
        -48 => "CL_INVALID_KERNEL",
        -49 => "CL_INVALID_ARG_INDEX",
        -50 => "CL_INVALID_ARG_VALUE",
        -51 => "CL_INVALID_ARG_SIZE",
        -52 => "CL_INVALID_KERNEL_ARGS",
        -53 => "CL_INVALID_WORK_DIMENSION",
        -54 => "CL_INVALID_WORK_GROUP_SIZE",
        -55 => "CL_INVALID_WORK_ITEM_SIZE",
        -56 => "CL_INVALID_GLOBAL_OFFSET",
        -57 => "CL_INVALID_EVENT_WAIT_LIST",
        -58 => "CL_INVALID_EVENT",
        -59 => "CL_INVALID_OPERATION",
        -60 => "CL_INVALID_GL_OBJECT",
        -61 => "CL_INVALID_BUFFER_SIZE",
        -62 => "CL_INVALID_MIP_LEVEL",
        -63 => "CL_INVALID_GLOBAL_WORK_SIZE",
        -64 => "CL_INVALID_PROPERTY",
        -65 => "CL_INVALID_IMAGE_DESCRIPTOR",
        -66 => "CL_INVALID_COMPILER_OPTIONS",
        -67 => "CL_INVALID_LINKER_OPTIONS",
        -68 => "CL_INVALID_DEVICE_PARTITION_COUNT",
        -69 => "CL_INVALID_PIPE_SIZE",
        -70 => "CL_INVALID_DEVICE_QUEUE",
        -71 => "CL_INVALID_SPEC_ID",
        -72 => "CL_MAX_SIZE_RESTRICTION_EXCEEDED",
        -1000 => "CL_INVALID_GL_SHAREGROUP_REFERENCE_KHR",
        -1001 => "CL_PLATFORM_NOT_FOUND_KHR",
        _ => $"CL error {code}",
    };

    /// <summary>What usually causes an error code, or null when there is nothing useful to add to its name.</summary>
    internal static string? Hint(int code) => code switch
    {
        -1 => "no device of the requested type on this platform",
        -2 => "the device is in use or switched off",
        -3 => "this platform has no OpenCL C compiler",
        -4 => "the device could not allocate the memory (device memory is full; many drivers allocate on first use, so this can appear at a later write or launch)",
        -5 => "the device ran out of resources; on NVIDIA this is usually an out-of-bounds access in a kernel that ran earlier, or a work-group that needs more registers or local memory than the device has",
        -6 => "the host ran out of memory",
        -8 => "the source and destination ranges of a copy within one buffer overlap",
        -11 => "the OpenCL C source did not compile; see the build log",
        -30 => "an argument is out of range (a size of 0, an offset plus size beyond the buffer, a null pointer)",
        -34 => "the objects belong to different contexts",
        -36 => "the command queue is not valid (released, or its context is gone)",
        -38 => "a buffer is not valid (disposed, or created in another context)",
        -43 => "the compiler rejected the build options",
        -44 => "the program object is not valid",
        -45 => "the program has not been built successfully for this device",
        -46 => "the program has no __kernel function with this name",
        -48 => "the kernel object is not valid",
        -49 => "the kernel has fewer arguments than this index",
        -50 => "the value does not suit the argument's declaration (a buffer passed for a __local argument, a __local size of 0, a released buffer)",
        -51 => "the size does not match the argument's type (int is 4 bytes, long 8, float 4, a buffer the size of a pointer)",
        -52 => "some kernel arguments were never set",
        -53 => "the number of dimensions must be 1, 2 or 3",
        -54 => "the global size is not a multiple of the local size, or the local size exceeds the kernel's maximum work-group size",
        -55 => "a local size exceeds the device's maximum for that dimension",
        -59 => "the operation is not allowed on this object or device",
        -61 => "the buffer size is 0 or larger than the device's maximum single allocation",
        -63 => "a global size is 0 or larger than the device can address",
        -1001 => "the ICD loader found no OpenCL platform: no vendor driver is registered in /etc/OpenCL/vendors",
        -9999 => "NVIDIA driver: an illegal memory access in a kernel (an out-of-bounds read or write)",
        _ => null,
    };

    /// <summary>
    /// Throws when <paramref name="code"/> is not <c>CL_SUCCESS</c>, with the message
    /// "<paramref name="call"/> failed: CL_INVALID_VALUE (-30): " and the hint for the code.
    /// </summary>
    /// <exception cref="ClException">The code is not 0.</exception>
    internal static void Check(int code, string call)
    {
        if (code != 0) throw Failure(code, call);
    }

    /// <summary>The exception <see cref="Check"/> throws, for callers that add context before throwing.</summary>
    internal static ClException Failure(int code, string call, string? detail = null) => new(Describe(code, call, detail), code);

    /// <summary>"<c>{call} failed: NAME (code): hint. detail</c>"; the code is not repeated when it has no name.</summary>
    internal static string Describe(int code, string call, string? detail = null)
    {
        string name = ErrorName(code);
        string text = name.StartsWith("CL error", StringComparison.Ordinal) ? $"{call} failed: {name}" : $"{call} failed: {name} ({code})";
        if (Hint(code) is { } hint) text += ": " + hint;
        if (!string.IsNullOrEmpty(detail)) text += ". " + detail;
        return text;
    }
}

/// <summary>
/// An OpenCL C program did not build. <see cref="Exception.Message"/> holds the device, the
/// build options and the whole build log; <see cref="BuildLog"/> holds the log alone.
/// </summary>
public sealed class ClBuildException : ClException
{
    /// <summary>Creates the exception from the compiler's output.</summary>
    /// <param name="errorCode">What <c>clBuildProgram</c> returned, usually <c>CL_BUILD_PROGRAM_FAILURE</c> (-11).</param>
    /// <param name="device">The device the program was built for.</param>
    /// <param name="options">The build options passed to the compiler.</param>
    /// <param name="buildLog">The device's build log (may be empty).</param>
    public ClBuildException(int errorCode, string device, string options, string buildLog)
        : base(Compose(errorCode, device, options, buildLog), errorCode)
    {
        Options = options;
        BuildLog = buildLog;
    }

    /// <summary>The compiler's build log for the device: errors and warnings with line numbers.</summary>
    public string BuildLog { get; }

    /// <summary>The build options the program was compiled with.</summary>
    public string Options { get; }

    private static string Compose(int errorCode, string device, string options, string buildLog)
    {
        string head = Describe(errorCode, "clBuildProgram", $"Device: {device}. Options: \"{options}\"");
        string log = string.IsNullOrWhiteSpace(buildLog) ? "(the build log is empty)" : buildLog.TrimEnd();
        return $"{head}.{Environment.NewLine}Build log:{Environment.NewLine}{log}";
    }
}

/// <summary>
/// OpenCL cannot be used on this machine: the ICD loader <c>libOpenCL.so.1</c> is missing, or it
/// loads but finds no platform (no vendor driver). The message says how to install one.
/// </summary>
public sealed class ClUnavailableException : Exception
{
    /// <summary>How to get an OpenCL platform, for messages: PoCL on the CPU, or the GPU vendor's driver.</summary>
    public const string InstallHint =
        "Install an OpenCL platform: on Debian/Ubuntu 'sudo apt-get install pocl-opencl-icd ocl-icd-libopencl1' (runs on the CPU), " +
        "or the GPU vendor's driver (NVIDIA: the driver package with its OpenCL ICD; AMD: ROCm; Intel: intel-opencl-icd)";

    /// <summary>Creates the exception; <paramref name="message"/> should end with <see cref="InstallHint"/>.</summary>
    public ClUnavailableException(string message) : base(message) { }

    /// <summary>Creates the exception around the failure that showed OpenCL is missing (typically <see cref="DllNotFoundException"/>).</summary>
    public ClUnavailableException(string message, Exception innerException) : base(message, innerException) { }
}
