using Vit.Generator.Model;
using Vit.Generator.Planning;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator.Ops;

/// <summary>timm <c>cls_token</c> and <c>pos_embed</c>: x[:, 0] = cls_token; x += pos_embed.</summary>
internal static class PositionEmbeddingOp
{
    /// <summary>Declares <c>cls_token</c> and <c>pos_embed</c>: the model's own parameters, first in timm's <c>state_dict</c>.</summary>
    public static (string ClassToken, string Positions) Parameters(PlanBuilder b, int tokens) =>
        (b.Parameter("cls_token", new long[] { 1, 1, b.Spec.Dim }, "SmallNormal", decay: false),
         b.Parameter("pos_embed", new long[] { 1, tokens, b.Spec.Dim }, "TruncatedNormal", decay: false));

    public static void Add(PlanBuilder b, TensorRef x, (string ClassToken, string Positions) parameters, int tokens) =>
        b.Step(OpKind.PositionEmbedding, "cls_token, pos_embed", -1, new[] { x }, new[] { x }, new TensorRef[0],
            new[] { parameters.ClassToken, parameters.Positions }, new[] { tokens, b.Spec.Dim });

    public static void Forward(PassWriter w, StepSpec step) =>
        w.Step($"cls_token, pos_embed: x[:, 0] = cls_token; x += pos_embed {step.Outputs[0].ShapeText}",
            $"k.PositionEmbeddingForward<{PassWriter.Dims(step.Sizes[0], step.Sizes[1])}>({w.T(step.Outputs[0])}, {PassWriter.P(step.Parameters[0])}, {PassWriter.P(step.Parameters[1])}, batch);");

    public static void Backward(PassWriter w, StepSpec step) =>
        w.Step($"cls_token, pos_embed: their gradients are sums over the batch of d(x) {step.Outputs[0].ShapeText}",
            $"k.PositionEmbeddingBackward<{PassWriter.Dims(step.Sizes[0], step.Sizes[1])}>({PassWriter.GradOf(step.Parameters[0])}, {PassWriter.GradOf(step.Parameters[1])}, {w.G(step.Outputs[0])}, batch);");
}
