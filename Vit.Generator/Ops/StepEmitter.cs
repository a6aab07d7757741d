using Vit.Generator.Model;

namespace Vit.Generator.Ops;

/// <summary>Sends each step to the op file that writes it.</summary>
internal static class StepEmitter
{
    public static void Forward(PassWriter w, StepSpec step)
    {
        switch (step.Op)
        {
            case OpKind.PatchEmbedding: PatchEmbeddingOp.Forward(w, step); break;
            case OpKind.PositionEmbedding: PositionEmbeddingOp.Forward(w, step); break;
            case OpKind.Dropout: DropoutOp.Forward(w, step); break;
            case OpKind.LayerNorm: LayerNormOp.Forward(w, step); break;
            case OpKind.Linear: LinearOp.Forward(w, step); break;
            case OpKind.Attention: AttentionOp.Forward(w, step); break;
            case OpKind.LayerScale: LayerScaleOp.Forward(w, step); break;
            case OpKind.Residual: ResidualOp.Forward(w, step); break;
            case OpKind.Pooling: PoolingOp.Forward(w, step); break;
            case OpKind.Tanh: TanhOp.Forward(w, step); break;
            case OpKind.Loss: LossOp.Forward(w, step); break;
        }
    }

    public static void Backward(PassWriter w, StepSpec step)
    {
        switch (step.Op)
        {
            case OpKind.PatchEmbedding: PatchEmbeddingOp.Backward(w, step); break;
            case OpKind.PositionEmbedding: PositionEmbeddingOp.Backward(w, step); break;
            case OpKind.Dropout: DropoutOp.Backward(w, step); break;
            case OpKind.LayerNorm: LayerNormOp.Backward(w, step); break;
            case OpKind.Linear: LinearOp.Backward(w, step); break;
            case OpKind.Attention: AttentionOp.Backward(w, step); break;
            case OpKind.LayerScale: LayerScaleOp.Backward(w, step); break;
            case OpKind.Residual: ResidualOp.Backward(w, step); break;
            case OpKind.Pooling: PoolingOp.Backward(w, step); break;
            case OpKind.Tanh: TanhOp.Backward(w, step); break;
            case OpKind.Loss: LossOp.Backward(w, step); break;
        }
    }
}
