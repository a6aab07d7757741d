using Vit.Generator.Model;
using Vit.Generator.Planning;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator.Ops;

/// <summary>
/// The training loss: softmax cross-entropy with label smoothing ε, mean over the batch; the
/// probabilities are saved for the backward pass (and training accuracy). Training only.
/// </summary>
internal static class LossOp
{
    public static void Add(PlanBuilder b, TensorRef logits)
    {
        int classes = (int)logits.Shape[0];
        var probs = b.Saved("Probs", "", "", new long[] { classes }, $"softmax of the logits (B, {N(classes)})");
        b.Step(OpKind.Loss, "loss", -1, new[] { logits }, new TensorRef[0], new[] { probs }, new string[0], new[] { classes });
    }

    public static void Forward(PassWriter w, StepSpec step) =>
        w.Step($"loss: mean softmax cross-entropy over the batch, label smoothing ε = _memory.LabelSmoothing; keeps the probabilities {step.Saved[0].ShapeText}",
            $"k.SoftmaxCrossEntropyForward<{PassWriter.Dim(step.Sizes[0])}>({w.T(step.Saved[0])}, {w.T(step.Inputs[0])}, labels, batch, _memory.LabelSmoothing);");

    public static void Backward(PassWriter w, StepSpec step) =>
        w.Step($"loss: d(loss)/d(logits) = (softmax − target) / B, target = (1 − ε)·one_hot + ε/classes {step.Saved[0].ShapeText}",
            $"k.SoftmaxCrossEntropyBackward<{PassWriter.Dim(step.Sizes[0])}>({w.G(step.Inputs[0])}, {w.T(step.Saved[0])}, labels, batch, _memory.LabelSmoothing);");
}
