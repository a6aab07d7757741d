using Vit.Numerics;
using Vit.Tests.Model;
using Vit.Training;
using Xunit;

namespace Vit.Tests.Training;

public class OptimizerTests
{
    /// <summary>Random gradients for every parameter; returns them as doubles in flat layout.</summary>
    private static double[] RandomGradients(IVisionTransformer model, ref Rng rng)
    {
        var flat = new double[model.Memory.Layout.ParameterFloats];
        var g = model.Memory.Gradients;
        foreach (var p in model.Memory.Table.Parameters)
        {
            var span = g.Slice(p.Offset, (int)p.Length);
            for (int i = 0; i < span.Length; i++) flat[p.Offset + i] = span[i] = (float)(rng.NextNormal() * 0.1);
        }
        return flat;
    }

    private static double[] Parameters(IVisionTransformer model)
    {
        var flat = new double[model.Memory.Layout.ParameterFloats];
        foreach (var p in model.Memory.Table.Parameters)
        {
            var span = model.Memory.Parameters.Slice(p.Offset, (int)p.Length);
            for (int i = 0; i < span.Length; i++) flat[p.Offset + i] = span[i];
        }
        return flat;
    }

    private static void AssertParameters(IVisionTransformer model, double[] expected, double tolerance, Func<ParameterInfo, bool>? only = null)
    {
        foreach (var p in model.Memory.Table.Parameters)
        {
            if (only is not null && !only(p)) continue;
            var span = model.Memory.Parameters.Slice(p.Offset, (int)p.Length);
            for (int i = 0; i < span.Length; i++)
            {
                double e = expected[p.Offset + i];
                Assert.True(Math.Abs(span[i] - e) <= tolerance * (1 + Math.Abs(e)), $"{p.Name}[{i}]: {span[i]} vs reference {e}");
            }
        }
    }

    [Fact]
    public void AdamWMatchesTheReferenceOverSeveralSteps()
    {
        using var model = new TinyToken(seed: 1, maxBatch: 1);
        var options = new OptimizerOptions { WeightDecay = 0.05, ClipNorm = 0 };
        using var adam = new AdamW(model.Memory, options);
        var p = Parameters(model);
        var m = new double[p.Length];
        var v = new double[p.Length];
        var rng = new Rng(7);
        double[] lrs = [1e-3, 5e-3, 2e-3, 1e-4];
        for (int t = 1; t <= lrs.Length; t++)
        {
            var g = RandomGradients(model, ref rng);
            adam.Step(lrs[t - 1]);
            foreach (var info in model.Memory.Table.Parameters)
            {
                var slice = Enumerable.Range((int)info.Offset, (int)info.Length);
                double[] pp = slice.Select(i => p[i]).ToArray(), gg = slice.Select(i => g[i]).ToArray(), mm = slice.Select(i => m[i]).ToArray(), vv = slice.Select(i => v[i]).ToArray();
                AdamW.Reference(pp, gg, mm, vv, t, lrs[t - 1], info.WeightDecay ? 0.05 : 0);
                for (int i = 0; i < pp.Length; i++) { p[info.Offset + i] = pp[i]; m[info.Offset + i] = mm[i]; v[info.Offset + i] = vv[i]; }
            }
        }
        Assert.Equal(4, adam.Steps);
        AssertParameters(model, p, 1e-5);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SgdMatchesTheReference(bool nesterov)
    {
        using var model = new TinyToken(seed: 2, maxBatch: 1);
        var options = new OptimizerOptions { Kind = OptimizerKind.Sgd, WeightDecay = 0.01, Momentum = 0.8, Nesterov = nesterov, ClipNorm = 0 };
        using var sgd = Optimizer.Create(model.Memory, options);
        Assert.IsType<Sgd>(sgd);
        var p = Parameters(model);
        var buffer = new double[p.Length];
        var rng = new Rng(8);
        for (int t = 1; t <= 3; t++)
        {
            var g = RandomGradients(model, ref rng);
            sgd.Step(0.1);
            foreach (var info in model.Memory.Table.Parameters)
            {
                var idx = Enumerable.Range((int)info.Offset, (int)info.Length).ToArray();
                double[] pp = idx.Select(i => p[i]).ToArray(), gg = idx.Select(i => g[i]).ToArray(), bb = idx.Select(i => buffer[i]).ToArray();
                Sgd.Reference(pp, gg, bb, 0.1, info.WeightDecay ? 0.01 : 0, 0.8, nesterov);
                for (int i = 0; i < idx.Length; i++) { p[idx[i]] = pp[i]; buffer[idx[i]] = bb[i]; }
            }
        }
        AssertParameters(model, p, 1e-5);
    }

    [Fact]
    public void WeightDecaySkipsNormsBiasesClsTokenAndPosEmbed()
    {
        using var model = new TinyToken(seed: 3, maxBatch: 1);
        var decayed = model.Memory.Table.Parameters.Where(p => p.WeightDecay).Select(p => p.Name).ToHashSet();
        foreach (var p in model.Memory.Table.Parameters)
        {
            bool expected = p.Shape.Count >= 2 && p.Name is not ("cls_token" or "pos_embed");
            Assert.True(expected == decayed.Contains(p.Name), $"{p.Name}: weight decay {decayed.Contains(p.Name)}");
        }
        // With zero gradients only decay acts: decayed weights shrink by exactly (1 − lr·λ), the rest stay.
        model.ZeroGradients();
        var before = Parameters(model);
        using var adam = new AdamW(model.Memory, new OptimizerOptions { WeightDecay = 0.5 });
        adam.Step(0.1);
        var expectedAfter = before.ToArray();
        foreach (var p in model.Memory.Table.Parameters.Where(p => p.WeightDecay))
            for (long i = p.Offset; i < p.Offset + p.Length; i++) expectedAfter[i] *= 1 - 0.1 * 0.5;
        AssertParameters(model, expectedAfter, 1e-6);
    }

    [Fact]
    public void ClippingScalesToTheGlobalNormAndAccumulationScaleApplies()
    {
        using var model = new TinyToken(seed: 4, maxBatch: 1);
        var rng = new Rng(9);
        var g = RandomGradients(model, ref rng);
        double norm = Math.Sqrt(model.Memory.Table.Parameters.Sum(p => Enumerable.Range((int)p.Offset, (int)p.Length).Sum(i => g[i] * g[i])));
        using var sgd = new Sgd(model.Memory, new OptimizerOptions { Kind = OptimizerKind.Sgd, WeightDecay = 0, Momentum = 0, Nesterov = false, ClipNorm = 0.5 });
        Assert.Equal(norm * 0.25, sgd.GradientNorm(0.25f), 5);
        var before = Parameters(model);
        double reported = sgd.Step(1.0, gradientScale: 0.25f);
        Assert.Equal(norm * 0.25, reported, 5);
        // plain SGD with lr 1: the step is the clipped gradient, whose norm is the clip norm (when 0.25·norm > 0.5)
        Assert.True(norm * 0.25 > 0.5, $"test setup: the scaled norm {norm * 0.25} must exceed the clip norm");
        var after = Parameters(model);
        double stepNorm = Math.Sqrt(model.Memory.Table.Parameters.Sum(p => Enumerable.Range((int)p.Offset, (int)p.Length).Sum(i => (before[i] - after[i]) * (before[i] - after[i]))));
        Assert.Equal(0.5, stepNorm, 4);
    }

    [Fact]
    public void FreezeTrainsOnlyTheHead()
    {
        using var model = new TinyToken(seed: 5, maxBatch: 1);
        var rng = new Rng(10);
        RandomGradients(model, ref rng);
        var before = Parameters(model);
        using var adam = new AdamW(model.Memory, new OptimizerOptions(), Optimizer.HeadOnly);
        Assert.Equal(["head.weight", "head.bias"], adam.Trained.Select(p => p.Name));
        adam.Step(1e-2);
        foreach (var p in model.Memory.Table.Parameters)
        {
            bool changed = Enumerable.Range((int)p.Offset, (int)p.Length).Any(i => model.Memory.Parameters.Slice(i, 1)[0] != before[i]);
            Assert.True(changed == p.Name.StartsWith("head.", StringComparison.Ordinal), $"{p.Name} changed: {changed}");
        }
    }

    [Fact]
    public void NonFiniteGradientsAreReportedAndNothingChanges()
    {
        using var model = new TinyToken(seed: 6, maxBatch: 1);
        model.ZeroGradients();
        model.Gradient("blocks.0.mlp.fc1.weight")[3] = float.NaN;
        var before = Parameters(model);
        using var adam = new AdamW(model.Memory, new OptimizerOptions());
        Assert.True(double.IsNaN(adam.Step(1e-3)));
        Assert.Equal(0, adam.Steps);
        AssertParameters(model, before, 0);
    }

    [Fact]
    public void BadHyperparametersAreReported()
    {
        using var model = new TinyToken(seed: 0, maxBatch: 1);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW(model.Memory, new OptimizerOptions { Beta2 = 1 }));
        Assert.Contains("Beta2 must be in [0, 1), found 1", e.Message);
        using var adam = new AdamW(model.Memory, new OptimizerOptions());
        Assert.Throws<ArgumentOutOfRangeException>(() => adam.Step(double.NaN));
        Assert.Throws<ArgumentException>(() => new AdamW(model.Memory, new OptimizerOptions(), _ => false));
    }
}
