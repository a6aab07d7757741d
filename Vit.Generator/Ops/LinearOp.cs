using Vit.Generator.Model;
using Vit.Generator.Planning;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator.Ops;

/// <summary>
/// timm's <c>nn.Linear</c> (<c>attn.qkv</c>, <c>attn.proj</c>, <c>mlp.fc1</c> with its GELU,
/// <c>mlp.fc2</c>, <c>pre_logits.fc</c>, <c>head</c>): y = x·wᵀ + b, one GEMM with a fused
/// epilogue. Variants: <c>gelu</c> (fc1 + act: the GEMM also writes gelu(y)) and, in the inference
/// pass only, <c>residual</c> (y += x·wᵀ + b: a Linear followed by its residual add).
/// </summary>
internal static class LinearOp
{
    /// <summary>Declares <c>{module}.weight</c> (outputs, inputs) and <c>{module}.bias</c> (unless <paramref name="bias"/> is false).</summary>
    public static string[] Parameters(PlanBuilder b, string module, int inputs, int outputs, bool bias = true) => new[]
    {
        b.Parameter(module + ".weight", new long[] { outputs, inputs }, "TruncatedNormal", decay: true),
        bias ? b.Parameter(module + ".bias", new long[] { outputs }, "Zeros", decay: false) : "",
    };

    public static void Add(PlanBuilder b, string module, int block, TensorRef x, TensorRef y, string[] parameters, string variant = "", TensorRef? preActivation = null)
    {
        int inputs = (int)x.Shape[x.Shape.Count - 1], outputs = (int)y.Shape[y.Shape.Count - 1];
        var outs = preActivation is null ? new[] { y } : new[] { y, preActivation };
        b.Step(OpKind.Linear, module, block, new[] { x }, outs, preActivation is null ? new TensorRef[0] : new[] { preActivation }, parameters,
            new[] { inputs, outputs }, variant: variant);
    }

    private static string Bias(StepSpec step, System.Func<string, string> pointer, string name) =>
        step.Parameters[1].Length == 0 ? $"{name}: None /* qkv_bias=False */" : pointer(step.Parameters[1]);

    private static string What(StepSpec step) => step.Module.EndsWith(".qkv", System.StringComparison.Ordinal) ? "q | k | v " : "";

    public static void Forward(PassWriter w, StepSpec step)
    {
        var (x, y) = (step.Inputs[0], step.Outputs[0]);
        string dims = PassWriter.Dims(step.Sizes[0], step.Sizes[1]);
        string wb = $"{PassWriter.P(step.Parameters[0])}, {Bias(step, PassWriter.P, "b")}";
        string rows = PassWriter.Rows(x);
        string xStride = !w.Inference && x.RowStride > 0 ? ", xStride: HiddenStride" : "";
        switch (step.Variant)
        {
            case "gelu":
                if (w.Inference)
                    w.Step($"{step.Module} + mlp.act: {x.ShapeText} → GELU (erf) {y.ShapeText}, the GELU applied in place as the GEMM's epilogue",
                        $"k.LinearForwardGelu<{dims}>({w.T(y)}, {w.T(step.Outputs[1])}, {w.T(x)}, {wb}, {rows});");
                else
                    w.Step($"{step.Module} + mlp.act: {x.ShapeText} → GELU (erf) {y.ShapeText}, the GELU as the GEMM's epilogue; fc1's output is kept for the GELU gradient; the activation's rows are HiddenStride = {N(y.RowStride)} floats apart",
                        $"k.LinearForwardGelu<{dims}>({w.T(y)}, activationStride: HiddenStride, {w.T(step.Outputs[1])}, {w.T(x)}, {wb}, {rows});");
                break;
            case "residual":
                w.Step($"{step.Module}, fused with the residual add: x = x + {step.Module.Substring(step.Module.LastIndexOf('.') + 1)}({(x.Buffer == "AttnOut" ? "heads merged" : "act")}) {y.ShapeText}",
                    $"k.LinearForwardResidual<{dims}>({w.T(y)}, {w.T(x)}, {wb}, {rows});");
                break;
            default:
                w.Step($"{step.Module}: {x.ShapeText} → {What(step)}{y.ShapeText}",
                    $"k.LinearForward<{dims}>({w.T(y)}, {w.T(x)}{xStride}, {wb}, {rows});");
                break;
        }
    }

    public static void Backward(PassWriter w, StepSpec step)
    {
        var (x, y) = (step.Inputs[0], step.Outputs[0]);
        string dims = PassWriter.Dims(step.Sizes[0], step.Sizes[1]);
        string rows = PassWriter.Rows(x);
        if (step.Variant == "gelu")
            w.Step($"{step.Module.Substring(0, step.Module.LastIndexOf('.'))}.act: GELU', in place {y.ShapeText}",
                $"k.GeluBackward({w.G(y)}, {w.G(y)}, {w.T(step.Outputs[1])}, (long){rows} * {w.Width(y)});");
        string xStride = x.RowStride > 0 ? ", xStride: HiddenStride" : "";
        bool noInput = w.G(x) == "None";
        string input = noInput ? "no d(input) (the frozen backbone takes no gradient)" : $"d(input) {x.ShapeText}";
        w.Step($"{step.Module}: {input}, {step.Module}.weight{(step.Parameters[1].Length > 0 ? " and bias" : "")} gradients",
            $"k.LinearBackward<{dims}>({(noInput ? "dx: None" : w.G(x))}, {PassWriter.GradOf(step.Parameters[0])}, {Bias(step, PassWriter.GradOf, "db")}, {w.G(y)}, {w.T(x)}{xStride}, {PassWriter.P(step.Parameters[0])}, {rows});");
    }
}
