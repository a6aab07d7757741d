using Vit.Backends.Device;
using System.Globalization;
using System.Reflection;

namespace Vit.Backends.OpenCL;

/// <summary>
/// The OpenCL backend on one device: its context and in-order queue, and the kernel programs
/// compiled for it, one per model shape. Created by <see cref="Backend.OpenCL(string?)"/>; one
/// instance per device for the life of the process, shared by every model on that device.
/// </summary>
public sealed class OpenCLBackend : Backend
{
    private static readonly Dictionary<string, OpenCLBackend> s_byDevice = new(StringComparer.Ordinal);
    private static readonly Lock s_lock = new();
    private static string? s_source;

    private readonly Dictionary<string, ClProgram> _programs = new(StringComparer.Ordinal);

    private OpenCLBackend(ClDeviceInfo device)
    {
        Device = device;
        Context = ClContext.Create(device);
    }

    /// <summary>The device.</summary>
    public ClDeviceInfo Device { get; }

    /// <summary>The device's context and command queue.</summary>
    public ClContext Context { get; }

    /// <inheritdoc/>
    public override string Name => "opencl";

    /// <inheritdoc/>
    public override string Description => $"{Device.Name}, {Device.Type}, {Device.PlatformName} (device {Device.Id})";

    /// <inheritdoc/>
    public override ModelRunner CreateRunner(Vit.Memory.ModelMemory memory) => new ClModel(this, memory);

    /// <summary>Programs compiled so far, by build options (one per model shape).</summary>
    public int ProgramCount
    {
        get
        {
            lock (s_lock) return _programs.Count;
        }
    }

    internal static OpenCLBackend For(ClDeviceInfo device)
    {
        lock (s_lock)
        {
            if (!s_byDevice.TryGetValue(device.Id, out var backend))
                s_byDevice[device.Id] = backend = new OpenCLBackend(device);
            return backend;
        }
    }

    /// <summary>
    /// The prelude and kernel source as compiled: <c>prelude.opencl.h</c> followed by <c>vit.cl</c>
    /// (embedded in Vit.Runtime).
    /// </summary>
    public static string KernelSource
    {
        get
        {
            lock (s_lock) return s_source ??= Resource("prelude.opencl.h") + "\n#line 1 \"vit.cl\"\n" + Resource("vit.cl");
        }
    }

    /// <summary>
    /// The build options that specialize the kernels to a model's shapes: <c>-D NAME=VALUE</c> for
    /// every constant <c>vit.cl</c> reads.
    /// </summary>
    public static string BuildOptions(VisionTransformerConfig c)
    {
        ArgumentNullException.ThrowIfNull(c);
        int grid = c.ImageSize / c.Patch, headDim = c.HeadDim;
        float scale = 1f / MathF.Sqrt(headDim); // as Vit.Backends.Cpu.Attention computes it
        var inv = CultureInfo.InvariantCulture;
        return string.Join(" ",
            "-cl-std=CL1.2",
            $"-D TOKENS={grid * grid + 1}",
            $"-D DIM={c.Dim}",
            $"-D HEADS={c.Heads}",
            $"-D HEAD_DIM={headDim}",
            $"-D CLASSES={Math.Max(c.Classes, 1)}",
            $"-D CHANNELS={c.Channels}",
            $"-D IMAGE={c.ImageSize}",
            $"-D PATCH={c.Patch}",
            $"-D GRID={grid}",
            $"-D NPATCH={grid * grid}",
            $"-D PATCH_K={c.Channels * c.Patch * c.Patch}",
            $"-D ATTN_SCALE={scale.ToString("R", inv)}f");
    }

    /// <summary>The program for a model shape, compiled on first use and cached.</summary>
    /// <exception cref="ClBuildException">The device's compiler rejected the source; the message holds its build log.</exception>
    internal ClProgram Program(VisionTransformerConfig config)
    {
        string options = BuildOptions(config);
        lock (s_lock)
        {
            if (!_programs.TryGetValue(options, out var program))
                _programs[options] = program = Context.BuildProgram(KernelSource, options);
            return program;
        }
    }

    private static string Resource(string name)
    {
        var assembly = typeof(OpenCLBackend).Assembly;
        string logical = "Vit.Backends.OpenCL.Kernels." + name;
        using var stream = assembly.GetManifestResourceStream(logical)
            ?? throw new InvalidOperationException($"The kernel source '{logical}' is not embedded in {assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
