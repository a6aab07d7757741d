using Vit.Generator.Model;
using Vit.Generator.Planning;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator.Ops;

/// <summary>timm <c>patch_embed.proj</c>: a stride-P convolution, computed as im2col · weightᵀ.</summary>
internal static class PatchEmbeddingOp
{
    /// <summary>Declares <c>patch_embed.proj.*</c> and the step; returns x (B, T, D) with rows 1..N written.</summary>
    public static TensorRef Add(PlanBuilder b, int tokens, int patches, int patchVector)
    {
        var s = b.Spec;
        string weight = b.Parameter("patch_embed.proj.weight", new long[] { s.Dim, s.Channels, s.Patch, s.Patch }, "FanInUniform", decay: true, fanIn: patchVector);
        string bias = b.Parameter("patch_embed.proj.bias", new long[] { s.Dim }, "FanInUniform", decay: false, fanIn: patchVector);
        var im2col = b.Saved("Patches", "Patches", "", new long[] { patches, patchVector }, $"patch_embed im2col (B, {N(patches)}, {N(patchVector)})");
        var x = b.Saved("Embedded", "X", "GradResidual", new long[] { tokens, s.Dim }, $"tokens after cls_token, pos_embed (and pos_drop) (B, {N(tokens)}, {N(s.Dim)})");
        b.Scratch("GradResidual", (double)tokens * s.Dim, $"backward: d(loss)/d(x) of the residual stream (B, {N(tokens)}, {N(s.Dim)})");
        b.Step(OpKind.PatchEmbedding, "patch_embed.proj", -1, new TensorRef[0], new[] { x }, new[] { im2col }, new[] { weight, bias },
            new[] { s.Channels, s.ImageSize, s.Patch, s.Dim });
        return x;
    }

    public static void Forward(PassWriter w, StepSpec step)
    {
        var s = w.Spec;
        var (x, im2col) = (step.Outputs[0], step.Saved[0]);
        w.Step($"patch_embed.proj: images (B, {N(s.Channels)}, {N(s.ImageSize)}, {N(s.ImageSize)}) → x[:, 1:] (B, {N(im2col.Shape[0])}, {N(s.Dim)}), a stride-{N(s.Patch)} convolution as im2col{(w.Inference ? "" : " (kept for the weight gradient)")} · weightᵀ",
            $"k.PatchEmbeddingForward<{PassWriter.Dims(step.Sizes[0], step.Sizes[1], step.Sizes[2], step.Sizes[3])}>({w.T(x)}, {w.T(im2col)}, k.Input, {PassWriter.P(step.Parameters[0])}, {PassWriter.P(step.Parameters[1])}, batch);");
    }

    public static void Backward(PassWriter w, StepSpec step)
    {
        w.Step("patch_embed.proj: weight and bias gradients from d(x[:, 1:]) and the saved patches (images need no gradient)",
            $"k.PatchEmbeddingBackward<{PassWriter.Dims(step.Sizes[0], step.Sizes[1], step.Sizes[2], step.Sizes[3])}>({PassWriter.GradOf(step.Parameters[0])}, {PassWriter.GradOf(step.Parameters[1])}, {w.G(step.Outputs[0])}, {w.T(step.Saved[0])}, batch);");
    }
}
