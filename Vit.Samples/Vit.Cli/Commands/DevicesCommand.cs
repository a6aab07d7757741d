using System.CommandLine;
using System.Globalization;
using Vit.Backends.OpenCL;

namespace Vit.Cli;

/// <summary><c>vit devices</c>: the OpenCL platforms and devices, and the one used when none is named.</summary>
public static class DevicesCommand
{
    public static Command Create()
    {
        var json = Cli.Json("Print one JSON object: default (an Id or null), platforms[] each with devices[] (id, name, type, compute_units, global_memory_bytes, max_work_group_size, …)");
        var command = new Command("devices", $"List the OpenCL platforms and devices; * marks the default ({ClDevices.EnvironmentVariable}, else the first GPU, else the first device)") { json };
        command.SetAction(r => Cli.Guard(() => Run(r.GetValue(json))));
        return command;
    }

    private static int Run(bool json)
    {
        IReadOnlyList<ClDeviceInfo> devices;
        try
        {
            devices = ClDevices.List();
        }
        catch (Exception e) when (e is ClUnavailableException or ClException)
        {
            Console.Error.WriteLine("vit: " + e.Message);
            return 1;
        }
        if (devices.Count == 0)
        {
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

        if (json) WriteJson(devices, fallback, chosen);
        else WriteText(devices, fallback, chosen);
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

    /// <summary>"OpenCL 3.0 PoCL HSTR: …" → "3.0": the version number the device supports.</summary>
    private static string ShortVersion(string version)
    {
        var parts = version.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 && parts[0] == "OpenCL" ? parts[1] : version;
    }

    private static void WriteJson(IReadOnlyList<ClDeviceInfo> devices, ClDeviceInfo? fallback, string? chosen) => Cli.WriteJson(w =>
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
    }, indented: true);
}
