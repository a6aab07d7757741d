using System.Linq;
using Vit.Generator.Model;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator.Ops;

/// <summary>Which pass a step is being written for.</summary>
internal enum Pass
{
    Inference,
    Training,
    Backward,
}

/// <summary>
/// Writes the steps of one pass: resolves a step's tensors to the pass's layout
/// (<c>At(Inference.X)</c>, <c>At(Training.Block0Norm1)</c>), its parameters to
/// <c>p + Params.X</c> / <c>g + Params.X</c>, and puts the explanation comment above each call.
/// Every kernel call goes to the backend contract through <c>k</c>.
/// </summary>
/// <remarks>
/// For the frozen-backbone step (<c>frozen</c>), a tensor of the head resolves to its
/// slot after the inference layout (<c>At(Frozen.Logits)</c>), in every pass: the backbone's
/// inference steps write the features there, and the head's training steps read and save there.
/// A gradient without a slot there (the features': the backbone takes none) is <c>None</c>.
/// </remarks>
internal sealed class PassWriter
{
    private readonly System.Collections.Generic.HashSet<string> _frozen;

    public PassWriter(SourceWriter writer, ModelPlan plan, Pass pass, bool frozen = false)
    {
        W = writer;
        Plan = plan;
        Pass = pass;
        Frozen = frozen;
        _frozen = new System.Collections.Generic.HashSet<string>(frozen ? plan.Frozen.Select(t => t.ConstantName) : Enumerable.Empty<string>());
    }

    /// <summary>Whether this pass is part of the frozen-backbone step.</summary>
    public bool Frozen { get; }

    public SourceWriter W { get; }

    public ModelPlan Plan { get; }

    public ModelSpec Spec => Plan.Spec;

    public Pass Pass { get; }

    public bool Inference => Pass == Pass.Inference;

    /// <summary>A tensor in this pass's layout; <c>None</c> when it is absent or not part of inference.</summary>
    public string T(TensorRef? t)
    {
        if (t is null) return "None";
        if (_frozen.Contains(t.Name)) return $"At(Frozen.{t.Name})";
        if (Inference) return t.Buffer.Length == 0 ? "None" : $"At(Inference.{t.Buffer})";
        return $"At(Training.{t.Name})";
    }

    /// <summary>The gradient of a tensor (backward pass).</summary>
    public string G(TensorRef t) =>
        t.Grad.Length == 0 || (Frozen && !_frozen.Contains(t.Grad)) ? "None"
        : Frozen ? $"At(Frozen.{t.Grad})" : $"At(Training.{t.Grad})";

    /// <summary>A parameter: <c>p + Params.X</c>, or <c>None</c> for an absent one.</summary>
    public static string P(string constant) => constant.Length == 0 ? "None" : $"p + Params.{constant}";

    /// <summary>A parameter's gradient: <c>g + Params.X</c>, or <c>None</c>.</summary>
    public static string GradOf(string constant) => constant.Length == 0 ? "None" : $"g + Params.{constant}";

    /// <summary>One kernel call with its explanation comment above it.</summary>
    public void Step(string comment, string call)
    {
        W.Comment(comment);
        W.Call(call);
    }

    /// <summary>The compile-time dimension struct for a size, for example <c>D768</c>.</summary>
    public static string Dim(int size) => "D" + N(size);

    public static string Dims(params int[] sizes) => string.Join(", ", sizes.Select(Dim));

    /// <summary>A tensor's last dimension by its constant's name when it has one (<c>Dim</c>, <c>MlpDim</c>), else the number.</summary>
    public string Width(TensorRef t)
    {
        long width = t.Shape[t.Shape.Count - 1];
        return width == Spec.Dim ? "Dim" : width == Spec.MlpDim ? "MlpDim" : N(width);
    }

    /// <summary>A row count in floats of a tensor, as the generated code spells it (<c>rows</c>, <c>batch</c>).</summary>
    public static string Rows(TensorRef t) => t.Shape.Count >= 2 ? "rows" : "batch";
}
