using System.Runtime.ExceptionServices;
using Vit.Numerics;

namespace Vit.Data;

/// <summary>How a <see cref="CifarLoader"/> orders, augments and normalizes its batches.</summary>
/// <param name="Shuffle">Visit the images in a new random order each epoch (a function of <paramref name="Seed"/> and the epoch only).</param>
/// <param name="Augment">Apply a random crop with 4 pixels of zero padding and a horizontal flip with probability 0.5 (see <see cref="Augmentation"/>).</param>
/// <param name="Seed">The seed of the shuffle order and of the augmentation draws.</param>
/// <param name="DropLast">Leave out the last batch of an epoch when it would be smaller than the batch size.</param>
/// <param name="Normalization">The per-channel mean and std applied to every pixel.</param>
/// <param name="Prefetch">How many batches the background thread prepares ahead (at least 1).</param>
/// <param name="ShardIndex">Data-parallel training: this rank's shard, in [0, <paramref name="ShardCount"/>).</param>
/// <param name="ShardCount">Data-parallel training: the ranks. Batch k of an epoch is then the <paramref name="ShardIndex"/>-th
/// slice of batch size images of the global batch k (batch size × <paramref name="ShardCount"/> images of the epoch's order), so
/// the ranks together see exactly what one process with the global batch sees, with the same augmentation draws.</param>
public sealed record LoaderOptions(bool Shuffle, bool Augment, ulong Seed, bool DropLast, Normalization Normalization, int Prefetch = 2,
    int ShardIndex = 0, int ShardCount = 1);

/// <summary>
/// One batch from a <see cref="CifarLoader"/>. Its buffers belong to the loader and stay valid
/// until the next call of <see cref="CifarLoader.Next"/>, <see cref="CifarLoader.StartEpoch"/> or
/// <see cref="CifarLoader.Dispose"/>.
/// </summary>
public readonly struct LoaderBatch
{
    private readonly float[]? _images;
    private readonly int[]? _labels;
    private readonly int[]? _indices;

    internal LoaderBatch(float[] images, int[] labels, int[] indices, int count, int index)
    {
        _images = images;
        _labels = labels;
        _indices = indices;
        Count = count;
        Index = index;
    }

    /// <summary>The images, normalized float32, NCHW: <see cref="Count"/> × 3 × 32 × 32.</summary>
    public ReadOnlySpan<float> Images => _images is null ? default : _images.AsSpan(0, Count * CifarDataset.ImageBytes);

    /// <summary>The labels, one per image.</summary>
    public ReadOnlySpan<int> Labels => _labels is null ? default : _labels.AsSpan(0, Count);

    /// <summary>The dataset index of each image (where it sits in <see cref="CifarLoader.Dataset"/>).</summary>
    public ReadOnlySpan<int> SampleIndices => _indices is null ? default : _indices.AsSpan(0, Count);

    /// <summary>The number of images: the batch size, or fewer in an epoch's last batch.</summary>
    public int Count { get; }

    /// <summary>The batch's index within its epoch, from 0.</summary>
    public int Index { get; }
}

/// <summary>
/// Serves a <see cref="CifarDataset"/> as normalized float batches, prepared ahead on a background
/// thread so that a training step does not wait for data.
/// </summary>
/// <remarks>
/// <para>Determinism: the order of epoch e is a function of (<see cref="LoaderOptions.Seed"/>, e)
/// only, and the augmentation of the sample at position i of epoch e is
/// <see cref="Augmentation.For"/>(seed, e, i), a counter-based hash. Batches are therefore the
/// same whatever the thread timing, and a run resumed with <c>StartEpoch(e, k)</c> gets exactly
/// the batches k, k+1, … of a full epoch e.</para>
/// <para>Memory: <see cref="LoaderOptions.Prefetch"/> + 1 batch buffers are allocated once and
/// reused; a steady-state <see cref="Next"/> allocates nothing.</para>
/// <para>Errors: an exception while preparing a batch is re-thrown by the <see cref="Next"/> call
/// that would have returned that batch (and by every later call until the next
/// <see cref="StartEpoch"/>). Use from one consumer thread.</para>
/// </remarks>
public sealed class CifarLoader : IDisposable
{
    private readonly object _gate = new();
    private readonly float[] _lut; // 3 × 256 normalized values
    private readonly Slot[] _slots;
    private readonly int[] _free; // stack of free slot ids
    private readonly int[] _ready; // ring of filled slot ids, in batch order
    private readonly int[] _order;

    private int _freeCount, _readyHead, _readyCount;
    private int _handedOut = -1;
    private int _generation, _epoch, _nextToProduce, _nextToConsume, _endBatch;
    private bool _started, _filling, _disposed;
    private ExceptionDispatchInfo? _error;
    private Thread? _thread;

    /// <summary>Called on the background thread with the batch index before a batch is filled (tests inject failures here).</summary>
    internal Action<int>? BeforeFill;

    /// <summary>Creates a loader; the background thread starts with the first <see cref="StartEpoch"/>.</summary>
    /// <param name="data">The images.</param>
    /// <param name="batchSize">Images per batch (the last batch may have fewer unless <see cref="LoaderOptions.DropLast"/>).</param>
    /// <param name="options">Order, augmentation, normalization and prefetch depth.</param>
    /// <exception cref="ArgumentException">The batch size or prefetch depth is not positive, the normalization is unusable,
    /// the dataset is empty, or <see cref="LoaderOptions.DropLast"/> leaves no batch at all.</exception>
    public CifarLoader(CifarDataset data, int batchSize, LoaderOptions options)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        if (batchSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be positive.");
        if (options.Prefetch <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.Prefetch, "LoaderOptions.Prefetch must be at least 1.");
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
        _lut = options.Normalization.LookupTable();
        BatchesPerEpoch = (int)(options.DropLast ? data.Count / global : (data.Count + global - 1) / global);

        int slots = options.Prefetch + 1; // Prefetch in flight or ready, one handed out
        _slots = new Slot[slots];
        _free = new int[slots];
        _ready = new int[slots];
        for (int s = 0; s < slots; s++)
        {
            _slots[s] = new Slot(batchSize);
            _free[_freeCount++] = s;
        }
        _order = new int[data.Count];
    }

    /// <summary>The images served.</summary>
    public CifarDataset Dataset { get; }

    /// <summary>Images per batch.</summary>
    public int BatchSize { get; }

    /// <summary>The options given at construction.</summary>
    public LoaderOptions Options { get; }

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
        var rng = new Rng(KeyHash.Of(seed, KeyHash.ShuffleStream, (ulong)epoch));
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = (int)(((rng.NextUInt64() >> 32) * (ulong)(i + 1)) >> 32);
            (order[i], order[j]) = (order[j], order[i]);
        }
    }

    /// <summary>
    /// Writes one image as normalized floats (CHW, 3 × 32 × 32) after applying
    /// <paramref name="augmentation"/>; padded pixels are 0 before normalization.
    /// </summary>
    /// <param name="image">3072 bytes, CHW, as <see cref="CifarDataset.Image"/> returns.</param>
    /// <param name="augmentation">The crop offsets and flip (<see cref="Augmentation.None"/> for none).</param>
    /// <param name="normalization">The per-channel mean and std.</param>
    /// <param name="destination">3072 floats.</param>
    public static void Render(ReadOnlySpan<byte> image, Augmentation augmentation, Normalization normalization, Span<float> destination) =>
        Render(image, augmentation, normalization.LookupTable(), destination);

    private static void Render(ReadOnlySpan<byte> image, Augmentation augmentation, float[] lut, Span<float> destination)
    {
        var a = augmentation;
        const int side = CifarDataset.Side, plane = side * side;
        if (image.Length != CifarDataset.ImageBytes)
            throw new ArgumentException($"A CIFAR image is {CifarDataset.ImageBytes} bytes, not {image.Length}.", nameof(image));
        if (destination.Length != CifarDataset.ImageBytes)
            throw new ArgumentException($"The destination must hold {CifarDataset.ImageBytes} floats, not {destination.Length}.", nameof(destination));
        if (Math.Abs(a.OffsetX) > Augmentation.Padding || Math.Abs(a.OffsetY) > Augmentation.Padding)
            throw new ArgumentOutOfRangeException(nameof(augmentation), augmentation, $"Crop offsets must lie in [-{Augmentation.Padding}, {Augmentation.Padding}].");

        for (int c = 0; c < CifarDataset.Channels; c++)
        {
            ReadOnlySpan<float> table = lut.AsSpan(c * 256, 256);
            ReadOnlySpan<byte> src = image.Slice(c * plane, plane);
            Span<float> dst = destination.Slice(c * plane, plane);
            if (a == default)
            {
                for (int i = 0; i < plane; i++) dst[i] = table[src[i]];
                continue;
            }
            float zero = table[0];
            // out(y, x) = in(y + OffsetY, x' + OffsetX), x' = 31 − x when flipped; outside the image: the zero pixel.
            for (int y = 0; y < side; y++)
            {
                Span<float> row = dst.Slice(y * side, side);
                int sy = y + a.OffsetY;
                if ((uint)sy >= side)
                {
                    row.Fill(zero);
                    continue;
                }
                ReadOnlySpan<byte> srcRow = src.Slice(sy * side, side);
                for (int x = 0; x < side; x++)
                {
                    int sx = (a.Flip ? side - 1 - x : x) + a.OffsetX;
                    row[x] = (uint)sx < side ? table[srcRow[sx]] : zero;
                }
            }
        }
    }

    /// <summary>
    /// Starts (or restarts) epoch <paramref name="epoch"/> at batch <paramref name="firstBatch"/>;
    /// batches prepared for an earlier epoch are dropped, and the background thread starts
    /// preparing the new ones at once.
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
            _generation++; // a batch being filled now is discarded when it finishes
            while (_filling) Monitor.Wait(_gate);

            while (_readyCount > 0)
            {
                _free[_freeCount++] = _ready[_readyHead];
                _readyHead = (_readyHead + 1) % _ready.Length;
                _readyCount--;
            }
            if (_handedOut >= 0)
            {
                _free[_freeCount++] = _handedOut;
                _handedOut = -1;
            }
            _error = null;
            _epoch = epoch;
            if (Options.Shuffle) EpochOrder(Options.Seed, epoch, _order);
            else for (int i = 0; i < _order.Length; i++) _order[i] = i;
            _nextToProduce = _nextToConsume = firstBatch;
            _endBatch = BatchesPerEpoch;
            _started = true;
            if (_thread is null)
            {
                _thread = new Thread(Produce) { IsBackground = true, Name = "CifarLoader prefetch" };
                _thread.Start();
            }
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>
    /// The next batch of the current epoch, waiting for the background thread if it is not ready.
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
                _free[_freeCount++] = _handedOut;
                _handedOut = -1;
                Monitor.PulseAll(_gate);
            }
            while (true)
            {
                if (_readyCount > 0)
                {
                    int s = _ready[_readyHead];
                    _readyHead = (_readyHead + 1) % _ready.Length;
                    _readyCount--;
                    _handedOut = s;
                    _nextToConsume++;
                    var slot = _slots[s];
                    batch = new LoaderBatch(slot.Images, slot.Labels, slot.Indices, slot.Count, slot.Index);
                    return true;
                }
                _error?.Throw();
                if (_nextToConsume >= _endBatch)
                {
                    batch = default;
                    return false;
                }
                Monitor.Wait(_gate);
            }
        }
    }

    /// <summary>Stops the background thread (waiting for a batch being prepared) and releases the buffers.</summary>
    public void Dispose()
    {
        Thread? thread;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            thread = _thread;
            Monitor.PulseAll(_gate);
        }
        if (thread is not null && thread != Thread.CurrentThread) thread.Join();
    }

    private void Produce()
    {
        while (true)
        {
            int s, index, generation;
            lock (_gate)
            {
                while (!_disposed && (_error is not null || _nextToProduce >= _endBatch || _freeCount == 0))
                    Monitor.Wait(_gate);
                if (_disposed) return;
                s = _free[--_freeCount];
                index = _nextToProduce++;
                generation = _generation;
                _filling = true;
            }

            Exception? failure = null;
            try
            {
                BeforeFill?.Invoke(index);
                Fill(_slots[s], index);
            }
            catch (Exception e)
            {
                failure = e;
            }

            lock (_gate)
            {
                _filling = false;
                if (generation != _generation || _disposed)
                {
                    _free[_freeCount++] = s;
                }
                else if (failure is not null)
                {
                    _free[_freeCount++] = s;
                    _error = ExceptionDispatchInfo.Capture(failure);
                }
                else
                {
                    _ready[(_readyHead + _readyCount) % _ready.Length] = s;
                    _readyCount++;
                }
                Monitor.PulseAll(_gate);
            }
        }
    }

    // Runs on the background thread; _order and _epoch do not change while _filling is set.
    private void Fill(Slot slot, int index)
    {
        long start = ((long)index * Options.ShardCount + Options.ShardIndex) * BatchSize;
        int count = (int)Math.Clamp(Dataset.Count - start, 0, BatchSize); // a shard of the last global batch may be short or empty
        for (int j = 0; j < count; j++)
        {
            int position = (int)start + j;
            int sample = _order[position];
            slot.Labels[j] = Dataset.Label(sample);
            slot.Indices[j] = sample;
            var augmentation = Options.Augment ? Augmentation.For(Options.Seed, _epoch, position) : Augmentation.None;
            Render(Dataset.Image(sample), augmentation, _lut, slot.Images.AsSpan(j * CifarDataset.ImageBytes, CifarDataset.ImageBytes));
        }
        slot.Count = count;
        slot.Index = index;
    }

    private sealed class Slot(int batchSize)
    {
        public readonly float[] Images = new float[batchSize * CifarDataset.ImageBytes];
        public readonly int[] Labels = new int[batchSize];
        public readonly int[] Indices = new int[batchSize];
        public int Count;
        public int Index;
    }
}
