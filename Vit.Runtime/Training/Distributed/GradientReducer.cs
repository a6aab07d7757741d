using System.Diagnostics;
using Vit.Backends;
using Vit.Memory;

namespace Vit.Training;

/// <summary>How a data-parallel run reduces gradients and checks its replicas.</summary>
public sealed record DataParallelOptions
{
    /// <summary>DDP's default bucket size: 25 MiB of gradients per all-reduce.</summary>
    public const double DefaultBucketMegabytes = 25;

    /// <summary>Gradients per all-reduce, in MiB (a bucket holds whole parameters, so one may be larger).</summary>
    public double BucketMegabytes { get; init; } = DefaultBucketMegabytes;

    /// <summary>Start each bucket's all-reduce as soon as the backward pass has finished its gradients (else: all after backward).</summary>
    public bool Overlap { get; init; } = true;

    /// <summary>Compare a checksum of the parameters across ranks every this many optimizer steps; 0: at the end of each epoch only.</summary>
    public int CheckReplicasEvery { get; init; }

    /// <summary>Checks the values, naming the bad one.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        if (!(BucketMegabytes > 0 && BucketMegabytes <= 1024))
            throw new ArgumentOutOfRangeException(nameof(BucketMegabytes), BucketMegabytes, $"{nameof(BucketMegabytes)} must be in (0, 1024], found {BucketMegabytes}.");
        if (CheckReplicasEvery < 0)
            throw new ArgumentOutOfRangeException(nameof(CheckReplicasEvery), CheckReplicasEvery, $"{nameof(CheckReplicasEvery)} must be ≥ 0, found {CheckReplicasEvery}.");
    }
}

/// <summary>
/// Sums the trained parameters' gradients over the ranks, as PyTorch DDP's reducer does: the
/// gradient buffer is cut into buckets of about <see cref="DataParallelOptions.BucketMegabytes"/>
/// (whole parameters and the padding between them, in the order backward finishes them: head first, stem last),
/// and each bucket's non-blocking all-reduce starts when the backward pass signals
/// (<see cref="IGradientObserver"/>) that its gradients are final, so communication runs while
/// earlier blocks are still being differentiated. <see cref="Finish"/> starts what is left and
/// waits; the time it waits is the communication that was not hidden.
/// </summary>
public sealed class GradientReducer : IGradientObserver
{
    private readonly Communicator _communicator;
    private readonly NativeBuffer _gradients;
    private readonly (long Start, int Count)[] _buckets; // falling Start
    private readonly bool _overlap;
    private readonly Stopwatch _clock = new();
    private int _next;

    /// <summary>Plans the buckets for <paramref name="trained"/>'s gradients in <paramref name="memory"/>.</summary>
    public GradientReducer(Communicator communicator, ModelMemory memory, IReadOnlyList<ParameterInfo> trained, DataParallelOptions options)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(trained);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _communicator = communicator;
        _gradients = memory.Gradients;
        _overlap = options.Overlap;
        long target = Math.Max(1, (long)(options.BucketMegabytes * 1024 * 1024 / sizeof(float)));
        // Walk the parameters from the last to the first. A bucket grows downwards over trained
        // parameters (and the alignment padding between them, which is zero on every rank) until
        // it reaches the target; a frozen parameter ends it.
        var isTrained = trained.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var buckets = new List<(long, int)>();
        long start = -1, end = -1;
        foreach (var p in memory.Table.Parameters.OrderByDescending(p => p.Offset))
        {
            if (!isTrained.Contains(p.Name))
            {
                if (start >= 0) buckets.Add((start, (int)(end - start)));
                start = end = -1;
                continue;
            }
            if (start >= 0 && end - p.Offset <= Math.Min(target, int.MaxValue)) start = p.Offset;
            else
            {
                if (start >= 0) buckets.Add((start, (int)(end - start)));
                start = p.Offset;
                end = p.Offset + p.Length;
            }
        }
        if (start >= 0) buckets.Add((start, (int)(end - start)));
        _buckets = [.. buckets];
    }

    /// <summary>The buckets, as (first float, floats), in the order they are reduced.</summary>
    public IReadOnlyList<(long Start, int Count)> Buckets => _buckets;

    /// <summary>Seconds <see cref="Finish"/> spent waiting for reductions (communication not hidden behind backward).</summary>
    public double WaitSeconds { get; private set; }

    /// <summary>Optimizer steps reduced so far.</summary>
    public long Steps { get; private set; }

    /// <summary>
    /// Fault injection for the tests that prove a lost shard is caught: this rank contributes zeros
    /// instead of its gradients (and reduces only after backward). Set by <see cref="Trainer"/> from
    /// <c>VIT_FAULT_DROP_GRADIENTS_RANK</c>.
    /// </summary>
    internal bool DropOwnGradients { get; set; }

    /// <summary>Called before the backward pass whose gradients are to be reduced.</summary>
    public void Begin() => _next = 0;

    /// <inheritdoc/>
    public void GradientsFinal(long from)
    {
        if (!_overlap || DropOwnGradients) return;
        while (_next < _buckets.Length && _buckets[_next].Start >= from)
        {
            var (s, n) = _buckets[_next++];
            _communicator.StartAllReduceSum(_gradients, s, n);
        }
        _communicator.TestAll(); // MPI moves non-blocking collectives on only inside its calls
    }

    /// <summary>Starts every bucket not yet started and waits for all: the gradients are then summed over the ranks.</summary>
    public void Finish()
    {
        _clock.Restart();
        while (_next < _buckets.Length)
        {
            var (s, n) = _buckets[_next++];
            if (DropOwnGradients) _gradients.Slice(s, n).Clear();
            _communicator.StartAllReduceSum(_gradients, s, n);
        }
        _communicator.WaitAll();
        WaitSeconds += _clock.Elapsed.TotalSeconds;
        Steps++;
    }
}
