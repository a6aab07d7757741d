using Microsoft.CodeAnalysis;

namespace Vit.Generator;

/// <summary>
/// Every diagnostic the generator reports. IDs come from one range (VIT0001…) and are listed
/// in AnalyzerReleases.Unshipped.md. Messages name the offending values.
/// </summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "Vit.Generator";

    public static readonly DiagnosticDescriptor NotPartial = new(
        "VIT0001", "Vision Transformer class must be partial",
        "The class '{0}' has [VisionTransformer] but is not partial; declare it 'partial class {0}' so the generator can add the model",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor ContainingTypeNotPartial = new(
        "VIT0002", "Containing type must be partial",
        "The class '{0}' is nested in '{1}', which is not partial; declare '{1}' partial too",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor Generic = new(
        "VIT0003", "Vision Transformer class cannot be generic",
        "The class '{0}' is generic or nested in a generic type ('{1}'); a compiled model has fixed shapes, so declare it as a non-generic class",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor NonPositiveSize = new(
        "VIT0004", "Size must be positive",
        "{0}={1} is not valid: {0} must be greater than 0",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor NegativeOptionalSize = new(
        "VIT0005", "Optional size must not be negative",
        "{0}={1} is not valid: {0} must be 0 ({2}) or greater",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor DimNotDivisibleByHeads = new(
        "VIT0006", "Dim must be divisible by Heads",
        "Dim={0} is not divisible by Heads={1}: every head needs Dim/Heads channels (the nearest valid Dim values are {2} and {3}), or set HeadDim to give each head its own width",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor ImageNotDivisibleByPatch = new(
        "VIT0007", "ImageSize must be divisible by Patch",
        "ImageSize={0} is not divisible by Patch={1}: the image must split into whole {1}x{1} patches (for example ImageSize={2} or ImageSize={3})",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor RateOutOfRange = new(
        "VIT0008", "Dropout rate out of range",
        "{0}={1} is not valid: a dropout rate must lie in [0, 1)",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidEpsilon = new(
        "VIT0009", "LayerNorm epsilon must be positive",
        "LayerNormEpsilon={0} is not valid: it must be a finite number greater than 0 (timm's ViT uses 1e-6)",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor TooLarge = new(
        "VIT0010", "Model too large to index",
        "The {0} of this model is {1} floats, more than {2} (int.MaxValue), so it cannot be indexed; reduce {3}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor UnknownPooling = new(
        "VIT0011", "Unknown pooling",
        "Pooling={0} is not a Vit.Pooling value; use Pooling.Token or Pooling.Mean",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidLayerScale = new(
        "VIT0012", "LayerScale must not be negative",
        "LayerScale={0} is not valid: it is the initial value of the per-channel scales (timm init_values), a finite number >= 0, and 0 turns LayerScale off",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);
}
