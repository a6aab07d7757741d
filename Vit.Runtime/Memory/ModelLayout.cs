namespace Vit.Memory;

/// <summary>
/// The memory a compiled model needs, from the generator's plan: the parameter table and the
/// activation floats per image for inference and for training.
/// </summary>
/// <param name="Config">The model's attribute values.</param>
/// <param name="Parameters">Every parameter in timm order, with offsets into the flat buffer.</param>
/// <param name="ParameterFloats">Length of the flat parameter buffer, alignment padding included.</param>
/// <param name="OutputSize">Floats per output row.</param>
/// <param name="InferenceFloatsPerImage">Activation floats per image for <c>Forward</c>.</param>
/// <param name="TrainingFloatsPerImage">Activation floats per image for <c>ForwardBackward</c>.</param>
/// <param name="FrozenFloatsPerImage">
/// Activation floats per image for <c>ForwardBackwardFrozen</c>, in the inference buffer: the inference
/// layout, then the head's training tensors; 0 when the model has no head.
/// </param>
public sealed record ModelLayout(
    VisionTransformerConfig Config,
    IReadOnlyList<ParameterInfo> Parameters,
    long ParameterFloats,
    int OutputSize,
    long InferenceFloatsPerImage,
    long TrainingFloatsPerImage,
    long FrozenFloatsPerImage = 0)
{
    /// <summary>Floats per input image: Channels × ImageSize × ImageSize.</summary>
    public int InputFloatsPerImage => Config.Channels * Config.ImageSize * Config.ImageSize;
}
