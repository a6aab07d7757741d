using System.Globalization;

namespace Vit;

/// <summary>
/// The attribute values of a compiled model, available at run time (for <c>vit info</c>, and stored
/// in the <c>__metadata__</c> of saved weights so a checkpoint says which model it belongs to).
/// </summary>
/// <remarks>
/// <see cref="LayerScale"/> (timm <c>init_values</c>; 0: no LayerScale) and
/// <see cref="AttentionHeadDim"/> (channels per head when the attention's inner width
/// <see cref="AttentionWidth"/> differs from <see cref="Dim"/>; 0: <see cref="Dim"/> / <see cref="Heads"/>)
/// come last and are optional, so code that names every other value keeps compiling, and appear
/// in <see cref="ToMetadata"/> only when set, so the metadata of existing weight files is unchanged.
/// </remarks>
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
    double DropPath,
    double LayerScale = 0,
    int AttentionHeadDim = 0)
{
    /// <summary>The metadata keys written only when their value is not the default (see <see cref="ToMetadata"/>).</summary>
    public static IReadOnlyList<string> OptionalMetadataKeys { get; } = ["LayerScale", "HeadDim"];

    /// <summary>Patch tokens plus the class token.</summary>
    public int Tokens => (ImageSize / Patch) * (ImageSize / Patch) + 1;

    /// <summary>Channels per attention head: <see cref="AttentionHeadDim"/> when set, else Dim / Heads.</summary>
    public int HeadDim => AttentionHeadDim > 0 ? AttentionHeadDim : Dim / Heads;

    /// <summary>The attention's inner width, Heads × HeadDim: qkv is (B, T, 3·AttentionWidth), the merged heads (B, T, AttentionWidth).</summary>
    public int AttentionWidth => Heads * HeadDim;

    /// <summary>
    /// The string form used in safetensors metadata: one entry per attribute property, with
    /// <c>LayerScale</c> and <c>HeadDim</c> only when they are set (<see cref="OptionalMetadataKeys"/>).
    /// </summary>
    public Dictionary<string, string> ToMetadata()
    {
        var c = CultureInfo.InvariantCulture;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
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
        if (LayerScale != 0) metadata["LayerScale"] = LayerScale.ToString("R", c);
        if (AttentionHeadDim > 0) metadata["HeadDim"] = HeadDim.ToString(c);
        return metadata;
    }
}

/// <summary>Sizes and costs the generator computed for a model.</summary>
/// <param name="Parameters">Parameter count (timm's count).</param>
/// <param name="ForwardFlopsPerImage">Multiply-add FLOPs (2 per multiply-add) of the matrix products in one image's forward pass.</param>
/// <param name="TrainingFlopsPerImage">The same for forward plus backward.</param>
/// <param name="InferenceFloatsPerImage">Activation floats per image in inference (buffers reused by liveness).</param>
/// <param name="TrainingFloatsPerImage">Activation floats per image in training (every saved tensor plus backward scratch).</param>
/// <param name="FrozenTrainingFlopsPerImage">
/// The same FLOPs for a frozen-backbone training step (<c>ForwardBackwardFrozen</c>): the forward pass plus the
/// head's backward; 0 without a head.
/// </param>
/// <param name="FrozenFloatsPerImage">
/// Activation floats per image of a frozen-backbone training step: the inference layout and the head's training
/// tensors after it; 0 without a head.
/// </param>
public sealed record ModelSummary(
    long Parameters,
    long ForwardFlopsPerImage,
    long TrainingFlopsPerImage,
    long InferenceFloatsPerImage,
    long TrainingFloatsPerImage,
    long FrozenTrainingFlopsPerImage = 0,
    long FrozenFloatsPerImage = 0);
