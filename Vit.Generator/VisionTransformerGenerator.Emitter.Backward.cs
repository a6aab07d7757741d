using Vit.Generator.Model;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator;

public sealed partial class VisionTransformerGenerator
{
    internal static partial class Emitter
    {
        private static string EmitBackward(ModelPlan plan)
        {
            var s = plan.Spec;
            var w = new SourceWriter();
            OpenType(w, plan, "the training step and the backward pass.");
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
                w.Open("public float ForwardBackward(global::System.ReadOnlySpan<float> images, global::System.ReadOnlySpan<int> labels, int batch)");
                w.Line("_memory.BeginTraining(images, labels, batch); // throws: Classes = 0");
                w.Line("throw new global::System.InvalidOperationException(\"This model has no head (Classes = 0).\");");
                w.Close();
                w.Line();
                w.Line("/// <summary>Empty: a model without a head has no training probabilities.</summary>");
                w.Line("public global::System.ReadOnlySpan<float> TrainingProbabilities => default;");
            }
            else
            {
                w.Open("public float ForwardBackward(global::System.ReadOnlySpan<float> images, global::System.ReadOnlySpan<int> labels, int batch)");
                w.Line("if (_cl is not null) return ForwardBackwardOpenCL(images, labels, batch);");
                w.Line("var a = _memory.BeginTraining(images, labels, batch); // validates, stages the images, sizes the buffers");
                w.Line("float loss = ForwardTraining(a, labels, batch);");
                w.Line("Backward(a, labels, batch);");
                w.Line("return loss;");
                w.Close();
                w.Line();
                w.Line("/// <summary>The softmax probabilities of the last <see cref=\"ForwardBackward\"/> call, (batch, Classes): training accuracy without a second forward pass.</summary>");
                w.Line("public global::System.ReadOnlySpan<float> TrainingProbabilities => _memory.LastTrainingTensor(Training.Probs, Classes);");
                w.Line();
                EmitBackwardPass(w, plan, Target.Cpu);
            }
            w.Close();
            CloseType(w, plan);
            return w.ToString();
        }

        private static void EmitBackwardPass(SourceWriter w, ModelPlan plan, Target target)
        {
            string K = target.K, Ptr = target.Ptr;
            var s = plan.Spec;
            int T = plan.Tokens, D = s.Dim, M = s.MlpDim, R = s.RepresentationSize;
            bool dropout = s.Dropout > 0, attnDrop = s.AttentionDropout > 0;
            string norm = NormName(s), normConst = NormConstant(s);
            if (target.Device)
            {
                w.Line("/// <summary>The backward pass on the OpenCL device: the steps of <see cref=\"Backward\"/>, each one kernel launch.</summary>");
                w.Open($"private void BackwardOpenCL({ClModel} k, {Ptr} a, global::System.ReadOnlySpan<int> labels, int batch)");
                w.Line("var p = k.Parameters;");
                w.Line("var g = k.Gradients; // on the device; the host copy is refreshed when it is next read");
                w.Line($"var None = {DevicePtr}.None;");
            }
            else
            {
                w.Line("/// <summary>");
                w.Line("/// The backward pass: the forward steps in reverse, each reading what the forward pass saved.");
                w.Line("/// Parameter gradients accumulate (+=); activation gradients flow through the scratch tensors.");
                w.Line("/// </summary>");
                w.Open($"private void Backward({Ptr} a, global::System.ReadOnlySpan<int> labels, int batch)");
                w.Line("var p = _memory.Parameters.Start;");
                w.Line("var g = _memory.Gradients.Start;");
            }
            w.Line("int rows = batch * Tokens;");
            w.Line($"{Ptr} At(long offset) => a + offset * batch;");
            w.Line();
            Step(w, $"loss: d(loss)/d(logits) = (softmax − target) / B, target = (1 − ε)·one_hot + ε/classes (B, {N(s.Classes)})",
                $"{K}SoftmaxCrossEntropy.Backward<{Dim(s.Classes)}>(At(Training.GradLogits), At(Training.Probs), labels, batch, _memory.LabelSmoothing);");
            string features = R > 0 ? "Training.PreLogits" : "Training.Normed";
            string gradFeatures = R > 0 ? "Training.GradPreLogits" : "Training.GradNormed";
            Step(w, $"head: d(features) (B, {N(plan.FeatureWidth)}), head.weight and head.bias gradients",
                $"{K}Linear.Backward<{Dims(plan.FeatureWidth, s.Classes)}>(At({gradFeatures}), g + Params.HeadWeight, g + Params.HeadBias, At(Training.GradLogits), At({features}), p + Params.HeadWeight, batch);");
            if (R > 0)
            {
                Step(w, $"pre_logits.act: tanh' = 1 − y², in place (B, {N(R)})",
                    $"{K}Tanh.Backward(At(Training.GradPreLogits), At(Training.GradPreLogits), At(Training.PreLogits), (long)batch * {N(R)});");
                Step(w, $"pre_logits.fc: d({norm} output) (B, {N(D)})",
                    $"{K}Linear.Backward<{Dims(D, R)}>(At(Training.GradNormed), g + Params.PreLogitsFcWeight, g + Params.PreLogitsFcBias, At(Training.GradPreLogits), At(Training.Normed), p + Params.PreLogitsFcWeight, batch);");
            }
            Step(w, $"{norm}: LayerNorm backward adds into d(pooled), so clear it first (B, {N(D)})",
                $"{K}Fill.Zero(At(Training.GradPooled), (long)batch * Dim);");
            w.Line($"{K}LayerNorm.Backward<{Dim(D)}>(At(Training.GradPooled), g + Params.{normConst}Weight, g + Params.{normConst}Bias, At(Training.GradNormed), At(Training.Pooled), At(Training.NormMean), At(Training.NormRstd), p + Params.{normConst}Weight, batch);");
            Step(w, s.Pooling == 0
                    ? $"pool backward: d(x) is d(pooled) on the class token and zero elsewhere (B, {N(T)}, {N(D)})"
                    : $"pool backward: d(x) is d(pooled) / {N(plan.Patches)} on each patch token and zero on the class token (B, {N(T)}, {N(D)})",
                $"{K}{(s.Pooling == 0 ? "TokenPooling" : "MeanPooling")}.Backward<{Dims(T, D)}>(At(Training.GradResidual), At(Training.GradPooled), batch);");

            for (int i = s.Depth - 1; i >= 0; i--)
            {
                string b = "blocks." + N(i), c = "Blocks" + N(i), t = "Training.Block" + N(i);
                string input = i == 0 ? "Training.Embedded" : $"Training.Block{N(i - 1)}Residual2";
                bool dropPath = Planner.DropPathRate(s, i) > 0;
                w.Line();
                w.Comment($"{b}: GradResidual holds d(loss)/d(block output); each branch adds its input gradient into it.");
                Step(w, $"{b}: x = x + mlp(norm2(x)) → d(mlp output) = d(x){(dropPath ? " · drop_path2 scale" : "")}",
                    $"{K}Residual.Backward(At(Training.GradA), At(Training.GradResidual), {(dropPath ? $"At({t}DropPath2)" : "None")}, batch, Tokens * Dim);");
                if (dropout)
                    Step(w, $"{b}.mlp.drop2", $"{K}Dropout.Apply(At(Training.GradA), At({t}MlpDrop2Mask), (long)rows * Dim);");
                Step(w, $"{b}.mlp.fc2: d(act) (B, {N(T)}, {N(M)})",
                    $"{K}Linear.Backward<{Dims(M, D)}>(At(Training.GradWide), g + Params.{c}MlpFc2Weight, g + Params.{c}MlpFc2Bias, At(Training.GradA), At({t}Gelu), HiddenStride, p + Params.{c}MlpFc2Weight, rows);");
                if (dropout)
                    Step(w, $"{b}.mlp.drop1", $"{K}Dropout.Apply(At(Training.GradWide), At({t}MlpDrop1Mask), (long)rows * MlpDim);");
                Step(w, $"{b}.mlp.act: GELU', in place (B, {N(T)}, {N(M)})",
                    $"{K}Gelu.Backward(At(Training.GradWide), At(Training.GradWide), At({t}Fc1), (long)rows * MlpDim);");
                Step(w, $"{b}.mlp.fc1: d(norm2 output) (B, {N(T)}, {N(D)})",
                    $"{K}Linear.Backward<{Dims(D, M)}>(At(Training.GradA), g + Params.{c}MlpFc1Weight, g + Params.{c}MlpFc1Bias, At(Training.GradWide), At({t}Norm2), p + Params.{c}MlpFc1Weight, rows);");
                Step(w, $"{b}.norm2: adds d(x after attention) into GradResidual",
                    $"{K}LayerNorm.Backward<{Dim(D)}>(At(Training.GradResidual), g + Params.{c}Norm2Weight, g + Params.{c}Norm2Bias, At(Training.GradA), At({t}Residual1), At({t}Norm2Mean), At({t}Norm2Rstd), p + Params.{c}Norm2Weight, rows);");
                Step(w, $"{b}: x = x + attn(norm1(x)) → d(attn output) = d(x){(dropPath ? " · drop_path1 scale" : "")}",
                    $"{K}Residual.Backward(At(Training.GradA), At(Training.GradResidual), {(dropPath ? $"At({t}DropPath1)" : "None")}, batch, Tokens * Dim);");
                if (dropout)
                    Step(w, $"{b}.attn.proj_drop", $"{K}Dropout.Apply(At(Training.GradA), At({t}ProjDropMask), (long)rows * Dim);");
                Step(w, $"{b}.attn.proj: d(heads merged) (B, {N(T)}, {N(D)})",
                    $"{K}Linear.Backward<{Dims(D, D)}>(At(Training.GradB), g + Params.{c}AttnProjWeight, g + Params.{c}AttnProjBias, At(Training.GradA), At({t}AttnOut), p + Params.{c}AttnProjWeight, rows);");
                Step(w, $"{b}.attn: d(q | k | v) (B, {N(T)}, {N(3 * D)}), through softmax{(attnDrop ? " and attn_drop" : "")}",
                    $"{K}Attention.Backward<{Dims(T, s.Heads, plan.HeadDim)}>(At(Training.GradWide), At(Training.GradProbs), At(Training.GradB), At({t}AttnProbs), {(attnDrop ? $"At({t}AttnDropMask)" : "None")}, At({t}Qkv), batch);");
                Step(w, $"{b}.attn.qkv: d(norm1 output) (B, {N(T)}, {N(D)})",
                    $"{K}Linear.Backward<{Dims(D, 3 * D)}>(At(Training.GradA), g + Params.{c}AttnQkvWeight, {QkvBias(s, "g", c)}, At(Training.GradWide), At({t}Norm1), p + Params.{c}AttnQkvWeight, rows);");
                Step(w, $"{b}.norm1: adds d(block input) into GradResidual",
                    $"{K}LayerNorm.Backward<{Dim(D)}>(At(Training.GradResidual), g + Params.{c}Norm1Weight, g + Params.{c}Norm1Bias, At(Training.GradA), At({input}), At({t}Norm1Mean), At({t}Norm1Rstd), p + Params.{c}Norm1Weight, rows);");
            }
            w.Line();
            if (dropout)
                Step(w, "pos_drop", $"{K}Dropout.Apply(At(Training.GradResidual), At(Training.PosDropMask), (long)rows * Dim);");
            Step(w, $"cls_token, pos_embed: their gradients are sums over the batch of d(x) (B, {N(T)}, {N(D)})",
                $"{K}PositionEmbedding.Backward<{Dims(T, D)}>(g + Params.ClsToken, g + Params.PosEmbed, At(Training.GradResidual), batch);");
            Step(w, "patch_embed.proj: weight and bias gradients from d(x[:, 1:]) and the saved patches (images need no gradient)",
                $"{K}PatchEmbedding.Backward<{Dims(s.Channels, s.ImageSize, s.Patch, D)}>(g + Params.PatchEmbedProjWeight, g + Params.PatchEmbedProjBias, At(Training.GradResidual), At(Training.Patches), batch);");
            w.Close();
        }
    }
}
