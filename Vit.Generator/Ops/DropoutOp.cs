using System.Linq;
using Vit.Generator.Model;
using Vit.Generator.Planning;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator.Ops;

/// <summary>
/// timm's <c>nn.Dropout</c> (<c>pos_drop</c>, <c>attn.proj_drop</c>, <c>mlp.drop1</c>,
/// <c>mlp.drop2</c>): x *= mask, the mask (0 or 1 / (1 − p)) drawn from the model's random stream
/// and saved for the backward pass. Training only: inference has no dropout.
/// </summary>
internal static class DropoutOp
{
    public static void Add(PlanBuilder b, string module, int block, TensorRef x, string maskName)
    {
        var mask = b.Saved(maskName, "", "", x.Shape.ToArray(), $"{module} mask {x.ShapeText}");
        b.Step(OpKind.Dropout, module, block, new[] { x }, new[] { x }, new[] { mask }, new string[0], new int[0], b.Spec.Dropout, "DropoutRate");
    }

    /// <summary>The element count of a (B, rows, cols) tensor as the generated code spells it.</summary>
    private static string Count(PassWriter w, TensorRef x) => $"(long)rows * {w.Width(x)}";

    public static void Forward(PassWriter w, StepSpec step)
    {
        var (x, mask) = (step.Inputs[0], step.Saved[0]);
        w.Step($"{step.Module}: dropout p={Real(step.Rate)}{(step.Module == "pos_drop" ? " " + x.ShapeText : "")}",
            $"k.DropoutFillMask({w.T(mask)}, {Count(w, x)}, {step.Variant}, ref _rng);");
        w.W.Call(x.RowStride > 0
            ? $"k.DropoutApply({w.T(x)}, xStride: HiddenStride, {w.T(mask)}, rows, {w.Width(x)});"
            : $"k.DropoutApply({w.T(x)}, {w.T(mask)}, {Count(w, x)});");
    }

    public static void Backward(PassWriter w, StepSpec step) =>
        w.Step(step.Module, $"k.DropoutApply({w.G(step.Inputs[0])}, {w.T(step.Saved[0])}, {Count(w, step.Inputs[0])});");
}
