using System.Linq;
using Vit.Generator.Model;
using Vit.Generator.Ops;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator;

public sealed partial class VisionTransformerGenerator
{
    internal static partial class Emitter
    {
        private const string Span = "global::System.Span<float>";
        private const string ReadOnlySpan = "global::System.ReadOnlySpan<float>";
        private const string Labels = "global::System.ReadOnlySpan<int>";

        private static string EmitForward(ModelPlan plan)
        {
            var s = plan.Spec;
            var w = new SourceWriter();
            OpenType(w, plan, "the inference pass and the training forward pass, generic over the backend's kernels.");
            w.Open(TypeDeclaration(plan, withInterface: false));
            w.Line("/// <summary>");
            w.Line($"/// Inference: <paramref name=\"images\"/> (batch, {N(s.Channels)}, {N(s.ImageSize)}, {N(s.ImageSize)}) NCHW → <paramref name=\"output\"/> (batch, {N(plan.OutputSize)}). No dropout.");
            w.Line("/// </summary>");
            w.Line("/// <param name=\"images\">batch × Channels × ImageSize × ImageSize floats.</param>");
            w.Line("/// <param name=\"batch\">Images in this call; buffers grow once if it exceeds every earlier batch.</param>");
            w.Line("/// <param name=\"output\">At least batch × OutputSize floats.</param>");
            w.Line($"public void Forward({ReadOnlySpan} images, int batch, {Span} output) => _runner.Forward(this, images, batch, output);");
            w.Line();
            w.Line("/// <summary>The inference pass on backend kernels <paramref name=\"k\"/>, over the inference buffer <paramref name=\"a\"/>; returns where the outputs are.</summary>");
            w.Open("TPtr global::Vit.Backends.IModelPasses.Forward<TKernels, TPtr>(TKernels k, TPtr a, int batch)");
            PassPrologue(w, training: false, backward: false);
            var pw = new PassWriter(w, plan, Pass.Inference);
            WriteSteps(pw, plan.InferenceSteps, reverse: false);
            w.Line();
            string result = s.Classes > 0 ? "Logits" : s.RepresentationSize > 0 ? "PreLogits" : "Features";
            w.Line($"return At(Inference.{result});");
            w.Close();
            w.Line();
            w.Line("/// <summary>");
            w.Line("/// The training forward pass: the steps of the inference pass, with dropout and drop path when");
            w.Line("/// configured, saving every tensor the backward pass reads in the training buffer <paramref name=\"a\"/>.");
            w.Line("/// </summary>");
            w.Open($"void global::Vit.Backends.IModelPasses.ForwardTraining<TKernels, TPtr>(TKernels k, TPtr a, {Labels} labels, int batch)");
            if (s.Classes == 0)
                w.Line("throw new global::System.InvalidOperationException(\"This model has no head (Classes = 0), so it has no training pass.\");");
            else
            {
                PassPrologue(w, training: true, backward: false);
                WriteSteps(new PassWriter(w, plan, Pass.Training), plan.Steps, reverse: false);
            }
            w.Close();
            w.Close();
            CloseType(w, plan);
            return w.ToString();
        }

        private static string EmitBackward(ModelPlan plan)
        {
            var s = plan.Spec;
            var w = new SourceWriter();
            OpenType(w, plan, "the training step and the backward pass, generic over the backend's kernels.");
            w.Open(TypeDeclaration(plan, withInterface: false));
            w.Line("/// <summary>");
            w.Line("/// One training step: the training forward pass (dropout and drop path active when configured),");
            w.Line("/// then the backward pass, which <b>adds</b> d(loss)/d(parameter) into the gradient buffer");
            w.Line("/// (see <see cref=\"Gradient\"/>); call <see cref=\"ZeroGradients\"/> between optimizer steps.");
            w.Line("/// </summary>");
            w.Line($"/// <param name=\"images\">(batch, {N(s.Channels)}, {N(s.ImageSize)}, {N(s.ImageSize)}) NCHW floats.</param>");
            w.Line(s.Classes > 0 ? $"/// <param name=\"labels\">batch class indices in [0, {N(s.Classes)}).</param>" : "/// <param name=\"labels\">Unused: there are no classes.</param>");
            w.Line("/// <param name=\"batch\">Images in this call.</param>");
            w.Line("/// <returns>The mean softmax cross-entropy over the batch.</returns>");
            if (s.Classes == 0)
            {
                w.Line("/// <exception cref=\"global::System.InvalidOperationException\">Always: this model has no head (Classes = 0), so it has no loss.</exception>");
                w.Open($"public float ForwardBackward({ReadOnlySpan} images, {Labels} labels, int batch)");
                w.Line("_memory.BeginTraining(images, labels, batch); // throws: Classes = 0");
                w.Line("throw new global::System.InvalidOperationException(\"This model has no head (Classes = 0).\");");
                w.Close();
                w.Line();
                w.Line("/// <summary>Empty: a model without a head has no training probabilities.</summary>");
                w.Line("public global::System.ReadOnlySpan<float> TrainingProbabilities => default;");
                w.Line();
                w.Open($"void global::Vit.Backends.IModelPasses.Backward<TKernels, TPtr>(TKernels k, TPtr a, {Labels} labels, int batch)");
                w.Line("throw new global::System.InvalidOperationException(\"This model has no head (Classes = 0), so it has no backward pass.\");");
                w.Close();
            }
            else
            {
                w.Line($"public float ForwardBackward({ReadOnlySpan} images, {Labels} labels, int batch) => _runner.ForwardBackward(this, images, labels, batch);");
                w.Line();
                w.Line("/// <summary>");
                w.Line("/// The softmax probabilities of the last <see cref=\"ForwardBackward\"/> or <see cref=\"ForwardBackwardFrozen\"/> call, (batch, Classes):");
                w.Line("/// training accuracy without a second forward pass.");
                w.Line("/// </summary>");
                w.Line("public global::System.ReadOnlySpan<float> TrainingProbabilities => _memory.LastTrainingTensor(_memory.LastTrainingFrozen ? Frozen.Probs : Training.Probs, Classes);");
                w.Line();
                w.Line("/// <summary>");
                w.Line("/// The backward pass: the training steps in reverse, each reading what the forward pass saved.");
                w.Line("/// Parameter gradients accumulate (+=); activation gradients flow through the scratch tensors.");
                w.Line("/// </summary>");
                w.Open($"void global::Vit.Backends.IModelPasses.Backward<TKernels, TPtr>(TKernels k, TPtr a, {Labels} labels, int batch)");
                PassPrologue(w, training: true, backward: true);
                WriteSteps(new PassWriter(w, plan, Pass.Backward), plan.Steps, reverse: true);
                w.Close();
            }
            w.Close();
            CloseType(w, plan);
            return w.ToString();
        }

        private static void PassPrologue(SourceWriter w, bool training, bool backward)
        {
            w.Line("var p = k.Parameters;");
            if (backward) w.Line("var g = k.Gradients; // parameter gradients: each step adds into them");
            w.Line("var None = TPtr.None;");
            w.Line("int rows = batch * Tokens;");
            w.Line("TPtr At(long offset) => a + offset * batch;");
            w.Line();
        }

        /// <summary>
        /// The steps in order (or reversed for the backward pass), a blank line and a heading between
        /// blocks. The backward pass also signals, after the head, after each block and after the
        /// stem, from which parameter on the gradients are final (<c>k.GradientsFinal</c>).
        /// </summary>
        private static void WriteSteps(PassWriter w, EquatableArray<StepSpec> steps, bool reverse)
        {
            int previous = int.MinValue;
            ParameterSpec? lowest = null; // the lowest-offset parameter whose gradient the steps so far wrote
            for (int n = 0; n < steps.Count; n++)
            {
                var step = steps[reverse ? steps.Count - 1 - n : n];
                if (n > 0 && step.Block != previous)
                {
                    if (reverse) GradientsFinal(w, previous, lowest);
                    w.W.Line();
                    if (reverse && step.Block >= 0)
                        w.W.Comment($"blocks.{N(step.Block)}: GradResidual holds d(loss)/d(block output); each branch adds its input gradient into it.");
                }
                previous = step.Block;
                if (reverse)
                {
                    StepEmitter.Backward(w, step);
                    foreach (var name in step.Parameters)
                        if (name.Length > 0 && w.Plan.Parameters.FirstOrDefault(p => p.ConstantName == name) is { } p && (lowest is null || p.Offset < lowest.Offset))
                            lowest = p;
                }
                else StepEmitter.Forward(w, step);
            }
            if (reverse && steps.Count > 0) GradientsFinal(w, previous, lowest);
        }

        /// <summary>The backward pass's signal that every gradient from <paramref name="lowest"/> on is final.</summary>
        private static void GradientsFinal(PassWriter w, int block, ParameterSpec? lowest)
        {
            if (lowest is null) return;
            string done = block >= 0 ? $"blocks.{N(block)}" : lowest.Offset == 0 ? "stem" : "head";
            w.W.Comment($"{done} done: every gradient from {lowest.Name} on is final (data-parallel training reduces them now)");
            w.W.Line($"k.GradientsFinal(Params.{lowest.ConstantName});");
        }
    }
}
