using System.Globalization;
using Vit.Generator.Model;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator;

public sealed partial class VisionTransformerGenerator
{
    internal static partial class Emitter
    {
        /// <summary>One kernel call with its explanation comment above it.</summary>
        private static void Step(SourceWriter w, string comment, string call)
        {
            w.Comment(comment);
            w.Line(call);
        }

        private static string EmitForward(ModelPlan plan)
        {
            var w = new SourceWriter();
            OpenType(w, plan, "the inference forward pass and the training forward pass.");
            w.Open(TypeDeclaration(plan, withInterface: false));
            EmitInference(w, plan, Target.Cpu);
            w.Line();
            if (plan.Spec.Classes > 0) EmitTrainingForward(w, plan, Target.Cpu);
            w.Close();
            CloseType(w, plan);
            return w.ToString();
        }

        private static void EmitInference(SourceWriter w, ModelPlan plan, Target target)
        {
            string K = target.K, Ptr = target.Ptr;
            var s = plan.Spec;
            int T = plan.Tokens, D = s.Dim, M = s.MlpDim, C = s.Channels, I = s.ImageSize;
            if (target.Device)
            {
                w.Line("/// <summary>Inference on the OpenCL device: the steps of <see cref=\"Forward\"/>, each one kernel launch on device buffers.</summary>");
                w.Open("private void ForwardOpenCL(global::System.ReadOnlySpan<float> images, int batch, global::System.Span<float> output)");
                w.Line("var k = _cl!;");
                w.Line("var a = k.BeginForward(images, batch, output); // validates, uploads the images, sizes the device buffers");
                w.Line("var p = k.Parameters; // on the device (uploaded first if the host copy changed)");
                w.Line($"var None = {DevicePtr}.None;");
            }
            else
            {
                w.Line("/// <summary>");
                w.Line($"/// Inference: <paramref name=\"images\"/> (batch, {N(C)}, {N(I)}, {N(I)}) NCHW → <paramref name=\"output\"/> (batch, {N(plan.OutputSize)}). No dropout.");
                w.Line("/// </summary>");
                w.Line("/// <param name=\"images\">batch × Channels × ImageSize × ImageSize floats.</param>");
                w.Line("/// <param name=\"batch\">Images in this call; buffers grow once if it exceeds every earlier batch.</param>");
                w.Line("/// <param name=\"output\">At least batch × OutputSize floats.</param>");
                w.Open("public void Forward(global::System.ReadOnlySpan<float> images, int batch, global::System.Span<float> output)");
                w.Line("if (_cl is not null) { ForwardOpenCL(images, batch, output); return; }");
                w.Line("var a = _memory.BeginForward(images, batch, output); // validates, stages the images, sizes the buffers");
                w.Line("var p = _memory.Parameters.Start;");
            }
            w.Line("int rows = batch * Tokens;");
            w.Line($"{Ptr} At(long offset) => a + offset * batch;");
            w.Line();
            Step(w, $"patch_embed.proj: images (B, {N(C)}, {N(I)}, {N(I)}) → x[:, 1:] (B, {N(plan.Patches)}, {N(D)}), a stride-{N(s.Patch)} convolution as im2col · weightᵀ",
                $"{K}PatchEmbedding.Forward<{Dims(C, I, s.Patch, D)}>(At(Inference.X), At(Inference.Patches), {target.Input}, p + Params.PatchEmbedProjWeight, p + Params.PatchEmbedProjBias, batch);");
            Step(w, $"cls_token, pos_embed: x[:, 0] = cls_token; x += pos_embed (B, {N(T)}, {N(D)})",
                $"{K}PositionEmbedding.Forward<{Dims(T, D)}>(At(Inference.X), p + Params.ClsToken, p + Params.PosEmbed, batch);");
            for (int i = 0; i < s.Depth; i++)
            {
                string b = "blocks." + N(i), c = "Blocks" + N(i);
                w.Line();
                Step(w, $"{b}.norm1: x (B, {N(T)}, {N(D)}) → (B, {N(T)}, {N(D)})",
                    $"{K}LayerNorm.Forward<{Dim(D)}>(At(Inference.Normed), None, None, At(Inference.X), p + Params.{c}Norm1Weight, p + Params.{c}Norm1Bias, rows, Epsilon);");
                Step(w, $"{b}.attn.qkv: (B, {N(T)}, {N(D)}) → q | k | v (B, {N(T)}, {N(3 * D)})",
                    $"{K}Linear.Forward<{Dims(D, 3 * D)}>(At(Inference.Qkv), At(Inference.Normed), p + Params.{c}AttnQkvWeight, {QkvBias(s, "p", c)}, rows);");
                Step(w, $"{b}.attn: softmax(q·kᵀ/√{N(plan.HeadDim)}) (B, {N(s.Heads)}, {N(T)}, {N(T)}) · v → heads merged (B, {N(T)}, {N(D)})",
                    $"{K}Attention.Forward<{Dims(T, s.Heads, plan.HeadDim)}>(At(Inference.AttnOut), At(Inference.Probs), None, At(Inference.Qkv), batch);");
                Step(w, $"{b}.attn.proj, fused with the residual add: x = x + proj(heads merged) (B, {N(T)}, {N(D)})",
                    $"{K}Linear.ForwardResidual<{Dims(D, D)}>(At(Inference.X), At(Inference.AttnOut), p + Params.{c}AttnProjWeight, p + Params.{c}AttnProjBias, rows);");
                Step(w, $"{b}.norm2: x (B, {N(T)}, {N(D)}) → (B, {N(T)}, {N(D)})",
                    $"{K}LayerNorm.Forward<{Dim(D)}>(At(Inference.Normed), None, None, At(Inference.X), p + Params.{c}Norm2Weight, p + Params.{c}Norm2Bias, rows, Epsilon);");
                Step(w, $"{b}.mlp.fc1 + mlp.act: (B, {N(T)}, {N(D)}) → GELU (erf) (B, {N(T)}, {N(M)}), the GELU applied in place as the GEMM's epilogue",
                    $"{K}Linear.ForwardGelu<{Dims(D, M)}>(At(Inference.Hidden), At(Inference.Hidden), At(Inference.Normed), p + Params.{c}MlpFc1Weight, p + Params.{c}MlpFc1Bias, rows);");
                Step(w, $"{b}.mlp.fc2, fused with the residual add: x = x + fc2(act) (B, {N(T)}, {N(D)})",
                    $"{K}Linear.ForwardResidual<{Dims(M, D)}>(At(Inference.X), At(Inference.Hidden), p + Params.{c}MlpFc2Weight, p + Params.{c}MlpFc2Bias, rows);");
            }
            w.Line();
            EmitHeadForward(w, plan, training: false, target);
            string result = s.Classes > 0 ? "Logits" : s.RepresentationSize > 0 ? "PreLogits" : "Features";
            w.Line(target.Device
                ? $"k.EndForward(At(Inference.{result}), batch, output); // downloads the outputs"
                : $"_memory.EndForward(At(Inference.{result}), batch, output);");
            w.Close();
        }

        private static string QkvBias(ModelSpec s, string pointer, string block) =>
            s.QkvBias ? $"{pointer} + Params.{block}AttnQkvBias" : $"None /* qkv_bias=False */";

        /// <summary>Pooling, the final norm, pre-logits and head, for either pass.</summary>
        private static void EmitHeadForward(SourceWriter w, ModelPlan plan, bool training, Target target)
        {
            string K = target.K;
            var s = plan.Spec;
            int T = plan.Tokens, D = s.Dim, R = s.RepresentationSize;
            string layout = training ? "Training" : "Inference";
            string x = training ? $"Training.Block{N(s.Depth - 1)}Residual2" : "Inference.X";
            string normed = training ? "Training.Normed" : "Inference.Features";
            string norm = NormName(s), normConst = NormConstant(s);
            if (s.Pooling == 0)
                Step(w, $"pool: the class token x[:, 0] (B, {N(D)}) (timm applies norm to every token, then takes x[:, 0]; LayerNorm is per token, so this is the same)",
                    $"{K}TokenPooling.Forward<{Dims(T, D)}>(At({layout}.Pooled), At({x}), batch);");
            else
                Step(w, $"pool: mean of the patch tokens x[:, 1:].mean(1) (B, {N(D)})",
                    $"{K}MeanPooling.Forward<{Dims(T, D)}>(At({layout}.Pooled), At({x}), batch);");
            string stats = training ? "At(Training.NormMean), At(Training.NormRstd)" : $"None, None";
            Step(w, $"{norm}: (B, {N(D)}) → (B, {N(D)})",
                $"{K}LayerNorm.Forward<{Dim(D)}>(At({normed}), {stats}, At({layout}.Pooled), p + Params.{normConst}Weight, p + Params.{normConst}Bias, batch, Epsilon);");
            string features = normed;
            if (R > 0)
            {
                Step(w, $"pre_logits.fc: (B, {N(D)}) → (B, {N(R)})",
                    $"{K}Linear.Forward<{Dims(D, R)}>(At({layout}.PreLogits), At({normed}), p + Params.PreLogitsFcWeight, p + Params.PreLogitsFcBias, batch);");
                Step(w, $"pre_logits.act: tanh, in place (B, {N(R)})",
                    $"{K}Tanh.Forward(At({layout}.PreLogits), At({layout}.PreLogits), (long)batch * {N(R)});");
                features = layout + ".PreLogits";
            }
            if (s.Classes > 0)
                Step(w, $"head: (B, {N(plan.FeatureWidth)}) → logits (B, {N(s.Classes)})",
                    $"{K}Linear.Forward<{Dims(plan.FeatureWidth, s.Classes)}>(At({layout}.Logits), At({features}), p + Params.HeadWeight, p + Params.HeadBias, batch);");
        }

        private static void EmitTrainingForward(SourceWriter w, ModelPlan plan, Target target)
        {
            string K = target.K, Ptr = target.Ptr;
            var s = plan.Spec;
            int T = plan.Tokens, D = s.Dim, M = s.MlpDim, C = s.Channels, I = s.ImageSize;
            bool dropout = s.Dropout > 0, attnDrop = s.AttentionDropout > 0;
            if (target.Device)
            {
                w.Line("/// <summary>The training forward pass on the OpenCL device; the loss stays on the device until <c>EndTraining</c>.</summary>");
                w.Open($"private void ForwardTrainingOpenCL({ClModel} k, {Ptr} a, global::System.ReadOnlySpan<int> labels, int batch)");
                w.Line("var p = k.Parameters;");
                w.Line($"var None = {DevicePtr}.None;");
            }
            else
            {
                w.Line("/// <summary>");
                w.Line("/// The training forward pass: the same steps as <see cref=\"Forward\"/>, with dropout and drop path");
                w.Line("/// when configured, saving every tensor the backward pass reads in the training buffer.");
                w.Line("/// </summary>");
                w.Line("/// <returns>The mean cross-entropy over the batch.</returns>");
                w.Open($"private float ForwardTraining({Ptr} a, global::System.ReadOnlySpan<int> labels, int batch)");
                w.Line("var p = _memory.Parameters.Start;");
            }
            w.Line("int rows = batch * Tokens;");
            w.Line($"{Ptr} At(long offset) => a + offset * batch;");
            w.Line();
            Step(w, $"patch_embed.proj: images (B, {N(C)}, {N(I)}, {N(I)}) → x[:, 1:] (B, {N(plan.Patches)}, {N(D)}); keeps the im2col patches for the weight gradient",
                $"{K}PatchEmbedding.Forward<{Dims(C, I, s.Patch, D)}>(At(Training.Embedded), At(Training.Patches), {target.Input}, p + Params.PatchEmbedProjWeight, p + Params.PatchEmbedProjBias, batch);");
            Step(w, $"cls_token, pos_embed: x[:, 0] = cls_token; x += pos_embed (B, {N(T)}, {N(D)})",
                $"{K}PositionEmbedding.Forward<{Dims(T, D)}>(At(Training.Embedded), p + Params.ClsToken, p + Params.PosEmbed, batch);");
            if (dropout)
            {
                Step(w, $"pos_drop: dropout p={Real(s.Dropout)} (B, {N(T)}, {N(D)})",
                    $"{K}Dropout.FillMask(At(Training.PosDropMask), (long)rows * Dim, DropoutRate, ref _rng);");
                w.Line($"{K}Dropout.Apply(At(Training.Embedded), At(Training.PosDropMask), (long)rows * Dim);");
            }
            for (int i = 0; i < s.Depth; i++)
            {
                string b = "blocks." + N(i), c = "Blocks" + N(i), t = "Training.Block" + N(i);
                string input = i == 0 ? "Training.Embedded" : $"Training.Block{N(i - 1)}Residual2";
                double rate = Planner.DropPathRate(s, i);
                w.Line();
                Step(w, $"{b}.norm1: x (B, {N(T)}, {N(D)}) → (B, {N(T)}, {N(D)}), keeping mean and 1/std (B, {N(T)})",
                    $"{K}LayerNorm.Forward<{Dim(D)}>(At({t}Norm1), At({t}Norm1Mean), At({t}Norm1Rstd), At({input}), p + Params.{c}Norm1Weight, p + Params.{c}Norm1Bias, rows, Epsilon);");
                Step(w, $"{b}.attn.qkv: (B, {N(T)}, {N(D)}) → q | k | v (B, {N(T)}, {N(3 * D)})",
                    $"{K}Linear.Forward<{Dims(D, 3 * D)}>(At({t}Qkv), At({t}Norm1), p + Params.{c}AttnQkvWeight, {QkvBias(s, "p", c)}, rows);");
                if (attnDrop)
                    Step(w, $"{b}.attn.attn_drop: mask for the attention probabilities, p={Real(s.AttentionDropout)} (B, {N(s.Heads)}, {N(T)}, {N(T)})",
                        $"{K}Dropout.FillMask(At({t}AttnDropMask), (long)batch * Heads * Tokens * Tokens, AttentionDropoutRate, ref _rng);");
                Step(w, $"{b}.attn: softmax(q·kᵀ/√{N(plan.HeadDim)}) (B, {N(s.Heads)}, {N(T)}, {N(T)}){(attnDrop ? " ⊙ mask" : "")} · v → heads merged (B, {N(T)}, {N(D)})",
                    $"{K}Attention.Forward<{Dims(T, s.Heads, plan.HeadDim)}>(At({t}AttnOut), At({t}AttnProbs), {(attnDrop ? $"At({t}AttnDropMask)" : "None")}, At({t}Qkv), batch);");
                Step(w, $"{b}.attn.proj: (B, {N(T)}, {N(D)}) → (B, {N(T)}, {N(D)})",
                    $"{K}Linear.Forward<{Dims(D, D)}>(At(Training.Branch), At({t}AttnOut), p + Params.{c}AttnProjWeight, p + Params.{c}AttnProjBias, rows);");
                if (dropout)
                {
                    Step(w, $"{b}.attn.proj_drop: dropout p={Real(s.Dropout)}",
                        $"{K}Dropout.FillMask(At({t}ProjDropMask), (long)rows * Dim, DropoutRate, ref _rng);");
                    w.Line($"{K}Dropout.Apply(At(Training.Branch), At({t}ProjDropMask), (long)rows * Dim);");
                }
                string scale1 = "None", scale2 = "None";
                if (rate > 0)
                {
                    Step(w, $"{b}.drop_path1: keep each image's branch with probability {Real(1 - rate)}",
                        $"{K}DropPath.FillScales(At({t}DropPath1), batch, {F(rate)}, ref _rng);");
                    scale1 = $"At({t}DropPath1)";
                }
                Step(w, $"{b}: x = x + {(rate > 0 ? "drop_path(attn(norm1(x)))" : "attn(norm1(x))")}",
                    $"{K}Residual.Forward(At({t}Residual1), At({input}), At(Training.Branch), {scale1}, batch, Tokens * Dim);");
                Step(w, $"{b}.norm2: x (B, {N(T)}, {N(D)}) → (B, {N(T)}, {N(D)}), keeping mean and 1/std (B, {N(T)})",
                    $"{K}LayerNorm.Forward<{Dim(D)}>(At({t}Norm2), At({t}Norm2Mean), At({t}Norm2Rstd), At({t}Residual1), p + Params.{c}Norm2Weight, p + Params.{c}Norm2Bias, rows, Epsilon);");
                Step(w, $"{b}.mlp.fc1 + mlp.act: (B, {N(T)}, {N(D)}) → (B, {N(T)}, {N(M)}) → GELU (erf), the GELU as the GEMM's epilogue; fc1's output is kept for the GELU gradient; the activation's rows are HiddenStride = {N(plan.HiddenStride)} floats apart",
                    $"{K}Linear.ForwardGelu<{Dims(D, M)}>(At({t}Gelu), HiddenStride, At({t}Fc1), At({t}Norm2), p + Params.{c}MlpFc1Weight, p + Params.{c}MlpFc1Bias, rows);");
                if (dropout)
                {
                    Step(w, $"{b}.mlp.drop1: dropout p={Real(s.Dropout)}, in place",
                        $"{K}Dropout.FillMask(At({t}MlpDrop1Mask), (long)rows * MlpDim, DropoutRate, ref _rng);");
                    w.Line($"{K}Dropout.Apply(At({t}Gelu), HiddenStride, At({t}MlpDrop1Mask), rows, MlpDim);");
                }
                Step(w, $"{b}.mlp.fc2: (B, {N(T)}, {N(M)}) → (B, {N(T)}, {N(D)})",
                    $"{K}Linear.Forward<{Dims(M, D)}>(At(Training.Branch), At({t}Gelu), HiddenStride, p + Params.{c}MlpFc2Weight, p + Params.{c}MlpFc2Bias, rows);");
                if (dropout)
                {
                    Step(w, $"{b}.mlp.drop2: dropout p={Real(s.Dropout)}",
                        $"{K}Dropout.FillMask(At({t}MlpDrop2Mask), (long)rows * Dim, DropoutRate, ref _rng);");
                    w.Line($"{K}Dropout.Apply(At(Training.Branch), At({t}MlpDrop2Mask), (long)rows * Dim);");
                }
                if (rate > 0)
                {
                    Step(w, $"{b}.drop_path2: keep each image's branch with probability {Real(1 - rate)}",
                        $"{K}DropPath.FillScales(At({t}DropPath2), batch, {F(rate)}, ref _rng);");
                    scale2 = $"At({t}DropPath2)";
                }
                Step(w, $"{b}: x = x + {(rate > 0 ? "drop_path(mlp(norm2(x)))" : "mlp(norm2(x))")}",
                    $"{K}Residual.Forward(At({t}Residual2), At({t}Residual1), At(Training.Branch), {scale2}, batch, Tokens * Dim);");
            }
            w.Line();
            EmitHeadForward(w, plan, training: true, target);
            Step(w, $"loss: mean softmax cross-entropy over the batch, label smoothing ε = _memory.LabelSmoothing; keeps the probabilities (B, {N(s.Classes)})",
                $"{(target.Device ? "" : "return ")}{K}SoftmaxCrossEntropy.Forward<{Dim(s.Classes)}>(At(Training.Probs), At(Training.Logits), labels, batch, _memory.LabelSmoothing);");
            w.Close();
        }
    }
}
