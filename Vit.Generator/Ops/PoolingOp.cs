using Vit.Generator.Model;
using Vit.Generator.Planning;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator.Ops;

/// <summary>
/// timm's <c>global_pool</c>: <c>token</c> takes the class token x[:, 0]; <c>avg</c> averages the
/// patch tokens x[:, 1:].mean(1) (not the class token).
/// </summary>
internal static class PoolingOp
{
    public static TensorRef Add(PlanBuilder b, TensorRef x, int tokens)
    {
        var s = b.Spec;
        bool token = s.Pooling == 0;
        var pooled = b.Saved("Pooled", "Pooled", "GradPooled", new long[] { s.Dim }, token ? $"class token x[:, 0] (B, {N(s.Dim)})" : $"mean of the patch tokens (B, {N(s.Dim)})");
        b.Step(OpKind.Pooling, "pool", -1, new[] { x }, new[] { pooled }, new TensorRef[0], new string[0], new[] { tokens, s.Dim }, variant: token ? "Token" : "Mean");
        return pooled;
    }

    public static void Forward(PassWriter w, StepSpec step)
    {
        var (x, pooled) = (step.Inputs[0], step.Outputs[0]);
        string call = $"k.{step.Variant}PoolingForward<{PassWriter.Dims(step.Sizes[0], step.Sizes[1])}>({w.T(pooled)}, {w.T(x)}, batch);";
        if (step.Variant == "Token")
            w.Step($"pool: the class token x[:, 0] {pooled.ShapeText} (timm applies norm to every token, then takes x[:, 0]; LayerNorm is per token, so this is the same)", call);
        else
            w.Step($"pool: mean of the patch tokens x[:, 1:].mean(1) {pooled.ShapeText}", call);
    }

    public static void Backward(PassWriter w, StepSpec step)
    {
        var (x, pooled) = (step.Inputs[0], step.Outputs[0]);
        w.Step(step.Variant == "Token"
                ? $"pool backward: d(x) is d(pooled) on the class token and zero elsewhere {x.ShapeText}"
                : $"pool backward: d(x) is d(pooled) / {N(x.Shape[0] - 1)} on each patch token and zero on the class token {x.ShapeText}",
            $"k.{step.Variant}PoolingBackward<{PassWriter.Dims(step.Sizes[0], step.Sizes[1])}>({w.G(x)}, {w.G(pooled)}, batch);");
    }
}
