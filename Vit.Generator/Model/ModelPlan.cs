namespace Vit.Generator.Model;

/// <summary>One parameter: timm name, the C# constant that holds its offset, shape, offset, init.</summary>
/// <remarks>Structurally equatable: required for incremental caching.</remarks>
internal sealed record ParameterSpec(
    string Name,
    string ConstantName,
    EquatableArray<int> Shape,
    long Offset,
    long Length,
    string Init,
    int FanIn,
    bool WeightDecay,
    double InitValue = 0);

/// <summary>One activation tensor: its constant name, offset and length per image, and what it holds.</summary>
/// <remarks>Structurally equatable: required for incremental caching.</remarks>
internal sealed record TensorSpec(string ConstantName, long Offset, long Length, string Description);

/// <summary>
/// Plan: every number derived from a <see cref="ModelSpec"/>, computed once: sizes, the parameter
/// table, the step list (<see cref="Steps"/>, forward order; <see cref="InferenceSteps"/>, derived
/// from it), both activation layouts, FLOPs. The emitter only formats it.
/// </summary>
/// <remarks>
/// <para>Structurally equatable and free of symbols: required for incremental caching.</para>
/// <para>
/// The frozen-backbone step (<c>ForwardBackwardFrozen</c>) is planned here too:
/// <see cref="BackboneSteps"/> are the inference steps up to the pooled, normalized features (timm's
/// <c>forward_features</c> and <c>forward_head(pre_logits=True)</c>), <see cref="HeadSteps"/> the
/// training steps after them (<c>pre_logits</c>, <c>head</c>, the loss), and <see cref="Frozen"/>
/// the head's tensors, laid out after the inference layout in the same buffer (offsets from
/// <see cref="InferenceFloatsPerImage"/> to <see cref="FrozenFloatsPerImage"/>). All empty when
/// there is no head (Classes = 0).
/// </para>
/// </remarks>
internal sealed record ModelPlan(
    ModelSpec Spec,
    int Grid,
    int Patches,
    int Tokens,
    int HeadDim,
    int PatchVector,
    int FeatureWidth,
    int OutputSize,
    int HiddenStride,
    EquatableArray<ParameterSpec> Parameters,
    long ParameterCount,
    long ParameterFloats,
    EquatableArray<TensorSpec> Training,
    long TrainingFloatsPerImage,
    EquatableArray<TensorSpec> Inference,
    long InferenceFloatsPerImage,
    long ForwardFlopsPerImage,
    long TrainingFlopsPerImage,
    EquatableArray<int> Dims,
    EquatableArray<StepSpec> Steps,
    EquatableArray<StepSpec> InferenceSteps,
    EquatableArray<StepSpec> BackboneSteps,
    EquatableArray<StepSpec> HeadSteps,
    EquatableArray<TensorSpec> Frozen,
    long FrozenFloatsPerImage,
    long FrozenTrainingFlopsPerImage);
