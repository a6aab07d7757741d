using Vit.Generator.Model;
using Vit.Generator.Planning;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator.Ops;

/// <summary>
/// timm's <c>Attention</c> core: per head, softmax(q·kᵀ·HeadDim^-0.5) (with <c>attn_drop</c>)
/// · v, heads merged. The probabilities (and the dropout mask) are saved for the backward pass.
/// </summary>
internal static class AttentionOp
{
    public static TensorRef Add(PlanBuilder b, string module, int block, TensorRef qkv, string prefix, int tokens, int headDim)
    {
        var s = b.Spec;
        long inner = (long)s.Heads * headDim;
        var probs = b.Saved(prefix + "AttnProbs", "Probs", "", new long[] { s.Heads, tokens, tokens }, $"{module} softmax(q·kᵀ·scale) (B, {N(s.Heads)}, {N(tokens)}, {N(tokens)})");
        var saved = new System.Collections.Generic.List<TensorRef> { probs };
        if (s.AttentionDropout > 0)
            saved.Add(b.Saved(prefix + "AttnDropMask", "", "", new long[] { s.Heads, tokens, tokens }, $"{module}.attn_drop mask (B, {N(s.Heads)}, {N(tokens)}, {N(tokens)})"));
        var output = b.Saved(prefix + "AttnOut", "AttnOut", "GradB", new long[] { tokens, inner }, $"{module} heads merged, input of proj (B, {N(tokens)}, {N(inner)})");
        b.Scratch("GradB", (double)tokens * inner, $"backward scratch (B, {N(tokens)}, {N(inner)})");
        b.Scratch("GradProbs", (double)s.Heads * tokens * tokens, $"backward scratch for attention probabilities (B, {N(s.Heads)}, {N(tokens)}, {N(tokens)})");
        b.Step(OpKind.Attention, module, block, new[] { qkv }, new[] { output, probs }, saved.ToArray(), new string[0],
            new[] { tokens, s.Heads, headDim }, s.AttentionDropout, "AttentionDropoutRate");
        return output;
    }

    private static string Mask(PassWriter w, StepSpec step) => step.Saved.Count > 1 && !w.Inference ? w.T(step.Saved[1]) : "dropoutMask: None";

    public static void Forward(PassWriter w, StepSpec step)
    {
        var (qkv, output, probs) = (step.Inputs[0], step.Outputs[0], step.Outputs[1]);
        bool drop = step.Saved.Count > 1 && !w.Inference;
        if (drop)
            w.Step($"{step.Module}.attn_drop: mask for the attention probabilities, p={Real(step.Rate)} {probs.ShapeText}",
                $"k.DropoutFillMask({w.T(step.Saved[1])}, (long)batch * Heads * Tokens * Tokens, {step.Variant}, ref _rng);");
        w.Step($"{step.Module}: softmax(q·kᵀ/√{N(step.Sizes[2])}) {probs.ShapeText}{(drop ? " ⊙ mask" : "")} · v → heads merged {output.ShapeText}",
            $"k.AttentionForward<{PassWriter.Dims(step.Sizes[0], step.Sizes[1], step.Sizes[2])}>({w.T(output)}, {w.T(probs)}, {Mask(w, step)}, {w.T(qkv)}, batch);");
    }

    public static void Backward(PassWriter w, StepSpec step)
    {
        var (qkv, output, probs) = (step.Inputs[0], step.Outputs[0], step.Outputs[1]);
        w.Step($"{step.Module}: d(q | k | v) {qkv.ShapeText}, through softmax{(step.Saved.Count > 1 ? " and attn_drop" : "")}",
            $"k.AttentionBackward<{PassWriter.Dims(step.Sizes[0], step.Sizes[1], step.Sizes[2])}>({w.G(qkv)}, At(Training.GradProbs), {w.G(output)}, {w.T(probs)}, {Mask(w, step)}, {w.T(qkv)}, batch);");
    }
}
