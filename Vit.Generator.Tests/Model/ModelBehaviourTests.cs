using Vit.IO;
using Vit.Tests.Kernels;
using Xunit;

namespace Vit.Tests.Model;

/// <summary>The generated model's contract: counts, names, errors, batches, memory, dropout, initialization.</summary>
public sealed class ModelBehaviourTests
{
    private static (float[] Input, int[] Labels) FixtureBatch(string fixture)
    {
        using var reference = SafeTensorsFile.Open(PyTorchParityTests.Fixture(fixture + ".reference.safetensors"));
        return (reference.ReadSingles("input"), reference.TryGetTensor("labels", out _)
            ? reference.ReadInt64s("labels").Select(l => (int)l).ToArray() : Array.Empty<int>());
    }

    [Fact]
    public void Parameter_counts_match_timm()
    {
        Assert.Equal(5_717_416, VitTi16.ParameterCount);
        Assert.Equal(22_050_664, VitS16.ParameterCount);
        Assert.Equal(86_567_656, VitB16.ParameterCount);
        Assert.Equal(88_224_232, VitB32.ParameterCount);
        Assert.Equal(304_326_632, VitL16.ParameterCount);
        Assert.Equal(VitB16.ParameterCount, VitB16.Parameters.Sum(p => p.Length));
        Assert.Equal(2_693_578, CifarVit.ParameterCount); // ../shared/bench/torch_vit.py cifar
    }

    [Fact]
    public void Constants_follow_the_attribute()
    {
        Assert.Equal((224, 16, 3, 768, 12, 12, 64, 3072, 197, 1000, 1000), (VitB16.ImageSize, VitB16.Patch, VitB16.Channels, VitB16.Dim, VitB16.Depth, VitB16.Heads, VitB16.HeadDim, VitB16.MlpDim, VitB16.Tokens, VitB16.Classes, VitB16.OutputSize));
        Assert.Equal(40, MeanReprNoQkvBias.MlpDim);
        Assert.Equal(7, MeanReprNoQkvBias.OutputSize);
        Assert.Equal(8, FeaturesOnly.OutputSize);
    }

    [Fact]
    public void Parameters_are_in_timm_state_dict_order_with_aligned_offsets()
    {
        var names = TinyToken.Parameters.Select(p => p.Name).ToArray();
        Assert.Equal(new[] { "cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias", "blocks.0.norm1.weight" }, names[..5]);
        Assert.Equal(new[] { "norm.weight", "norm.bias", "head.weight", "head.bias" }, names[^4..]);
        Assert.Contains("fc_norm.weight", MeanReprNoQkvBias.Parameters.Select(p => p.Name));
        Assert.DoesNotContain("norm.weight", MeanReprNoQkvBias.Parameters.Select(p => p.Name));
        Assert.DoesNotContain("blocks.0.attn.qkv.bias", MeanReprNoQkvBias.Parameters.Select(p => p.Name));
        Assert.Contains("pre_logits.fc.weight", MeanReprNoQkvBias.Parameters.Select(p => p.Name));
        Assert.DoesNotContain(FeaturesOnly.Parameters, p => p.Name.StartsWith("head", StringComparison.Ordinal));
        Assert.All(VitB16.Parameters, p => Assert.Equal(0, p.Offset % 16));
        var offsets = VitB16.Parameters.Select(p => (p.Offset, End: p.Offset + p.Length)).ToArray();
        for (int i = 1; i < offsets.Length; i++) Assert.True(offsets[i].Offset >= offsets[i - 1].End);
        Assert.Equal(new[] { 1, 197, 768 }, VitB16.Parameters.Single(p => p.Name == "pos_embed").Shape);
        Assert.Equal(new[] { 768, 3, 16, 16 }, VitB16.Parameters.Single(p => p.Name == "patch_embed.proj.weight").Shape);
    }

    [Fact]
    public void Unknown_parameter_name_is_an_error_that_names_it()
    {
        using var model = new TinyToken();
        var e = Assert.Throws<KeyNotFoundException>(() => model.Parameter("blocks.0.attn.qkv.weigth"));
        Assert.Contains("'blocks.0.attn.qkv.weigth'", e.Message);
        Assert.Contains("'blocks.0.attn.qkv.weight'", e.Message);
        Assert.Throws<KeyNotFoundException>(() => model.Gradient("head.kernel"));
    }

    [Fact]
    public void Initialization_is_timm_style_and_seeded()
    {
        using var a = new CifarVit();
        using var b = new CifarVit();
        using var c = new CifarVit(seed: 7, maxBatch: 1);
        Assert.True(a.Parameter("blocks.3.attn.qkv.weight").SequenceEqual(b.Parameter("blocks.3.attn.qkv.weight")));
        Assert.False(a.Parameter("blocks.3.attn.qkv.weight").SequenceEqual(c.Parameter("blocks.3.attn.qkv.weight")));
        var w = a.Parameter("blocks.3.mlp.fc1.weight").ToArray();
        double std = Math.Sqrt(w.Select(v => (double)v * v).Average());
        Assert.InRange(std, 0.019, 0.021);
        Assert.All(a.Parameter("blocks.3.norm1.weight").ToArray(), v => Assert.Equal(1f, v));
        Assert.All(a.Parameter("blocks.3.mlp.fc1.bias").ToArray(), v => Assert.Equal(0f, v));
        Assert.All(a.Parameter("cls_token").ToArray(), v => Assert.InRange(Math.Abs(v), 0f, 1e-5f));
        double bound = 1 / Math.Sqrt(3 * 4 * 4);
        Assert.All(a.Parameter("patch_embed.proj.weight").ToArray(), v => Assert.InRange(Math.Abs(v), 0, bound));
    }

    [Fact]
    public void Batch_is_a_run_time_argument_and_rows_are_independent()
    {
        var (input, _) = FixtureBatch("tiny_token");
        using var model = new TinyToken(seed: 1, maxBatch: 1);
        model.LoadWeights(PyTorchParityTests.Fixture("tiny_token.weights.safetensors"));
        int perImage = TinyToken.Channels * TinyToken.ImageSize * TinyToken.ImageSize;
        var all = new float[3 * TinyToken.OutputSize];
        model.Forward(input, 3, all); // grows from capacity 1 to 3, once
        Assert.Equal(3, model.Memory.Capacity);
        for (int i = 0; i < 3; i++)
        {
            var one = new float[TinyToken.OutputSize];
            model.Forward(input.AsSpan(i * perImage, perImage), 1, one);
            KernelTestSupport.AssertClose(one.Select(v => (double)v).ToArray(), all.Skip(i * TinyToken.OutputSize).Take(TinyToken.OutputSize).Select(v => (double)v).ToArray(), 1e-5, 1e-6, $"image {i}");
        }
        Assert.Equal(3, model.Memory.Capacity);
    }

    [Fact]
    public void Bad_arguments_are_errors_that_say_what_was_expected()
    {
        using var model = new TinyToken();
        var output = new float[2 * TinyToken.OutputSize];
        var e = Assert.Throws<ArgumentException>(() => model.Forward(new float[100], 2, output));
        Assert.Contains("2 × 3 × 8 × 8 = 384", e.Message);
        Assert.Contains("found 100", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(new float[0], 0, output));
        var small = Assert.Throws<ArgumentException>(() => model.Forward(new float[384], 2, new float[3]));
        Assert.Contains("found 3", small.Message);
        var label = Assert.Throws<ArgumentOutOfRangeException>(() => model.ForwardBackward(new float[384], new[] { 0, 5 }, 2));
        Assert.Contains("5", label.Message);
        var count = Assert.Throws<ArgumentException>(() => model.ForwardBackward(new float[384], new[] { 0 }, 2));
        Assert.Contains("expected 2 labels", count.Message);
        using var features = new FeaturesOnly();
        var noHead = Assert.Throws<InvalidOperationException>(() => features.ForwardBackward(new float[2 * 3 * 8 * 8], new[] { 0, 1 }, 2));
        Assert.Contains("Classes = 0", noHead.Message);
    }

    [Fact]
    public void Weights_round_trip_through_safetensors_with_the_config_as_metadata()
    {
        using var folder = new Vit.Tests.IO.TemporaryFolder();
        string path = Path.Combine(folder.FullPath, "tiny.safetensors");
        using var a = new TinyToken(seed: 1, maxBatch: 1);
        using var b = new TinyToken(seed: 2, maxBatch: 1);
        a.SaveWeights(path);
        b.LoadWeights(path);
        foreach (var p in TinyToken.Parameters)
            Assert.True(a.Parameter(p.Name).SequenceEqual(b.Parameter(p.Name)), p.Name);
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal("16", file.Metadata["Dim"]);
        Assert.Equal("TinyToken", file.Metadata["model"]);
        Assert.Equal(TinyToken.Parameters.Select(p => p.Name), file.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void Weights_for_another_shape_are_an_error_naming_tensor_and_both_shapes()
    {
        using var model = new TokenReprEps();
        var before = model.Parameter("pos_embed").ToArray();
        var e = Assert.Throws<InvalidDataException>(() => model.LoadWeights(PyTorchParityTests.Fixture("tiny_token.weights.safetensors")));
        Assert.Contains("'pos_embed' has shape (1, 5, 16) in the file, but the model expects (1, 5, 32)", e.Message);
        Assert.Matches("; and [0-9]+ more\\.$", e.Message); // every mismatch is counted, the first eight are named
        Assert.True(before.AsSpan().SequenceEqual(model.Parameter("pos_embed")), "a failed load must not change any parameter");
    }

    [Fact]
    public void Missing_extra_and_malformed_weight_files_are_clear_errors()
    {
        using var folder = new Vit.Tests.IO.TemporaryFolder();
        using var model = new TinyToken();

        var missing = new SafeTensorsWriter();
        foreach (var p in TinyToken.Parameters.Where(p => p.Name != "head.bias"))
            missing.Add(p.Name, p.Shape.Select(d => (long)d).ToArray(), new float[p.Length]);
        missing.Add("head.extra", new long[] { 2 }, new float[2]);
        string path = Path.Combine(folder.FullPath, "bad.safetensors");
        missing.Write(path);
        var e = Assert.Throws<InvalidDataException>(() => model.LoadWeights(path));
        Assert.Contains("'head.bias' is missing (expected shape (5))", e.Message);
        Assert.Contains("'head.extra' (2) is not a parameter of TinyToken", e.Message);

        string garbage = Path.Combine(folder.FullPath, "garbage.safetensors");
        File.WriteAllBytes(garbage, new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 });
        Assert.Throws<InvalidDataException>(() => model.LoadWeights(garbage));
        var notFound = Assert.Throws<FileNotFoundException>(() => model.LoadWeights(Path.Combine(folder.FullPath, "nope.safetensors")));
        Assert.Contains("nope.safetensors", notFound.Message);
    }

    [Fact]
    public void Dropout_and_drop_path_act_in_training_only()
    {
        using var folder = new Vit.Tests.IO.TemporaryFolder();
        var (input, labels) = FixtureBatch("tiny_token");
        using var plain = new TinyToken();
        plain.LoadWeights(PyTorchParityTests.Fixture("tiny_token.weights.safetensors"));
        using var regularized = new TinyRegularized();
        regularized.LoadWeights(PyTorchParityTests.Fixture("tiny_token.weights.safetensors")); // same names and shapes

        var expected = new float[3 * 5];
        var actual = new float[3 * 5];
        plain.Forward(input, 3, expected);
        regularized.Forward(input, 3, actual);
        Assert.Equal(expected, actual); // inference: identical, no dropout

        float p1 = plain.ForwardBackward(input, labels, 3), p2 = plain.ForwardBackward(input, labels, 3);
        Assert.Equal(p1, p2);
        var losses = Enumerable.Range(0, 4).Select(_ => regularized.ForwardBackward(input, labels, 3)).ToArray();
        Assert.True(losses.Distinct().Count() > 1, "training with dropout should give different losses on the same batch: " + string.Join(", ", losses));
        Assert.All(losses, l => Assert.True(float.IsFinite(l)));
    }

    /// <summary>
    /// Finite differences of the float model's loss against its analytic gradient, for the
    /// largest-gradient elements of every parameter (every kind: embeddings, norms, qkv, proj,
    /// MLP, head). Central differences in float32 carry ~1e-4 noise, hence the tolerance.
    /// </summary>
    [Theory]
    [InlineData("tiny_token")]
    [InlineData("mean_repr_noqkvbias")]
    public void Finite_differences_agree_with_the_gradient_for_every_parameter(string fixture)
    {
        using var model = PyTorchParityTests.Create(fixture);
        model.LoadWeights(PyTorchParityTests.Fixture(fixture + ".weights.safetensors"));
        var (input, labels) = FixtureBatch(fixture);
        model.ZeroGradients();
        model.ForwardBackward(input, labels, labels.Length);
        const float h = 1e-2f;
        var output = new float[labels.Length * model.OutputWidth];
        foreach (var p in model.ParameterList)
        {
            var grad = model.Gradient(p.Name).ToArray();
            var indices = Enumerable.Range(0, grad.Length).OrderByDescending(i => Math.Abs(grad[i])).Take(2).ToArray();
            foreach (int i in indices)
            {
                var values = model.Parameter(p.Name);
                float saved = values[i];
                values[i] = saved + h;
                double plus = Loss(model, input, labels);
                values[i] = saved - h;
                double minus = Loss(model, input, labels);
                values[i] = saved;
                double numeric = (plus - minus) / (2 * h);
                Assert.True(Math.Abs(numeric - grad[i]) <= 3e-4 + 3e-2 * Math.Abs(grad[i]),
                    $"{fixture} {p.Name}[{i}]: analytic {grad[i]:G6}, finite difference {numeric:G6}");
            }
        }
    }

    /// <summary>The loss without touching gradients: a training step on a scratch copy would add into them, so compute it from the logits.</summary>
    private static double Loss(IVisionTransformer model, float[] input, int[] labels)
    {
        var logits = new float[labels.Length * model.OutputWidth];
        model.Forward(input, labels.Length, logits);
        double total = 0;
        for (int b = 0; b < labels.Length; b++)
        {
            var row = logits.AsSpan(b * model.OutputWidth, model.OutputWidth);
            double max = double.NegativeInfinity;
            foreach (var v in row) max = Math.Max(max, v);
            double sum = 0;
            foreach (var v in row) sum += Math.Exp(v - max);
            total += Math.Log(sum) + max - row[labels[b]];
        }
        return total / labels.Length;
    }
}
