using System.Globalization;
using Vit.IO;
using Xunit;

namespace Vit.Tests.IO;

/// <summary>
/// The PyTorch reference fixtures (tools/make_reference.py) open with our reader and hold the
/// expected entries, in timm state_dict order, with the shapes their metadata implies.
/// </summary>
public sealed class FixtureFilesTests
{
    /// <summary>The first four fixtures predate LayerScale and HeadDim; their metadata has no such keys.</summary>
    private static readonly string[] FixturesWithoutOptionKeys = ["tiny_token", "mean_repr_noqkvbias", "token_repr_eps", "features_only"];

    public static TheoryData<string> Fixtures => new()
    {
        "tiny_token", "mean_repr_noqkvbias", "token_repr_eps", "features_only", "layerscale_token", "headdim_mean",
    };

    private static string FixturePath(string file) => Path.Combine(AppContext.BaseDirectory, "Fixtures", file);

    /// <summary>The configuration a fixture's metadata states; HeadDim and LayerScale are 0 when absent.</summary>
    private sealed record Config(int ImageSize, int Patch, int Channels, int Dim, int Depth, int Heads, int HeadDim, int MlpDim,
        int Classes, bool QkvBias, string Pooling, int RepresentationSize, double LayerNormEpsilon, double LayerScale, int Batch)
    {
        public static Config From(IReadOnlyDictionary<string, string> m)
        {
            int I(string key) => int.Parse(m[key], CultureInfo.InvariantCulture);
            double D(string key) => double.Parse(m[key], CultureInfo.InvariantCulture);
            return new Config(I("ImageSize"), I("Patch"), I("Channels"), I("Dim"), I("Depth"), I("Heads"),
                m.ContainsKey("HeadDim") ? I("HeadDim") : 0, I("MlpDim"), I("Classes"),
                m["QkvBias"] switch { "true" => true, "false" => false, var v => throw new InvalidDataException($"QkvBias '{v}'") },
                m["Pooling"], I("RepresentationSize"), D("LayerNormEpsilon"), m.ContainsKey("LayerScale") ? D("LayerScale") : 0, I("Batch"));
        }

        public int Tokens => (ImageSize / Patch) * (ImageSize / Patch) + 1;

        /// <summary>Heads x head width: the rows of each of Q, K, V and the columns of attn.proj.</summary>
        public int AttentionWidth => Heads * (HeadDim > 0 ? HeadDim : Dim / Heads);

        public int FeatureWidth => RepresentationSize > 0 ? RepresentationSize : Dim;

        /// <summary>timm names and shapes, in state_dict order.</summary>
        public List<(string Name, long[] Shape)> Parameters()
        {
            long d = Dim, m = MlpDim, a = AttentionWidth;
            var p = new List<(string, long[])>
            {
                ("cls_token", [1, 1, d]),
                ("pos_embed", [1, Tokens, d]),
                ("patch_embed.proj.weight", [d, Channels, Patch, Patch]),
                ("patch_embed.proj.bias", [d]),
            };
            for (int i = 0; i < Depth; i++)
            {
                string b = $"blocks.{i}.";
                p.Add((b + "norm1.weight", [d]));
                p.Add((b + "norm1.bias", [d]));
                p.Add((b + "attn.qkv.weight", [3 * a, d]));
                if (QkvBias) p.Add((b + "attn.qkv.bias", [3 * a]));
                p.Add((b + "attn.proj.weight", [d, a]));
                p.Add((b + "attn.proj.bias", [d]));
                if (LayerScale > 0) p.Add((b + "ls1.gamma", [d]));
                p.Add((b + "norm2.weight", [d]));
                p.Add((b + "norm2.bias", [d]));
                p.Add((b + "mlp.fc1.weight", [m, d]));
                p.Add((b + "mlp.fc1.bias", [m]));
                p.Add((b + "mlp.fc2.weight", [d, m]));
                p.Add((b + "mlp.fc2.bias", [d]));
                if (LayerScale > 0) p.Add((b + "ls2.gamma", [d]));
            }
            string norm = Pooling == "Token" ? "norm" : "fc_norm";
            p.Add((norm + ".weight", [d]));
            p.Add((norm + ".bias", [d]));
            if (RepresentationSize > 0)
            {
                p.Add(("pre_logits.fc.weight", [RepresentationSize, d]));
                p.Add(("pre_logits.fc.bias", [RepresentationSize]));
            }
            if (Classes > 0)
            {
                p.Add(("head.weight", [Classes, FeatureWidth]));
                p.Add(("head.bias", [Classes]));
            }
            return p;
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void WeightsHoldEveryTimmParameterInStateDictOrder(string name)
    {
        using var weights = SafeTensorsFile.Open(FixturePath(name + ".weights.safetensors"));
        var config = Config.From(weights.Metadata);
        List<string> keys = ["ImageSize", "Patch", "Channels", "Dim", "Depth", "Heads", "MlpDim", "Classes", "QkvBias", "Pooling",
            "RepresentationSize", "LayerNormEpsilon", "Batch"];
        if (!FixturesWithoutOptionKeys.Contains(name)) keys.AddRange(["HeadDim", "LayerScale"]);
        Assert.Equal(keys.Order(StringComparer.Ordinal), weights.Metadata.Keys.Order(StringComparer.Ordinal));
        var expected = config.Parameters();
        Assert.Equal(expected.Select(p => p.Name), weights.Tensors.Select(t => t.Name));
        foreach (var (parameter, tensor) in expected.Zip(weights.Tensors))
        {
            Assert.Equal(SafeTensorDType.F32, tensor.DType);
            Assert.Equal(parameter.Shape, tensor.Shape);
            Assert.All(weights.ReadSingles(tensor.Name), v => Assert.True(float.IsFinite(v), $"{tensor.Name} has {v}"));
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void ReferenceHoldsInputLabelsOutputLossAndGradients(string name)
    {
        using var weights = SafeTensorsFile.Open(FixturePath(name + ".weights.safetensors"));
        using var reference = SafeTensorsFile.Open(FixturePath(name + ".reference.safetensors"));
        var config = Config.From(weights.Metadata);
        Assert.Equal(config, Config.From(reference.Metadata));
        int b = config.Batch;

        var expected = new List<(string Name, SafeTensorDType DType, long[] Shape)>
        {
            ("input", SafeTensorDType.F32, [b, config.Channels, config.ImageSize, config.ImageSize]),
        };
        if (config.Classes > 0)
        {
            expected.Add(("labels", SafeTensorDType.I64, [b]));
            expected.Add(("output", SafeTensorDType.F64, [b, config.Classes]));
            expected.Add(("loss", SafeTensorDType.F64, []));
            expected.AddRange(config.Parameters().Select(p => ("grad." + p.Name, SafeTensorDType.F64, p.Shape)));
        }
        else
        {
            expected.Add(("output", SafeTensorDType.F64, [b, config.FeatureWidth]));
        }
        Assert.Equal(expected.Select(e => e.Name), reference.Tensors.Select(t => t.Name));
        foreach (var (e, t) in expected.Zip(reference.Tensors))
        {
            Assert.Equal(e.DType, t.DType);
            Assert.Equal(e.Shape, t.Shape);
        }

        Assert.All(reference.ReadDoubles("output"), v => Assert.True(double.IsFinite(v)));
        if (config.Classes > 0)
        {
            Assert.All(reference.ReadInt64s("labels"), label => Assert.InRange(label, 0, config.Classes - 1));
            double loss = Assert.Single(reference.ReadDoubles("loss"));
            Assert.InRange(loss, 1e-3, 50);
            // Every gradient is finite and none is identically zero (each parameter matters).
            foreach (var t in reference.Tensors.Where(t => t.Name.StartsWith("grad.", StringComparison.Ordinal)))
            {
                double[] g = reference.ReadDoubles(t.Name);
                Assert.All(g, v => Assert.True(double.IsFinite(v), $"{t.Name} has {v}"));
                Assert.True(g.Any(v => v != 0), $"{t.Name} is all zero");
            }
        }
    }

    [Fact]
    public void LayerScaleFixtureHasRandomGammasAroundInitValues()
    {
        using var weights = SafeTensorsFile.Open(FixturePath("layerscale_token.weights.safetensors"));
        var config = Config.From(weights.Metadata);
        Assert.Equal("0.1", weights.Metadata["LayerScale"]);
        Assert.Equal("0", weights.Metadata["HeadDim"]);
        for (int i = 0; i < config.Depth; i++)
        {
            foreach (string ls in new[] { "ls1", "ls2" })
            {
                float[] gamma = weights.ReadSingles($"blocks.{i}.{ls}.gamma");
                // init_values + N(0, (init_values/2)^2): not constant, so the gamma gradients and a
                // gamma applied to the wrong channel show; centred near init_values.
                Assert.True(gamma.Distinct().Count() == gamma.Length, $"blocks.{i}.{ls}.gamma has repeated values");
                double mean = gamma.Average();
                Assert.InRange(mean, 0.5 * config.LayerScale, 1.5 * config.LayerScale);
            }
        }
    }

    [Fact]
    public void HeadDimFixtureHasAnInnerWidthThatDimCannotGive()
    {
        using var weights = SafeTensorsFile.Open(FixturePath("headdim_mean.weights.safetensors"));
        var config = Config.From(weights.Metadata);
        Assert.Equal(8, config.HeadDim);
        Assert.Equal("0.0", weights.Metadata["LayerScale"]);
        Assert.NotEqual(0, config.Dim % config.Heads); // only an explicit head width makes this model possible
        Assert.Equal(24, config.AttentionWidth);
        Assert.Equal(new long[] { 3 * 24, 20 }, weights.Tensors.Single(t => t.Name == "blocks.1.attn.qkv.weight").Shape);
        Assert.Equal(new long[] { 20, 24 }, weights.Tensors.Single(t => t.Name == "blocks.1.attn.proj.weight").Shape);
    }
}
