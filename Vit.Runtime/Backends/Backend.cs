using System.Runtime.CompilerServices;
using Vit.Backends.Ilgpu;
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
    /// An ILGPU accelerator: every hot loop as an ILGPU kernel written in C#, on a CUDA GPU or on
    /// ILGPU's CPU accelerator. <paramref name="device"/> is an id as <c>vit devices</c> lists them
    /// (<c>cuda:0</c>, <c>cpu:0</c>), a kind (<c>cuda</c>, <c>cpu</c>) or a case-insensitive part of
    /// the name; null takes <c>VIT_ILGPU_DEVICE</c> when set, else the first CUDA GPU, else the CPU
    /// accelerator. JIT only (<c>dotnet vit.dll</c>, <c>dotnet run</c>): ILGPU emits code at run time.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">A NativeAOT build (no run-time code generation).</exception>
    /// <exception cref="ArgumentException">No device matches <paramref name="device"/> (the message lists them).</exception>
    public static Backend Ilgpu(string? device = null)
    {
        // ILC folds this to false in a native build and drops the branch: nothing of ILGPU is compiled in.
        if (!RuntimeFeature.IsDynamicCodeSupported)
            throw new PlatformNotSupportedException(IlgpuNeedsJit);
        return IlgpuBackend.For(device);
    }

    /// <summary>The one line a native build gives for <c>--backend ilgpu</c>.</summary>
    public const string IlgpuNeedsJit =
        "The ilgpu backend needs the JIT (run `dotnet vit.dll`, or `dotnet run`): ILGPU generates code at run time, which a native build cannot; this build has the cpu and opencl backends.";

    /// <summary>
    /// The backend a command line names: <c>cpu</c>, <c>opencl</c> or <c>ilgpu</c>, with an optional
    /// device for OpenCL and ILGPU.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown name, or a device given for the CPU.</exception>
    public static Backend Parse(string name, string? device = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        switch (name.ToLowerInvariant())
        {
            case "cpu":
                if (!string.IsNullOrEmpty(device))
                    throw new ArgumentException($"A device ('{device}') was given for the cpu backend; --device applies to --backend opencl and ilgpu.", nameof(device));
                return Cpu;
            case "opencl":
                return OpenCL(device);
            case "ilgpu":
                return Ilgpu(device);
            default:
                throw new ArgumentException($"Unknown backend '{name}': expected cpu, opencl or ilgpu.", nameof(name));
        }
    }

    /// <summary>The backend's name as the command line spells it: <c>cpu</c>, <c>opencl</c> or <c>ilgpu</c>.</summary>
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
