using System.Linq;
using Vit.Generator.Model;
using Vit.Generator.Planning;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator.Ops;

/// <summary>
/// timm's <c>nn.LayerNorm</c> (<c>blocks.N.norm1</c>, <c>blocks.N.norm2</c>, <c>norm</c> /
/// <c>fc_norm</c>): y = (x − mean)·rstd·weight + bias over the last dimension; the training pass
/// saves mean and 1/std per row for the backward pass.
/// </summary>
internal static class LayerNormOp
{
    /// <summary>Declares <c>{module}.weight</c> and <c>{module}.bias</c> and the step; returns its output.</summary>
    /// <param name="b">The plan being built.</param>
    /// <param name="module">The timm module name.</param>
    /// <param name="block">The block index, or -1 outside the blocks.</param>
    /// <param name="x">The input.</param>
    /// <param name="name">The output's training slot; its statistics are <c>{name}Mean</c> and <c>{name}Rstd</c>.</param>
    /// <param name="buffer">The output's inference buffer.</param>
    /// <param name="grad">The training slot of the output's gradient.</param>
    /// <param name="statistics">The prefix of the saved statistics' slots (default: <paramref name="name"/>).</param>
    /// <param name="clearInputGradient">The backward pass adds into d(x): clear it first (when d(x) is not the residual stream's gradient).</param>
    public static TensorRef Add(PlanBuilder b, string module, int block, TensorRef x, string name, string buffer, string grad, bool clearInputGradient = false, string? statistics = null)
    {
        var s = b.Spec;
        string weight = b.Parameter(module + ".weight", new long[] { s.Dim }, "Ones", decay: false);
        string bias = b.Parameter(module + ".bias", new long[] { s.Dim }, "Zeros", decay: false);
        var rowShape = x.Shape.Count >= 2 ? new long[] { x.Shape[0] } : new long[0];
        var y = b.Saved(name, buffer, grad, x.Shape.ToArray(), $"{module} output {x.ShapeText}");
        string rows = rowShape.Length > 0 ? $"(B, {N(rowShape[0])})" : "(B)";
        statistics ??= name;
        var mean = b.Saved(statistics + "Mean", "", "", rowShape, $"{module} mean {rows}");
        var rstd = b.Saved(statistics + "Rstd", "", "", rowShape, $"{module} 1/std {rows}");
        b.Step(OpKind.LayerNorm, module, block, new[] { x }, new[] { y }, new[] { mean, rstd }, new[] { weight, bias }, new[] { s.Dim },
            variant: clearInputGradient ? "clear" : "");
        return y;
    }

    public static void Forward(PassWriter w, StepSpec step)
    {
        var (x, y) = (step.Inputs[0], step.Outputs[0]);
        string stats = w.Inference ? "mean: None, rstd: None" : $"{w.T(step.Saved[0])}, {w.T(step.Saved[1])}";
        string keeping = w.Inference ? "" : $", keeping mean and 1/std {step.Saved[0].ShapeText}";
        w.Step($"{step.Module}: {(x.Shape.Count >= 2 ? "x " : "")}{x.ShapeText} → {y.ShapeText}{keeping}",
            $"k.LayerNormForward<{PassWriter.Dim(step.Sizes[0])}>({w.T(y)}, {stats}, {w.T(x)}, {PassWriter.P(step.Parameters[0])}, {PassWriter.P(step.Parameters[1])}, {PassWriter.Rows(x)}, Epsilon);");
    }

    public static void Backward(PassWriter w, StepSpec step)
    {
        var (x, y) = (step.Inputs[0], step.Outputs[0]);
        string call = $"k.LayerNormBackward<{PassWriter.Dim(step.Sizes[0])}>({w.G(x)}, {PassWriter.GradOf(step.Parameters[0])}, {PassWriter.GradOf(step.Parameters[1])}, {w.G(y)}, {w.T(x)}, {w.T(step.Saved[0])}, {w.T(step.Saved[1])}, {PassWriter.P(step.Parameters[0])}, {PassWriter.Rows(x)});";
        if (step.Variant == "clear")
        {
            w.Step($"{step.Module}: LayerNorm backward adds into d(input), so clear it first {x.ShapeText}",
                $"k.Zero({w.G(x)}, (long)batch * {w.Width(x)});");
            w.W.Call(call);
        }
        else
        {
            w.Step($"{step.Module}: adds d(input) into {x.Grad}", call);
        }
    }
}
