using Vit.Backends.OpenCL;

namespace Vit.Backends;

/// <summary>
/// Where a compiled model runs. <see cref="Cpu"/> (the default) runs the generated code's SIMD C#
/// kernels on native memory; <see cref="OpenCL(string?)"/> runs the same steps as OpenCL kernels on
/// a device, with parameters, gradients, optimizer state and activations in device memory.
/// </summary>
/// <example><code>
/// using var model = new VitB16(Backend.OpenCL());        // the first GPU, else any OpenCL device
/// using var pinned = new VitB16(Backend.OpenCL("A100"));  // by name (or "0:1", platform:device)
/// </code></example>
public abstract class Backend
{
    private protected Backend()
    {
    }

    /// <summary>The SIMD C# kernels on this machine's cores (the default).</summary>
    public static Backend Cpu { get; } = new Cpu.CpuBackend();

    /// <summary>
    /// An OpenCL device. <paramref name="device"/> is a case-insensitive part of the device's (or
    /// platform's) name, or its <c>platform:device</c> id as <c>vit devices</c> lists them; null
    /// takes the <c>VIT_OPENCL_DEVICE</c> environment variable when it is set, else the first GPU,
    /// else the first device. The device's context and compiled programs are shared by every
    /// model created on it.
    /// </summary>
    /// <exception cref="ClUnavailableException">No OpenCL loader or platform is installed (the message says how to install one).</exception>
    /// <exception cref="ArgumentException">No device matches <paramref name="device"/> (the message lists the devices found).</exception>
    public static Backend OpenCL(string? device = null) => OpenCLBackend.For(ClDevices.Select(device));

    /// <summary>
    /// The backend a command line names: <c>cpu</c> or <c>opencl</c>, with an optional device for
    /// OpenCL.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown name, or a device given for the CPU.</exception>
    public static Backend Parse(string name, string? device = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        switch (name.ToLowerInvariant())
        {
            case "cpu":
                if (!string.IsNullOrEmpty(device))
                    throw new ArgumentException($"A device ('{device}') was given for the cpu backend; --device applies to --backend opencl.", nameof(device));
                return Cpu;
            case "opencl":
                return OpenCL(device);
            default:
                throw new ArgumentException($"Unknown backend '{name}': expected cpu or opencl.", nameof(name));
        }
    }

    /// <summary>The backend's name as the command line spells it: <c>cpu</c> or <c>opencl</c>.</summary>
    public abstract string Name { get; }

    /// <summary>What it runs on, for people: the CPU's SIMD level and threads, or the device's name and platform.</summary>
    public abstract string Description { get; }

    /// <summary>
    /// Puts a model whose memory is <paramref name="memory"/> on this backend; called once by the
    /// generated model's constructor. The runner then runs the model's passes.
    /// </summary>
    public abstract ModelRunner CreateRunner(Vit.Memory.ModelMemory memory);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Description})";
}
