using Vit.Memory;
using Vit.Tests.Model;
using Xunit;

namespace Vit.Tests.Memory;

/// <summary>The memory a batch needs comes from the plan and is checked before anything is allocated.</summary>
public sealed class MemoryBudgetTests
{
    [Fact]
    public void The_bytes_follow_the_plan()
    {
        var c = CifarVit.Config;
        var s = CifarVit.Summary;
        double one = MemoryBudget.BytesFor(c, s, 1, training: false), two = MemoryBudget.BytesFor(c, s, 2, training: false);
        double perImage = 4.0 * (s.InferenceFloatsPerImage + 2 * 3 * 32 * 32 + 2 * 10);
        Assert.Equal(perImage, two - one, 6);
        Assert.Equal(4.0 * s.Parameters + perImage, one, 6);
        double trainingPerImage = MemoryBudget.BytesFor(c, s, 2, training: true) - MemoryBudget.BytesFor(c, s, 1, training: true);
        Assert.Equal(4.0 * (s.TrainingFloatsPerImage + 2 * 3 * 32 * 32 + 2 * 10), trainingPerImage, 6);
        Assert.True(double.IsFinite(MemoryBudget.BytesFor(c, s, int.MaxValue, training: true)));
        // The frozen-backbone step: inference activations plus the head's (features 192, logits and probabilities 10 each, with gradients),
        // parameters and gradients but no optimizer state for the backbone.
        double frozenOne = MemoryBudget.BytesFor(c, s, 1, training: true, frozen: true), frozenTwo = MemoryBudget.BytesFor(c, s, 2, training: true, frozen: true);
        Assert.Equal(perImage + 4.0 * 2 * (192 + 2 * 10), frozenTwo - frozenOne, 6);
        Assert.Equal(2 * 4.0 * s.Parameters + frozenTwo - frozenOne, frozenOne, 6);
        Assert.True(frozenTwo < MemoryBudget.BytesFor(c, s, 2, training: true) / 2);
    }

    [Fact]
    public void A_batch_too_large_for_the_machine_is_refused_with_both_sizes()
    {
        MemoryBudget.Check(CifarVit.Config, CifarVit.Summary, 1, training: true);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => MemoryBudget.Check(CifarVit.Config, CifarVit.Summary, int.MaxValue, training: true));
        Assert.Contains("training at a batch of 2,147,483,647 images needs", e.Message);
        Assert.Contains("GiB of memory, but this machine has", e.Message);
    }
}
