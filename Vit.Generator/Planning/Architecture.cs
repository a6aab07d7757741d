using Vit.Generator.Model;
using Vit.Generator.Ops;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator.Planning;

/// <summary>
/// timm's <c>VisionTransformer.forward</c> as a list of ops: the one place that says which op
/// follows which, which tensor each reads and writes, and which gradient buffer carries its
/// gradient backward. <c>Planner</c> derives everything else from the steps it records.
/// </summary>
internal static class Architecture
{
    public static void Build(PlanBuilder b, int tokens, int patches, int patchVector, int headDim, int hiddenStride)
    {
        var x = Stem(b, tokens, patches, patchVector);
        for (int i = 0; i < b.Spec.Depth; i++) x = Block(b, i, x, tokens, headDim, hiddenStride);
        Head(b, x);
    }

    /// <summary>patch_embed → cls_token, pos_embed → pos_drop.</summary>
    public static TensorRef Stem(PlanBuilder b, int tokens, int patches, int patchVector)
    {
        var positions = PositionEmbeddingOp.Parameters(b, tokens);
        var x = PatchEmbeddingOp.Add(b, tokens, patches, patchVector);
        PositionEmbeddingOp.Add(b, x, positions, tokens);
        if (b.Spec.Dropout > 0) DropoutOp.Add(b, "pos_drop", -1, x, "PosDropMask");
        return x;
    }

    /// <summary>blocks.i: x = x + drop_path1(ls1(attn(norm1(x)))); x = x + drop_path2(ls2(mlp(norm2(x)))); ls1, ls2 only with LayerScale.</summary>
    public static TensorRef Block(PlanBuilder b, int i, TensorRef x, int tokens, int headDim, int hiddenStride)
    {
        var s = b.Spec;
        string m = "blocks." + N(i), t = "Block" + N(i);
        long T = tokens, D = s.Dim, M = s.MlpDim, inner = (long)s.Heads * headDim;
        double rate = VisionTransformerGenerator.Planner.DropPathRate(s, i);
        bool dropout = s.Dropout > 0, layerScale = s.LayerScale > 0;

        var norm1 = LayerNormOp.Add(b, m + ".norm1", i, x, t + "Norm1", "Normed", "GradA");
        b.Scratch("GradA", (double)T * D, $"backward scratch (B, {N(T)}, {N(D)})");
        var qkvParameters = LinearOp.Parameters(b, m + ".attn.qkv", s.Dim, (int)(3 * inner), s.QkvBias);
        var qkv = b.Saved(t + "Qkv", "Qkv", "GradWide", new[] { T, 3 * inner }, $"{m}.attn.qkv output (B, {N(T)}, {N(3 * inner)})");
        LinearOp.Add(b, m + ".attn.qkv", i, norm1, qkv, qkvParameters);
        var heads = AttentionOp.Add(b, m + ".attn", i, qkv, t, tokens, headDim);
        var projParameters = LinearOp.Parameters(b, m + ".attn.proj", (int)inner, s.Dim);
        var branch = b.Transient("Branch", "Branch", "GradA", new[] { T, D }, $"scratch: attn.proj / mlp.fc2 output before the residual (B, {N(T)}, {N(D)})");
        var proj = layerScale ? b.Saved(t + "AttnProj", "Branch", "GradA", new[] { T, D }, $"{m}.attn.proj output (after proj_drop), input of ls1 (B, {N(T)}, {N(D)})") : branch;
        LinearOp.Add(b, m + ".attn.proj", i, heads, proj, projParameters);
        if (dropout) DropoutOp.Add(b, m + ".attn.proj_drop", i, proj, t + "ProjDropMask");
        if (layerScale) LayerScaleOp.Add(b, m + ".ls1", i, proj, branch, LayerScaleOp.Parameter(b, m + ".ls1"));
        x = ResidualOp.Add(b, m, i, t, x, branch, 1, rate);

        var norm2 = LayerNormOp.Add(b, m + ".norm2", i, x, t + "Norm2", "Normed", "GradA");
        var fc1Parameters = LinearOp.Parameters(b, m + ".mlp.fc1", s.Dim, s.MlpDim);
        var fc1 = b.Saved(t + "Fc1", "Hidden", "", new[] { T, M }, $"{m}.mlp.fc1 output, before GELU (B, {N(T)}, {N(M)})");
        var act = b.Saved(t + "Gelu", "Hidden", "GradWide", new[] { T, M },
            $"{m}.mlp.act output (after mlp.drop1), input of fc2 (B, {N(T)}, {N(M)}), rows HiddenStride = {N(hiddenStride)} floats apart", hiddenStride);
        b.Scratch("GradWide", (double)T * System.Math.Max(3 * inner, M), $"backward scratch (B, {N(T)}, {N(System.Math.Max(3 * inner, M))})");
        LinearOp.Add(b, m + ".mlp.fc1", i, norm2, act, fc1Parameters, "gelu", fc1);
        if (dropout) DropoutOp.Add(b, m + ".mlp.drop1", i, act, t + "MlpDrop1Mask");
        var fc2Parameters = LinearOp.Parameters(b, m + ".mlp.fc2", s.MlpDim, s.Dim);
        var fc2 = layerScale ? b.Saved(t + "MlpFc2", "Branch", "GradA", new[] { T, D }, $"{m}.mlp.fc2 output (after mlp.drop2), input of ls2 (B, {N(T)}, {N(D)})") : branch;
        LinearOp.Add(b, m + ".mlp.fc2", i, act, fc2, fc2Parameters);
        if (dropout) DropoutOp.Add(b, m + ".mlp.drop2", i, fc2, t + "MlpDrop2Mask");
        if (layerScale) LayerScaleOp.Add(b, m + ".ls2", i, fc2, branch, LayerScaleOp.Parameter(b, m + ".ls2"));
        return ResidualOp.Add(b, m, i, t, x, branch, 2, rate);
    }

    /// <summary>pool → norm / fc_norm → pre_logits (Linear + Tanh) → head → loss.</summary>
    public static void Head(PlanBuilder b, TensorRef x)
    {
        var s = b.Spec;
        int tokens = (int)x.Shape[0];
        string norm = s.Pooling == 0 ? "norm" : "fc_norm";
        var pooled = PoolingOp.Add(b, x, tokens);
        var features = LayerNormOp.Add(b, norm, -1, pooled, "Normed", "Features", "GradNormed", clearInputGradient: true, statistics: "Norm");
        if (s.RepresentationSize > 0)
        {
            var parameters = LinearOp.Parameters(b, "pre_logits.fc", s.Dim, s.RepresentationSize);
            var preLogits = b.Saved("PreLogits", "PreLogits", "GradPreLogits", new long[] { s.RepresentationSize }, $"pre_logits tanh(fc(x)) (B, {N(s.RepresentationSize)})");
            LinearOp.Add(b, "pre_logits.fc", -1, features, preLogits, parameters);
            TanhOp.Add(b, preLogits);
            features = preLogits;
        }
        if (s.Classes > 0)
        {
            var parameters = LinearOp.Parameters(b, "head", (int)features.Shape[0], s.Classes);
            var logits = b.Saved("Logits", "Logits", "GradLogits", new long[] { s.Classes }, $"head output (B, {N(s.Classes)})");
            LinearOp.Add(b, "head", -1, features, logits, parameters);
            LossOp.Add(b, logits);
            b.Scratch("GradLogits", s.Classes, $"backward: d(loss)/d(logits) (B, {N(s.Classes)})");
        }
        if (s.RepresentationSize > 0) b.Scratch("GradPreLogits", s.RepresentationSize, $"backward: d(loss)/d(pre_logits) (B, {N(s.RepresentationSize)})");
        b.Scratch("GradNormed", s.Dim, $"backward: d(loss)/d({norm} output) (B, {N(s.Dim)})");
        b.Scratch("GradPooled", s.Dim, $"backward: d(loss)/d(pooled) (B, {N(s.Dim)})");
    }
}
