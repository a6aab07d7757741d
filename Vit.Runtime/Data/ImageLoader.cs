using System.Runtime.ExceptionServices;
using Vit.Numerics;

namespace Vit.Data;

/// <summary>How an <see cref="ImageLoader"/> orders and prepares its batches.</summary>
/// <param name="Shuffle">Visit the images in a new random order each epoch (a function of <paramref name="Seed"/> and the epoch only).</param>
/// <param name="Seed">The seed of the shuffle order and of the transform's random draws.</param>
/// <param name="DropLast">Leave out the last batch of an epoch when it would be smaller than the batch size.</param>
/// <param name="Prefetch">How many batches are prepared ahead (at least 1; raised to <paramref name="Workers"/>).</param>
/// <param name="ShardIndex">Data-parallel training: this rank's shard, in [0, <paramref name="ShardCount"/>).</param>
/// <param name="ShardCount">Data-parallel training: the ranks. Batch k of an epoch is then the <paramref name="ShardIndex"/>-th
/// slice of batch size images of the global batch k (batch size × <paramref name="ShardCount"/> images of the epoch's order), so
/// the ranks together see exactly what one process with the global batch sees, with the same augmentation draws.</param>
/// <param name="Workers">Background threads preparing batches, each a whole batch at a time (0: one for CIFAR records at
/// their own size, else one per processor, at most 8: decoding and resampling are the costly part).</param>
public sealed record LoaderOptions(bool Shuffle, ulong Seed, bool DropLast, int Prefetch = 2, int ShardIndex = 0, int ShardCount = 1, int Workers = 0);

/// <summary>
/// One batch from an <see cref="ImageLoader"/>. Its buffers belong to the loader and stay valid
/// until the next call of <see cref="ImageLoader.Next"/>, <see cref="ImageLoader.StartEpoch"/> or
/// <see cref="ImageLoader.Dispose"/>.
/// </summary>
public readonly struct LoaderBatch
{
    private readonly float[]? _images;
    private readonly int[]? _labels;
    private readonly int[]? _indices;
    private readonly int _sampleFloats;

    internal LoaderBatch(float[] images, int[] labels, int[] indices, int count, int index, int sampleFloats)
    {
        _images = images;
        _labels = labels;
        _indices = indices;
        _sampleFloats = sampleFloats;
        Count = count;
        Index = index;
    }

    /// <summary>The images, normalized float32, NCHW: <see cref="Count"/> × 3 × S × S (S the transform's size).</summary>
    public ReadOnlySpan<float> Images => _images is null ? default : _images.AsSpan(0, Count * _sampleFloats);

    /// <summary>The labels, one per image.</summary>
    public ReadOnlySpan<int> Labels => _labels is null ? default : _labels.AsSpan(0, Count);

    /// <summary>The dataset index of each image (where it sits in <see cref="ImageLoader.Dataset"/>).</summary>
    public ReadOnlySpan<int> SampleIndices => _indices is null ? default : _indices.AsSpan(0, Count);

    /// <summary>The number of images: the batch size, or fewer in an epoch's last batch.</summary>
    public int Count { get; }

    /// <summary>The batch's index within its epoch, from 0.</summary>
    public int Index { get; }
}

/// <summary>
/// Serves an <see cref="ImageDataset"/> as normalized float batches through a
/// <see cref="SampleTransform"/>, prepared ahead by background workers so that a training step
/// does not wait for data.
/// </summary>
/// <remarks>
/// <para>Determinism: the order of epoch e is a function of (<see cref="LoaderOptions.Seed"/>, e)
/// only, and the transform's draws for the sample at position i of epoch e are a function of
/// (seed, e, i). Batches are therefore the same whatever the thread timing or the number of
/// workers, and a run resumed with <c>StartEpoch(e, k)</c> gets exactly the batches k, k+1, … of a
/// full epoch e.</para>
/// <para>Parallelism: each of <see cref="Workers"/> threads takes the next batch to prepare and
/// fills it whole (decoding, resampling, augmenting), so several batches are prepared at once;
/// <see cref="Next"/> hands them out in order.</para>
/// <para>Memory: <see cref="LoaderOptions.Prefetch"/> + 1 batch buffers are allocated once and
/// reused; a steady-state <see cref="Next"/> allocates nothing (decoding image files allocates on
/// the workers).</para>
/// <para>Errors: an exception while preparing a batch is re-thrown by the <see cref="Next"/> call
/// that would have returned that batch (and by every later call until the next
/// <see cref="StartEpoch"/>). Use from one consumer thread.</para>
/// </remarks>
public sealed class ImageLoader : IDisposable
{
    private readonly object _gate = new();
    private readonly Slot[] _slots;
    private readonly int[] _order;
    private readonly Thread[] _threads;

    private int _generation, _epoch, _nextToProduce, _nextToConsume, _endBatch, _filling;
    private int _handedOut = -1;
    private bool _started, _disposed;
    private ExceptionDispatchInfo? _error;
    private int _errorBatch = int.MaxValue;

    /// <summary>Called on a worker with the batch index before a batch is filled (tests inject failures here).</summary>
    internal Action<int>? BeforeFill;

    /// <summary>Creates a loader; its workers start with the first <see cref="StartEpoch"/>.</summary>
    /// <param name="data">The images.</param>
    /// <param name="batchSize">Images per batch (the last batch may have fewer unless <see cref="LoaderOptions.DropLast"/>).</param>
    /// <param name="options">Order, prefetch depth, sharding and workers.</param>
    /// <param name="transform">How each image becomes the model's input (size, normalization, augmentation).</param>
    /// <exception cref="ArgumentException">The batch size, prefetch depth or workers are out of range, the dataset is
    /// empty, or <see cref="LoaderOptions.DropLast"/> leaves no batch at all.</exception>
    public ImageLoader(ImageDataset data, int batchSize, LoaderOptions options, SampleTransform transform)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(transform);
        if (batchSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be positive.");
        if (options.Prefetch <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.Prefetch, "LoaderOptions.Prefetch must be at least 1.");
        if (options.Workers is < 0 or > MaxWorkers)
            throw new ArgumentOutOfRangeException(nameof(options), options.Workers, $"LoaderOptions.Workers must lie in [0, {MaxWorkers}] (0: automatic).");
        if (data.Count == 0)
            throw new ArgumentException($"{data.Source} has no images to load.", nameof(data));
        if (options.ShardCount < 1 || (uint)options.ShardIndex >= (uint)options.ShardCount)
            throw new ArgumentOutOfRangeException(nameof(options), options.ShardIndex, $"LoaderOptions.ShardIndex must lie in [0, {options.ShardCount}).");
        long global = (long)batchSize * options.ShardCount;
        if (options.DropLast && data.Count < global)
            throw new ArgumentException(
                $"The batch size {global} is larger than the {data.Count} images of {data.Source}, and DropLast is set, so an epoch would have no batches.",
                nameof(batchSize));

        Dataset = data;
        BatchSize = batchSize;
        Options = options;
        Transform = transform;
        BatchesPerEpoch = (int)(options.DropLast ? data.Count / global : (data.Count + global - 1) / global);
        Workers = options.Workers > 0 ? options.Workers : transform.IsCostly(data) ? Math.Clamp(Environment.ProcessorCount, 1, MaxWorkers) : 1;
        Workers = Math.Min(Workers, BatchesPerEpoch);

        int slots = Math.Max(options.Prefetch, Workers) + 1; // in flight or ready, one handed out
        _slots = new Slot[slots];
        for (int s = 0; s < slots; s++) _slots[s] = new Slot(batchSize, transform.OutputLength);
        _order = new int[data.Count];
        _threads = new Thread[Workers];
    }

    /// <summary>The most worker threads a loader runs.</summary>
    public const int MaxWorkers = 8;

    /// <summary>The images served.</summary>
    public ImageDataset Dataset { get; }

    /// <summary>Images per batch.</summary>
    public int BatchSize { get; }

    /// <summary>The options given at construction.</summary>
    public LoaderOptions Options { get; }

    /// <summary>How each image is rendered.</summary>
    public SampleTransform Transform { get; }

    /// <summary>The worker threads preparing batches.</summary>
    public int Workers { get; }

    /// <summary>Batches in one epoch: ⌈Count / (BatchSize × ShardCount)⌉, or ⌊Count / (BatchSize × ShardCount)⌋ with <see cref="LoaderOptions.DropLast"/>.</summary>
    public int BatchesPerEpoch { get; }

    /// <summary>The epoch last started with <see cref="StartEpoch"/>.</summary>
    public int Epoch
    {
        get { lock (_gate) return _epoch; }
    }

    /// <summary>
    /// The visiting order of epoch <paramref name="epoch"/>: a permutation of [0, order.Length),
    /// a pure function of (seed, epoch) (Fisher–Yates driven by a generator seeded from their hash).
    /// </summary>
    public static void EpochOrder(ulong seed, int epoch, Span<int> order)
    {
        for (int i = 0; i < order.Length; i++) order[i] = i;
        Shuffle(order, KeyHash.Of(seed, KeyHash.ShuffleStream, (ulong)epoch));
    }

    /// <summary>Fisher–Yates over <paramref name="items"/>, driven by a generator seeded with <paramref name="key"/>.</summary>
    internal static void Shuffle(Span<int> items, ulong key)
    {
        var rng = new Rng(key);
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = (int)(((rng.NextUInt64() >> 32) * (ulong)(i + 1)) >> 32);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>
    /// Starts (or restarts) epoch <paramref name="epoch"/> at batch <paramref name="firstBatch"/>;
    /// batches prepared for an earlier epoch are dropped, and the workers start preparing the new
    /// ones at once.
    /// </summary>
    /// <param name="epoch">The epoch number, from 0; it selects the order and the augmentation draws.</param>
    /// <param name="firstBatch">The first batch to serve (a resumed run skips the batches it already did).</param>
    /// <exception cref="ArgumentOutOfRangeException">A negative epoch, or <paramref name="firstBatch"/> outside [0, <see cref="BatchesPerEpoch"/>].</exception>
    public void StartEpoch(int epoch, int firstBatch = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        if ((uint)firstBatch > (uint)BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(firstBatch), firstBatch, $"The first batch must lie in [0, {BatchesPerEpoch}].");
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _generation++; // batches being filled now are discarded when they finish
            while (_filling > 0) Monitor.Wait(_gate);
            foreach (var slot in _slots) slot.State = SlotState.Free;
            _handedOut = -1;
            _error = null;
            _errorBatch = int.MaxValue;
            _epoch = epoch;
            if (Options.Shuffle) EpochOrder(Options.Seed, epoch, _order);
            else for (int i = 0; i < _order.Length; i++) _order[i] = i;
            _nextToProduce = _nextToConsume = firstBatch;
            _endBatch = BatchesPerEpoch;
            _started = true;
            for (int t = 0; t < _threads.Length; t++)
            {
                if (_threads[t] is not null) continue;
                _threads[t] = new Thread(Produce) { IsBackground = true, Name = $"ImageLoader worker {t}" };
                _threads[t].Start();
            }
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>
    /// The next batch of the current epoch, waiting for the workers if it is not ready.
    /// The previous batch's buffers are recycled by this call.
    /// </summary>
    /// <returns>False when the epoch has no more batches.</returns>
    /// <exception cref="InvalidOperationException"><see cref="StartEpoch"/> was not called.</exception>
    /// <exception cref="ObjectDisposedException">The loader was disposed.</exception>
    /// <remarks>An exception raised while the batch was prepared is re-thrown here.</remarks>
    public bool Next(out LoaderBatch batch)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_started) throw new InvalidOperationException("Call StartEpoch before Next.");
            if (_handedOut >= 0)
            {
                _slots[_handedOut].State = SlotState.Free;
                _handedOut = -1;
                Monitor.PulseAll(_gate);
            }
            while (true)
            {
                if (_nextToConsume >= _endBatch)
                {
                    batch = default;
                    return false;
                }
                for (int s = 0; s < _slots.Length; s++)
                {
                    var slot = _slots[s];
                    if (slot.State != SlotState.Ready || slot.Index != _nextToConsume) continue;
                    slot.State = SlotState.HandedOut;
                    _handedOut = s;
                    _nextToConsume++;
                    batch = new LoaderBatch(slot.Images, slot.Labels, slot.Indices, slot.Count, slot.Index, Transform.OutputLength);
                    return true;
                }
                if (_errorBatch == _nextToConsume) _error!.Throw();
                Monitor.Wait(_gate);
            }
        }
    }

    /// <summary>Stops the workers (waiting for batches being prepared) and releases the buffers.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            Monitor.PulseAll(_gate);
        }
        foreach (var thread in _threads)
            if (thread is not null && thread != Thread.CurrentThread) thread.Join();
    }

    private void Produce()
    {
        while (true)
        {
            int s, index, generation, epoch;
            lock (_gate)
            {
                while (!_disposed && (_error is not null || _nextToProduce >= _endBatch || FreeSlot() < 0))
                    Monitor.Wait(_gate);
                if (_disposed) return;
                s = FreeSlot();
                _slots[s].State = SlotState.Filling;
                index = _nextToProduce++;
                generation = _generation;
                epoch = _epoch;
                _filling++;
            }

            Exception? failure = null;
            try
            {
                BeforeFill?.Invoke(index);
                Fill(_slots[s], index, epoch);
            }
            catch (Exception e)
            {
                failure = e;
            }

            lock (_gate)
            {
                _filling--;
                var slot = _slots[s];
                if (generation != _generation || _disposed)
                {
                    slot.State = SlotState.Free;
                }
                else if (failure is not null)
                {
                    slot.State = SlotState.Free;
                    // Batches are taken in order, so every batch before this one is already being filled: they still come out.
                    if (index < _errorBatch)
                    {
                        _error = ExceptionDispatchInfo.Capture(failure);
                        _errorBatch = index;
                    }
                }
                else
                {
                    slot.State = SlotState.Ready;
                }
                Monitor.PulseAll(_gate);
            }
        }
    }

    private int FreeSlot()
    {
        for (int s = 0; s < _slots.Length; s++)
            if (_slots[s].State == SlotState.Free) return s;
        return -1;
    }

    // Runs on a worker; _order does not change while _filling > 0.
    private void Fill(Slot slot, int index, int epoch)
    {
        long start = ((long)index * Options.ShardCount + Options.ShardIndex) * BatchSize;
        int count = (int)Math.Clamp(Dataset.Count - start, 0, BatchSize); // a shard of the last global batch may be short or empty
        int floats = Transform.OutputLength;
        for (int j = 0; j < count; j++)
        {
            int position = (int)start + j;
            int sample = _order[position];
            slot.Labels[j] = Dataset.Label(sample);
            slot.Indices[j] = sample;
            Transform.Apply(Dataset, sample, Options.Seed, epoch, position, slot.Images.AsSpan(j * floats, floats));
        }
        slot.Count = count;
        slot.Index = index;
    }

    private enum SlotState
    {
        Free,
        Filling,
        Ready,
        HandedOut,
    }

    private sealed class Slot(int batchSize, int sampleFloats)
    {
        public readonly float[] Images = new float[batchSize * sampleFloats];
        public readonly int[] Labels = new int[batchSize];
        public readonly int[] Indices = new int[batchSize];
        public int Count;
        public int Index;
        public SlotState State;
    }
}
