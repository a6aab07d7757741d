using Vit.Generator.Model;
using Vit.Generator.Planning;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator.Ops;

/// <summary>timm's <c>pre_logits.act</c>: tanh, in place on the pre-logits layer's output.</summary>
internal static class TanhOp
{
    public static void Add(PlanBuilder b, TensorRef y) =>
        b.Step(OpKind.Tanh, "pre_logits.act", -1, new[] { y }, new[] { y }, new TensorRef[0], new string[0], new[] { (int)y.Shape[0] });

    public static void Forward(PassWriter w, StepSpec step) =>
        w.Step($"pre_logits.act: tanh, in place {step.Outputs[0].ShapeText}",
            $"k.TanhForward({w.T(step.Outputs[0])}, {w.T(step.Inputs[0])}, (long)batch * {N(step.Sizes[0])});");

    public static void Backward(PassWriter w, StepSpec step) =>
        w.Step($"pre_logits.act: tanh' = 1 − y², in place {step.Outputs[0].ShapeText}",
            $"k.TanhBackward({w.G(step.Outputs[0])}, {w.G(step.Outputs[0])}, {w.T(step.Outputs[0])}, (long)batch * {N(step.Sizes[0])});");
}
