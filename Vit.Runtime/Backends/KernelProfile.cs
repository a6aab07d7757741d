using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Vit.Backends;

/// <summary>One kernel at one shape in a <see cref="KernelProfile"/>: its calls, wall time and FLOPs.</summary>
/// <param name="Kernel">The <see cref="IKernels{TPtr}"/> method, e.g. <c>LinearForwardGelu</c>.</param>
/// <param name="Shape">Its shape as the generated model passes it: <c>rows × in → out</c> for the Linear layers, <c>images × heads × tokens × head dim</c> for attention, <c>rows × dim</c> or an element count elsewhere.</param>
/// <param name="Calls">Calls recorded.</param>
/// <param name="Seconds">Wall time of those calls, summed.</param>
/// <param name="Flops">Matrix-product FLOPs of those calls (2 per multiply-add; 0 for kernels without a product).</param>
public readonly record struct KernelTiming(string Kernel, string Shape, long Calls, double Seconds, double Flops);

/// <summary>
/// Wall time per kernel and shape, recorded by <see cref="ProfiledKernels{TInner, TPtr}"/> around each
/// call the generated model makes (set <see cref="Vit.Memory.ModelMemory.Profile"/>; the CPU backend
/// honours it). Each call is timed from entry to return on the calling thread, so a kernel's time
/// includes its worker pool's dispatch and wait: on the CPU backend, where every kernel returns when
/// its work is done, the times add up to the pass. <c>vit bench --profile</c> prints it.
/// </summary>
public sealed class KernelProfile
{
    private readonly Dictionary<(string Kernel, int A, int B, int C, long N), (long Calls, long Ticks, double Flops)> _entries = new();

    /// <summary>Adds one call of <paramref name="kernel"/> begun at <paramref name="startTimestamp"/> (<see cref="Stopwatch.GetTimestamp"/>) and ending now.</summary>
    /// <param name="kernel">The kernel's name.</param>
    /// <param name="a">First shape number (rows, images; 0 if unused).</param>
    /// <param name="b">Second (input width, heads; 0 if unused).</param>
    /// <param name="c">Third (output width, tokens; 0 if unused).</param>
    /// <param name="n">Fourth (head dim, element count; 0 if unused).</param>
    /// <param name="startTimestamp">When the call began.</param>
    /// <param name="flops">The call's matrix-product FLOPs.</param>
    public void Add(string kernel, int a, int b, int c, long n, long startTimestamp, double flops)
    {
        long ticks = Stopwatch.GetTimestamp() - startTimestamp;
        ref var e = ref CollectionsMarshal.GetValueRefOrAddDefault(_entries, (kernel, a, b, c, n), out _);
        e = (e.Calls + 1, e.Ticks + ticks, e.Flops + flops);
    }

    /// <summary>Forgets every call recorded.</summary>
    public void Clear() => _entries.Clear();

    /// <summary>Wall time of every recorded call, summed.</summary>
    public double TotalSeconds => _entries.Values.Sum(e => e.Ticks) / (double)Stopwatch.Frequency;

    /// <summary>The entries, longest first.</summary>
    public IReadOnlyList<KernelTiming> Entries =>
        [.. _entries.Select(kv => new KernelTiming(kv.Key.Kernel, Shape(kv.Key), kv.Value.Calls, kv.Value.Ticks / (double)Stopwatch.Frequency, kv.Value.Flops))
            .OrderByDescending(t => t.Seconds).ThenBy(t => t.Kernel, StringComparer.Ordinal).ThenBy(t => t.Shape, StringComparer.Ordinal)];

    private static string Shape((string Kernel, int A, int B, int C, long N) k) => k.Kernel switch
    {
        _ when k.Kernel.StartsWith("Linear", StringComparison.Ordinal) => Invariant($"{k.A} × {k.B} → {k.C}"),
        _ when k.Kernel.StartsWith("Attention", StringComparison.Ordinal) => Invariant($"{k.A} × {k.B} heads × {k.C} tokens × {k.N}"),
        _ when k.Kernel.StartsWith("PatchEmbedding", StringComparison.Ordinal) => Invariant($"{k.A} × {k.B} ch × {k.C} px, patch {k.N}"),
        _ when k.B != 0 || k.C != 0 => Invariant($"{k.A} × {k.B}{(k.C != 0 ? Invariant($" × {k.C}") : "")}"),
        _ when k.N != 0 => Invariant($"{k.N:N0}"),
        _ => Invariant($"{k.A}"),
    };

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
