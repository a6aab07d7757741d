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
    public static TheoryData<string> Fixtures => new() { "tiny_token", "mean_repr_noqkvbias", "token_repr_eps", "features_only" };

    private static string FixturePath(string file) => Path.Combine(AppContext.BaseDirectory, "Fixtures", file);

    private sealed record Config(int ImageSize, int Patch, int Channels, int Dim, int Depth, int Heads, int MlpDim, int Classes,
        bool QkvBias, string Pooling, int RepresentationSize, double LayerNormEpsilon, int Batch)
    {
        public static Config From(IReadOnlyDictionary<string, string> m)
        {
            int I(string key) => int.Parse(m[key], CultureInfo.InvariantCulture);
            return new Config(I("ImageSize"), I("Patch"), I("Channels"), I("Dim"), I("Depth"), I("Heads"), I("MlpDim"), I("Classes"),
                m["QkvBias"] switch { "true" => true, "false" => false, var v => throw new InvalidDataException($"QkvBias '{v}'") },
                m["Pooling"], I("RepresentationSize"), double.Parse(m["LayerNormEpsilon"], CultureInfo.InvariantCulture), I("Batch"));
        }

        public int Tokens => (ImageSize / Patch) * (ImageSize / Patch) + 1;

        public int FeatureWidth => RepresentationSize > 0 ? RepresentationSize : Dim;

        /// <summary>timm names and shapes, in state_dict order.</summary>
        public List<(string Name, long[] Shape)> Parameters()
        {
            long d = Dim, m = MlpDim;
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
                p.Add((b + "attn.qkv.weight", [3 * d, d]));
                if (QkvBias) p.Add((b + "attn.qkv.bias", [3 * d]));
                p.Add((b + "attn.proj.weight", [d, d]));
                p.Add((b + "attn.proj.bias", [d]));
                p.Add((b + "norm2.weight", [d]));
                p.Add((b + "norm2.bias", [d]));
                p.Add((b + "mlp.fc1.weight", [m, d]));
                p.Add((b + "mlp.fc1.bias", [m]));
                p.Add((b + "mlp.fc2.weight", [d, m]));
                p.Add((b + "mlp.fc2.bias", [d]));
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
        string[] keys = ["ImageSize", "Patch", "Channels", "Dim", "Depth", "Heads", "MlpDim", "Classes", "QkvBias", "Pooling",
            "RepresentationSize", "LayerNormEpsilon", "Batch"];
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
}
