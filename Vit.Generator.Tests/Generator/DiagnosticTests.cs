using Microsoft.CodeAnalysis;
using Xunit;

namespace Vit.Tests.Generator;

/// <summary>One test per diagnostic ID: the ID, where it points, and that the message names the values.</summary>
public sealed class DiagnosticTests
{
    private const string Prefix = "using Vit;\nnamespace N;\n";

    /// <summary>A diagnostic with the source it was reported on: its location carries the file path and span, not the tree.</summary>
    private sealed record Reported(Diagnostic Diagnostic, string Source)
    {
        /// <summary>The source text the diagnostic points at.</summary>
        public string At
        {
            get
            {
                Assert.Equal("Model0.cs", Diagnostic.Location.GetLineSpan().Path);
                return Source.Substring(Diagnostic.Location.SourceSpan.Start, Diagnostic.Location.SourceSpan.Length);
            }
        }

        public string Message => Diagnostic.GetMessage();
    }

    private static Reported Single(string source, string id)
    {
        string text = Prefix + source;
        var (result, _) = GeneratorHarness.Run(text);
        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal(id, diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.Empty(result.GeneratedSources);
        return new Reported(diagnostic, text);
    }

    [Fact]
    public void VIT0001_class_not_partial()
    {
        var d = Single("[VisionTransformer(Dim = 64, Heads = 4)] public class Plain { }", "VIT0001");
        Assert.Equal("Plain", d.At);
        Assert.Contains("'Plain'", d.Message);
    }

    [Fact]
    public void VIT0002_containing_type_not_partial()
    {
        var d = Single("public class Outer { [VisionTransformer] public partial class Inner; }", "VIT0002");
        Assert.Equal("Inner", d.At);
        Assert.Contains("'Outer'", d.Message);
    }

    [Fact]
    public void VIT0003_generic_class()
    {
        var d = Single("[VisionTransformer] public partial class G<T>;", "VIT0003");
        Assert.Equal("G", d.At);
    }

    [Fact]
    public void VIT0003_nested_in_generic_type()
    {
        var d = Single("public partial class Outer<T> { [VisionTransformer] public partial class Inner; }", "VIT0003");
        Assert.Contains("'Outer'", d.Message);
    }

    [Theory]
    [InlineData("ImageSize", 0)]
    [InlineData("Patch", -16)]
    [InlineData("Channels", 0)]
    [InlineData("Dim", 0)]
    [InlineData("Depth", -1)]
    [InlineData("Heads", 0)]
    public void VIT0004_size_not_positive(string property, int value)
    {
        var d = Single($"[VisionTransformer({property} = {value})] public partial class M;", "VIT0004");
        Assert.Equal($"{property} = {value}", d.At);
        Assert.Contains($"{property}={value}", d.Message);
    }

    [Theory]
    [InlineData("MlpDim")]
    [InlineData("Classes")]
    [InlineData("RepresentationSize")]
    public void VIT0005_optional_size_negative(string property)
    {
        var d = Single($"[VisionTransformer({property} = -3)] public partial class M;", "VIT0005");
        Assert.Equal($"{property} = -3", d.At);
        Assert.Contains($"{property}=-3", d.Message);
    }

    [Fact]
    public void VIT0006_dim_not_divisible_by_heads()
    {
        var d = Single("[VisionTransformer(Dim = 100, Heads = 3)] public partial class M;", "VIT0006");
        Assert.Equal("Dim = 100", d.At);
        Assert.Contains("Dim=100", d.Message);
        Assert.Contains("Heads=3", d.Message);
        Assert.Contains("99 and 102", d.Message);
    }

    [Fact]
    public void VIT0007_image_not_divisible_by_patch()
    {
        var d = Single("[VisionTransformer(ImageSize = 225, Patch = 16)] public partial class M;", "VIT0007");
        Assert.Equal("ImageSize = 225", d.At);
        Assert.Contains("ImageSize=225", d.Message);
        Assert.Contains("Patch=16", d.Message);
        Assert.Contains("ImageSize=224", d.Message);
    }

    [Theory]
    [InlineData("Dropout", "1.0", "1")]
    [InlineData("AttentionDropout", "-0.1", "-0.1")]
    [InlineData("DropPath", "1.5", "1.5")]
    public void VIT0008_rate_outside_unit_interval(string property, string value, string printed)
    {
        var d = Single($"[VisionTransformer({property} = {value})] public partial class M;", "VIT0008");
        Assert.Equal($"{property} = {value}", d.At);
        Assert.Contains($"{property}={printed}", d.Message);
        Assert.Contains("[0, 1)", d.Message);
    }

    [Fact]
    public void VIT0009_epsilon_not_positive()
    {
        var d = Single("[VisionTransformer(LayerNormEpsilon = 0)] public partial class M;", "VIT0009");
        Assert.Equal("LayerNormEpsilon = 0", d.At);
        Assert.Contains("LayerNormEpsilon=0", d.Message);
    }

    [Fact]
    public void VIT0010_parameter_count_too_large()
    {
        var d = Single("[VisionTransformer(Dim = 65536, Heads = 16, Depth = 48)] public partial class M;", "VIT0010");
        Assert.Equal("Dim = 65536", d.At);
        Assert.Contains("parameter count of this model is 2,474,071,098,352 floats", d.Message); // quoted in docs/attribute-reference.md
    }

    [Fact]
    public void VIT0010_activation_count_too_large()
    {
        var d = Single("[VisionTransformer(ImageSize = 4096, Patch = 4, Dim = 64, Heads = 4, Depth = 2)] public partial class M;", "VIT0010");
        Assert.Equal("ImageSize = 4096", d.At);
        Assert.Contains("activation count per image", d.Message);
    }

    [Fact]
    public void VIT0011_pooling_not_defined()
    {
        var d = Single("[VisionTransformer(Pooling = (Pooling)7)] public partial class M;", "VIT0011");
        Assert.Equal("Pooling = (Pooling)7", d.At);
        Assert.Contains("Pooling=7", d.Message);
    }

    [Fact]
    public void Several_mistakes_give_several_diagnostics()
    {
        var (result, _) = GeneratorHarness.Run("using Vit;\n[VisionTransformer(Dim = 100, Heads = 3, ImageSize = 225, Dropout = 2)] public class M { }");
        Assert.Equal(new[] { "VIT0001", "VIT0006", "VIT0007", "VIT0008" }, result.Diagnostics.Select(d => d.Id).OrderBy(i => i));
    }

    [Fact]
    public void Valid_model_has_no_diagnostics_and_compiles()
    {
        var (result, errors) = GeneratorHarness.Run("using Vit;\nnamespace N;\n[VisionTransformer(ImageSize = 32, Patch = 4, Dim = 192, Depth = 6, Heads = 3, Classes = 10)] public partial class Cifar;");
        Assert.Empty(result.Diagnostics);
        Assert.True(errors.IsEmpty, string.Join("\n", errors));
    }

    [Fact]
    public void Every_descriptor_is_listed_in_the_release_file()
    {
        var ids = typeof(Vit.Generator.VisionTransformerGenerator).Assembly.GetType("Vit.Generator.DiagnosticDescriptors")!
            .GetFields().Select(f => ((DiagnosticDescriptor)f.GetValue(null)!).Id).ToArray();
        var release = File.ReadAllText(Path.Combine(Snapshot.Directory(), "..", "..", "Vit.Generator", "AnalyzerReleases.Unshipped.md"));
        Assert.Equal(12, ids.Length);
        foreach (var id in ids) Assert.Contains(id + " ", release);
    }
}
