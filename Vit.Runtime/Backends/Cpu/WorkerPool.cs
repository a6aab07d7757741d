using System.Runtime.ExceptionServices;

namespace Vit.Backends.Cpu;

/// <summary>
/// A fixed set of persistent worker threads that run one data-parallel loop at a time with
/// static partitioning: <see cref="Run"/> splits <c>[0, count)</c> into one contiguous chunk
/// per thread and the calling thread runs the first chunk itself.
/// </summary>
/// <remarks>
/// <para>Kernels call it with a static function pointer and a pointer to an unmanaged argument
/// struct on their stack, so a call allocates nothing.</para>
/// <para>One pool serves one caller thread at a time: a <see cref="Run"/> from a second thread
/// while the pool is busy runs inline on that thread (correct, just not parallel), and one issued
/// from inside a running body (of any pool) runs inline too, so nested parallel kernels cannot
/// deadlock.</para>
/// </remarks>
public sealed unsafe class WorkerPool : IDisposable
{
    private static readonly object s_sharedLock = new();
    private static volatile WorkerPool? s_shared;

    [ThreadStatic] private static int t_depth;

    private readonly Thread[] _workers;
    private readonly SemaphoreSlim[] _start;
    private readonly ManualResetEventSlim _done = new(false, spinCount: 2000);

    private delegate*<void*, int, int, void> _body;
    private void* _context;
    private int _count;
    private int _parts;
    private int _pending;
    private int _busy;
    private volatile bool _stopping;
    private Exception? _error;

    // Managed bytes each worker thread has allocated, sampled after each chunk it runs
    // (GC.GetAllocatedBytesForCurrentThread is a cheap read). One cache line per worker.
    private readonly long[] _workerAllocated;

    /// <summary>
    /// Managed bytes allocated so far by this pool's worker threads (not the caller's), as of the
    /// end of each one's last chunk. With <see cref="GC.GetAllocatedBytesForCurrentThread"/> on the
    /// caller, this measures exactly what a computation allocated, whatever other threads do.
    /// </summary>
    public long WorkerAllocatedBytes
    {
        get
        {
            long total = 0;
            for (int part = 1; part < Threads; part++) total += Volatile.Read(ref _workerAllocated[part * 8]);
            return total;
        }
    }

    /// <summary>The most threads a pool runs (kernels gain nothing from more threads than cores; each thread costs a stack).</summary>
    public const int MaxThreads = 256;

    /// <summary>
    /// The process-wide pool the kernels use. Its thread count is the last <see cref="Configure"/>
    /// call's, else the <c>VIT_THREADS</c> environment variable (an integer from 1 to <see cref="MaxThreads"/>;
    /// anything else is an error, not ignored),
    /// else <see cref="PhysicalCoreCount"/>.
    /// </summary>
    public static WorkerPool Shared => s_shared ?? CreateShared(DefaultThreadCount());

    /// <summary>
    /// Sets the thread count of <see cref="Shared"/>: starts a new shared pool when the count differs
    /// from the current one (and stops the old one). Call it between computations, not during one.
    /// </summary>
    /// <param name="threads">Threads per loop, the caller included.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is not in [1, <see cref="MaxThreads"/>].</exception>
    public static void Configure(int threads)
    {
        if (threads < 1 || threads > MaxThreads)
            throw new ArgumentOutOfRangeException(nameof(threads), threads, $"A worker pool has 1 to {MaxThreads} threads, found {threads}.");
        lock (s_sharedLock)
        {
            var old = s_shared;
            if (old is not null && old.Threads == threads) return;
            s_shared = new WorkerPool(threads);
            old?.Dispose();
        }
    }

    private static WorkerPool CreateShared(int threads)
    {
        lock (s_sharedLock) return s_shared ??= new WorkerPool(threads);
    }

    /// <summary>
    /// The number of physical cores: distinct (physical id, core id) pairs in <c>/proc/cpuinfo</c>
    /// on Linux, so SMT siblings count once; <see cref="Environment.ProcessorCount"/> elsewhere or
    /// when that file says nothing usable. Never more than <see cref="Environment.ProcessorCount"/>
    /// (the process may be limited to fewer CPUs).
    /// </summary>
    public static int PhysicalCoreCount { get; } = CountPhysicalCores();

    private static int CountPhysicalCores()
    {
        int logical = Environment.ProcessorCount;
        try
        {
            if (!OperatingSystem.IsLinux() || !File.Exists("/proc/cpuinfo")) return logical;
            var cores = new HashSet<(string, string)>();
            string physical = "0", core = "";
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                int colon = line.IndexOf(':');
                if (colon < 0) continue;
                string key = line[..colon].Trim(), value = line[(colon + 1)..].Trim();
                if (key == "processor") { physical = "0"; core = ""; }
                else if (key == "physical id") physical = value;
                else if (key == "core id") { core = value; cores.Add((physical, core)); }
            }
            return cores.Count == 0 ? logical : Math.Clamp(cores.Count, 1, logical);
        }
        catch (IOException) { return logical; }
        catch (UnauthorizedAccessException) { return logical; }
    }

    /// <summary>Starts a pool of <paramref name="threads"/> threads, the caller included (so <c>threads - 1</c> are created).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is less than 1.</exception>
    public WorkerPool(int threads)
    {
        if (threads < 1 || threads > MaxThreads)
            throw new ArgumentOutOfRangeException(nameof(threads), threads, $"A worker pool has 1 to {MaxThreads} threads, found {threads}.");
        Threads = threads;
        _workers = new Thread[threads - 1];
        _start = new SemaphoreSlim[threads - 1];
        _workerAllocated = new long[threads * 8];
        for (int i = 0; i < _workers.Length; i++)
        {
            _start[i] = new SemaphoreSlim(0);
            int part = i + 1;
            _workers[i] = new Thread(() => WorkerLoop(part))
            {
                IsBackground = true,
                Name = $"Vit worker {part}",
            };
            _workers[i].Start();
        }
        // ManualResetEventSlim allocates its lock object the first time a Wait has to block; make
        // that happen here (a 1 ms wait on the unset event), not in some later Run, which must
        // allocate nothing.
        _done.Wait(1);
    }

    /// <summary>The number of threads that share a loop, the calling thread included.</summary>
    public int Threads { get; }

    /// <summary>
    /// Calls <paramref name="body"/>(<paramref name="context"/>, begin, end) over contiguous chunks
    /// that cover <c>[0, count)</c> exactly once, one chunk per thread, and returns when all are done.
    /// </summary>
    /// <param name="body">A static function; it must only touch the range it is given.</param>
    /// <param name="context">Passed to every call unchanged (usually a pointer to an argument struct).</param>
    /// <param name="count">The number of work items; zero or less does nothing.</param>
    /// <remarks>The first exception a chunk throws is rethrown here after every chunk has finished.</remarks>
    // Fully optimized from the first call: no tier-up transitions while a caller measures allocations.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void Run(delegate*<void*, int, int, void> body, void* context, int count)
    {
        if (count <= 0) return;
        ObjectDisposedException.ThrowIf(_stopping, this);
        int parts = Math.Min(Threads, count);
        // Nested calls, and calls from a second thread while the pool is busy, run inline.
        if (parts == 1 || t_depth > 0 || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            t_depth++;
            try { body(context, 0, count); }
            finally { t_depth--; }
            return;
        }
        try { RunParallel(body, context, count, parts); }
        finally { Volatile.Write(ref _busy, 0); }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void RunParallel(delegate*<void*, int, int, void> body, void* context, int count, int parts)
    {

        _body = body;
        _context = context;
        _count = count;
        _parts = parts;
        _error = null;
        _done.Reset();
        Volatile.Write(ref _pending, parts - 1);
        for (int i = 0; i < parts - 1; i++) _start[i].Release();

        Exception? own = null;
        t_depth++;
        try { body(context, 0, ChunkEnd(count, parts, 0)); }
        catch (Exception e) { own = e; }
        finally { t_depth--; }

        _done.Wait();
        _body = null;
        _context = null;
        var error = own ?? _error;
        if (error is not null) ExceptionDispatchInfo.Capture(error).Throw();
    }

    private static int ChunkEnd(int count, int parts, int part) => (int)((long)count * (part + 1) / parts);

    private void WorkerLoop(int part)
    {
        t_depth = 1;
        var start = _start[part - 1];
        while (true)
        {
            start.Wait();
            if (_stopping) return;
            int count = _count, parts = _parts;
            if (part < parts)
            {
                try
                {
                    _body(_context, ChunkEnd(count, parts, part - 1), ChunkEnd(count, parts, part));
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref _error, e, null);
                }
            }
            Volatile.Write(ref _workerAllocated[part * 8], GC.GetAllocatedBytesForCurrentThread());
            if (Interlocked.Decrement(ref _pending) == 0) _done.Set();
        }
    }

    private static int DefaultThreadCount()
    {
        string? value = Environment.GetEnvironmentVariable("VIT_THREADS");
        if (string.IsNullOrEmpty(value)) return PhysicalCoreCount;
        if (int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n >= 1 && n <= MaxThreads)
            return n;
        throw new InvalidOperationException($"VIT_THREADS must be an integer from 1 to {MaxThreads}, found '{value}'.");
    }

    /// <summary>Stops the worker threads. The pool must not be running a loop.</summary>
    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        foreach (var s in _start) s.Release();
        foreach (var t in _workers) t.Join();
        foreach (var s in _start) s.Dispose();
        _done.Dispose();
    }
}
