using System.Text;

namespace Vit.Backends.OpenCL;

/// <summary>What kind of processor an OpenCL device is (from <c>CL_DEVICE_TYPE</c>).</summary>
public enum ClDeviceType
{
    /// <summary>The host CPU (PoCL, Intel's CPU runtime).</summary>
    Cpu,

    /// <summary>A graphics processor.</summary>
    Gpu,

    /// <summary>A dedicated accelerator (FPGA, DSP, …).</summary>
    Accelerator,

    /// <summary>Any other type, for example a custom device.</summary>
    Other,
}

/// <summary>
/// One OpenCL device as <see cref="ClDevices.List"/> found it: where it is (platform and device
/// index), what it is, and the limits kernels must respect.
/// </summary>
/// <param name="PlatformIndex">Index of the platform in <c>clGetPlatformIDs</c> order.</param>
/// <param name="DeviceIndex">Index of the device within its platform.</param>
/// <param name="PlatformName">The platform's name, for example "Portable Computing Language" or "NVIDIA CUDA".</param>
/// <param name="PlatformVersion">The platform's version string, "OpenCL 3.0 …".</param>
/// <param name="Name">The device's name.</param>
/// <param name="Vendor">The device's vendor.</param>
/// <param name="Type">CPU, GPU, accelerator or other.</param>
/// <param name="Version">The OpenCL version the device supports, "OpenCL 3.0 …".</param>
/// <param name="DriverVersion">The driver's version string.</param>
/// <param name="ComputeUnits">Compute units (CPU cores, GPU streaming multiprocessors).</param>
/// <param name="GlobalMemoryBytes">Device memory in bytes.</param>
/// <param name="LocalMemoryBytes">Local (shared) memory per work-group in bytes.</param>
/// <param name="MaxAllocationBytes">The largest single buffer the device allows, in bytes.</param>
/// <param name="MaxWorkGroupSize">The most work-items in one work-group (a kernel may allow fewer, see <see cref="ClKernel.MaxWorkGroupSize"/>).</param>
/// <param name="Available">Whether the device can be used now.</param>
public sealed record ClDeviceInfo(int PlatformIndex, int DeviceIndex, string PlatformName, string PlatformVersion,
    string Name, string Vendor, ClDeviceType Type, string Version, string DriverVersion, int ComputeUnits,
    long GlobalMemoryBytes, long LocalMemoryBytes, long MaxAllocationBytes, int MaxWorkGroupSize, bool Available)
{
    /// <summary>"<c>platform:device</c>", for example "0:1": what <c>--device</c> and <see cref="ClDevices.Select(string?)"/> accept besides a name.</summary>
    public string Id => $"{PlatformIndex}:{DeviceIndex}";

    /// <summary>The <c>cl_platform_id</c>.</summary>
    internal nint PlatformHandle { get; init; }

    /// <summary>The <c>cl_device_id</c> (root devices are not reference counted: nothing to release).</summary>
    internal nint DeviceHandle { get; init; }

    /// <summary>"<c>0:0 NAME (GPU, PLATFORM)</c>": one line for lists in messages.</summary>
    public string Describe() => $"{Id} {Name} ({TypeName(Type)}, {PlatformName}){(Available ? "" : " [not available]")}";

    /// <summary>"CPU", "GPU", "accelerator" or "other".</summary>
    public static string TypeName(ClDeviceType type) => type switch
    {
        ClDeviceType.Cpu => "CPU",
        ClDeviceType.Gpu => "GPU",
        ClDeviceType.Accelerator => "accelerator",
        _ => "other",
    };
}

/// <summary>
/// Finds OpenCL devices and picks the one to run on: by <c>--device</c>, by the
/// <c>VIT_OPENCL_DEVICE</c> environment variable, or the first GPU.
/// </summary>
public static unsafe class ClDevices
{
    /// <summary>The environment variable <see cref="Select(string?)"/> reads when no device is named: an Id ("0:1") or part of a name.</summary>
    public const string EnvironmentVariable = "VIT_OPENCL_DEVICE";

    /// <summary>
    /// Every device of every platform, in platform then device order. Empty when the ICD loader
    /// is installed but no platform is registered (<c>CL_PLATFORM_NOT_FOUND_KHR</c>).
    /// </summary>
    /// <exception cref="ClUnavailableException"><c>libOpenCL.so.1</c> cannot be loaded.</exception>
    /// <exception cref="ClException">A platform or device query failed.</exception>
    public static IReadOnlyList<ClDeviceInfo> List()
    {
        try
        {
            return Enumerate();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // The runtime's message lists every path it probed, over many lines: kept as the inner exception only.
            throw new ClUnavailableException(
                $"OpenCL is not available: the ICD loader {ClNative.Library} could not be loaded. {ClUnavailableException.InstallHint}.", e);
        }
    }

    /// <summary>
    /// The device to run on. With <paramref name="name"/> null: the device named by
    /// <c>VIT_OPENCL_DEVICE</c> when it is set, else the first available GPU, else the first
    /// available device. Otherwise <paramref name="name"/> is an Id ("0:1"), or a
    /// case-insensitive part of a device name (failing that, of a platform name, then of a
    /// platform version or device vendor, so "pocl" works); the first available match wins.
    /// </summary>
    /// <exception cref="ClUnavailableException">No OpenCL loader, or no platform.</exception>
    /// <exception cref="ArgumentException">No device matches; the message lists every device found.</exception>
    public static ClDeviceInfo Select(string? name) => Select(name, Environment.GetEnvironmentVariable(EnvironmentVariable));

    /// <summary><see cref="Select(string?)"/> with the environment variable's value passed in (tests set it without touching the process environment).</summary>
    internal static ClDeviceInfo Select(string? name, string? fromEnvironment)
    {
        var devices = List();
        if (devices.Count == 0)
            throw new ClUnavailableException($"No OpenCL platform found. {ClUnavailableException.InstallHint}.");
        string source = "";
        if (string.IsNullOrWhiteSpace(name))
        {
            if (string.IsNullOrWhiteSpace(fromEnvironment))
            {
                return devices.FirstOrDefault(d => d.Available && d.Type == ClDeviceType.Gpu)
                    ?? devices.FirstOrDefault(d => d.Available)
                    ?? throw new ArgumentException($"No OpenCL device is available. Devices found:{Listing(devices)}");
            }
            name = fromEnvironment;
            source = EnvironmentVariable + " ";
        }
        name = name.Trim();
        var matches = Match(devices, name);
        if (matches.Count == 0)
        {
            throw new ArgumentException(
                $"No OpenCL device matches {source}'{name}' (expected an Id such as 0:0 or part of a device or platform name). Devices found:{Listing(devices)}");
        }
        return matches.FirstOrDefault(d => d.Available)
            ?? throw new ArgumentException($"The OpenCL device matching {source}'{name}' is not available: {matches[0].Describe()}. Devices found:{Listing(devices)}");
    }

    /// <summary>
    /// The devices <paramref name="name"/> designates: an exact Id, else an exact device name, else
    /// part of a device name, else part of a platform name, else part of a platform version or vendor.
    /// </summary>
    private static List<ClDeviceInfo> Match(IReadOnlyList<ClDeviceInfo> devices, string name)
    {
        var byId = devices.Where(d => d.Id == name).ToList();
        if (byId.Count > 0) return byId;
        var exact = devices.Where(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase)).ToList();
        if (exact.Count > 0) return exact;
        var inName = devices.Where(d => d.Name.Contains(name, StringComparison.OrdinalIgnoreCase)).ToList();
        if (inName.Count > 0) return inName;
        var inPlatform = devices.Where(d => d.PlatformName.Contains(name, StringComparison.OrdinalIgnoreCase)).ToList();
        if (inPlatform.Count > 0) return inPlatform;
        // Last resort, so that "pocl" finds "Portable Computing Language" (its version says "PoCL") and "amd" an AMD CPU.
        return devices.Where(d => d.PlatformVersion.Contains(name, StringComparison.OrdinalIgnoreCase)
            || d.Vendor.Contains(name, StringComparison.OrdinalIgnoreCase)).ToList();
    }

    /// <summary>One indented line per device, each starting on a new line.</summary>
    private static string Listing(IReadOnlyList<ClDeviceInfo> devices)
    {
        var text = new StringBuilder();
        foreach (var d in devices) text.Append(Environment.NewLine).Append("  ").Append(d.Describe());
        return text.ToString();
    }

    private static List<ClDeviceInfo> Enumerate()
    {
        var result = new List<ClDeviceInfo>();
        uint platformCount;
        int code = ClNative.clGetPlatformIDs(0, null, &platformCount);
        // The Khronos and ocl-icd loaders say CL_PLATFORM_NOT_FOUND_KHR when no ICD is registered; some return 0 platforms.
        if (code == -1001 || (code == 0 && platformCount == 0)) return result;
        ClException.Check(code, "clGetPlatformIDs");
        var platforms = new nint[platformCount];
        fixed (nint* p = platforms) ClException.Check(ClNative.clGetPlatformIDs(platformCount, p, &platformCount), "clGetPlatformIDs");
        for (int pi = 0; pi < (int)platformCount; pi++)
        {
            nint platform = platforms[pi];
            string platformName = PlatformString(platform, ClNative.CL_PLATFORM_NAME);
            string platformVersion = PlatformString(platform, ClNative.CL_PLATFORM_VERSION);
            uint deviceCount;
            code = ClNative.clGetDeviceIDs(platform, ClNative.CL_DEVICE_TYPE_ALL, 0, null, &deviceCount);
            if (code == -1 || (code == 0 && deviceCount == 0)) continue; // CL_DEVICE_NOT_FOUND: a platform without devices
            ClException.Check(code, $"clGetDeviceIDs (platform {pi}, {platformName})");
            var devices = new nint[deviceCount];
            fixed (nint* d = devices)
                ClException.Check(ClNative.clGetDeviceIDs(platform, ClNative.CL_DEVICE_TYPE_ALL, deviceCount, d, &deviceCount), $"clGetDeviceIDs (platform {pi}, {platformName})");
            for (int di = 0; di < (int)deviceCount; di++)
            {
                nint device = devices[di];
                result.Add(new ClDeviceInfo(pi, di, platformName, platformVersion,
                    DeviceString(device, ClNative.CL_DEVICE_NAME),
                    DeviceString(device, ClNative.CL_DEVICE_VENDOR),
                    TypeOf(DeviceValue<ulong>(device, ClNative.CL_DEVICE_TYPE)),
                    DeviceString(device, ClNative.CL_DEVICE_VERSION),
                    DeviceString(device, ClNative.CL_DRIVER_VERSION),
                    (int)DeviceValue<uint>(device, ClNative.CL_DEVICE_MAX_COMPUTE_UNITS),
                    Clamp(DeviceValue<ulong>(device, ClNative.CL_DEVICE_GLOBAL_MEM_SIZE)),
                    Clamp(DeviceValue<ulong>(device, ClNative.CL_DEVICE_LOCAL_MEM_SIZE)),
                    Clamp(DeviceValue<ulong>(device, ClNative.CL_DEVICE_MAX_MEM_ALLOC_SIZE)),
                    (int)Math.Min(DeviceValue<nuint>(device, ClNative.CL_DEVICE_MAX_WORK_GROUP_SIZE), int.MaxValue),
                    DeviceValue<uint>(device, ClNative.CL_DEVICE_AVAILABLE) != ClNative.CL_FALSE)
                {
                    PlatformHandle = platform,
                    DeviceHandle = device,
                });
            }
        }
        return result;
    }

    private static long Clamp(ulong value) => (long)Math.Min(value, long.MaxValue);

    private static ClDeviceType TypeOf(ulong bits) =>
        (bits & ClNative.CL_DEVICE_TYPE_GPU) != 0 ? ClDeviceType.Gpu
        : (bits & ClNative.CL_DEVICE_TYPE_CPU) != 0 ? ClDeviceType.Cpu
        : (bits & ClNative.CL_DEVICE_TYPE_ACCELERATOR) != 0 ? ClDeviceType.Accelerator
        : ClDeviceType.Other;

    private static string PlatformString(nint platform, uint param)
    {
        nuint size;
        ClException.Check(ClNative.clGetPlatformInfo(platform, param, 0, null, &size), $"clGetPlatformInfo(0x{param:X4})");
        var bytes = new byte[size];
        fixed (byte* b = bytes) ClException.Check(ClNative.clGetPlatformInfo(platform, param, size, b, null), $"clGetPlatformInfo(0x{param:X4})");
        return DecodeString(bytes);
    }

    private static string DeviceString(nint device, uint param)
    {
        nuint size;
        ClException.Check(ClNative.clGetDeviceInfo(device, param, 0, null, &size), $"clGetDeviceInfo(0x{param:X4})");
        var bytes = new byte[size];
        fixed (byte* b = bytes) ClException.Check(ClNative.clGetDeviceInfo(device, param, size, b, null), $"clGetDeviceInfo(0x{param:X4})");
        return DecodeString(bytes);
    }

    /// <summary>A fixed-size device property: <c>cl_uint</c>, <c>cl_ulong</c>, <c>cl_bool</c>, <c>size_t</c>, <c>cl_bitfield</c>.</summary>
    internal static T DeviceValue<T>(nint device, uint param) where T : unmanaged
    {
        T value = default;
        ClException.Check(ClNative.clGetDeviceInfo(device, param, (nuint)sizeof(T), &value, null), $"clGetDeviceInfo(0x{param:X4})");
        return value;
    }

    /// <summary>A NUL-terminated UTF-8 string returned by an info query, without the terminator and surrounding blanks.</summary>
    internal static string DecodeString(ReadOnlySpan<byte> bytes)
    {
        int end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]).Trim();
    }
}
