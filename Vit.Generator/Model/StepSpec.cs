namespace Vit.Generator.Model;

/// <summary>What a step computes: one per file in <c>Ops/</c>, which plans and emits it.</summary>
internal enum OpKind
{
    PatchEmbedding,
    PositionEmbedding,
    Dropout,
    LayerNorm,
    Linear,
    Attention,
    LayerScale,
    Residual,
    Pooling,
    Tanh,
    Loss,
}

/// <summary>
/// One tensor a step reads or writes. <see cref="Name"/> is its slot in the training layout
/// (every tensor the backward pass reads has its own), <see cref="Buffer"/> the inference buffer
/// it lives in (buffers are shared by liveness; empty: not needed for inference), and
/// <see cref="Grad"/> the training tensor that holds d(loss)/d(it) in the backward pass (empty:
/// none). <see cref="Shape"/> is per image; <see cref="RowStride"/> is the distance between rows
/// in floats when it differs from the last dimension (0: contiguous).
/// </summary>
/// <remarks>Structurally equatable and free of symbols: required for incremental caching.</remarks>
internal sealed record TensorRef(string Name, string Buffer, string Grad, EquatableArray<long> Shape, long RowStride, string Description)
{
    /// <summary>Floats per image, row padding included.</summary>
    public long Length
    {
        get
        {
            long n = 1;
            for (int i = 0; i < Shape.Count - 1; i++) n *= Shape[i];
            return n * (RowStride > 0 ? RowStride : Shape.Count > 0 ? Shape[Shape.Count - 1] : 1);
        }
    }

    /// <summary>The shape with the batch, for comments: <c>(B, 197, 768)</c>.</summary>
    public string ShapeText => "(B" + string.Concat(System.Linq.Enumerable.Select(Shape, d => ", " + SourceWriter.N(d))) + ")";
}

/// <summary>
/// One step of the model's forward pass, in order: the op, the timm module it computes, its
/// inputs and outputs, what it saves for the backward pass, its parameters (constant names in
/// <c>Params</c>; empty for an absent bias) and the op's sizes and options. The inference pass,
/// the training pass and the backward pass are all formatted from the same list, and the two
/// activation layouts are derived from it.
/// </summary>
/// <remarks>Structurally equatable and free of symbols: required for incremental caching.</remarks>
internal sealed record StepSpec(
    OpKind Op,
    string Module,
    int Block,
    EquatableArray<TensorRef> Inputs,
    EquatableArray<TensorRef> Outputs,
    EquatableArray<TensorRef> Saved,
    EquatableArray<string> Parameters,
    EquatableArray<int> Sizes,
    double Rate,
    string Variant);
