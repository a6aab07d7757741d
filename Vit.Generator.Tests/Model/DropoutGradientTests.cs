using Vit.Numerics;
using Xunit;

namespace Vit.Tests.Model;

/// <summary>
/// The training gradient with dropout, attention dropout and drop-path active: central differences
/// of the training loss with the same masks (the dropout random stream reset before every loss
/// evaluation) against the analytic gradient, for elements of every parameter tensor.
/// </summary>
public sealed class DropoutGradientTests
{
    private const int Batch = 4;

    /// <summary>Random parameters (so no gradient vanishes by symmetry, as with zero biases), images and labels.</summary>
    private static (float[] Images, int[] Labels) Randomize(TinyDropoutEverywhere model, ulong seed)
    {
        var rng = new Rng(seed);
        foreach (var p in model.Memory.Table.Parameters)
        {
            var values = model.Parameter(p.Name);
            // as tools/make_reference.py draws: weights N(0, 1/fan_in), cls/pos N(0, 0.5²), the rest N(0, 0.2²) (LN weights around 1)
            double std = p.Name is "cls_token" or "pos_embed" ? 0.5 : p.FanIn > 0 && p.Shape.Count >= 2 ? 1 / Math.Sqrt(p.FanIn) : 0.2;
            double mean = p.Init == ParameterInit.Ones ? 1 : 0;
            for (int i = 0; i < values.Length; i++) values[i] = (float)(mean + std * rng.NextNormal());
        }
        var images = new float[Batch * TinyDropoutEverywhere.Channels * TinyDropoutEverywhere.ImageSize * TinyDropoutEverywhere.ImageSize];
        for (int i = 0; i < images.Length; i++) images[i] = (float)rng.NextNormal();
        var labels = Enumerable.Range(0, Batch).Select(_ => rng.NextInt(TinyDropoutEverywhere.Classes)).ToArray();
        return (images, labels);
    }

    /// <summary>
    /// h = 1e-2 in float32: the loss (~1) is rounded at ~1e-7 and this small forward pass adds a
    /// few 1e-7 more, which central differences divide by 2h (a few 1e-6 to 1e-5), while the
    /// truncation error h²·f'''/6 is a fraction of a percent (the model is smooth once the masks
    /// are fixed). Hence |numeric − analytic| ≤ 5e-5 + 5e-3·|analytic|; the worst element uses 15 %
    /// of it. A mask missing from, or misplaced in, the backward pass changes the affected gradients
    /// by 20 % or more (a kept value is scaled by 1/(1 − p) = 1.25, a dropped one is 0); evaluating
    /// the differences with other masks than the analytic run's fails in nearly every tensor.
    /// </summary>
    [Theory]
    [InlineData(21UL, 0)]
    [InlineData(22UL, 3)]
    public void Finite_differences_with_the_same_masks_agree_with_the_gradient_of_every_parameter(ulong seed, int warmupSteps)
    {
        using var model = new TinyDropoutEverywhere(seed: (int)seed, maxBatch: Batch);
        var (images, labels) = Randomize(model, seed);
        for (int i = 0; i < warmupSteps; i++) model.ForwardBackward(images, labels, Batch); // another point of the stream
        var masks = model.DropoutRng;

        float Loss()
        {
            model.DropoutRng = masks;
            model.ZeroGradients();
            return model.ForwardBackward(images, labels, Batch);
        }

        float loss = Loss();
        var analytic = model.Memory.Table.Parameters.ToDictionary(p => p.Name, p => model.Gradient(p.Name).ToArray());
        // The premises: the same stream gives the same masks (bit for bit), other masks give another loss.
        Assert.Equal(loss, Loss());
        model.DropoutRng = masks;
        model.ForwardBackward(images, labels, Batch);
        float otherMasks = model.ForwardBackward(images, labels, Batch);
        Assert.True(float.IsFinite(loss), $"loss {loss}");
        Assert.NotEqual(loss, otherMasks);

        const float h = 1e-2f;
        var pick = new Rng(seed + 100);
        int checkedTensors = 0;
        foreach (var p in model.Memory.Table.Parameters)
        {
            float[] grad = analytic[p.Name];
            // The two largest-gradient elements, and two at random (small gradients: the atol case).
            var indices = Enumerable.Range(0, grad.Length).OrderByDescending(i => Math.Abs(grad[i])).Take(2)
                .Concat(Enumerable.Range(0, 2).Select(_ => pick.NextInt(grad.Length))).Distinct().ToArray();
            Assert.True(grad.Any(g => g != 0), $"{p.Name}: the analytic gradient is all zero");
            foreach (int i in indices)
            {
                var values = model.Parameter(p.Name);
                float saved = values[i];
                values[i] = saved + h;
                double plus = Loss();
                values[i] = saved - h;
                double minus = Loss();
                values[i] = saved;
                double numeric = (plus - minus) / (2 * h);
                double error = Math.Abs(numeric - grad[i]), allowed = 5e-5 + 5e-3 * Math.Abs(grad[i]);
                Assert.True(error <= allowed,
                    $"seed {seed}: {p.Name}[{i}]: analytic {grad[i]:G6}, finite difference {numeric:G6}, error {error:G3} > {allowed:G3}");
            }
            checkedTensors++;
        }
        Assert.Equal(model.Memory.Table.Parameters.Count(), checkedTensors);
    }
}
