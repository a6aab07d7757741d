using Vit.Tests.Model;
using Xunit;

namespace Vit.Tests.IO;

/// <summary>Weights with a NaN or an infinity are refused at load, naming the first tensor, and the model keeps its parameters.</summary>
public sealed class NonFiniteWeightsTests
{
    [Theory]
    [InlineData(float.NaN, "NaN")]
    [InlineData(float.PositiveInfinity, "Infinity")]
    [InlineData(float.NegativeInfinity, "-Infinity")]
    public void A_non_finite_weight_is_refused_and_nothing_is_copied(float bad, string shown)
    {
        using var folder = new TemporaryFolder();
        string path = folder.File("bad.safetensors");
        using (var source = new TinyToken(seed: 1, maxBatch: 1))
        {
            source.Parameter("blocks.1.mlp.fc1.weight")[37] = bad;
            source.Parameter("head.bias")[0] = bad; // a later tensor: the first one is named
            source.SaveWeights(path);
        }
        using var target = new TinyToken(seed: 2, maxBatch: 1);
        var before = TinyToken.Parameters.ToDictionary(p => p.Name, p => target.Parameter(p.Name).ToArray());

        var e = Assert.Throws<InvalidDataException>(() => target.LoadWeights(path));
        Assert.Contains("tensor 'blocks.1.mlp.fc1.weight' holds a non-finite value (" + shown + ") at element 37", e.Message);
        Assert.Contains("bad.safetensors", e.Message);
        foreach (var p in TinyToken.Parameters)
            Assert.Equal(before[p.Name], target.Parameter(p.Name).ToArray());
    }

    [Fact]
    public void Finite_weights_still_load()
    {
        using var folder = new TemporaryFolder();
        string path = folder.File("good.safetensors");
        using var source = new TinyToken(seed: 1, maxBatch: 1);
        source.SaveWeights(path);
        using var target = new TinyToken(seed: 2, maxBatch: 1);
        target.LoadWeights(path);
        foreach (var p in TinyToken.Parameters)
            Assert.Equal(source.Parameter(p.Name).ToArray(), target.Parameter(p.Name).ToArray());
    }
}
