using Vit.Training;
using Xunit;

namespace Vit.Tests.Training;

public class ScheduleTests
{
    [Fact]
    public void WarmupIsLinearThenCosineEndsAtTheFinalFraction()
    {
        var s = new LearningRateSchedule(peak: 1e-3, warmupSteps: 10, totalSteps: 110, finalFraction: 0.01);
        for (int i = 0; i < 10; i++) Assert.Equal(1e-3 * (i + 1) / 10, s.At(i), 12);
        Assert.Equal(1e-3, s.At(10), 12);                      // the cosine starts at the peak
        Assert.Equal(1e-3 * 0.01, s.At(109), 12);              // and ends at lrf · peak
        double previous = double.MaxValue;
        for (int i = 10; i < 110; i++)
        {
            Assert.True(s.At(i) <= previous + 1e-15, $"step {i}: {s.At(i)} rose above {previous}");
            previous = s.At(i);
        }
        Assert.Equal(1e-3 * 0.01, s.At(500), 12);              // past the end it stays at the floor
    }

    [Fact]
    public void MatchesTheSeedsFormulaAtTheMiddle()
    {
        // 1 warmup step, then 101 decay steps: step 51 is x = 0.5, lf = 0.5·(1 − lrf) + lrf.
        var s = new LearningRateSchedule(2.0, 1, 102, 0.1);
        Assert.Equal(2.0 * (0.5 * 0.9 + 0.1), s.At(51), 12);
    }

    [Fact]
    public void BadValuesAreReported()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(0, 0, 10, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1, 11, 10, 0));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1, 0, 10, 1.5));
        Assert.Contains("lrf must be in [0, 1], found 1.5", e.Message);
    }

    [Fact]
    public void TheRecipeRoundTripsThroughItsJson()
    {
        var adam = new TrainOptions { Epochs = 15, Batch = 32, Accumulate = 2, LearningRate = 3e-4, WarmupEpochs = 0.5, FinalLearningRateFraction = 0.1,
            LabelSmoothing = 0, Augment = false, Freeze = true, Seed = 12345678901234567890UL, Optimizer = new OptimizerOptions { WeightDecay = 0.1, ClipNorm = 0, Beta2 = 0.98 } };
        Assert.Equal(adam, TrainOptionsJson.Parse(adam.ToJson(), "test"));
        var sgd = adam with { Optimizer = new OptimizerOptions { Kind = OptimizerKind.Sgd, Momentum = 0.8, Nesterov = false } };
        Assert.Equal(sgd, TrainOptionsJson.Parse(sgd.ToJson(), "test"));
        var e = Assert.Throws<InvalidDataException>(() => TrainOptionsJson.Parse("{\"optimizer\": \"lamb\"}", "ckpt"));
        Assert.Contains("unknown optimizer 'lamb'", e.Message);
        Assert.Throws<InvalidDataException>(() => TrainOptionsJson.Parse("{\"epochs\": \"ten\"}", "ckpt"));
    }
}
