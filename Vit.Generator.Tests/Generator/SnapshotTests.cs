using Microsoft.CodeAnalysis;
using Xunit;

namespace Vit.Tests.Generator;

/// <summary>Every generated file, for three configurations, against committed snapshots.</summary>
public sealed class SnapshotTests
{
    public static TheoryData<string, string> Models => new()
    {
        { "Tiny", "[VisionTransformer(ImageSize = 8, Patch = 4, Channels = 3, Dim = 16, Depth = 2, Heads = 2, Classes = 5)]\npublic partial class Tiny;" },
        { "VitB16", "[VisionTransformer(ImageSize = 224, Patch = 16, Dim = 768, Depth = 12, Heads = 12, Classes = 1000)]\npublic partial class VitB16;" },
        { "MeanRepr", "[VisionTransformer(ImageSize = 32, Patch = 8, Channels = 1, Dim = 24, Depth = 2, Heads = 3, MlpDim = 40, Classes = 7,\n    Pooling = Pooling.Mean, RepresentationSize = 10, QkvBias = false, LayerNormEpsilon = 1e-5,\n    Dropout = 0.1, AttentionDropout = 0.05, DropPath = 0.2)]\ninternal partial class MeanRepr;" },
        { "Options", "[VisionTransformer(ImageSize = 8, Patch = 4, Dim = 20, Depth = 1, Heads = 3, HeadDim = 8, MlpDim = 40, Classes = 4,\n    LayerScale = 0.1, Dropout = 0.1)]\npublic partial class Options;" },
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void Generated_files_match_snapshots(string name, string declaration)
    {
        var (result, errors) = GeneratorHarness.Run("using Vit;\nnamespace Samples.Models;\n\n" + declaration + "\n");
        Assert.Empty(result.Diagnostics);
        Assert.True(errors.IsEmpty, "the generated code does not compile:\n" + string.Join("\n", errors.Take(10)));
        var files = result.GeneratedSources.Select(s => (s.HintName.Replace(".g.cs", "").Replace($"Samples.Models.{name}.", ""), s.SourceText.ToString())).ToList();
        // Model, Forward, Backward, Frozen: each pass once, generic over the backend; and, once per
        // assembly, the InternalsVisibleTo that lets ILGPU's CPU accelerator name the dimension types.
        Assert.Equal(5, files.Count);
        Snapshot.VerifyAll(name, files);
    }

    [Fact]
    public void Output_is_deterministic()
    {
        const string source = "using Vit;\n[VisionTransformer(ImageSize = 16, Patch = 4, Dim = 32, Depth = 3, Heads = 4, Classes = 10, DropPath = 0.1)]\npublic partial class M;";
        var first = GeneratorHarness.Run(source).Result.GeneratedSources.Select(s => s.SourceText.ToString()).ToArray();
        var second = GeneratorHarness.Run(source).Result.GeneratedSources.Select(s => s.SourceText.ToString()).ToArray();
        Assert.Equal(first, second);
    }

    [Fact]
    public void Nested_and_global_namespace_models_compile()
    {
        var (result, errors) = GeneratorHarness.Run(
            "using Vit;\nnamespace A.B { public static partial class Outer { public partial class Inner { [VisionTransformer(ImageSize = 8, Patch = 4, Dim = 8, Depth = 1, Heads = 2, Classes = 0)] internal partial class M; } } }\n" +
            "[VisionTransformer(ImageSize = 8, Patch = 4, Dim = 8, Depth = 1, Heads = 1)] partial class G;\n");
        Assert.Empty(result.Diagnostics);
        Assert.True(errors.IsEmpty, string.Join("\n", errors.Take(10)));
        Assert.Contains(result.GeneratedSources, s => s.HintName == "A.B.Outer.Inner.M.Model.g.cs");
        Assert.Contains(result.GeneratedSources, s => s.HintName == "G.Model.g.cs");
    }
}
