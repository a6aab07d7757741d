using System.Runtime.ExceptionServices;

namespace Vit.Kernels;

/// <summary>
/// A fixed set of persistent worker threads that run one data-parallel loop at a time with
/// static partitioning: <see cref="Run"/> splits <c>[0, count)</c> into one contiguous chunk
/// per thread and the calling thread runs the first chunk itself.
/// </summary>
/// <remarks>
/// <para>Kernels call it with a static function pointer and a pointer to an unmanaged argument
/// struct on their stack, so a call allocates nothing.</para>
/// <para>One pool serves one caller thread at a time: two threads must not call <see cref="Run"/>
/// on the same pool concurrently (different pools are independent). A <see cref="Run"/> issued
/// from inside a running body (of any pool) runs inline on the current thread, so nested
/// parallel kernels cannot deadlock.</para>
/// </remarks>
public sealed unsafe class WorkerPool : IDisposable
{
    private static readonly Lazy<WorkerPool> s_shared = new(() => new WorkerPool(DefaultThreadCount()));

    [ThreadStatic] private static int t_depth;

    private readonly Thread[] _workers;
    private readonly SemaphoreSlim[] _start;
    private readonly ManualResetEventSlim _done = new(false, spinCount: 2000);

    private delegate*<void*, int, int, void> _body;
    private void* _context;
    private int _count;
    private int _parts;
    private int _pending;
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

    /// <summary>
    /// The process-wide pool the kernels use. Its thread count is the <c>VIT_THREADS</c>
    /// environment variable when that is a positive integer, else <see cref="Environment.ProcessorCount"/>.
    /// </summary>
    public static WorkerPool Shared => s_shared.Value;

    /// <summary>Starts a pool of <paramref name="threads"/> threads, the caller included (so <c>threads - 1</c> are created).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is less than 1.</exception>
    public WorkerPool(int threads)
    {
        if (threads < 1)
            throw new ArgumentOutOfRangeException(nameof(threads), threads, "A worker pool needs at least one thread.");
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
    public void Run(delegate*<void*, int, int, void> body, void* context, int count)
    {
        if (count <= 0) return;
        ObjectDisposedException.ThrowIf(_stopping, this);
        int parts = Math.Min(Threads, count);
        if (parts == 1 || t_depth > 0)
        {
            t_depth++;
            try { body(context, 0, count); }
            finally { t_depth--; }
            return;
        }

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
        return int.TryParse(value, out int n) && n > 0 ? n : Environment.ProcessorCount;
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
