using System.Xml.Linq;
using Vit.Data;
using Vit.IO;
using Vit.Tests.IO;
using Vit.Tests.Model;
using Vit.Training;
using Xunit;

namespace Vit.Tests.Training;

public class TrainerTests
{
    private static string Subset(string file) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "cifar10-subset", file);

    private static (CifarDataset Train, CifarDataset Test) Data(int train = 192, int test = 64)
    {
        var names = CifarDataset.ReadClassNames(Subset("batches.meta.txt"), CifarKind.Cifar10);
        return (CifarDataset.ReadFiles([Subset("cifar10-subset-train.bin")], CifarKind.Cifar10, names).Take(train),
                CifarDataset.ReadFiles([Subset("cifar10-subset-test.bin")], CifarKind.Cifar10, names).Take(test));
    }

    private static readonly TrainOptions Recipe = new()
    {
        Epochs = 3, Batch = 32, LearningRate = 2e-3, WarmupEpochs = 1, LabelSmoothing = 0.1, Seed = 11, EvalBatch = 64,
    };

    private static List<(long Step, double Loss)> Run(Trainer trainer, string? folder, CancellationTokenSource? cancelAt = null, long stopAfter = 0)
    {
        var losses = new List<(long, double)>();
        trainer.StepCompleted = (step, loss) =>
        {
            losses.Add((step, loss));
            if (cancelAt is not null && step == stopAfter) cancelAt.Cancel();
        };
        trainer.Run(folder, cancelAt?.Token ?? default);
        return losses;
    }

    [Fact]
    public void AnInterruptedAndResumedRunGivesTheSameLossesAsAnUninterruptedOne()
    {
        var (train, test) = Data();
        using var folder = new TemporaryFolder();
        List<(long Step, double Loss)> full;
        List<EpochMetrics> fullHistory;
        using (var model = new SmallCifar(seed: 3, maxBatch: 32))
        using (var trainer = new Trainer(model, train, test, Recipe, Normalization.Cifar10))
        {
            full = Run(trainer, null);
            fullHistory = trainer.History.ToList();
        }
        Assert.Equal(3 * 6, full.Count);

        // Stop in the middle of epoch 2 (step 8 of 18), then continue in a new process-like setup.
        string runFolder = Path.Combine(folder.FullPath, "run");
        using (var model = new SmallCifar(seed: 3, maxBatch: 32))
        using (var trainer = new Trainer(model, train, test, Recipe, Normalization.Cifar10))
        {
            using var cancel = new CancellationTokenSource();
            var first = Run(trainer, runFolder, cancel, stopAfter: 8);
            Assert.Equal(8, first.Count);
            Assert.Equal(new TrainingProgress(1, 2, 8, trainer.Progress.EpochLossSum, trainer.Progress.EpochCorrect, 64), trainer.Progress);
            Assert.Equal(full.Take(8), first);
        }
        using (var model = new SmallCifar(seed: 99, maxBatch: 32)) // another seed: everything must come from the checkpoint
        using (var trainer = new Trainer(model, train, test, Recipe, Normalization.Cifar10))
        {
            var info = trainer.Resume(Path.Combine(runFolder, Trainer.CheckpointFile));
            Assert.Equal(8, info.Progress.Step);
            var rest = Run(trainer, runFolder);
            Assert.Equal(full.Skip(8), rest); // bit-for-bit the same losses
            Assert.Equal(3, trainer.History.Count);
            for (int e = 0; e < 3; e++)
            {
                Assert.Equal(fullHistory[e].TrainLoss, trainer.History[e].TrainLoss, 12);
                Assert.Equal(fullHistory[e].TrainAccuracy, trainer.History[e].TrainAccuracy, 12);
                Assert.Equal(fullHistory[e].TestAccuracy, trainer.History[e].TestAccuracy, 12);
            }
        }
        var rows = MetricsLog.Read(Path.Combine(runFolder, Trainer.MetricsFile));
        Assert.Equal([1, 2, 3], rows.Select(r => r.Epoch));
    }

    [Fact]
    public void ANonFiniteLossStopsTrainingNamingTheStepAndKeepsTheLastCheckpoint()
    {
        var (train, test) = Data(96, 32);
        using var folder = new TemporaryFolder();
        using var model = new SmallCifar(seed: 1, maxBatch: 32);
        using var trainer = new Trainer(model, train, test, Recipe with { Epochs = 2 }, Normalization.Cifar10);
        var cancel = new CancellationTokenSource();
        trainer.EpochCompleted = _ => cancel.Cancel();
        Assert.Equal(TrainingOutcome.Interrupted, trainer.Run(folder.FullPath, cancel.Token)); // one good epoch, saved
        string checkpoint = Path.Combine(folder.FullPath, Trainer.CheckpointFile);
        var saved = File.ReadAllBytes(checkpoint);

        model.Parameter("head.bias")[0] = float.PositiveInfinity;
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Run(folder.FullPath));
        Assert.Contains("at step 4 (epoch 2, batch 1 of 3)", e.Message);
        Assert.Contains($"the checkpoint {checkpoint} (after epoch 1, step 3) is kept and its weights are finite: continue with --resume", e.Message);
        Assert.Equal(saved, File.ReadAllBytes(checkpoint));
    }

    [Fact]
    public void ANonFiniteLossBeforeAnyCheckpointSaysNoneWasSaved()
    {
        var (train, test) = Data(96, 32);
        using var folder = new TemporaryFolder();
        using var model = new SmallCifar(seed: 1, maxBatch: 32);
        using var trainer = new Trainer(model, train, test, Recipe with { Epochs = 2 }, Normalization.Cifar10);
        model.Parameter("head.bias")[0] = float.NaN;
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Run(folder.FullPath));
        Assert.Contains("no checkpoint was saved in", e.Message);
        Assert.DoesNotContain("is kept", e.Message);
        var none = Assert.Throws<TrainingDivergedException>(() => trainer.Run(outFolder: null));
        Assert.Contains("nothing was saved (no out folder)", none.Message);
    }

    [Fact]
    public void ANonFiniteLossWithABadCheckpointSaysSo()
    {
        var (train, test) = Data(96, 32);
        using var folder = new TemporaryFolder();
        using var model = new SmallCifar(seed: 1, maxBatch: 32);
        using var trainer = new Trainer(model, train, test, Recipe with { Epochs = 2 }, Normalization.Cifar10);
        var cancel = new CancellationTokenSource();
        trainer.EpochCompleted = _ => cancel.Cancel();
        Assert.Equal(TrainingOutcome.Interrupted, trainer.Run(folder.FullPath, cancel.Token));
        // The checkpoint on disk holds the broken weights, as if the step that broke them had been saved.
        model.Parameter("blocks.0.mlp.fc1.weight")[5] = float.PositiveInfinity;
        Checkpoint.Save(Path.Combine(folder.FullPath, Trainer.CheckpointFile), model, trainer.Optimizer, trainer.Progress, trainer.Metadata());
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Run(folder.FullPath));
        Assert.Contains("is kept, but its tensor 'blocks.0.mlp.fc1.weight' is not finite either, so start again rather than --resume", e.Message);
    }

    [Fact]
    public void CheckpointRestoresWeightsOptimizerStateAndRngAndLoadsAsWeights()
    {
        var (train, _) = Data(64, 32);
        using var folder = new TemporaryFolder();
        string path = Path.Combine(folder.FullPath, "c.safetensors");
        using var model = new SmallCifar(seed: 2, maxBatch: 32);
        using var trainer = new Trainer(model, train, null, Recipe with { Epochs = 1 }, Normalization.Cifar10);
        trainer.Run(null);
        var progress = new TrainingProgress(1, 0, trainer.Progress.Step, 0, 0, 0);
        Checkpoint.Save(path, model, trainer.Optimizer, progress, trainer.Metadata());

        using var other = new SmallCifar(seed: 5, maxBatch: 32);
        using var otherOptimizer = new AdamW(other.Memory, new OptimizerOptions());
        var info = Checkpoint.Load(path, other, otherOptimizer);
        Assert.Equal(progress, info.Progress);
        Assert.Equal(trainer.Optimizer.Steps, otherOptimizer.Steps);
        Assert.Equal(model.DropoutRng.State, other.DropoutRng.State);
        foreach (var p in model.Memory.Table.Parameters)
        {
            Assert.True(model.Parameter(p.Name).SequenceEqual(other.Parameter(p.Name)), p.Name);
            for (int s = 0; s < 2; s++)
                Assert.True(trainer.Optimizer.StateOf(s, p).AsSpan((int)p.Length).SequenceEqual(otherOptimizer.StateOf(s, p).AsSpan((int)p.Length)), $"{p.Name} state {s}");
        }
        Assert.Equal(train.ClassNames, Checkpoint.ClassNames(info.Metadata));

        using var third = new SmallCifar(seed: 6, maxBatch: 1);
        third.LoadWeights(path); // the optimizer tensors are skipped
        Assert.True(model.Parameter("head.weight").SequenceEqual(third.Parameter("head.weight")));

        using var sgd = new Sgd(other.Memory, new OptimizerOptions { Kind = OptimizerKind.Sgd });
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, other, sgd));
        Assert.Contains("optimizer 'adamw'", e.Message);
        string weightsOnly = Path.Combine(folder.FullPath, "w.safetensors");
        model.SaveWeights(weightsOnly);
        e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(weightsOnly, other, otherOptimizer));
        Assert.Contains("not a training checkpoint", e.Message);
        using var tiny = new TinyToken(seed: 0, maxBatch: 1);
        using var tinyAdam = new AdamW(tiny.Memory, new OptimizerOptions());
        e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, tiny, tinyAdam));
        Assert.Contains("ImageSize is 32 in the file, 8 in the model", e.Message);
    }

    [Fact]
    public void AccumulatingTwoHalfBatchesEqualsOneFullBatch()
    {
        var (train, _) = Data(64, 32);
        var recipe = Recipe with { Epochs = 1, LabelSmoothing = 0, Augment = true };
        using var a = new SmallCifarPlain(seed: 4, maxBatch: 32);
        using var b = new SmallCifarPlain(seed: 4, maxBatch: 32);
        using (var full = new Trainer(a, train, null, recipe with { Batch = 32 }, Normalization.Cifar10))
            full.Run(null);
        using (var halves = new Trainer(b, train, null, recipe with { Batch = 16, Accumulate = 2 }, Normalization.Cifar10))
        {
            Assert.Equal(2, halves.StepsPerEpoch);
            halves.Run(null);
        }
        foreach (var p in a.Memory.Table.Parameters)
        {
            var x = a.Parameter(p.Name);
            var y = b.Parameter(p.Name);
            for (int i = 0; i < x.Length; i++)
                Assert.True(Math.Abs(x[i] - y[i]) <= 2e-5 * (1 + Math.Abs(x[i])), $"{p.Name}[{i}]: {x[i]} vs {y[i]}");
        }
    }

    [Fact]
    public void TrainingLearnsAndWritesMetricsAndAPlot()
    {
        var (train, test) = Data(512, 128);
        using var folder = new TemporaryFolder();
        using var model = new SmallCifar(seed: 7, maxBatch: 64);
        using var trainer = new Trainer(model, train, test, Recipe with { Epochs = 4, Batch = 64, LearningRate = 3e-3 }, Normalization.Cifar10);
        var json = new List<EpochMetrics>();
        trainer.EpochCompleted = json.Add;
        Assert.Equal(TrainingOutcome.Finished, trainer.Run(folder.FullPath));
        Assert.Equal(4, json.Count);
        Assert.True(json[^1].TrainLoss < json[0].TrainLoss, $"train loss did not fall: {json[0].TrainLoss} → {json[^1].TrainLoss}");
        Assert.True(json[^1].TestAccuracy > 0.15, $"test accuracy {json[^1].TestAccuracy} is not above chance (0.10)");
        Assert.Equal(json, MetricsLog.Read(Path.Combine(folder.FullPath, Trainer.MetricsFile)), new MetricsComparer());
        var svg = XDocument.Load(Path.Combine(folder.FullPath, Trainer.PlotFile)); // well-formed
        Assert.Equal(4, svg.Descendants(XName.Get("polyline", "http://www.w3.org/2000/svg")).Count()); // train/test × loss/accuracy
        using var reloaded = new SmallCifar(seed: 0, maxBatch: 1);
        reloaded.LoadWeights(Path.Combine(folder.FullPath, Trainer.WeightsFile));
        var eval = Evaluator.Evaluate(reloaded, test, Normalization.Cifar10, 64);
        Assert.Equal(json[^1].TestAccuracy, eval.Accuracy, 12);
        Assert.Equal(test.Count, eval.Confusion.Sum());
    }

    [Fact]
    public void A_ten_class_head_trains_on_five_classes_with_its_first_five_outputs()
    {
        var (train, test) = Data(128, 64);
        var five = train.WithClasses([5, 6, 7, 8, 9]);
        using var model = new SmallCifar(seed: 2, maxBatch: 32);
        var bias = model.Parameter("head.bias").ToArray();
        var weight = model.Parameter("head.weight").ToArray();
        using (var trainer = new Trainer(model, five, test.WithClasses([5, 6, 7, 8, 9]), Recipe with { Epochs = 1, Batch = 16 }, Normalization.Cifar10))
        {
            Assert.Equal(5, model.Memory.ActiveClasses);
            trainer.Run(null);
            Assert.Equal("[\"dog\",\"frog\",\"horse\",\"ship\",\"truck\"]", trainer.Metadata()["class_names"]); // eval and predict serve as many classes as are named
            Assert.InRange(trainer.History[^1].TestLoss, 0.5, 2.5);
            // The last step's probabilities are a 5-way softmax: outputs 5–9 get exactly 0, and each row of 0–4 sums to 1.
            var probs = model.TrainingProbabilities;
            for (int row = 0; row < probs.Length / 10; row++)
            {
                var p = probs.Slice(row * 10, 10);
                Assert.True(p[5..].IndexOfAnyExcept(0f) < 0, $"row {row} gives probability to an unserved output");
                float sum = 0;
                foreach (float v in p[..5]) sum += v;
                Assert.Equal(1f, sum, 1e-5f);
            }
        }
        // Outputs 5–9 served no class: their bias (no weight decay) is untouched; outputs 0–4 trained.
        var after = model.Parameter("head.bias");
        for (int c = 0; c < 10; c++)
            if (c < 5) Assert.NotEqual(bias[c], after[c]);
            else Assert.Equal(bias[c], after[c]);
        int dim = weight.Length / 10;
        var w = model.Parameter("head.weight");
        Assert.NotEqual(weight.AsSpan(0, dim).ToArray(), w.Slice(0, dim).ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Memory.ActiveClasses = 11);
    }

    [Fact]
    public void ModelAndDataMustFit()
    {
        var (train, test) = Data(64, 32);
        using var tiny = new TinyToken(seed: 0, maxBatch: 1);
        var e = Assert.Throws<ArgumentException>(() => new Trainer(tiny, train, test, Recipe, Normalization.Cifar10));
        Assert.Contains("TinyToken has a head of 5 classes, fewer than the 10 of ", e.Message);
        // Another image size is fine: the transforms bring CIFAR's 32×32 to the model's 8×8 (five of the classes here).
        using (var fits = new Trainer(tiny, train.WithClasses([0, 1, 2, 3, 4]), null, Recipe with { Batch = 1, Epochs = 1 }, Normalization.Cifar10))
        {
            Assert.Equal(TransformRecipe.ImageNet, fits.Recipe);
            Assert.Equal(8, fits.EvalTransform.Size);
        }
        using var model = new SmallCifar(seed: 0, maxBatch: 1);
        e = Assert.Throws<ArgumentException>(() => new Trainer(model, train.Take(10), test, Recipe, Normalization.Cifar10));
        Assert.Contains("fewer than one batch of 32", e.Message);
    }

    [Fact]
    public void LabelSmoothingInTheModelLossMatchesTheLogits()
    {
        using var model = new TinyToken(seed: 3, maxBatch: 4);
        var rng = new Vit.Numerics.Rng(5);
        var images = new float[4 * 3 * 8 * 8];
        for (int i = 0; i < images.Length; i++) images[i] = (float)rng.NextNormal();
        int[] labels = [0, 4, 2, 2];
        var logits = new float[4 * 5];
        model.Forward(images, 4, logits);
        const double eps = 0.2;
        double expected = 0;
        for (int b = 0; b < 4; b++)
        {
            var row = logits.AsSpan(b * 5, 5);
            double meanNll = 0;
            for (int c = 0; c < 5; c++) meanNll += Evaluator.CrossEntropy(row, c) / 5;
            expected += ((1 - eps) * Evaluator.CrossEntropy(row, labels[b]) + eps * meanNll) / 4;
        }
        model.Memory.LabelSmoothing = (float)eps;
        float loss = model.ForwardBackward(images, labels, 4);
        Assert.Equal(expected, loss, 4);
        Assert.Equal(20, model.TrainingProbabilities.Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Memory.LabelSmoothing = 1f);
    }

    private sealed class MetricsComparer : IEqualityComparer<EpochMetrics>
    {
        public bool Equals(EpochMetrics? x, EpochMetrics? y) =>
            x is not null && y is not null && x.Epoch == y.Epoch && x.Step == y.Step && x.TrainLoss == y.TrainLoss && x.TestAccuracy == y.TestAccuracy
            && x.LearningRate == y.LearningRate && Math.Abs(x.ImagesPerSecond - y.ImagesPerSecond) < 0.01;

        public int GetHashCode(EpochMetrics obj) => obj.Epoch;
    }
}
