using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Vit.Memory;
using static Vit.Training.MpiNative;

namespace Vit.Training;

/// <summary>
/// <see cref="Communicator"/> on <c>MPI_COMM_WORLD</c>, through thin bindings to Open MPI
/// (<see cref="MpiNative"/>). MPI is initialized with <c>MPI_THREAD_SERIALIZED</c> (one thread at
/// a time calls MPI: the training thread) and errors are returned, not fatal, so that a failed
/// collective becomes one <see cref="CommunicationException"/> line. Disposing finalizes MPI.
/// </summary>
public sealed unsafe class MpiCommunicator : Communicator
{
    private static readonly Lock s_gate = new();
    private static MpiCommunicator? s_world;

    private readonly Handles _h;
    private nint[] _pending = new nint[16];
    private int _pendingCount;
    private bool _finalized;

    private MpiCommunicator(Handles handles)
    {
        _h = handles;
        int initialized;
        Check(MPI_Initialized(&initialized), "MPI_Initialized");
        if (initialized == 0)
        {
            int provided;
            Check(MPI_Init_thread(null, null, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
            if (provided < MPI_THREAD_SERIALIZED)
                throw new CommunicationException($"Open MPI gives thread level {provided}, but vit needs MPI_THREAD_SERIALIZED ({MPI_THREAD_SERIALIZED}): the training thread is not the one that started the process");
        }
        Check(MPI_Comm_set_errhandler(_h.CommWorld, _h.ErrorsReturn), "MPI_Comm_set_errhandler");
        int rank, size;
        Check(MPI_Comm_rank(_h.CommWorld, &rank), "MPI_Comm_rank");
        Check(MPI_Comm_size(_h.CommWorld, &size), "MPI_Comm_size");
        Rank = rank;
        Size = size;
        LocalSize = EnvironmentInt("OMPI_COMM_WORLD_LOCAL_SIZE") ?? 1;
    }

    /// <summary>
    /// True when Open MPI's launcher started this process (it sets <c>OMPI_COMM_WORLD_SIZE</c>, and
    /// <c>PMIX_RANK</c> under PMIx): only then is <c>libmpi.so.40</c> loaded.
    /// </summary>
    public static bool Launched =>
        Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is not null || Environment.GetEnvironmentVariable("PMIX_RANK") is not null;

    /// <summary>The world communicator, initializing MPI on first use.</summary>
    /// <exception cref="CommunicationException">Open MPI cannot be loaded or initialized.</exception>
    public static MpiCommunicator World
    {
        get
        {
            lock (s_gate) return s_world ??= new MpiCommunicator(Handles.Load());
        }
    }

    /// <inheritdoc/>
    public override int Rank { get; }

    /// <inheritdoc/>
    public override int Size { get; }

    /// <inheritdoc/>
    public override int LocalSize { get; }

    /// <inheritdoc/>
    public override void AllReduceSum(Span<double> values)
    {
        fixed (double* v = values)
            Check(MPI_Allreduce((void*)MPI_IN_PLACE, v, values.Length, _h.Double, _h.Sum, _h.CommWorld), "MPI_Allreduce");
    }

    /// <inheritdoc/>
    public override void AllReduceSum(NativeBuffer buffer, long offset, int count)
    {
        float* p = Range(buffer, offset, count);
        Check(MPI_Allreduce((void*)MPI_IN_PLACE, p, count, _h.Float, _h.Sum, _h.CommWorld), "MPI_Allreduce");
    }

    /// <inheritdoc/>
    public override void StartAllReduceSum(NativeBuffer buffer, long offset, int count)
    {
        float* p = Range(buffer, offset, count);
        if (_pendingCount == _pending.Length) Array.Resize(ref _pending, _pending.Length * 2);
        nint request;
        Check(MPI_Iallreduce((void*)MPI_IN_PLACE, p, count, _h.Float, _h.Sum, _h.CommWorld, &request), "MPI_Iallreduce");
        _pending[_pendingCount++] = request;
    }

    /// <inheritdoc/>
    public override bool TestAll()
    {
        if (_pendingCount == 0) return true;
        int done;
        fixed (nint* r = _pending)
            Check(MPI_Testall(_pendingCount, r, &done, null), "MPI_Testall");
        if (done != 0) _pendingCount = 0;
        return done != 0;
    }

    /// <inheritdoc/>
    public override void WaitAll()
    {
        if (_pendingCount == 0) return;
        fixed (nint* r = _pending)
            Check(MPI_Waitall(_pendingCount, r, null), "MPI_Waitall");
        _pendingCount = 0;
    }

    /// <inheritdoc/>
    public override void AllGather(ulong value, Span<ulong> all)
    {
        if (all.Length != Size) throw new ArgumentException($"AllGather needs room for {Size} values, found {all.Length}.", nameof(all));
        fixed (ulong* a = all)
            Check(MPI_Allgather(&value, 1, _h.UInt64, a, 1, _h.UInt64, _h.CommWorld), "MPI_Allgather");
    }

    /// <inheritdoc/>
    public override void Broadcast(NativeBuffer buffer, long offset, long length, int root = 0)
    {
        for (long done = 0; done < length;)
        {
            int count = (int)Math.Min(length - done, 1 << 28);
            Check(MPI_Bcast(Range(buffer, offset + done, count), count, _h.Float, root, _h.CommWorld), "MPI_Bcast");
            done += count;
        }
    }

    /// <inheritdoc/>
    public override void Broadcast(Span<ulong> values, int root = 0)
    {
        fixed (ulong* v = values)
            Check(MPI_Bcast(v, values.Length, _h.UInt64, root, _h.CommWorld), "MPI_Bcast");
    }

    /// <inheritdoc/>
    public override void Barrier() => Check(MPI_Barrier(_h.CommWorld), "MPI_Barrier");

    /// <summary>Ends the whole run at once (every rank), with <paramref name="exitCode"/>: for a rank that cannot go on.</summary>
    [DoesNotReturn]
    public void Abort(int exitCode)
    {
        _ = MPI_Abort(_h.CommWorld, exitCode);
        Environment.Exit(exitCode);
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        lock (s_gate)
        {
            if (_finalized) return;
            _finalized = true;
            int finalized;
            if (MPI_Finalized(&finalized) == MPI_SUCCESS && finalized == 0) _ = MPI_Finalize();
            if (s_world == this) s_world = null;
        }
    }

    private static float* Range(NativeBuffer buffer, long offset, long count)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (offset < 0 || count < 0 || offset + count > buffer.Length)
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"[{offset}, {offset + count}) is outside the buffer's {buffer.Length} floats.");
        return buffer.Start.Pointer + offset;
    }

    private void Check(int code, string call)
    {
        if (code == MPI_SUCCESS) return;
        var text = stackalloc byte[MPI_MAX_ERROR_STRING];
        int length = 0;
        string message = MPI_Error_string(code, text, &length) == MPI_SUCCESS && length > 0
            ? System.Text.Encoding.ASCII.GetString(text, length)
            : $"error {code}";
        throw new CommunicationException($"rank {Rank} of {Size}: {call} failed: {message} (another rank may have stopped)");
    }

    private static int? EnvironmentInt(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : null;
}
