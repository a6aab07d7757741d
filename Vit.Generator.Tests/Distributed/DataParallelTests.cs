using Vit.Backends;
using Vit.Data;
using Vit.Memory;
using Vit.Tests.Training;
using Vit.Training;
using Xunit;

namespace Vit.Tests.Distributed;

/// <summary>
/// The pieces of data-parallel training that run in one process: the backward pass's
/// GradientsFinal signals, the bucket plan, when buckets start, and the loader's shards.
/// The multi-process runs are in <see cref="MpiTrainingTests"/>.
/// </summary>
public class DataParallelTests
{
    private static string Subset(string file) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "cifar10-subset", file);

    private static CifarDataset Train(int count)
    {
        var names = CifarDataset.ReadClassNames(Subset("batches.meta.txt"), CifarKind.Cifar10);
        return CifarDataset.ReadFiles([Subset("cifar10-subset-train.bin")], CifarKind.Cifar10, names).Take(count);
    }

    private static (float[] Images, int[] Labels) Batch(int batch)
    {
        var data = Train(batch);
        var images = new float[batch * CifarDataset.ImageBytes];
        var labels = new int[batch];
        for (int i = 0; i < batch; i++)
        {
            PadCropTransform.Render(data.Image(i), Augmentation.None, Normalization.Cifar10, images.AsSpan(i * CifarDataset.ImageBytes, CifarDataset.ImageBytes));
            labels[i] = data.Label(i);
        }
        return (images, labels);
    }

    /// <summary>Records each signal and a copy of the gradients at that moment.</summary>
    private sealed class Recorder(ModelMemory memory) : IGradientObserver
    {
        public List<(long From, float[] Gradients)> Signals { get; } = [];

        public void GradientsFinal(long from) => Signals.Add((from, memory.Gradients.Slice(0, (int)memory.Layout.ParameterFloats).ToArray()));
    }

    [Fact]
    public void TheBackwardPassSignalsFinalGradientsHeadFirstStemLastAndTheyDoNotChangeAfterwards()
    {
        using var model = new SmallCifarPlain(seed: 3, maxBatch: 8);
        var (images, labels) = Batch(8);
        var recorder = new Recorder(model.Memory);
        model.ZeroGradients();
        model.Memory.GradientObserver = recorder;
        model.ForwardBackward(images, labels, 8);
        model.Memory.GradientObserver = null;
        var final = model.Memory.Gradients.Slice(0, (int)model.Memory.Layout.ParameterFloats).ToArray();

        long Offset(string name) => SmallCifarPlain.Parameters.Single(p => p.Name == name).Offset;
        // head (from norm.weight), blocks.1, blocks.0, the stem (from offset 0): falling.
        Assert.Equal([Offset("norm.weight"), Offset("blocks.1.norm1.weight"), Offset("blocks.0.norm1.weight"), 0L], recorder.Signals.Select(s => s.From));
        foreach (var (from, seen) in recorder.Signals)
        {
            // Everything from `from` on was already final; something below it was not yet (except after the stem).
            Assert.True(seen.AsSpan((int)from).SequenceEqual(final.AsSpan((int)from)), $"gradients from {from} changed after the signal");
            if (from > 0) Assert.False(seen.AsSpan(0, (int)from).SequenceEqual(final.AsSpan(0, (int)from)), $"the signal at {from} came later than it could");
        }
    }

    [Theory]
    [InlineData(25.0)]
    [InlineData(0.01)] // ~2,600 floats: many buckets, each of whole parameters
    public void BucketsCoverEveryTrainedGradientOnceInBackwardOrder(double megabytes)
    {
        using var model = new SmallCifarPlain(seed: 3, maxBatch: 8);
        var trained = model.Memory.Table.Parameters;
        var reducer = new GradientReducer(new RecordingCommunicator(), model.Memory, trained, new DataParallelOptions { BucketMegabytes = megabytes });
        var buckets = reducer.Buckets;
        // Falling and disjoint; every parameter inside exactly one bucket; each bucket starts at a parameter.
        for (int i = 1; i < buckets.Count; i++) Assert.True(buckets[i].Start + buckets[i].Count <= buckets[i - 1].Start);
        Assert.All(trained, p => Assert.Single(buckets, b => b.Start <= p.Offset && p.Offset + p.Length <= b.Start + b.Count));
        Assert.All(buckets, b => Assert.Contains(trained, p => p.Offset == b.Start));
        Assert.Equal(0, buckets[^1].Start);
        long target = (long)(megabytes * 1024 * 1024 / 4);
        long largest = trained.Max(p => p.Length);
        Assert.All(buckets, b => Assert.True(b.Count <= Math.Max(target, largest)));
        if (megabytes < 1) Assert.True(buckets.Count > 10, $"{buckets.Count} buckets");
        else Assert.Single(buckets);
    }

    [Fact]
    public void WithAFrozenBackboneOnlyTheHeadIsReduced()
    {
        using var model = new SmallCifarPlain(seed: 3, maxBatch: 8);
        var head = model.Memory.Table.Parameters.Where(Optimizer.HeadOnly).ToArray();
        var reducer = new GradientReducer(new RecordingCommunicator(), model.Memory, head, new DataParallelOptions());
        Assert.Equal(head.Max(p => p.Offset + p.Length) - head.Min(p => p.Offset), reducer.Buckets.Sum(b => (long)b.Count));
        Assert.Equal(head.Min(p => p.Offset), reducer.Buckets[^1].Start);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void WithOverlapEveryBucketStartsDuringBackwardInBucketOrder(bool overlap)
    {
        using var model = new SmallCifarPlain(seed: 3, maxBatch: 8);
        var communicator = new RecordingCommunicator();
        var reducer = new GradientReducer(communicator, model.Memory, model.Memory.Table.Parameters, new DataParallelOptions { BucketMegabytes = 0.01, Overlap = overlap });
        var (images, labels) = Batch(8);
        model.ZeroGradients();
        reducer.Begin();
        model.Memory.GradientObserver = reducer;
        communicator.InBackward = true;
        model.ForwardBackward(images, labels, 8);
        communicator.InBackward = false;
        model.Memory.GradientObserver = null;
        reducer.Finish();
        Assert.Equal(reducer.Buckets.Count, communicator.Started.Count);
        Assert.Equal(reducer.Buckets.Select(b => (b.Start, b.Count)), communicator.Started.Select(s => (s.Offset, s.Count)));
        // With overlap every bucket starts inside the backward pass (the stem's at its last signal); without, all after it.
        Assert.All(communicator.Started, s => Assert.Equal(overlap, s.DuringBackward));
    }

    [Fact]
    public void WithoutMpirunThereIsNoCommunicatorAndNoMpiLibraryIsLoaded()
    {
        Assert.False(MpiCommunicator.Launched); // the test host was not started by mpirun
        Assert.Null(Communicator.FromEnvironment());
        using var model = new SmallCifarPlain(seed: 3, maxBatch: 8);
        using var trainer = new Trainer(model, Train(64), null, new TrainOptions { Epochs = 1, Batch = 8, EvalBatch = 8 }, Normalization.Cifar10,
            Communicator.FromEnvironment());
        Assert.Null(trainer.Reducer);
        Assert.Equal(1, trainer.Ranks);
        trainer.Run(null);
        if (OperatingSystem.IsLinux())
            Assert.DoesNotContain("libmpi", File.ReadAllText("/proc/self/maps"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(2, 16, true)]
    [InlineData(3, 8, false)]
    public void ShardsOfAGlobalBatchAreTheOneProcessBatchWithTheSameAugmentation(int ranks, int batch, bool dropLast)
    {
        var data = Train(100);
        LoaderOptions Options(int index, int count) => new(Shuffle: true, Seed: 5, DropLast: dropLast, ShardIndex: index, ShardCount: count);
        var transform = new PadCropTransform(32, Normalization.Cifar10, augment: true);
        using var whole = new ImageLoader(data, batch * ranks, Options(0, 1), transform);
        var shards = Enumerable.Range(0, ranks).Select(r => new ImageLoader(data, batch, Options(r, ranks), transform)).ToArray();
        try
        {
            Assert.All(shards, s => Assert.Equal(whole.BatchesPerEpoch, s.BatchesPerEpoch));
            whole.StartEpoch(1);
            foreach (var s in shards) s.StartEpoch(1);
            int batches = 0;
            while (whole.Next(out var w))
            {
                var images = new List<float>();
                var labels = new List<int>();
                foreach (var s in shards)
                {
                    Assert.True(s.Next(out var b));
                    Assert.Equal(w.Index, b.Index);
                    images.AddRange(b.Images.ToArray());
                    labels.AddRange(b.Labels.ToArray());
                }
                Assert.Equal(w.Labels.ToArray(), labels);
                Assert.True(w.Images.SequenceEqual(images.ToArray()));
                batches++;
            }
            Assert.Equal(whole.BatchesPerEpoch, batches);
            Assert.All(shards, s => Assert.False(s.Next(out _)));
        }
        finally
        {
            foreach (var s in shards) s.Dispose();
        }
    }
}
