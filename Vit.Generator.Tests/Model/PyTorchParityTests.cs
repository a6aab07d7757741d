using Vit.IO;
using Vit.Tests.Kernels;
using Xunit;
using Xunit.Abstractions;

namespace Vit.Tests.Model;

/// <summary>
/// llm.c's test, done right: load the weights PyTorch used, run forward and backward, and compare
/// the output, the loss and every gradient with the float64 reference (tools/make_reference.py).
/// Each check is |a − b| ≤ atol + rtol·|b| on every element, atol scaled to the tensor's size;
/// any violation fails and names the worst element.
/// </summary>
public sealed class PyTorchParityTests(ITestOutputHelper log)
{
    /// <summary>Output rtol (float32 against float64).</summary>
    public const double OutputRtol = 1e-4;

    /// <summary>Gradient rtol.</summary>
    public const double GradientRtol = 2e-3;

    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    public static IVisionTransformer Create(string fixture) => fixture switch
    {
        "tiny_token" => new TinyToken(seed: 1, maxBatch: 1),
        "mean_repr_noqkvbias" => new MeanReprNoQkvBias(seed: 1, maxBatch: 1),
        "token_repr_eps" => new TokenReprEps(seed: 1, maxBatch: 1),
        "features_only" => new FeaturesOnly(seed: 1, maxBatch: 1),
        "layerscale_token" => new LayerScaleToken(seed: 1, maxBatch: 1),
        "headdim_mean" => new HeadDimMean(seed: 1, maxBatch: 1),
        _ => throw new ArgumentException(fixture),
    };

    public static TheoryData<string> Trainable => new() { "tiny_token", "mean_repr_noqkvbias", "token_repr_eps", "layerscale_token", "headdim_mean" };

    public static TheoryData<string> All => new() { "tiny_token", "mean_repr_noqkvbias", "token_repr_eps", "features_only", "layerscale_token", "headdim_mean" };

    [Theory]
    [MemberData(nameof(All))]
    public void Forward_matches_pytorch(string fixture)
    {
        using var model = Create(fixture);
        model.LoadWeights(Fixture(fixture + ".weights.safetensors"));
        using var reference = SafeTensorsFile.Open(Fixture(fixture + ".reference.safetensors"));
        var input = reference.ReadSingles("input");
        var expected = reference.ReadDoubles("output");
        int batch = checked((int)reference.GetTensor("input").Shape[0]);

        var output = new float[batch * model.OutputWidth];
        model.Forward(input, batch, output);
        var actual = output.Select(v => (double)v).ToArray();
        KernelTestSupport.AssertClose(expected, actual, OutputRtol, 1e-6 * KernelTestSupport.MaxAbs(expected), $"{fixture} output");
        log.WriteLine($"{fixture}: output max |error| {MaxError(expected, actual):G3} (max |value| {KernelTestSupport.MaxAbs(expected):G3})");
    }

    [Theory]
    [MemberData(nameof(Trainable))]
    public void Loss_and_every_gradient_match_pytorch(string fixture)
    {
        using var model = Create(fixture);
        model.LoadWeights(Fixture(fixture + ".weights.safetensors"));
        using var reference = SafeTensorsFile.Open(Fixture(fixture + ".reference.safetensors"));
        var input = reference.ReadSingles("input");
        var labels = reference.ReadInt64s("labels").Select(l => (int)l).ToArray();

        model.ZeroGradients();
        float loss = model.ForwardBackward(input, labels, labels.Length);
        double expectedLoss = reference.ReadDoubles("loss")[0];
        Assert.True(Math.Abs(loss - expectedLoss) <= 1e-5 * Math.Abs(expectedLoss) + 1e-6,
            $"{fixture} loss: expected {expectedLoss:G9}, actual {loss:G9}");

        int checkedCount = 0;
        foreach (var p in model.ParameterList)
        {
            var expected = reference.ReadDoubles("grad." + p.Name);
            var actual = model.Gradient(p.Name).ToArray().Select(v => (double)v).ToArray();
            Assert.Equal(expected.Length, actual.Length);
            KernelTestSupport.AssertClose(expected, actual, GradientRtol, 1e-5 * Math.Max(KernelTestSupport.MaxAbs(expected), 1e-12), $"{fixture} grad {p.Name}");
            log.WriteLine($"{fixture}: {p.Name} max |error| {MaxError(expected, actual):G3} (max |value| {KernelTestSupport.MaxAbs(expected):G3})");
            checkedCount++;
        }
        Assert.Equal(model.ParameterList.Count, checkedCount);
        Assert.Equal(model.ParameterList.Count, reference.Tensors.Count(t => t.Name.StartsWith("grad.", StringComparison.Ordinal)));
    }

    [Theory]
    [MemberData(nameof(Trainable))]
    public void Gradients_accumulate_across_calls_until_zeroed(string fixture)
    {
        using var model = Create(fixture);
        model.LoadWeights(Fixture(fixture + ".weights.safetensors"));
        using var reference = SafeTensorsFile.Open(Fixture(fixture + ".reference.safetensors"));
        var input = reference.ReadSingles("input");
        var labels = reference.ReadInt64s("labels").Select(l => (int)l).ToArray();
        model.ZeroGradients();
        model.ForwardBackward(input, labels, labels.Length);
        var once = model.ParameterList.ToDictionary(p => p.Name, p => model.Gradient(p.Name).ToArray());
        model.ForwardBackward(input, labels, labels.Length);
        // Every parameter's gradient doubles: each backward step adds (+=) into it rather than
        // overwriting it. The second pass computes the same numbers, so the only error is the
        // rounding of the accumulation (x + x is exact; sums over the batch that add into the
        // gradient one image at a time round once more, at the size of the partial sums: measured
        // up to 2e-8, headdim_mean's patch_embed.proj.bias, on an AVX2 host). Not accumulating
        // would be off by the whole gradient (1e-3 and more here).
        foreach (var p in model.ParameterList)
        {
            float[] first = once[p.Name], twice = model.Gradient(p.Name).ToArray();
            Assert.True(first.Any(v => v != 0), $"{p.Name}: the gradient after one step is all zero, so doubling proves nothing");
            KernelTestSupport.AssertClose(first.Select(v => 2.0 * v).ToArray(), twice.Select(v => (double)v).ToArray(), 1e-6, 5e-8,
                $"{fixture} {p.Name} after two ForwardBackward calls (expected twice the first)");
        }
        model.ZeroGradients();
        foreach (var p in model.ParameterList)
            Assert.True(model.Gradient(p.Name).ToArray().All(v => v == 0f), $"{p.Name} is not zero after ZeroGradients");
    }

    private static double MaxError(double[] expected, double[] actual) =>
        expected.Select((e, i) => Math.Abs(e - actual[i])).Max();
}
