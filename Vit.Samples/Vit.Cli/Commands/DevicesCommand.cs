using System.CommandLine;
using System.Globalization;
using System.Runtime.CompilerServices;
using Vit.Backends.Ilgpu;
using Vit.Backends.OpenCL;

namespace Vit.Cli;

/// <summary><c>vit devices</c>: the OpenCL platforms and devices and the ILGPU accelerators, and the ones used when none is named.</summary>
public static class DevicesCommand
{
    public static Command Create()
    {
        var json = Cli.Json("Print one JSON object: default (an Id or null), platforms[] each with devices[] (id, name, type, compute_units, global_memory_bytes, max_work_group_size, …), ilgpu[] (id, name, kind, max_group, memory_bytes, default)");
        var command = new Command("devices", $"List the OpenCL platforms and devices and the ILGPU accelerators; * marks each backend's default ({ClDevices.EnvironmentVariable} or {IlgpuEnvironmentVariable}, else the first GPU, else the first device)") { json };
        command.SetAction(r => Cli.Guard(() => Run(r.GetValue(json))));
        return command;
    }

    private const string IlgpuEnvironmentVariable = IlgpuBackend.EnvironmentVariable;

    private static int Run(bool json)
    {
        var ilgpu = IlgpuDevices(out string? ilgpuProblem);
        IReadOnlyList<ClDeviceInfo> devices;
        try
        {
            devices = ClDevices.List();
        }
        catch (Exception e) when (e is ClUnavailableException or ClException)
        {
            if (!json) WriteIlgpu(ilgpu, ilgpuProblem);
            Console.Error.WriteLine("vit: " + e.Message);
            return 1;
        }
        if (devices.Count == 0)
        {
            if (!json) WriteIlgpu(ilgpu, ilgpuProblem);
            Console.Error.WriteLine($"vit: No OpenCL platform found. {ClUnavailableException.InstallHint}.");
            return 1;
        }

        // The device Select(null) picks; when VIT_OPENCL_DEVICE names nothing, the list is still shown and the exit code is 1.
        string? chosen = Environment.GetEnvironmentVariable(ClDevices.EnvironmentVariable);
        ClDeviceInfo? fallback = null;
        string? problem = null;
        try
        {
            fallback = ClDevices.Select(null);
        }
        catch (ArgumentException)
        {
            problem = string.IsNullOrWhiteSpace(chosen)
                ? "no OpenCL device is available"
                : $"{ClDevices.EnvironmentVariable}='{chosen}' matches no available device; set it to an Id or part of a name from this list";
        }

        if (json) WriteJson(devices, fallback, chosen, ilgpu);
        else
        {
            WriteText(devices, fallback, chosen);
            WriteIlgpu(ilgpu, ilgpuProblem);
        }
        if (problem is null) return 0;
        Console.Error.WriteLine("vit: " + problem);
        return 1;
    }

    /// <summary>Per platform a heading, then per device an Id-and-name line and a line of its properties; * marks the default.</summary>
    private static void WriteText(IReadOnlyList<ClDeviceInfo> devices, ClDeviceInfo? fallback, string? chosen)
    {
        const double gib = 1024.0 * 1024 * 1024;
        foreach (var platform in devices.GroupBy(d => d.PlatformIndex))
        {
            var p = platform.First();
            int count = platform.Count();
            Console.WriteLine($"platform {p.PlatformIndex}: {p.PlatformName}, {count} device{(count == 1 ? "" : "s")} ({p.PlatformVersion})");
            foreach (var d in platform)
            {
                string mark = d.Id == fallback?.Id ? "*" : " ";
                Console.WriteLine($"{mark} {d.Id,-5} {d.Name}{(d.Available ? "" : " (not available)")}");
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"        {ClDeviceInfo.TypeName(d.Type)}, {d.ComputeUnits} compute units, {d.GlobalMemoryBytes / gib:F1} GiB memory " +
                    $"({d.MaxAllocationBytes / gib:F1} GiB per buffer), {d.LocalMemoryBytes / 1024} KiB local memory, " +
                    $"work-groups up to {d.MaxWorkGroupSize}, OpenCL {ShortVersion(d.Version)}, {d.Vendor}, driver {d.DriverVersion}"));
            }
        }
        if (fallback is not null)
        {
            string why = string.IsNullOrWhiteSpace(chosen) ? (fallback.Type == ClDeviceType.Gpu ? "the first GPU" : "no GPU, the first device")
                : $"{ClDevices.EnvironmentVariable}={chosen}";
            Console.WriteLine($"* default: {fallback.Id} {fallback.Name} ({why}); choose another with {ClDevices.EnvironmentVariable}=ID or part of a name");
        }
    }

    /// <summary>ILGPU's accelerators (CUDA GPUs, then its CPU accelerator); empty with a reason in a native build.</summary>
    private static IReadOnlyList<IlgpuDeviceInfo> IlgpuDevices(out string? problem)
    {
        problem = null;
        // ILC folds this to false: a native build compiles nothing of ILGPU.
        if (!RuntimeFeature.IsDynamicCodeSupported)
        {
            problem = "the ilgpu backend needs the JIT (dotnet vit.dll); this native build has none";
            return [];
        }
        try
        {
            return IlgpuBackend.Devices();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            problem = "ILGPU found no accelerator: " + e.Message;
            return [];
        }
    }

    // The ILGPU accelerators after the OpenCL devices; * marks the one --backend ilgpu picks.
    private static void WriteIlgpu(IReadOnlyList<IlgpuDeviceInfo> devices, string? problem)
    {
        const double gib = 1024.0 * 1024 * 1024;
        if (problem is not null)
        {
            Console.WriteLine("ilgpu: " + problem);
            return;
        }
        string? chosen = Environment.GetEnvironmentVariable(IlgpuEnvironmentVariable);
        Console.WriteLine($"ilgpu: {devices.Count} accelerator{(devices.Count == 1 ? "" : "s")}");
        foreach (var d in devices)
        {
            string mark = d == IlgpuDefault(devices) ? "*" : " ";
            Console.WriteLine($"{mark} {d.Id,-6} {d.Name}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"        {d.Kind}, {(d.Kind == "CPU" ? "host memory" : $"{d.Memory / gib:F1} GiB memory")}, groups up to {d.MaxGroup} threads"));
        }
        var fallback = IlgpuDefault(devices);
        if (fallback is not null)
            Console.WriteLine($"* ilgpu default: {fallback.Id} {fallback.Name} ({(string.IsNullOrWhiteSpace(chosen) ? "the first CUDA GPU, else the CPU accelerator" : $"{IlgpuEnvironmentVariable}={chosen}")}); choose another with {IlgpuEnvironmentVariable}=ID");
    }

    // The device Backend.Ilgpu(null) picks.
    private static IlgpuDeviceInfo? IlgpuDefault(IReadOnlyList<IlgpuDeviceInfo> devices) =>
        IlgpuBackend.Match(devices, Environment.GetEnvironmentVariable(IlgpuEnvironmentVariable));

    /// <summary>"OpenCL 3.0 PoCL HSTR: …" → "3.0": the version number the device supports.</summary>
    private static string ShortVersion(string version)
    {
        var parts = version.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 && parts[0] == "OpenCL" ? parts[1] : version;
    }

    private static void WriteJson(IReadOnlyList<ClDeviceInfo> devices, ClDeviceInfo? fallback, string? chosen, IReadOnlyList<IlgpuDeviceInfo> ilgpu) => Cli.WriteJson(w =>
    {
        if (fallback is null) w.WriteNull("default");
        else w.WriteString("default", fallback.Id);
        if (string.IsNullOrWhiteSpace(chosen)) w.WriteNull("environment_variable");
        else w.WriteString("environment_variable", chosen);
        w.WriteStartArray("platforms");
        foreach (var platform in devices.GroupBy(d => d.PlatformIndex))
        {
            var p = platform.First();
            w.WriteStartObject();
            w.WriteNumber("index", p.PlatformIndex);
            w.WriteString("name", p.PlatformName);
            w.WriteString("version", p.PlatformVersion);
            w.WriteStartArray("devices");
            foreach (var d in platform)
            {
                w.WriteStartObject();
                w.WriteString("id", d.Id);
                w.WriteString("name", d.Name);
                w.WriteString("vendor", d.Vendor);
                w.WriteString("type", ClDeviceInfo.TypeName(d.Type).ToLowerInvariant());
                w.WriteString("version", d.Version);
                w.WriteString("driver_version", d.DriverVersion);
                w.WriteNumber("compute_units", d.ComputeUnits);
                w.WriteNumber("global_memory_bytes", d.GlobalMemoryBytes);
                w.WriteNumber("local_memory_bytes", d.LocalMemoryBytes);
                w.WriteNumber("max_allocation_bytes", d.MaxAllocationBytes);
                w.WriteNumber("max_work_group_size", d.MaxWorkGroupSize);
                w.WriteBoolean("available", d.Available);
                w.WriteBoolean("default", d.Id == fallback?.Id);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("ilgpu");
        var ilgpuDefault = IlgpuDefault(ilgpu);
        foreach (var d in ilgpu)
        {
            w.WriteStartObject();
            w.WriteString("id", d.Id);
            w.WriteString("name", d.Name);
            w.WriteString("kind", d.Kind.ToLowerInvariant());
            w.WriteNumber("max_group", d.MaxGroup);
            w.WriteNumber("memory_bytes", d.Memory);
            w.WriteBoolean("default", d == ilgpuDefault);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }, indented: true);
}
