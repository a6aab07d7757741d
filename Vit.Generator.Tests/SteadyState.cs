namespace Vit.Tests;

/// <summary>
/// Managed allocation of an action once the JIT has settled, measured without sleeping.
/// </summary>
/// <remarks>
/// The first calls of an action allocate for reasons that are not the code under test: first-use
/// buffers and pools, type initialization, and, with tiered compilation, tier-0 and instrumented
/// (tiered PGO) code that may allocate where the optimized code does not, until the background
/// JIT installs the optimized code, after 30 calls and a call-counting delay of at least 100 ms,
/// later on a loaded machine. That last part is the clock, so no fixed sleep is long enough for
/// certain. Instead the action runs in windows until one window allocates nothing (at most
/// <c>maxWindows</c>), and a longer confirming window after it must allocate nothing either. An
/// action that allocates every time never gets a quiet window; one that allocates now and then,
/// or only once tiered up, shows in the confirmation when that is long enough to pass the tier-up
/// threshold. Turning tiering off for the test assembly would be deterministic too, but would test
/// other code than what a JIT build runs.
/// </remarks>
internal static class SteadyState
{
    /// <summary>What <see cref="Allocation"/> saw.</summary>
    /// <param name="Quiet">Whether some window allocated nothing.</param>
    /// <param name="ConfirmedBytes">Bytes allocated by the confirming window (meaningful when <paramref name="Quiet"/>).</param>
    /// <param name="Windows">Bytes allocated by each window before it, in order.</param>
    public sealed record Result(bool Quiet, long ConfirmedBytes, IReadOnlyList<long> Windows)
    {
        /// <summary>The windows for a failure message: count, the first and the last few.</summary>
        public override string ToString() =>
            $"{Windows.Count} windows allocated " + (Windows.Count <= 12
                ? string.Join(", ", Windows)
                : string.Join(", ", Windows.Take(6)) + ", …, " + string.Join(", ", Windows.Skip(Windows.Count - 6))) + " bytes" +
            (Quiet ? $"; the confirming window allocated {ConfirmedBytes} bytes" : "; none was quiet");
    }

    /// <summary>
    /// Runs <paramref name="action"/> in windows of <paramref name="window"/> calls until a window
    /// allocates nothing by <paramref name="allocatedBytes"/>, then <paramref name="confirm"/> calls more.
    /// </summary>
    /// <param name="action">The step whose allocation is measured.</param>
    /// <param name="allocatedBytes">A monotone allocation counter that itself allocates nothing.</param>
    /// <param name="window">Calls per window.</param>
    /// <param name="confirm">Calls in the confirming window.</param>
    /// <param name="maxWindows">Windows to try before giving up (the bound on the test's time when it fails).</param>
    public static Result Allocation(Action action, Func<long> allocatedBytes, int window, int confirm, int maxWindows)
    {
        var windows = new List<long>(maxWindows);
        for (int w = 0; w < maxWindows; w++)
        {
            long before = allocatedBytes();
            for (int i = 0; i < window; i++) action();
            long bytes = allocatedBytes() - before;
            windows.Add(bytes); // between measurements, and within the list's capacity: no allocation
            if (bytes != 0) continue;
            before = allocatedBytes();
            for (int i = 0; i < confirm; i++) action();
            long confirmed = allocatedBytes() - before; // read before the result is allocated
            return new Result(true, confirmed, windows);
        }
        return new Result(false, 0, windows);
    }
}
