using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Vit.Backends.Ilgpu;

/// <summary>Which tensor-core GEMM an ILGPU backend uses on a CUDA GPU of sm_80 or newer.</summary>
public enum IlgpuTensorCores
{
    /// <summary>None: the SIMT GEMM (the default).</summary>
    Off,

    /// <summary>mma.sync with TF32 inputs (10-bit mantissa), fp32 accumulation. Unverified on hardware.</summary>
    Tf32,

    /// <summary>mma.sync with BF16 inputs, fp32 accumulation. Unverified on hardware.</summary>
    Bf16,
}

/// <summary>One ILGPU accelerator as <c>vit devices</c> lists it.</summary>
/// <param name="Id">The id <c>--device</c> accepts: <c>cuda:N</c> or <c>cpu:N</c>.</param>
/// <param name="Name">The device's name.</param>
/// <param name="Kind">Cuda or CPU.</param>
/// <param name="MaxGroup">The most threads one group may have.</param>
/// <param name="Memory">Device memory in bytes.</param>
public sealed record IlgpuDeviceInfo(string Id, string Name, string Kind, int MaxGroup, long Memory);

/// <summary>
/// The ILGPU backend: every step of the model's passes and the optimizer as an ILGPU kernel
/// (<see cref="IlgpuKernelCode"/>), on a CUDA GPU or on ILGPU's CPU accelerator. One accelerator
/// per device, shared by every model on it; compiled kernels are cached per shape.
/// </summary>
/// <remarks>
/// JIT only: ILGPU's <c>Context</c> emits IL at run time (ILGPU #847), so a NativeAOT build cannot
/// run it. <see cref="Backend.Ilgpu(string?)"/> checks <c>RuntimeFeature.IsDynamicCodeSupported</c>
/// first, which ILC folds to false: the native executable compiles none of this.
/// </remarks>
public sealed class IlgpuBackend : Backend
{
    // ILGPU's CPU accelerator runs each group's threads as .NET threads that spin at barriers:
    // 2 warps of 2 threads (groups of at most 4) keep that cheap on a small machine.
    private const int CpuWarp = 2, CpuWarps = 2;

    private static readonly Lock s_lock = new();
    private static Context? s_context;
    private static readonly Dictionary<string, IlgpuBackend> s_byDevice = new(StringComparer.Ordinal);

    [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicMethods)]
    private static readonly Type s_code = typeof(IlgpuKernelCode);

    [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicMethods)]
    private static readonly Type s_tensorCode = typeof(IlgpuTensorCoreGemm);

    private readonly Dictionary<(string, Type?, Type?, Type?, Type?), (Delegate Launcher, int TaskBytes)> _kernels = new();
    private readonly List<MethodInfo> _planned = new();

    private IlgpuBackend(IlgpuDeviceInfo? device, Accelerator? accelerator)
    {
        Device = device;
        Accelerator = accelerator;
        int max = accelerator is null ? 1024 : accelerator.MaxNumThreadsPerGroup;
        if (max < 4)
            throw new NotSupportedException($"ILGPU device '{device?.Name}' runs at most {max} threads per group; Vit's kernels need 4.");
        WideGroups = max >= 256;
        TensorCoreCapable = accelerator is CudaAccelerator cuda && cuda.Architecture.Major >= 8;
        string? tc = Environment.GetEnvironmentVariable(TensorCoresVariable);
        if (!string.IsNullOrWhiteSpace(tc))
            UnverifiedTensorCores = Enum.TryParse<IlgpuTensorCores>(tc.Trim(), ignoreCase: true, out var kind)
                ? kind
                : throw new ArgumentException($"{TensorCoresVariable}='{tc}': expected off, tf32 or bf16.");
        ElementGroup = Math.Min(256, LargestPowerOfTwo(max));
        RowGroup = Math.Min(128, ElementGroup);
    }

    /// <summary>The device; null for a planning backend (<see cref="Planning"/>).</summary>
    public IlgpuDeviceInfo? Device { get; }

    /// <summary>The accelerator; null for a planning backend.</summary>
    public Accelerator? Accelerator { get; }

    /// <inheritdoc/>
    public override string Name => "ilgpu";

    /// <inheritdoc/>
    public override string Description => Device is null
        ? "planning only (no accelerator): kernels are recorded for a CUDA GPU, not run"
        : $"{Device.Name}, ILGPU {Device.Kind} accelerator (device {Device.Id})";

    /// <summary>True when the GEMM uses 16×16-thread groups (64×64 tiles), as on a GPU; else 2×2 (the CPU accelerator).</summary>
    internal bool WideGroups { get; }

    /// <summary>Threads per group for element-wise kernels and the optimizer (a power of two).</summary>
    internal int ElementGroup { get; }

    /// <summary>Threads per group for the per-row kernels: LayerNorm and attention.</summary>
    internal int RowGroup { get; }

    /// <summary>The environment variable that sets <see cref="UnverifiedTensorCores"/>: off, tf32 or bf16.</summary>
    public const string TensorCoresVariable = "VIT_ILGPU_UNVERIFIED_TENSOR_CORES";

    /// <summary>
    /// The tensor-core GEMM (inline PTX mma.sync, TF32 or BF16 with fp32 accumulation) instead of
    /// the SIMT one, on CUDA GPUs of sm_80 or newer; elsewhere it changes nothing. Off by default:
    /// it is UNVERIFIED, since no GPU has run it yet (ptxas assembles it in CI, and its emulation
    /// on the CPU accelerator is tested). Also set by <see cref="TensorCoresVariable"/>.
    /// </summary>
    public IlgpuTensorCores UnverifiedTensorCores { get; set; }

    /// <summary>True on a CUDA GPU of compute capability 8.0 or newer (mma.sync with TF32 and BF16).</summary>
    public bool TensorCoreCapable { get; }

    /// <summary>The tensor-core kind the GEMM launches use: <see cref="UnverifiedTensorCores"/> where the device has them, else Off.</summary>
    internal IlgpuTensorCores ActiveTensorCores => TensorCoreCapable ? UnverifiedTensorCores : IlgpuTensorCores.Off;

    /// <summary>A backend that runs nothing: models on it record the kernels their passes launch, shaped for a CUDA GPU (<c>vit kernels</c>).</summary>
    [RequiresDynamicCode("ILGPU compiles its kernels at run time with Reflection.Emit.")]
    public static IlgpuBackend Planning() => new(null, null);

    /// <summary>Kernels compiled (or, planning, recorded) for this device so far.</summary>
    public int KernelCount
    {
        get
        {
            lock (_kernels) return Device is null ? _planned.Count : _kernels.Count;
        }
    }

    /// <summary>
    /// Kernel lookups so far: one before every launch (and a few that launch nothing, for empty sizes).
    /// </summary>
    public long Lookups { get; private set; }

    /// <summary>
    /// The managed bytes ILGPU's CPU accelerator allocates for the launches looked up so far: it
    /// makes one task object per launch that holds the kernel's arguments: about 64 bytes plus the
    /// arguments (measured with ILGPU 1.5.3: 96 B for a view and an int, 224 B for six views and
    /// three scalars, 256 B for five views and a 64-byte struct), counted here rounded up to 16.
    /// The steady-state test bounds host allocation by it; on a GPU nothing at all is allowed.
    /// </summary>
    public long CpuLaunchBytes { get; private set; }

    /// <summary>True on ILGPU's CPU accelerator.</summary>
    public bool IsCpuAccelerator => Accelerator?.AcceleratorType == AcceleratorType.CPU;

    /// <summary>The kernels a planning backend recorded, in first-use order, each once: the generic kernel methods with their shape arguments.</summary>
    public IReadOnlyList<MethodInfo> PlannedKernels
    {
        get
        {
            lock (_kernels) return _planned.ToArray();
        }
    }

    /// <inheritdoc/>
    public override ModelRunner CreateRunner(Vit.Memory.ModelMemory memory) => new IlgpuModel(this, memory);

    /// <summary>The ILGPU accelerators of this machine: CUDA GPUs first, then the CPU accelerator.</summary>
    [RequiresDynamicCode("ILGPU compiles its kernels at run time with Reflection.Emit.")]
    public static IReadOnlyList<IlgpuDeviceInfo> Devices()
    {
        var context = SharedContext();
        var list = new List<IlgpuDeviceInfo>();
        int cuda = 0, cpu = 0;
        foreach (var d in context.Devices)
        {
            if (d.AcceleratorType == AcceleratorType.Cuda)
                list.Add(new IlgpuDeviceInfo($"cuda:{cuda++}", d.Name, "Cuda", d.MaxNumThreadsPerGroup, d.MemorySize));
        }
        foreach (var d in context.Devices)
        {
            if (d.AcceleratorType == AcceleratorType.CPU)
                list.Add(new IlgpuDeviceInfo($"cpu:{cpu++}", d.Name + $" ({((CPUDevice)d).NumThreads} threads)", "CPU", d.MaxNumThreadsPerGroup, d.MemorySize));
        }
        return list;
    }

    /// <summary>The environment variable that names the default ILGPU device.</summary>
    public const string EnvironmentVariable = "VIT_ILGPU_DEVICE";

    /// <summary>
    /// The device <paramref name="want"/> names among <paramref name="devices"/>: an id, then a kind,
    /// then a case-insensitive part of a name; empty or null: the first (CUDA before CPU). Null when none matches.
    /// </summary>
    public static IlgpuDeviceInfo? Match(IReadOnlyList<IlgpuDeviceInfo> devices, string? want)
    {
        ArgumentNullException.ThrowIfNull(devices);
        if (string.IsNullOrWhiteSpace(want)) return devices.Count > 0 ? devices[0] : null;
        want = want.Trim();
        return devices.FirstOrDefault(d => d.Id.Equals(want, StringComparison.OrdinalIgnoreCase))
            ?? devices.FirstOrDefault(d => d.Kind.Equals(want, StringComparison.OrdinalIgnoreCase))
            ?? devices.FirstOrDefault(d => d.Name.Contains(want, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// The backend for <paramref name="device"/>: an id (<c>cuda:0</c>, <c>cpu:0</c>), a kind
    /// (<c>cuda</c>, <c>cpu</c>) or a case-insensitive part of the name; null takes
    /// <c>VIT_ILGPU_DEVICE</c> when set, else the first CUDA GPU, else the CPU accelerator.
    /// </summary>
    /// <exception cref="ArgumentException">No device matches (the message lists them).</exception>
    [RequiresDynamicCode("ILGPU compiles its kernels at run time with Reflection.Emit.")]
    internal static IlgpuBackend For(string? device)
    {
        device ??= Environment.GetEnvironmentVariable(EnvironmentVariable);
        var devices = Devices();
        var pick = Match(devices, device);
        if (pick is null)
            throw new ArgumentException($"No ILGPU device matches '{device}'; found: "
                + string.Join(", ", devices.Select(d => $"{d.Id} {d.Name}")) + " (vit devices lists them).", nameof(device));
        lock (s_lock)
        {
            if (!s_byDevice.TryGetValue(pick.Id, out var backend))
            {
                var context = SharedContext();
                var accelerator = AcceleratorFor(context, pick);
                s_byDevice[pick.Id] = backend = new IlgpuBackend(pick, accelerator);
            }
            return backend;
        }
    }

    private static Accelerator AcceleratorFor(Context context, IlgpuDeviceInfo info)
    {
        int index = int.Parse(info.Id.AsSpan(info.Id.IndexOf(':') + 1), provider: System.Globalization.CultureInfo.InvariantCulture);
        var type = info.Kind == "Cuda" ? AcceleratorType.Cuda : AcceleratorType.CPU;
        int seen = 0;
        foreach (var d in context.Devices)
            if (d.AcceleratorType == type && seen++ == index)
                return d.CreateAccelerator(context);
        throw new InvalidOperationException($"ILGPU device {info.Id} disappeared.");
    }

    // One ILGPU context per process: CUDA devices (when a driver is installed) and one CPU
    // accelerator of CpuWarp × CpuWarps × (cores / 4) threads. O2 as the backends need it; ILGPU.Algorithms
    // gives the PTX backend exp, log and tanh.
    private static Context SharedContext()
    {
        lock (s_lock)
        {
            return s_context ??= Context.Create(builder => builder
                .Cuda()
                .CPU(new CPUDevice(CpuWarp, CpuWarps, Math.Max(1, Environment.ProcessorCount / 4)))
                .Optimize(OptimizationLevel.O2)
                .EnableAlgorithms());
        }
    }

    internal IlgpuDeviceApi CreateApi() => new(Accelerator);

    /// <summary>
    /// The launcher of kernel <paramref name="name"/> (a method of <see cref="IlgpuKernelCode"/>)
    /// instantiated with <paramref name="a"/>..<paramref name="d"/>, compiled on first use and
    /// cached; null on a planning backend, which records the kernel instead.
    /// </summary>
    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "An IlgpuBackend exists only through For or Planning, which require dynamic code; Backend.Ilgpu checks RuntimeFeature.IsDynamicCodeSupported first.")]
    [UnconditionalSuppressMessage("Trimming", "IL2060", Justification = "The kernels' type parameters are IDim and IGemmTile structs with no member requirements.")]
    internal TDelegate? Kernel<TDelegate>(string name, Type? a = null, Type? b = null, Type? c = null, Type? d = null)
        where TDelegate : Delegate
    {
        var key = (name, a, b, c, d);
        lock (_kernels)
        {
            Lookups++;
            if (_kernels.TryGetValue(key, out var cached))
            {
                CpuLaunchBytes += cached.TaskBytes;
                return (TDelegate?)(Accelerator is null ? null : cached.Launcher);
            }
            var method = (name == TensorCoreGemm ? s_tensorCode.GetMethod(nameof(IlgpuTensorCoreGemm.Gemm), BindingFlags.Public | BindingFlags.Static)
                    : s_code.GetMethod(name, BindingFlags.Public | BindingFlags.Static))
                ?? throw new InvalidOperationException($"IlgpuKernelCode has no kernel '{name}'.");
            if (a is not null)
            {
                Type[] args = d is not null ? [a, b!, c!, d] : c is not null ? [a, b!, c] : b is not null ? [a, b] : [a];
                method = method.MakeGenericMethod(args);
            }
            if (Accelerator is null)
            {
                _planned.Add(method);
                _kernels[key] = (PlannedMarker, 0);
                return null;
            }
            var loaded = Accelerator.LoadKernel<TDelegate>(method);
            int task = 64;
            foreach (var p in method.GetParameters()) task += System.Runtime.CompilerServices.RuntimeHelpers.SizeOf(p.ParameterType.TypeHandle);
            task = (task + 15) / 16 * 16;
            _kernels[key] = (loaded, task);
            CpuLaunchBytes += task;
            return loaded;
        }
    }

    /// <summary>The kernel name that selects <see cref="IlgpuTensorCoreGemm.Gemm{TKind, TWarps}"/>.</summary>
    internal const string TensorCoreGemm = "TensorCoreGemm";

    private static readonly Delegate PlannedMarker = new Action(() => { });

    private static int LargestPowerOfTwo(int n)
    {
        int p = 1;
        while (p * 2 <= n) p *= 2;
        return p;
    }
}
