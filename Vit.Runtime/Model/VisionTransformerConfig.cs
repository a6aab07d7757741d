using System.Globalization;

namespace Vit;

/// <summary>
/// The attribute values of a compiled model, available at run time (for <c>vit info</c>, and stored
/// in the <c>__metadata__</c> of saved weights so a checkpoint says which model it belongs to).
/// </summary>
public sealed record VisionTransformerConfig(
    string Name,
    int ImageSize,
    int Patch,
    int Channels,
    int Dim,
    int Depth,
    int Heads,
    int MlpDim,
    int Classes,
    bool QkvBias,
    Pooling Pooling,
    int RepresentationSize,
    double LayerNormEpsilon,
    double Dropout,
    double AttentionDropout,
    double DropPath)
{
    /// <summary>Patch tokens plus the class token.</summary>
    public int Tokens => (ImageSize / Patch) * (ImageSize / Patch) + 1;

    /// <summary>Channels per attention head.</summary>
    public int HeadDim => Dim / Heads;

    /// <summary>The string form used in safetensors metadata: one entry per attribute property.</summary>
    public Dictionary<string, string> ToMetadata()
    {
        var c = CultureInfo.InvariantCulture;
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["model"] = Name,
            ["ImageSize"] = ImageSize.ToString(c),
            ["Patch"] = Patch.ToString(c),
            ["Channels"] = Channels.ToString(c),
            ["Dim"] = Dim.ToString(c),
            ["Depth"] = Depth.ToString(c),
            ["Heads"] = Heads.ToString(c),
            ["MlpDim"] = MlpDim.ToString(c),
            ["Classes"] = Classes.ToString(c),
            ["QkvBias"] = QkvBias ? "true" : "false",
            ["Pooling"] = Pooling.ToString(),
            ["RepresentationSize"] = RepresentationSize.ToString(c),
            ["LayerNormEpsilon"] = LayerNormEpsilon.ToString("R", c),
            ["Dropout"] = Dropout.ToString("R", c),
            ["AttentionDropout"] = AttentionDropout.ToString("R", c),
            ["DropPath"] = DropPath.ToString("R", c),
        };
    }
}

/// <summary>Sizes and costs the generator computed for a model.</summary>
/// <param name="Parameters">Parameter count (timm's count).</param>
/// <param name="ForwardFlopsPerImage">Multiply-add FLOPs (2 per multiply-add) of the matrix products in one image's forward pass.</param>
/// <param name="TrainingFlopsPerImage">The same for forward plus backward.</param>
/// <param name="InferenceFloatsPerImage">Activation floats per image in inference (buffers reused by liveness).</param>
/// <param name="TrainingFloatsPerImage">Activation floats per image in training (every saved tensor plus backward scratch).</param>
public sealed record ModelSummary(
    long Parameters,
    long ForwardFlopsPerImage,
    long TrainingFlopsPerImage,
    long InferenceFloatsPerImage,
    long TrainingFloatsPerImage);
