using System.Linq;
using Vit.Generator.Model;
using Vit.Generator.Planning;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator.Ops;

/// <summary>
/// timm's <c>LayerScale</c> (<c>blocks.N.ls1</c>, <c>blocks.N.ls2</c>, <c>init_values</c>):
/// y = x·gamma per channel. Its input is saved for gamma's gradient.
/// </summary>
internal static class LayerScaleOp
{
    public static string Parameter(PlanBuilder b, string module) =>
        b.Parameter(module + ".gamma", new long[] { b.Spec.Dim }, "Constant", decay: false, value: b.Spec.LayerScale);

    public static void Add(PlanBuilder b, string module, int block, TensorRef x, TensorRef y, string gamma) =>
        b.Step(OpKind.LayerScale, module, block, new[] { x }, new[] { y }, new TensorRef[0], new[] { gamma }, new[] { (int)x.Shape[x.Shape.Count - 1] });

    public static void Forward(PassWriter w, StepSpec step)
    {
        var (x, y) = (step.Inputs[0], step.Outputs[0]);
        w.Step($"{step.Module}: y = x · gamma per channel {y.ShapeText}",
            $"k.LayerScaleForward<{PassWriter.Dim(step.Sizes[0])}>({w.T(y)}, {w.T(x)}, {PassWriter.P(step.Parameters[0])}, rows);");
    }

    public static void Backward(PassWriter w, StepSpec step)
    {
        var (x, y) = (step.Inputs[0], step.Outputs[0]);
        w.Step($"{step.Module}: d(gamma) += Σ dy · x; dx = dy · gamma {x.ShapeText}",
            $"k.LayerScaleBackward<{PassWriter.Dim(step.Sizes[0])}>({w.G(x)}, {PassWriter.GradOf(step.Parameters[0])}, {w.G(y)}, {w.T(x)}, {PassWriter.P(step.Parameters[0])}, rows);");
    }
}
