using Microsoft.CodeAnalysis;
using Xunit;

namespace Vit.Tests.Generator;

/// <summary>The diagnostics of the HeadDim and LayerScale options.</summary>
public sealed class OptionDiagnosticTests
{
    private static Diagnostic[] Diagnostics(string attribute)
    {
        var (result, _) = GeneratorHarness.Run("using Vit;\nnamespace N;\n" + attribute + " public partial class M;");
        return result.Diagnostics.ToArray();
    }

    [Fact]
    public void VIT0012_negative_layer_scale()
    {
        var d = Assert.Single(Diagnostics("[VisionTransformer(Dim = 64, Heads = 4, LayerScale = -0.5)]"));
        Assert.Equal("VIT0012", d.Id);
        Assert.Contains("LayerScale=-0.5", d.GetMessage());
        Assert.Contains(">= 0", d.GetMessage());
    }

    [Fact]
    public void VIT0012_layer_scale_not_finite()
    {
        var d = Assert.Single(Diagnostics("[VisionTransformer(Dim = 64, Heads = 4, LayerScale = double.PositiveInfinity)]"));
        Assert.Equal("VIT0012", d.Id);
    }

    [Fact]
    public void HeadDim_lets_Dim_be_indivisible_by_Heads()
    {
        Assert.Empty(Diagnostics("[VisionTransformer(ImageSize = 8, Patch = 4, Dim = 20, Depth = 1, Heads = 3, HeadDim = 8, Classes = 2)]"));
        var d = Assert.Single(Diagnostics("[VisionTransformer(ImageSize = 8, Patch = 4, Dim = 20, Depth = 1, Heads = 3, Classes = 2)]"));
        Assert.Equal("VIT0006", d.Id);
        Assert.Contains("set HeadDim", d.GetMessage());
    }

    [Fact]
    public void VIT0005_negative_head_dim()
    {
        var d = Assert.Single(Diagnostics("[VisionTransformer(Dim = 64, Heads = 4, HeadDim = -1)]"));
        Assert.Equal("VIT0005", d.Id);
        Assert.Contains("HeadDim=-1", d.GetMessage());
    }
}
