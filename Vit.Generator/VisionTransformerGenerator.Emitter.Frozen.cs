using Vit.Generator.Model;
using Vit.Generator.Ops;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator;

public sealed partial class VisionTransformerGenerator
{
    internal static partial class Emitter
    {
        /// <summary>
        /// The frozen-backbone training step (<c>{Type}.Frozen.g.cs</c>): <c>ForwardBackwardFrozen</c>
        /// and its two passes, <c>ForwardFrozen</c> (the backbone's inference steps, then the head's
        /// training steps) and <c>BackwardHead</c> (the head's steps in reverse), from the plan's
        /// <see cref="ModelPlan.BackboneSteps"/>, <see cref="ModelPlan.HeadSteps"/> and
        /// <see cref="ModelPlan.Frozen"/> layout.
        /// </summary>
        private static string EmitFrozen(ModelPlan plan)
        {
            var s = plan.Spec;
            var w = new SourceWriter();
            OpenType(w, plan, "the training step of the head on a frozen backbone, generic over the backend's kernels.");
            w.Open(TypeDeclaration(plan, withInterface: false));
            w.Line("/// <summary>");
            w.Line("/// One training step of the classifier alone, on a frozen backbone (<c>vit train --freeze</c>, with");
            w.Line("/// <c>Optimizer.HeadOnly</c>). The backbone (patch_embed, the blocks, the pooling and");
            w.Line($"/// <c>{(s.Pooling == 0 ? "norm" : "fc_norm")}</c>: timm's <c>forward_features</c> and <c>forward_head(pre_logits=True)</c>) runs");
            w.Line("/// as <see cref=\"Forward\"/> runs it: no dropout, no drop path, nothing saved for a backward pass.");
            w.Line($"/// Only {(s.RepresentationSize > 0 ? "<c>pre_logits</c>, " : "")}<c>head</c> and the loss run as training, from the pooled features, and the backward");
            w.Line($"/// pass covers them alone: it <b>adds</b> d(loss)/d(parameter) into the gradients of {(s.RepresentationSize > 0 ? "<c>pre_logits.*</c> and " : "")}<c>head.*</c>");
            w.Line("/// and leaves every other gradient as it is (call <see cref=\"ZeroGradients\"/> between optimizer steps).");
            w.Line("/// </summary>");
            w.Line("/// <remarks>");
            w.Line("/// It costs one inference pass plus the head's forward and backward. With dropout and drop path off, its loss and");
            w.Line("/// head gradients are those of <see cref=\"ForwardBackward\"/>. The step's probabilities are");
            w.Line("/// <see cref=\"TrainingProbabilities\"/> until the next <see cref=\"Forward\"/> or training step (they share the inference buffer).");
            w.Line("/// </remarks>");
            w.Line($"/// <param name=\"images\">(batch, {N(s.Channels)}, {N(s.ImageSize)}, {N(s.ImageSize)}) NCHW floats.</param>");
            w.Line(s.Classes > 0 ? $"/// <param name=\"labels\">batch class indices in [0, {N(s.Classes)}).</param>" : "/// <param name=\"labels\">Unused: there are no classes.</param>");
            w.Line("/// <param name=\"batch\">Images in this call.</param>");
            w.Line("/// <returns>The mean softmax cross-entropy over the batch.</returns>");
            if (s.Classes == 0)
            {
                w.Line("/// <exception cref=\"global::System.InvalidOperationException\">Always: this model has no head (Classes = 0), so it has no loss.</exception>");
                w.Open($"public float ForwardBackwardFrozen({ReadOnlySpan} images, {Labels} labels, int batch)");
                w.Line("_memory.BeginFrozenTraining(images, labels, batch); // throws: Classes = 0");
                w.Line("throw new global::System.InvalidOperationException(\"This model has no head (Classes = 0).\");");
                w.Close();
                foreach (var pass in new[] { "ForwardFrozen", "BackwardHead" })
                {
                    w.Line();
                    w.Open($"void global::Vit.Backends.IModelPasses.{pass}<TKernels, TPtr>(TKernels k, TPtr a, {Labels} labels, int batch)");
                    w.Line("throw new global::System.InvalidOperationException(\"This model has no head (Classes = 0), so it has no frozen training step.\");");
                    w.Close();
                }
                w.Close();
                CloseType(w, plan);
                return w.ToString();
            }
            w.Line($"public float ForwardBackwardFrozen({ReadOnlySpan} images, {Labels} labels, int batch) => _runner.ForwardBackwardFrozen(this, images, labels, batch);");
            w.Line();

            w.Line("/// <summary>");
            w.Line("/// The frozen step's forward pass, over the inference buffer <paramref name=\"a\"/>: the backbone's inference");
            w.Line("/// steps, then the head's training steps on the features, which keep what <c>BackwardHead</c> reads in the");
            w.Line("/// <c>Frozen</c> slots after the inference layout.");
            w.Line("/// </summary>");
            w.Open($"void global::Vit.Backends.IModelPasses.ForwardFrozen<TKernels, TPtr>(TKernels k, TPtr a, {Labels} labels, int batch)");
            PassPrologue(w, training: true, backward: false);
            string norm = s.Pooling == 0 ? "norm" : "fc_norm";
            string pooled = s.Pooling == 0 ? "x[:, 0]" : "x[:, 1:].mean(1)";
            w.Comment($"backbone, frozen (timm forward_features + forward_head(pre_logits=True)), as inference: no dropout, no drop path, nothing saved.\n" +
                      $"features = {norm}({pooled}) (B, {N(s.Dim)}), x = blocks(cls_token | patch_embed(images) + pos_embed) (B, {N(plan.Tokens)}, {N(s.Dim)})");
            WriteSteps(new PassWriter(w, plan, Pass.Inference, frozen: true), plan.BackboneSteps, reverse: false);
            w.Line();
            string head = s.RepresentationSize > 0 ? "head(tanh(pre_logits.fc(features)))" : "head(features)";
            w.Comment($"head, trained: logits = {head} (B, {N(s.Classes)}), then the loss; what the backward pass reads stays in the Frozen slots");
            WriteSteps(new PassWriter(w, plan, Pass.Training, frozen: true), plan.HeadSteps, reverse: false);
            w.Close();
            w.Line();

            w.Line("/// <summary>");
            w.Line("/// The frozen step's backward pass: the head's steps in reverse, from the loss to the features, adding into the");
            w.Line($"/// gradients of {(s.RepresentationSize > 0 ? "pre_logits.* and " : "")}head.* only. The features get no gradient, so the backbone is never differentiated.");
            w.Line("/// </summary>");
            w.Open($"void global::Vit.Backends.IModelPasses.BackwardHead<TKernels, TPtr>(TKernels k, TPtr a, {Labels} labels, int batch)");
            PassPrologue(w, training: true, backward: true);
            WriteSteps(new PassWriter(w, plan, Pass.Backward, frozen: true), plan.HeadSteps, reverse: true);
            w.Close();
            w.Close();
            CloseType(w, plan);
            return w.ToString();
        }
    }
}
