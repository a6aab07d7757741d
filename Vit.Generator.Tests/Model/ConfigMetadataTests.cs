using Vit.Training;
using Xunit;

namespace Vit.Tests.Model;

/// <summary>
/// The optional configuration values (LayerScale, an explicit head dim): derived sizes, and
/// weights metadata that stays as it was for models without them.
/// </summary>
public class ConfigMetadataTests
{
    private static readonly string[] ClassicKeys =
    [
        "model", "ImageSize", "Patch", "Channels", "Dim", "Depth", "Heads", "MlpDim", "Classes", "QkvBias", "Pooling",
        "RepresentationSize", "LayerNormEpsilon", "Dropout", "AttentionDropout", "DropPath",
    ];

    [Fact]
    public void Defaults_keep_the_head_dim_and_the_metadata_as_before()
    {
        var c = TinyToken.Config;
        Assert.Equal((0.0, 0), (c.LayerScale, c.AttentionHeadDim));
        Assert.Equal(8, c.HeadDim);
        Assert.Equal(16, c.AttentionWidth);
        Assert.Equal(ClassicKeys.Order(StringComparer.Ordinal), c.ToMetadata().Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Set_values_change_the_head_dim_and_appear_in_the_metadata()
    {
        var c = TinyToken.Config with { LayerScale = 1e-5, AttentionHeadDim = 12 };
        Assert.Equal(12, c.HeadDim);
        Assert.Equal(24, c.AttentionWidth);
        Assert.Equal(16, c.Dim);
        var m = c.ToMetadata();
        Assert.Equal("1E-05", m["LayerScale"]);
        Assert.Equal("12", m["HeadDim"]);
        Assert.Equal(ClassicKeys.Length + 2, m.Count);
        Assert.Equal("1E-05", (TinyToken.Config with { LayerScale = 1e-5 }).ToMetadata()["LayerScale"]);
        Assert.False((TinyToken.Config with { LayerScale = 1e-5 }).ToMetadata().ContainsKey("HeadDim"));
    }

    [Fact]
    public void Checking_a_file_against_a_model_sees_the_optional_values_both_ways()
    {
        var plain = TinyToken.Config;
        var scaled = plain with { LayerScale = 0.1, AttentionHeadDim = 4 };
        Checkpoint.CheckConfig("same.safetensors", scaled.ToMetadata(), scaled);
        Checkpoint.CheckConfig("same.safetensors", plain.ToMetadata(), plain);

        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.CheckConfig("scaled.safetensors", scaled.ToMetadata(), plain));
        Assert.Contains("LayerScale is 0.1 in the file, not set in the model", e.Message);
        Assert.Contains("HeadDim is 4 in the file, not set in the model", e.Message);

        e = Assert.Throws<InvalidDataException>(() => Checkpoint.CheckConfig("plain.safetensors", plain.ToMetadata(), scaled));
        Assert.Contains("LayerScale is missing (the model has 0.1)", e.Message);
        Assert.Contains("HeadDim is missing (the model has 4)", e.Message);
    }
}
