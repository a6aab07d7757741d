using System.Reflection;
using Xunit;

namespace Vit.Tests.Generator;

/// <summary>A model declared with no attribute argument at all: every value is the parser's default.</summary>
[VisionTransformer]
public partial class AttributeDefaults;

/// <summary>
/// The parser applies its own copy of the defaults (VisionTransformerGenerator.Parser.cs: it reads
/// attribute arguments from syntax, not from a constructed attribute), so the two lists can drift.
/// This pins them together: every public property of <see cref="VisionTransformerAttribute"/>, found
/// by reflection, must reach the generated <c>Config</c> with the value a new attribute has.
/// </summary>
public sealed class AttributeDefaultsTests
{
    /// <summary>
    /// Properties whose default is a placeholder the parser resolves: what the model must report
    /// for the attribute's default value. Every other property must come through unchanged.
    /// </summary>
    private static readonly Dictionary<string, Func<object, VisionTransformerConfig, object>> Resolved = new(StringComparer.Ordinal)
    {
        ["MlpDim"] = (value, c) => (int)value == 0 ? 4 * c.Dim : value,     // 0 means 4·Dim
        ["HeadDim"] = (value, c) => (int)value == 0 ? c.Dim / c.Heads : value, // 0 means Dim / Heads
    };

    private static PropertyInfo[] AttributeProperties =>
        typeof(VisionTransformerAttribute).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.DeclaringType == typeof(VisionTransformerAttribute) && p.CanWrite)
            .ToArray();

    [Fact]
    public void Every_attribute_property_reaches_the_model_with_the_attributes_default()
    {
        var defaults = new VisionTransformerAttribute();
        var config = AttributeDefaults.Config;
        var properties = AttributeProperties;
        Assert.True(properties.Length >= 15, $"found only {properties.Length} attribute properties");
        var failures = new List<string>();
        foreach (var property in properties)
        {
            var reported = typeof(VisionTransformerConfig).GetProperty(property.Name);
            if (reported is null)
            {
                failures.Add($"{property.Name}: VisionTransformerConfig has no property of that name, so the generated model cannot report it");
                continue;
            }
            object value = property.GetValue(defaults)!;
            object expected = Resolved.TryGetValue(property.Name, out var resolve) ? resolve(value, config) : value;
            object actual = reported.GetValue(config)!;
            if (!Equals(expected, actual))
                failures.Add($"{property.Name}: new VisionTransformerAttribute() has {value}{(Equals(expected, value) ? "" : $" (meaning {expected})")}, the generated model reports {actual}");
        }
        Assert.True(failures.Count == 0, "The parser's defaults differ from the attribute's:\n" + string.Join("\n", failures));
    }

    [Fact]
    public void Every_config_value_comes_from_an_attribute_property()
    {
        // The other direction: each value of the run-time config (its primary constructor, except the
        // model's name) is an attribute property, so nothing the model reports escapes the check above.
        var constructor = typeof(VisionTransformerConfig).GetConstructors().Single(c => c.GetParameters().Length > 1);
        var names = AttributeProperties.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        // The config keeps the attribute's HeadDim as given in AttentionHeadDim (0: Dim / Heads), because
        // its HeadDim property is the resolved width the kernels use.
        var aliases = new Dictionary<string, string>(StringComparer.Ordinal) { ["AttentionHeadDim"] = "HeadDim" };
        var orphans = constructor.GetParameters().Select(p => p.Name!)
            .Where(n => n != "Name" && !names.Contains(aliases.TryGetValue(n, out var a) ? a : n)).ToArray();
        Assert.True(orphans.Length == 0, "Config values with no attribute property: " + string.Join(", ", orphans));
    }

    [Fact]
    public void The_defaults_are_vit_b16_at_224_with_1000_classes()
    {
        // The documented defaults themselves (the attribute's XML docs and docs/attribute reference).
        var c = AttributeDefaults.Config;
        Assert.Equal("AttributeDefaults", c.Name);
        Assert.Equal((224, 16, 3, 768, 12, 12, 3072, 1000), (c.ImageSize, c.Patch, c.Channels, c.Dim, c.Depth, c.Heads, c.MlpDim, c.Classes));
        Assert.Equal((true, Pooling.Token, 0, 1e-6), (c.QkvBias, c.Pooling, c.RepresentationSize, c.LayerNormEpsilon));
        Assert.Equal((0.0, 0.0, 0.0), (c.Dropout, c.AttentionDropout, c.DropPath));
        Assert.Equal(86_567_656, AttributeDefaults.ParameterCount); // timm's vit_base_patch16_224
    }
}
