using System.Runtime.InteropServices;

namespace Vit.Backends.OpenCL;

/// <summary>
/// The OpenCL 1.2 entry points the backend calls, bound to the ICD loader <c>libOpenCL.so.1</c>
/// with source-generated P/Invoke. Every signature is blittable (no marshalling code at run
/// time, so NativeAOT needs nothing extra): <c>cl_int</c> is <see cref="int"/>, <c>cl_uint</c>
/// and <c>cl_bool</c> are <see cref="uint"/>, <c>cl_bitfield</c> and <c>cl_ulong</c> are
/// <see cref="ulong"/>, <c>size_t</c> is <see cref="nuint"/>, and every object (platform, device,
/// context, queue, memory object, program, kernel, event) is an opaque <see cref="nint"/>.
/// </summary>
/// <remarks>
/// The loader is opened on the first call; when it is missing the call throws
/// <see cref="DllNotFoundException"/>, which <see cref="ClDevices.List"/> turns into
/// <see cref="ClUnavailableException"/>. Names keep their C spelling so they can be looked up
/// in the Khronos reference pages.
/// </remarks>
internal static unsafe partial class ClNative
{
    /// <summary>The ICD loader's soname (Debian/Ubuntu package <c>ocl-icd-libopencl1</c>).</summary>
    public const string Library = "libOpenCL.so.1";

    // cl_device_type bits.
    public const ulong CL_DEVICE_TYPE_CPU = 1UL << 1;
    public const ulong CL_DEVICE_TYPE_GPU = 1UL << 2;
    public const ulong CL_DEVICE_TYPE_ACCELERATOR = 1UL << 3;
    public const ulong CL_DEVICE_TYPE_ALL = 0xFFFFFFFF;

    // cl_platform_info.
    public const uint CL_PLATFORM_VERSION = 0x0901;
    public const uint CL_PLATFORM_NAME = 0x0902;

    // cl_device_info.
    public const uint CL_DEVICE_TYPE = 0x1000;
    public const uint CL_DEVICE_MAX_COMPUTE_UNITS = 0x1002;
    public const uint CL_DEVICE_MAX_WORK_GROUP_SIZE = 0x1004;
    public const uint CL_DEVICE_MAX_MEM_ALLOC_SIZE = 0x1010;
    public const uint CL_DEVICE_GLOBAL_MEM_SIZE = 0x101F;
    public const uint CL_DEVICE_LOCAL_MEM_SIZE = 0x1023;
    public const uint CL_DEVICE_AVAILABLE = 0x1027;
    public const uint CL_DEVICE_NAME = 0x102B;
    public const uint CL_DEVICE_VENDOR = 0x102C;
    public const uint CL_DRIVER_VERSION = 0x102D;
    public const uint CL_DEVICE_VERSION = 0x102F;

    // cl_context_properties.
    public const nint CL_CONTEXT_PLATFORM = 0x1084;

    // cl_mem_flags.
    public const ulong CL_MEM_READ_WRITE = 1UL << 0;

    // cl_program_info and cl_program_build_info.
    public const uint CL_PROGRAM_KERNEL_NAMES = 0x1168;
    public const uint CL_PROGRAM_BUILD_LOG = 0x1183;

    // cl_kernel_work_group_info.
    public const uint CL_KERNEL_WORK_GROUP_SIZE = 0x11B0;
    public const uint CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE = 0x11B3;

    // cl_bool.
    public const uint CL_FALSE = 0;
    public const uint CL_TRUE = 1;

    // Platforms and devices.

    [LibraryImport(Library)]
    public static partial int clGetPlatformIDs(uint numEntries, nint* platforms, uint* numPlatforms);

    [LibraryImport(Library)]
    public static partial int clGetPlatformInfo(nint platform, uint paramName, nuint paramValueSize, void* paramValue, nuint* paramValueSizeRet);

    [LibraryImport(Library)]
    public static partial int clGetDeviceIDs(nint platform, ulong deviceType, uint numEntries, nint* devices, uint* numDevices);

    [LibraryImport(Library)]
    public static partial int clGetDeviceInfo(nint device, uint paramName, nuint paramValueSize, void* paramValue, nuint* paramValueSizeRet);

    // Contexts and queues.

    [LibraryImport(Library)]
    public static partial nint clCreateContext(nint* properties, uint numDevices, nint* devices, nint notify, nint userData, int* errcodeRet);

    [LibraryImport(Library)]
    public static partial int clReleaseContext(nint context);

    [LibraryImport(Library)]
    public static partial nint clCreateCommandQueue(nint context, nint device, ulong properties, int* errcodeRet);

    [LibraryImport(Library)]
    public static partial int clReleaseCommandQueue(nint queue);

    [LibraryImport(Library)]
    public static partial int clFinish(nint queue);

    // Memory objects.

    [LibraryImport(Library)]
    public static partial nint clCreateBuffer(nint context, ulong flags, nuint size, void* hostPtr, int* errcodeRet);

    [LibraryImport(Library)]
    public static partial int clReleaseMemObject(nint memObject);

    [LibraryImport(Library)]
    public static partial int clEnqueueWriteBuffer(nint queue, nint buffer, uint blockingWrite, nuint offset, nuint size, void* ptr,
        uint numEventsInWaitList, nint* eventWaitList, nint* evt);

    [LibraryImport(Library)]
    public static partial int clEnqueueReadBuffer(nint queue, nint buffer, uint blockingRead, nuint offset, nuint size, void* ptr,
        uint numEventsInWaitList, nint* eventWaitList, nint* evt);

    [LibraryImport(Library)]
    public static partial int clEnqueueFillBuffer(nint queue, nint buffer, void* pattern, nuint patternSize, nuint offset, nuint size,
        uint numEventsInWaitList, nint* eventWaitList, nint* evt);

    [LibraryImport(Library)]
    public static partial int clEnqueueCopyBuffer(nint queue, nint sourceBuffer, nint destinationBuffer, nuint sourceOffset, nuint destinationOffset,
        nuint size, uint numEventsInWaitList, nint* eventWaitList, nint* evt);

    // Programs and kernels.

    [LibraryImport(Library)]
    public static partial nint clCreateProgramWithSource(nint context, uint count, byte** strings, nuint* lengths, int* errcodeRet);

    [LibraryImport(Library)]
    public static partial int clBuildProgram(nint program, uint numDevices, nint* deviceList, byte* options, nint notify, nint userData);

    [LibraryImport(Library)]
    public static partial int clGetProgramInfo(nint program, uint paramName, nuint paramValueSize, void* paramValue, nuint* paramValueSizeRet);

    [LibraryImport(Library)]
    public static partial int clGetProgramBuildInfo(nint program, nint device, uint paramName, nuint paramValueSize, void* paramValue, nuint* paramValueSizeRet);

    [LibraryImport(Library)]
    public static partial int clReleaseProgram(nint program);

    [LibraryImport(Library)]
    public static partial nint clCreateKernel(nint program, byte* kernelName, int* errcodeRet);

    [LibraryImport(Library)]
    public static partial int clReleaseKernel(nint kernel);

    [LibraryImport(Library)]
    public static partial int clSetKernelArg(nint kernel, uint argIndex, nuint argSize, void* argValue);

    [LibraryImport(Library)]
    public static partial int clGetKernelWorkGroupInfo(nint kernel, nint device, uint paramName, nuint paramValueSize, void* paramValue, nuint* paramValueSizeRet);

    [LibraryImport(Library)]
    public static partial int clEnqueueNDRangeKernel(nint queue, nint kernel, uint workDim, nuint* globalWorkOffset, nuint* globalWorkSize,
        nuint* localWorkSize, uint numEventsInWaitList, nint* eventWaitList, nint* evt);
}
