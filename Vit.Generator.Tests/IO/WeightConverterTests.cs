using Vit.IO;
using Vit.Tests.Kernels;
using Vit.Tests.Training;
using Xunit;

namespace Vit.Tests.IO;

/// <summary>
/// torchvision and Hugging Face weights, loaded under timm's names, give torchvision's own logits
/// (tools/make_torchvision_reference.py: a random torchvision VisionTransformer of SmallCifarPlain's
/// shape, its float64 forward pass; the Hugging Face file holds the same weights under
/// transformers' names, query, key and value split).
/// </summary>
public sealed class WeightConverterTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("vit-convert-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    private static double[] Logits(string weights)
    {
        using var model = new SmallCifarPlain(seed: 1, maxBatch: 2);
        model.LoadWeights(weights);
        using var reference = SafeTensorsFile.Open(Fixture("torchvision_small.reference.safetensors"));
        var input = reference.ReadSingles("input");
        var logits = new float[2 * 10];
        model.Forward(input, 2, logits);
        return logits.Select(v => (double)v).ToArray();
    }

    private static double[] TorchvisionLogits()
    {
        using var reference = SafeTensorsFile.Open(Fixture("torchvision_small.reference.safetensors"));
        return reference.ReadDoubles("logits");
    }

    [Theory]
    [InlineData("torchvision_small.weights.safetensors", WeightFormat.Torchvision)]
    [InlineData("huggingface_small.weights.safetensors", WeightFormat.HuggingFace)]
    public void LoadedWeightsGiveTorchvisionsLogits(string file, WeightFormat format)
    {
        using (var f = SafeTensorsFile.Open(Fixture(file)))
            Assert.Equal(format, WeightConverter.Detect(f.Tensors.Select(t => t.Name)));
        // float32 against torchvision's float64 on the same (float32) weights: logits of size ~1.
        KernelTestSupport.AssertClose(TorchvisionLogits(), Logits(Fixture(file)), 1e-4, 1e-5, $"{file}: logits against torchvision");
    }

    [Fact]
    public void GoogleNpzCheckpointsGiveTorchvisionsLogits()
    {
        // The same weights in Google's JAX layout: (in, out) kernels, an HWIO patch kernel, attention split by head.
        string npz = Fixture("google_small.npz");
        Assert.True(NpzWeights.IsNpz(npz));
        KernelTestSupport.AssertClose(TorchvisionLogits(), Logits(npz), 1e-4, 1e-5, "google_small.npz: logits against torchvision");
        string output = Path.Combine(_folder, "from-npz.safetensors");
        Assert.Equal(WeightFormat.GoogleNpz, WeightConverter.Convert(npz, output));
        Assert.Equal(Logits(Fixture("torchvision_small.weights.safetensors")), Logits(output));
        using var tiny = new Vit.Tests.Model.TinyToken(seed: 1, maxBatch: 1);
        var e = Assert.Throws<InvalidDataException>(() => tiny.LoadWeights(npz));
        Assert.StartsWith($"'{npz}' does not fit TinyToken", e.Message);
        Assert.EndsWith("(read as a Google .npz checkpoint)", e.Message);
    }

    [Fact]
    public void ConvertWritesTimmNamesThatLoadTheSame()
    {
        string output = Path.Combine(_folder, "timm.safetensors");
        Assert.Equal(WeightFormat.Torchvision, WeightConverter.Convert(Fixture("torchvision_small.weights.safetensors"), output));
        using (var f = SafeTensorsFile.Open(output))
        {
            Assert.Equal(WeightFormat.Timm, WeightConverter.Detect(f.Tensors.Select(t => t.Name)));
            Assert.Equal(SmallCifarPlain.Parameters.Select(p => p.Name).Order(StringComparer.Ordinal), f.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
            Assert.Equal([96, 32], f.GetTensor("blocks.0.attn.qkv.weight").Shape);
            Assert.Equal("Torchvision", f.Metadata["converted_from"]);
        }
        Assert.Equal(Logits(Fixture("torchvision_small.weights.safetensors")), Logits(output));
        string fromHf = Path.Combine(_folder, "hf.safetensors");
        WeightConverter.Convert(Fixture("huggingface_small.weights.safetensors"), fromHf);
        Assert.Equal(Logits(output), Logits(fromHf)); // q, k, v stacked back into torchvision's in_proj order
    }

    [Fact]
    public void TorchvisionWeightsForAnotherShapeNameBothNames()
    {
        using var model = new SmallCifar(seed: 1, maxBatch: 2); // same shape: loads
        model.LoadWeights(Fixture("torchvision_small.weights.safetensors"));
        using var other = new Vit.Tests.Model.TinyToken(seed: 1, maxBatch: 1);
        var e = Assert.Throws<InvalidDataException>(() => other.LoadWeights(Fixture("torchvision_small.weights.safetensors")));
        Assert.Contains("(read as Torchvision weights) does not fit", e.Message);
        Assert.Contains("tensor 'blocks.0.attn.qkv.weight' (from 'encoder.layers.encoder_layer_0.self_attention.in_proj_weight') has shape (96, 32) in the file", e.Message);
    }

    [Fact]
    public void PretrainedWeightsForOtherClassesLoadTheBackboneAndKeepANewHead()
    {
        string file = Fixture("torchvision_small.weights.safetensors"); // 10 classes
        using var model = new SmallCifarFiveClasses(seed: 7, maxBatch: 2);
        using var fresh = new SmallCifarFiveClasses(seed: 7, maxBatch: 2);
        var report = model.Memory.LoadPretrained(file);
        Assert.Equal(WeightFormat.Torchvision, report.Format);
        Assert.Equal(["head.weight (5, 32)", "head.bias (5)"], report.Missing);
        Assert.Equal(["head.bias (10)", "head.weight (10, 32)"], report.Unexpected.Order(StringComparer.Ordinal));
        using var source = SafeTensorsFile.Open(file);
        Assert.Equal(source.ReadSingles("conv_proj.weight"), ParameterOf(model, "patch_embed.proj.weight"));
        Assert.Equal(source.ReadSingles("encoder.layers.encoder_layer_1.mlp.3.weight"), ParameterOf(model, "blocks.1.mlp.fc2.weight"));
        Assert.Equal(ParameterOf(fresh, "head.weight"), ParameterOf(model, "head.weight")); // the seeded initialization, untouched
        Assert.Equal(ParameterOf(fresh, "head.bias"), ParameterOf(model, "head.bias"));

        // Strict loading still refuses it, and a backbone that does not fit is refused either way.
        var strict = Assert.Throws<InvalidDataException>(() => model.LoadWeights(file));
        Assert.Contains("tensor 'head.weight' (from 'heads.head.weight') has shape (10, 32) in the file, but the model expects (5, 32)", strict.Message);
        using var other = new Vit.Tests.Model.TinyToken(seed: 1, maxBatch: 1);
        var backbone = Assert.Throws<InvalidDataException>(() => other.Memory.LoadPretrained(file));
        Assert.Contains("'cls_token' (from 'class_token') has shape (1, 1, 32) in the file, but the model expects (1, 1, 16)", backbone.Message);
    }

    [Fact]
    public void PosEmbedForAnotherGridIsResampledAsTimmDoes()
    {
        string file = Fixture("torchvision_small.weights.safetensors"); // 32 px, 4×4 grid
        using var reference = SafeTensorsFile.Open(Fixture("torchvision_small.reference.safetensors"));
        // torch interpolates in float32: 16 products of values up to ~0.6 round to ~6e-7 at worst, so
        // atol 1e-6; bilinear instead of bicubic, or a shifted grid, is off by 1e-3 and more.
        using (var up = new SmallCifar48(seed: 1, maxBatch: 1))
        {
            var report = up.Memory.LoadPretrained(file);
            Assert.Equal(["pos_embed (1, 17, 32) → (1, 37, 32) (grid 4×4 → 6×6, bicubic)"], report.Resampled);
            Assert.Empty(report.Missing);
            KernelTestSupport.AssertClose(reference.ReadSingles("pos_embed_6x6").Select(v => (double)v).ToArray(),
                ParameterOf(up, "pos_embed").Select(v => (double)v).ToArray(), 1e-6, 1e-6, "pos_embed 4×4 → 6×6 against torch's interpolate");
            Assert.Throws<InvalidDataException>(() => up.LoadWeights(file)); // strict loading does not resample
        }
        using (var down = new SmallCifar24(seed: 1, maxBatch: 1))
        {
            down.Memory.LoadPretrained(file);
            KernelTestSupport.AssertClose(reference.ReadSingles("pos_embed_3x3").Select(v => (double)v).ToArray(),
                ParameterOf(down, "pos_embed").Select(v => (double)v).ToArray(), 1e-6, 1e-6, "pos_embed 4×4 → 3×3 against torch's interpolate");
        }
        // The identity: the same grid resamples to itself.
        using var source = SafeTensorsFile.Open(file);
        var pos = source.ReadSingles("encoder.pos_embedding");
        Assert.Equal(pos, PositionEmbeddingResampler.Resample(pos, 1, 4, 4, 32));
    }

    private static float[] ParameterOf(IVisionTransformer model, string name)
    {
        var p = model.Memory.Table.Parameters.Single(p => p.Name == name);
        return model.Memory.Parameters.Slice(p.Offset, (int)p.Length).ToArray();
    }

    [Theory]
    [InlineData(new byte[] { 0x50, 0x4B, 3, 4, 20, 0, 0, 0, 8, 0 })]      // torch.save's zip
    [InlineData(new byte[] { 0x80, 2, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20 })] // a bare pickle, protocol 2
    public void APickleIsRefusedNamingTheConversionScript(byte[] start)
    {
        string path = Path.Combine(_folder, "model.pth");
        File.WriteAllBytes(path, [.. start, .. new byte[64]]);
        var e = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));
        Assert.Equal($"'{path}' is a pickled PyTorch file (torch.save), not safetensors; vit never unpickles (a pickle can run code): convert it with python3 tools/pth_to_safetensors.py model.pth OUT.safetensors", e.Message);
    }

    [Fact]
    public void HuggingFaceWithoutValueIsOneClearError()
    {
        string partial = Path.Combine(_folder, "partial.safetensors");
        using (var f = SafeTensorsFile.Open(Fixture("huggingface_small.weights.safetensors")))
        {
            var w = new SafeTensorsWriter();
            foreach (var t in f.Tensors.Where(t => !t.Name.Contains("layer.1.attention.attention.value.weight", StringComparison.Ordinal)))
                w.Add(t.Name, t.Shape.ToArray(), f.ReadSingles(t.Name));
            w.Write(partial);
        }
        var e = Assert.Throws<InvalidDataException>(() => Logits(partial));
        Assert.Contains("not all of query, key and value for blocks.1.attn.qkv.weight", e.Message);
    }
}
