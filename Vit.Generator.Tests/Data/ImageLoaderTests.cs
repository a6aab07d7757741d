using Vit.Data;
using Xunit;

namespace Vit.Tests.Data;

/// <summary>
/// The prefetching loader: determinism (seed, epoch, position), resumption, augmentation and
/// normalization against scalar references, pooled buffers, and errors from the background thread.
/// </summary>
public sealed class ImageLoaderTests
{
    private static CifarDataset Data(int count) =>
        CifarDataset.FromRecords(CifarDatasetTests.Records(CifarKind.Cifar10, count, i => (i * 7) % 10), CifarKind.Cifar10, "synthetic", null);

    private static (LoaderOptions Options, SampleTransform Transform) Options(ulong seed = 42, bool shuffle = true, bool augment = true, bool dropLast = false, int prefetch = 2,
        int workers = 0) =>
        (new(shuffle, seed, dropLast, prefetch, Workers: workers), new PadCropTransform(32, Normalization.Cifar10, augment));

    private static ImageLoader New(ImageDataset data, int batch, (LoaderOptions Options, SampleTransform Transform) o) => new(data, batch, o.Options, o.Transform);

    /// <summary>Every batch of one epoch, copied: (index, images, labels, sample indices).</summary>
    private static List<(int Index, float[] Images, int[] Labels, int[] Samples)> Epoch(ImageLoader loader, int epoch, int firstBatch = 0)
    {
        loader.StartEpoch(epoch, firstBatch);
        var batches = new List<(int, float[], int[], int[])>();
        while (loader.Next(out var b))
            batches.Add((b.Index, b.Images.ToArray(), b.Labels.ToArray(), b.SampleIndices.ToArray()));
        return batches;
    }

    [Fact]
    public void SameSeedGivesTheSameBatches()
    {
        var data = Data(150);
        using var a = New(data, 32, Options());
        using var b = New(data, 32, Options(prefetch: 5));
        var ea = Epoch(a, 3);
        var eb = Epoch(b, 3);
        Assert.Equal(5, ea.Count);
        Assert.Equal(ea.Count, eb.Count);
        for (int i = 0; i < ea.Count; i++)
        {
            Assert.Equal(i, ea[i].Index);
            Assert.Equal(ea[i].Samples, eb[i].Samples);
            Assert.Equal(ea[i].Labels, eb[i].Labels);
            Assert.Equal(ea[i].Images, eb[i].Images);
        }
        Assert.Equal(22, ea[^1].Labels.Length); // 150 = 4 × 32 + 22
        // Every image exactly once, labels matching the dataset.
        var samples = ea.SelectMany(x => x.Samples).ToArray();
        Assert.Equal(Enumerable.Range(0, 150), samples.Order());
        Assert.Equal(samples.Select(data.Label), ea.SelectMany(x => x.Labels));
    }

    [Fact]
    public void ResumedEpochEqualsTheTailOfAFullEpoch()
    {
        var data = Data(100);
        using var loader = New(data, 16, Options());
        var full = Epoch(loader, 2);
        _ = Epoch(loader, 5); // another epoch in between must not matter
        for (int k = 0; k <= loader.BatchesPerEpoch; k++)
        {
            using var resumed = New(data, 16, Options());
            var tail = Epoch(resumed, 2, k);
            Assert.Equal(full.Count - k, tail.Count);
            for (int i = 0; i < tail.Count; i++)
            {
                Assert.Equal(full[k + i].Index, tail[i].Index);
                Assert.Equal(full[k + i].Samples, tail[i].Samples);
                Assert.Equal(full[k + i].Images, tail[i].Images);
            }
        }
    }

    [Fact]
    public void RestartingAnEpochMidwayServesItFromTheStart()
    {
        var data = Data(90);
        using var loader = New(data, 10, Options(prefetch: 3));
        var full = Epoch(loader, 1);
        loader.StartEpoch(1);
        Assert.True(loader.Next(out _));
        Assert.True(loader.Next(out _));
        var again = Epoch(loader, 1);
        Assert.Equal(full.Select(b => b.Images), again.Select(b => b.Images));
    }

    [Fact]
    public void EpochsAndSeedsDiffer()
    {
        var data = Data(64);
        using var loader = New(data, 64, Options());
        var e0 = Epoch(loader, 0)[0];
        var e1 = Epoch(loader, 1)[0];
        Assert.NotEqual(e0.Samples, e1.Samples);
        using var other = New(data, 64, Options(seed: 43));
        Assert.NotEqual(e0.Samples, Epoch(other, 0)[0].Samples);
        // The same epoch twice is the same.
        Assert.Equal(e0.Images, Epoch(loader, 0)[0].Images);
    }

    [Fact]
    public void OrderAndAugmentationDependOnPositionNotBatchSize()
    {
        var data = Data(60);
        using var small = New(data, 7, Options());
        using var large = New(data, 25, Options());
        float[] a = Epoch(small, 4).SelectMany(b => b.Images).ToArray();
        float[] b = Epoch(large, 4).SelectMany(b => b.Images).ToArray();
        Assert.Equal(a, b);
    }

    [Fact]
    public void WithoutShuffleTheOrderIsTheDatasetOrder()
    {
        var data = Data(20);
        using var loader = New(data, 8, Options(shuffle: false, augment: false));
        var epoch = Epoch(loader, 7);
        Assert.Equal(Enumerable.Range(0, 20), epoch.SelectMany(b => b.Samples));
        Assert.Equal([8, 8, 4], epoch.Select(b => b.Labels.Length));
    }

    [Fact]
    public void EpochOrderIsAPermutationDeterminedBySeedAndEpoch()
    {
        var a = new int[1000];
        var b = new int[1000];
        ImageLoader.EpochOrder(7, 3, a);
        ImageLoader.EpochOrder(7, 3, b);
        Assert.Equal(a, b);
        Assert.Equal(Enumerable.Range(0, 1000), a.Order());
        ImageLoader.EpochOrder(7, 4, b);
        Assert.NotEqual(a, b);
        Assert.True(a.Where((v, i) => v == i).Count() < 10, "the order barely moved");
    }

    [Fact]
    public void DropLastLeavesOutThePartialBatch()
    {
        var data = Data(50);
        using var loader = New(data, 16, Options(dropLast: true));
        Assert.Equal(3, loader.BatchesPerEpoch);
        Assert.All(Epoch(loader, 0), b => Assert.Equal(16, b.Labels.Length));
        using var keep = New(data, 16, Options());
        Assert.Equal(4, keep.BatchesPerEpoch);
        var e = Assert.Throws<ArgumentException>(() => New(Data(5), 16, Options(dropLast: true)));
        Assert.Contains("The batch size 16 is larger than the 5 images of synthetic", e.Message);
    }

    /// <summary>torchvision RandomCrop(32, padding=4) + RandomHorizontalFlip, written out over a padded copy.</summary>
    private static float[] ReferenceAugment(ReadOnlySpan<byte> chw, Augmentation a, Normalization n)
    {
        const int side = 32, pad = 4, padded = side + 2 * pad;
        var result = new float[3 * side * side];
        for (int c = 0; c < 3; c++)
        {
            var canvas = new byte[padded, padded]; // zeros around the image
            for (int y = 0; y < side; y++)
                for (int x = 0; x < side; x++)
                    canvas[y + pad, x + pad] = chw[c * side * side + y * side + x];
            int top = a.OffsetY + pad, left = a.OffsetX + pad; // torchvision's crop corner in the padded image
            for (int y = 0; y < side; y++)
                for (int x = 0; x < side; x++)
                {
                    int cx = a.Flip ? side - 1 - x : x;
                    byte v = canvas[top + y, left + cx];
                    result[c * side * side + y * side + x] = (v / 255f - n.Mean(c)) / n.Std(c);
                }
        }
        return result;
    }

    [Fact]
    public void AugmentationMatchesTheScalarReference()
    {
        var data = Data(40);
        var options = Options(seed: 9);
        using var loader = New(data, 16, options);
        var seen = new HashSet<Augmentation>();
        foreach (int epoch in new[] { 0, 1 })
        {
            var batches = Epoch(loader, epoch);
            for (int bi = 0; bi < batches.Count; bi++)
                for (int j = 0; j < batches[bi].Samples.Length; j++)
                {
                    int position = bi * 16 + j;
                    var a = Augmentation.For(options.Options.Seed, epoch, position);
                    seen.Add(a);
                    float[] expected = ReferenceAugment(data.Image(batches[bi].Samples[j]), a, options.Transform.Normalization);
                    float[] actual = batches[bi].Images.AsSpan(j * 3072, 3072).ToArray();
                    Assert.Equal(expected, actual);
                }
        }
        Assert.True(seen.Count > 30, $"only {seen.Count} distinct draws in 80 samples");

        // Hand-checked corners of the semantics.
        var image = data.Image(0);
        var n = Normalization.Identity;
        var shifted = new float[3072];
        PadCropTransform.Render(image, new Augmentation(OffsetX: 3, OffsetY: -2, Flip: false), n, shifted);
        Assert.Equal(0f, shifted[0]);                                      // row 0 comes from row −2: padding
        Assert.Equal(image[0 * 32 + 3] / 255f, shifted[2 * 32 + 0]);       // out(2, 0) = in(0, 3)
        Assert.Equal(0f, shifted[5 * 32 + 29]);                            // column 29 + 3 = 32: padding
        var flipped = new float[3072];
        PadCropTransform.Render(image, new Augmentation(0, 0, Flip: true), n, flipped);
        Assert.Equal(image[1024 + 5 * 32 + 31] / 255f, flipped[1024 + 5 * 32 + 0]);
    }

    [Fact]
    public void AugmentationDrawsCoverTheRangeEvenly()
    {
        var x = new int[9];
        var y = new int[9];
        int flips = 0;
        const int n = 90_000;
        for (int i = 0; i < n; i++)
        {
            var a = Augmentation.For(1234, 2, i);
            Assert.InRange(a.OffsetX, -4, 4);
            Assert.InRange(a.OffsetY, -4, 4);
            x[a.OffsetX + 4]++;
            y[a.OffsetY + 4]++;
            if (a.Flip) flips++;
        }
        Assert.All(x, c => Assert.InRange(c, 9_500, 10_500));
        Assert.All(y, c => Assert.InRange(c, 9_500, 10_500));
        Assert.InRange(flips, 44_000, 46_000);
        Assert.Equal(Augmentation.For(1234, 2, 17), Augmentation.For(1234, 2, 17));
        Assert.NotEqual(Enumerable.Range(0, 50).Select(i => Augmentation.For(1, 0, i)), Enumerable.Range(0, 50).Select(i => Augmentation.For(1, 1, i)));
    }

    [Fact]
    public void NormalizationUsesTheStandardStatistics()
    {
        Assert.Equal(new Normalization(0.4914f, 0.4822f, 0.4465f, 0.2470f, 0.2435f, 0.2616f), Normalization.Cifar10);
        Assert.Equal(new Normalization(0.5071f, 0.4865f, 0.4409f, 0.2673f, 0.2564f, 0.2762f), Normalization.Cifar100);
        Assert.Equal(Normalization.Cifar100, Normalization.For(CifarKind.Cifar100));

        var data = Data(3);
        using var loader = new ImageLoader(data, 3, new LoaderOptions(false, 0, false), new PadCropTransform(32, Normalization.Cifar100, augment: false));
        loader.StartEpoch(0);
        Assert.True(loader.Next(out var batch));
        var n = Normalization.Cifar100;
        for (int i = 0; i < 3; i++)
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < 1024; p += 11)
                {
                    byte x = data.Image(i)[c * 1024 + p];
                    double expected = (x / 255.0 - n.Mean(c)) / n.Std(c);
                    Assert.Equal(expected, batch.Images[i * 3072 + c * 1024 + p], 1e-5);
                }
        // Pixel 0 and 255 of the red channel, by hand.
        Assert.Equal((0 - 0.5071) / 0.2673, n.Apply(0, 0), 1e-5);
        Assert.Equal((1 - 0.5071) / 0.2673, n.Apply(0, 255), 1e-5);
        Assert.Throws<ArgumentException>(() => new Normalization(0, 0, 0, 1, 0, 1).Validate());
    }

    [Fact]
    public void BackgroundErrorsSurfaceOnNextInOrder()
    {
        using var loader = New(Data(100), 10, Options(prefetch: 4));
        loader.BeforeFill = index => { if (index == 3) throw new InvalidDataException($"batch {index} is broken"); };
        loader.StartEpoch(0);
        for (int i = 0; i < 3; i++)
        {
            Assert.True(loader.Next(out var b));
            Assert.Equal(i, b.Index);
        }
        var e = Assert.Throws<InvalidDataException>(() => loader.Next(out _));
        Assert.Equal("batch 3 is broken", e.Message);
        Assert.Throws<InvalidDataException>(() => loader.Next(out _)); // still failed until the next StartEpoch

        loader.BeforeFill = null;
        var epoch = Epoch(loader, 0);
        Assert.Equal(10, epoch.Count);
    }

    /// <summary>
    /// In steady state Next allocates nothing and hands out at most Prefetch + 1 buffers. Until the
    /// JIT has tiered up (time-based, so later on a loaded machine), tiered PGO's instrumented code
    /// allocates; that is the runtime warming up, so the test runs epochs (without sleeping, see
    /// <see cref="SteadyState"/>) until one is allocation-free, then requires the next one to be
    /// allocation-free too; a real per-batch allocation would show in every epoch.
    /// </summary>
    [Fact]
    public void BuffersArePooledAndNextDoesNotAllocate()
    {
        var data = Data(200);
        using var loader = New(data, 8, Options(prefetch: 2));
        var addresses = new HashSet<nint>(capacity: 64);
        var perEpoch = new List<long>();
        const int MaxEpochs = 5000; // each takes about a millisecond: the bound on the test's time when it fails
        for (int epoch = 0; epoch < MaxEpochs; epoch++)
        {
            loader.StartEpoch(epoch);
            long allocated = 0;
            int batches = 0;
            while (true)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                bool more = loader.Next(out var b);
                allocated += GC.GetAllocatedBytesForCurrentThread() - before;
                if (!more) break;
                unsafe
                {
                    fixed (float* p = b.Images) addresses.Add((nint)p);
                }
                batches++;
            }
            Assert.Equal(25, batches);
            perEpoch.Add(allocated);
            if (perEpoch.Count >= 3 && perEpoch[^1] == 0 && perEpoch[^2] == 0) break; // quiet, and confirmed by the next epoch
        }
        Assert.True(addresses.Count <= 3, $"{addresses.Count} distinct buffers for prefetch 2");
        Assert.True(perEpoch.Count >= 2 && perEpoch[^1] == 0 && perEpoch[^2] == 0,
            $"no two allocation-free epochs in a row among {perEpoch.Count}; the 26 Next calls of the last ones allocated {string.Join(", ", perEpoch.TakeLast(12))} bytes");
    }

    [Fact]
    public void MisuseIsReported()
    {
        var loader = New(Data(10), 4, Options());
        Assert.Throws<InvalidOperationException>(() => loader.Next(out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => loader.StartEpoch(0, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => loader.StartEpoch(-1));
        loader.StartEpoch(0, 3); // the end: nothing left
        Assert.False(loader.Next(out _));
        loader.Dispose();
        loader.Dispose();
        Assert.Throws<ObjectDisposedException>(() => loader.Next(out _));
        Assert.Throws<ObjectDisposedException>(() => loader.StartEpoch(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => New(Data(10), 0, Options()));
        Assert.Throws<ArgumentOutOfRangeException>(() => New(Data(10), 4, Options(prefetch: 0)));
    }
}
