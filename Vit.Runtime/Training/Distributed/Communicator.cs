using Vit.Memory;

namespace Vit.Training;

/// <summary>A collective operation failed, or the communication library could not be used.</summary>
public sealed class CommunicationException(string message) : Exception(message);

/// <summary>
/// The ranks of one data-parallel run and the collectives <see cref="Trainer"/> uses on them:
/// sums of gradients and counters, broadcasts, and gathers of checksums. Every rank calls every
/// collective in the same order. <see cref="FromEnvironment"/> gives the MPI world when
/// <c>mpirun</c> started the process, else null (one process, nothing to communicate).
/// </summary>
public abstract class Communicator : IDisposable
{
    /// <summary>This process's rank, from 0.</summary>
    public abstract int Rank { get; }

    /// <summary>Ranks in the run.</summary>
    public abstract int Size { get; }

    /// <summary>Ranks on this machine (each should use its share of the cores).</summary>
    public abstract int LocalSize { get; }

    /// <summary>Rank 0: the one that prints and writes files.</summary>
    public bool IsRoot => Rank == 0;

    /// <summary>Every rank's <paramref name="values"/> summed, in place, on every rank.</summary>
    public abstract void AllReduceSum(Span<double> values);

    /// <summary>Every rank's floats [offset, offset + count) of <paramref name="buffer"/> summed, in place, on every rank.</summary>
    public abstract void AllReduceSum(NativeBuffer buffer, long offset, int count);

    /// <summary>
    /// Starts summing floats [offset, offset + count) of <paramref name="buffer"/> across ranks, in
    /// place, without waiting; the range must not be touched until <see cref="WaitAll"/> returns.
    /// </summary>
    public abstract void StartAllReduceSum(NativeBuffer buffer, long offset, int count);

    /// <summary>Lets started reductions make progress (MPI advances them only inside its calls); true when all are done.</summary>
    public abstract bool TestAll();

    /// <summary>Waits until every started reduction is complete.</summary>
    public abstract void WaitAll();

    /// <summary>Every rank's <paramref name="value"/>, in rank order, on every rank.</summary>
    public abstract void AllGather(ulong value, Span<ulong> all);

    /// <summary>Rank <paramref name="root"/>'s floats [offset, offset + length) of <paramref name="buffer"/> copied to every rank.</summary>
    public abstract void Broadcast(NativeBuffer buffer, long offset, long length, int root = 0);

    /// <summary>Rank <paramref name="root"/>'s <paramref name="values"/> copied to every rank.</summary>
    public abstract void Broadcast(Span<ulong> values, int root = 0);

    /// <summary>Waits until every rank has called it.</summary>
    public abstract void Barrier();

    /// <summary>
    /// The MPI world when <c>mpirun</c> (Open MPI) started this process, initialized on first use;
    /// null otherwise, and then no MPI library is loaded.
    /// </summary>
    /// <exception cref="CommunicationException">mpirun started the process but Open MPI cannot be loaded or initialized.</exception>
    public static Communicator? FromEnvironment() => MpiCommunicator.Launched ? MpiCommunicator.World : null;

    /// <inheritdoc/>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Ends communication.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }
}
