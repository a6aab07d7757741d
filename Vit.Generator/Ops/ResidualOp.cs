using System.Linq;
using Vit.Generator.Model;
using Vit.Generator.Planning;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator.Ops;

/// <summary>
/// A block's residual add with timm's <c>drop_path1</c> / <c>drop_path2</c>: x = x + branch·s,
/// s per image (0, or 1 / (1 − rate)) in training when the block's drop-path rate is positive.
/// </summary>
internal static class ResidualOp
{
    /// <summary>Declares the residual add (and the drop-path scale when <paramref name="rate"/> is positive); returns x.</summary>
    /// <param name="b">The plan being built.</param>
    /// <param name="module">The block's timm name.</param>
    /// <param name="block">The block index.</param>
    /// <param name="prefix">The block's training-slot prefix (<c>Block0</c>).</param>
    /// <param name="input">x before the add.</param>
    /// <param name="branch">The branch's output.</param>
    /// <param name="which">1: after the attention branch; 2: after the MLP branch.</param>
    /// <param name="rate">The block's drop-path rate.</param>
    public static TensorRef Add(PlanBuilder b, string module, int block, string prefix, TensorRef input, TensorRef branch, int which, double rate)
    {
        var saved = rate > 0
            ? new[] { b.Saved($"{prefix}DropPath{N(which)}", "", "", new long[0], $"{module}.drop_path{N(which)} per-image scale (B)") }
            : new TensorRef[0];
        string what = which == 1 ? "x after the attention residual" : "output";
        var output = b.Saved($"{prefix}Residual{N(which)}", "X", "GradResidual", input.Shape.ToArray(), $"{module} {what} {input.ShapeText}");
        b.Step(OpKind.Residual, module, block, new[] { input, branch }, new[] { output }, saved, new string[0], new int[0], rate, N(which));
        return output;
    }

    private static string Scale(PassWriter w, StepSpec step) => step.Saved.Count > 0 && !w.Inference ? w.T(step.Saved[0]) : "sampleScale: None";

    private static bool AfterAttention(StepSpec step) => step.Variant == "1";

    private static string Branch(PassWriter w, StepSpec step)
    {
        string branch = AfterAttention(step) ? "attn(norm1(x))" : "mlp(norm2(x))";
        return w.Spec.LayerScale > 0 ? $"ls{step.Variant}({branch})" : branch;
    }

    public static void Forward(PassWriter w, StepSpec step)
    {
        var (input, branch, output) = (step.Inputs[0], step.Inputs[1], step.Outputs[0]);
        bool dropPath = step.Saved.Count > 0 && !w.Inference;
        if (dropPath)
            w.Step($"{step.Module}.drop_path{step.Variant}: keep each image's branch with probability {Real(1 - step.Rate)}",
                $"k.DropPathFillScales({w.T(step.Saved[0])}, batch, {F(step.Rate)}, ref _rng);");
        w.Step($"{step.Module}: x = x + {(dropPath ? $"drop_path({Branch(w, step)})" : Branch(w, step))}",
            $"k.ResidualForward({w.T(output)}, {w.T(input)}, {w.T(branch)}, {Scale(w, step)}, batch, Tokens * Dim);");
    }

    public static void Backward(PassWriter w, StepSpec step)
    {
        var (branch, output) = (step.Inputs[1], step.Outputs[0]);
        string scale = step.Saved.Count > 0 ? $" · drop_path{step.Variant} scale" : "";
        w.Step($"{step.Module}: x = x + {Branch(w, step)} → d({(AfterAttention(step) ? "attn" : "mlp")} output) = d(x){scale}",
            $"k.ResidualBackward({w.G(branch)}, {w.G(output)}, {Scale(w, step)}, batch, Tokens * Dim);");
    }
}
