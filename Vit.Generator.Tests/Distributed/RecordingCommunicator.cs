using Vit.Memory;
using Vit.Training;

namespace Vit.Tests.Distributed;

/// <summary>A one-rank communicator that records what is started when.</summary>
internal sealed class RecordingCommunicator : Communicator
{
    public List<(long Offset, int Count, bool DuringBackward)> Started { get; } = [];

    public bool InBackward { get; set; }

    public override int Rank => 0;

    public override int Size => 1;

    public override int LocalSize => 1;

    public override void AllReduceSum(Span<double> values)
    {
    }

    public override void AllReduceSum(NativeBuffer buffer, long offset, int count)
    {
    }

    public override void StartAllReduceSum(NativeBuffer buffer, long offset, int count) => Started.Add((offset, count, InBackward));

    public override bool TestAll() => true;

    public override void WaitAll()
    {
    }

    public override void AllGather(ulong value, Span<ulong> all) => all[0] = value;

    public override void Broadcast(NativeBuffer buffer, long offset, long length, int root = 0)
    {
    }

    public override void Broadcast(Span<ulong> values, int root = 0)
    {
    }

    public override void Barrier()
    {
    }
}
