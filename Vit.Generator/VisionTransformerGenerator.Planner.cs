using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using Vit.Generator.Model;

namespace Vit.Generator;

public sealed partial class VisionTransformerGenerator
{
    /// <summary>
    /// Plan: derives every size, the parameter table (timm names, shapes, aligned offsets), the
    /// training activation layout (every saved tensor), the inference layout (buffers shared by
    /// liveness) and the FLOPs, so that emitting is formatting only.
    /// </summary>
    internal static class Planner
    {
        /// <summary>Offsets are rounded up to 16 floats: 64 bytes, one cache line and one AVX-512 vector.</summary>
        public const int AlignFloats = 16;

        public static ModelPlan Plan(ModelSpec s)
        {
            int grid = s.ImageSize / s.Patch, patches = grid * grid, tokens = patches + 1;
            int headDim = s.Dim / s.Heads, patchVector = s.Channels * s.Patch * s.Patch;
            int features = s.RepresentationSize > 0 ? s.RepresentationSize : s.Dim;
            int output = s.Classes > 0 ? s.Classes : features;

            var (parameters, count, floats) = PlanParameters(s, patchVector, tokens, features);
            int hiddenStride = HiddenStride(s.MlpDim);
            var (training, trainingFloats) = PlanTraining(s, tokens, patches, patchVector, features, hiddenStride);
            var (inference, inferenceFloats) = PlanInference(s, tokens, patches, patchVector, features);

            long T = tokens, D = s.Dim, M = s.MlpDim;
            long patchFlops = 2L * patches * patchVector * D;
            long blockFlops = 2 * T * D * 3 * D + 4 * T * T * D + 2 * T * D * D + 4 * T * D * M;
            long headFlops = (s.RepresentationSize > 0 ? 2L * D * s.RepresentationSize : 0) + (s.Classes > 0 ? 2L * features * s.Classes : 0);
            long forward = patchFlops + s.Depth * blockFlops + headFlops;
            // Backward computes two products per forward product (input and weight gradients),
            // except the patch embedding, whose input (the image) needs no gradient.
            long trainingFlops = forward + 2 * (forward - patchFlops) + patchFlops;

            var dims = new SortedSet<int> { s.Channels, s.ImageSize, s.Patch, s.Dim, 3 * s.Dim, s.MlpDim, tokens, s.Heads, headDim };
            if (s.RepresentationSize > 0) dims.Add(s.RepresentationSize);
            if (s.Classes > 0) dims.Add(s.Classes);

            return new ModelPlan(s, grid, patches, tokens, headDim, patchVector, features, output, hiddenStride,
                parameters, count, floats, training, trainingFloats, inference, inferenceFloats,
                forward, trainingFlops, new EquatableArray<int>(dims.ToArray()));
        }

        private static (EquatableArray<ParameterSpec>, long, long) PlanParameters(ModelSpec s, int patchVector, int tokens, int features)
        {
            var list = new List<ParameterSpec>();
            long offset = 0, count = 0;
            void Add(string name, int[] shape, string init, bool decay, int fanIn = 0)
            {
                long length = shape.Aggregate(1L, (a, d) => a * d);
                list.Add(new ParameterSpec(name, ConstantName(name), new EquatableArray<int>(shape), offset, length, init, fanIn, decay));
                offset += Align(length);
                count += length;
            }
            void Linear(string name, int outputs, int inputs, bool bias = true)
            {
                Add(name + ".weight", new[] { outputs, inputs }, "TruncatedNormal", decay: true);
                if (bias) Add(name + ".bias", new[] { outputs }, "Zeros", decay: false);
            }
            void Norm(string name)
            {
                Add(name + ".weight", new[] { s.Dim }, "Ones", decay: false);
                Add(name + ".bias", new[] { s.Dim }, "Zeros", decay: false);
            }

            // timm state_dict order: the model's own parameters first, then its modules in order.
            Add("cls_token", new[] { 1, 1, s.Dim }, "SmallNormal", decay: false);
            Add("pos_embed", new[] { 1, tokens, s.Dim }, "TruncatedNormal", decay: false);
            Add("patch_embed.proj.weight", new[] { s.Dim, s.Channels, s.Patch, s.Patch }, "FanInUniform", decay: true, fanIn: patchVector);
            Add("patch_embed.proj.bias", new[] { s.Dim }, "FanInUniform", decay: false, fanIn: patchVector);
            for (int i = 0; i < s.Depth; i++)
            {
                string b = "blocks." + i.ToString(CultureInfo.InvariantCulture);
                Norm(b + ".norm1");
                Linear(b + ".attn.qkv", 3 * s.Dim, s.Dim, s.QkvBias);
                Linear(b + ".attn.proj", s.Dim, s.Dim);
                Norm(b + ".norm2");
                Linear(b + ".mlp.fc1", s.MlpDim, s.Dim);
                Linear(b + ".mlp.fc2", s.Dim, s.MlpDim);
            }
            Norm(s.Pooling == 0 ? "norm" : "fc_norm");
            if (s.RepresentationSize > 0) Linear("pre_logits.fc", s.RepresentationSize, s.Dim);
            if (s.Classes > 0) Linear("head", s.Classes, features);
            return (new EquatableArray<ParameterSpec>(list.ToArray()), count, offset);
        }

        /// <summary>Training: every tensor the backward pass reads, then the backward's own scratch, one after another.</summary>
        /// <summary>
        /// The row stride of the MLP activation saved for training (<c>Block{i}Gelu</c>, fc2's input):
        /// MlpDim rounded up to whole cache lines (16 floats), plus one line when that is an even
        /// number of lines. Rows an odd number of lines apart fall on different L1 sets, so fc2's
        /// weight gradient reads this activation in place where rows 3072 floats apart (ViT-B) would
        /// have to be copied first: the runtime's <c>Gemm.SpreadsOverL1Sets</c> is the same test.
        /// </summary>
        public static int HiddenStride(int mlpDim)
        {
            int lines = (mlpDim + AlignFloats - 1) / AlignFloats;
            if (lines % 2 == 0) lines++;
            return lines * AlignFloats;
        }

        private static (EquatableArray<TensorSpec>, long) PlanTraining(ModelSpec s, int tokens, int patches, int patchVector, int features, int hiddenStride)
        {
            var list = new List<TensorSpec>();
            long offset = 0;
            long T = tokens, D = s.Dim, M = s.MlpDim, H = s.Heads;
            void Add(string name, long length, string description)
            {
                list.Add(new TensorSpec(name, offset, length, description));
                offset += Align(length);
            }
            string Shape(params long[] dims) => "(B, " + string.Join(", ", dims) + ")";

            Add("Patches", (long)patches * patchVector, $"patch_embed im2col {Shape(patches, patchVector)}");
            Add("Embedded", T * D, $"tokens after cls_token, pos_embed (and pos_drop) {Shape(T, D)}");
            if (s.Dropout > 0) Add("PosDropMask", T * D, $"pos_drop mask {Shape(T, D)}");
            for (int i = 0; i < s.Depth; i++)
            {
                string b = "Block" + i.ToString(CultureInfo.InvariantCulture);
                string t = "blocks." + i.ToString(CultureInfo.InvariantCulture);
                bool dropPath = DropPathRate(s, i) > 0;
                Add(b + "Norm1", T * D, $"{t}.norm1 output {Shape(T, D)}");
                Add(b + "Norm1Mean", T, $"{t}.norm1 mean {Shape(T)}");
                Add(b + "Norm1Rstd", T, $"{t}.norm1 1/std {Shape(T)}");
                Add(b + "Qkv", T * 3 * D, $"{t}.attn.qkv output {Shape(T, 3 * D)}");
                Add(b + "AttnProbs", H * T * T, $"{t}.attn softmax(q·kᵀ·scale) {Shape(H, T, T)}");
                if (s.AttentionDropout > 0) Add(b + "AttnDropMask", H * T * T, $"{t}.attn.attn_drop mask {Shape(H, T, T)}");
                Add(b + "AttnOut", T * D, $"{t}.attn heads merged, input of proj {Shape(T, D)}");
                if (s.Dropout > 0) Add(b + "ProjDropMask", T * D, $"{t}.attn.proj_drop mask {Shape(T, D)}");
                if (dropPath) Add(b + "DropPath1", 1, $"{t}.drop_path1 per-image scale (B)");
                Add(b + "Residual1", T * D, $"{t} x after the attention residual {Shape(T, D)}");
                Add(b + "Norm2", T * D, $"{t}.norm2 output {Shape(T, D)}");
                Add(b + "Norm2Mean", T, $"{t}.norm2 mean {Shape(T)}");
                Add(b + "Norm2Rstd", T, $"{t}.norm2 1/std {Shape(T)}");
                Add(b + "Fc1", T * M, $"{t}.mlp.fc1 output, before GELU {Shape(T, M)}");
                Add(b + "Gelu", T * hiddenStride, $"{t}.mlp.act output (after mlp.drop1), input of fc2 {Shape(T, M)}, rows HiddenStride = {hiddenStride} floats apart");
                if (s.Dropout > 0) Add(b + "MlpDrop1Mask", T * M, $"{t}.mlp.drop1 mask {Shape(T, M)}");
                if (s.Dropout > 0) Add(b + "MlpDrop2Mask", T * D, $"{t}.mlp.drop2 mask {Shape(T, D)}");
                if (dropPath) Add(b + "DropPath2", 1, $"{t}.drop_path2 per-image scale (B)");
                Add(b + "Residual2", T * D, $"{t} output {Shape(T, D)}");
            }
            string norm = s.Pooling == 0 ? "norm" : "fc_norm";
            Add("Pooled", D, s.Pooling == 0 ? $"class token x[:, 0] {Shape(D)}" : $"mean of the patch tokens {Shape(D)}");
            Add("Normed", D, $"{norm} output {Shape(D)}");
            Add("NormMean", 1, $"{norm} mean (B)");
            Add("NormRstd", 1, $"{norm} 1/std (B)");
            if (s.RepresentationSize > 0) Add("PreLogits", s.RepresentationSize, $"pre_logits tanh(fc(x)) {Shape(s.RepresentationSize)}");
            if (s.Classes > 0)
            {
                Add("Logits", s.Classes, $"head output {Shape(s.Classes)}");
                Add("Probs", s.Classes, $"softmax of the logits {Shape(s.Classes)}");
            }
            // Forward scratch and backward scratch (not saved between the passes).
            Add("Branch", T * D, $"scratch: attn.proj / mlp.fc2 output before the residual {Shape(T, D)}");
            Add("GradResidual", T * D, $"backward: d(loss)/d(x) of the residual stream {Shape(T, D)}");
            Add("GradA", T * D, $"backward scratch {Shape(T, D)}");
            Add("GradB", T * D, $"backward scratch {Shape(T, D)}");
            Add("GradWide", T * Math.Max(3 * D, M), $"backward scratch {Shape(T, Math.Max(3 * D, M))}");
            Add("GradProbs", H * T * T, $"backward scratch for attention probabilities {Shape(H, T, T)}");
            if (s.Classes > 0) Add("GradLogits", s.Classes, $"backward: d(loss)/d(logits) {Shape(s.Classes)}");
            if (s.RepresentationSize > 0) Add("GradPreLogits", s.RepresentationSize, $"backward: d(loss)/d(pre_logits) {Shape(s.RepresentationSize)}");
            Add("GradNormed", D, $"backward: d(loss)/d({norm} output) {Shape(D)}");
            Add("GradPooled", D, $"backward: d(loss)/d(pooled) {Shape(D)}");
            return (new EquatableArray<TensorSpec>(list.ToArray()), offset);
        }

        /// <summary>
        /// Inference: buffers with live ranges over one canonical block (blocks run one after another,
        /// so each reuses the same buffers); buffers whose live ranges do not overlap share memory.
        /// </summary>
        private static (EquatableArray<TensorSpec>, long) PlanInference(ModelSpec s, int tokens, int patches, int patchVector, int features)
        {
            long T = tokens, D = s.Dim, M = s.MlpDim, H = s.Heads;
            // Steps: 0 patch_embed, 1 cls/pos, 2 norm1, 3 qkv, 4 attention, 5 proj, 6 residual,
            // 7 norm2, 8 fc1, 9 gelu, 10 fc2, 11 residual, 12 pool, 13 norm, 14 pre_logits, 15 head.
            var wanted = new List<(string Name, long Length, int First, int Last, string Description)>
            {
                ("Patches", (long)patches * patchVector, 0, 0, $"patch_embed im2col (B, {patches}, {patchVector})"),
                ("X", T * D, 0, 12, $"the residual stream x (B, {T}, {D})"),
                ("Normed", T * D, 2, 8, $"norm1 / norm2 output (B, {T}, {D})"),
                ("Qkv", T * 3 * D, 3, 4, $"attn.qkv output (B, {T}, {3 * D})"),
                ("Probs", H * T * T, 4, 4, $"attention probabilities (B, {H}, {T}, {T})"),
                ("AttnOut", T * D, 4, 5, $"attention heads merged (B, {T}, {D})"),
                ("Branch", T * D, 5, 11, $"attn.proj / mlp.fc2 output (B, {T}, {D})"),
                ("Hidden", T * M, 8, 10, $"mlp.fc1 output and GELU (B, {T}, {M})"),
                ("Pooled", D, 12, 13, $"pooled features (B, {D})"),
                ("Features", D, 13, 15, $"{(s.Pooling == 0 ? "norm" : "fc_norm")} output (B, {D})"),
            };
            if (s.RepresentationSize > 0) wanted.Add(("PreLogits", s.RepresentationSize, 14, 15, $"pre_logits output (B, {s.RepresentationSize})"));
            if (s.Classes > 0) wanted.Add(("Logits", s.Classes, 15, 15, $"head output (B, {s.Classes})"));

            // Greedy first fit, largest first: place each buffer at the lowest aligned offset that
            // does not overlap a placed buffer whose live range overlaps its own.
            var placed = new List<(string Name, long Offset, long Length, int First, int Last, string Description)>();
            foreach (var w in wanted.OrderByDescending(w => w.Length).ThenBy(w => w.First))
            {
                long offset = 0;
                bool moved = true;
                while (moved)
                {
                    moved = false;
                    foreach (var p in placed)
                    {
                        bool timeOverlap = w.First <= p.Last && p.First <= w.Last;
                        bool spaceOverlap = offset < p.Offset + Align(p.Length) && p.Offset < offset + Align(w.Length);
                        if (timeOverlap && spaceOverlap)
                        {
                            offset = p.Offset + Align(p.Length);
                            moved = true;
                        }
                    }
                }
                placed.Add((w.Name, offset, w.Length, w.First, w.Last, w.Description));
            }
            long total = placed.Max(p => p.Offset + Align(p.Length));
            var ordered = wanted.Select(w => placed.First(p => p.Name == w.Name))
                .Select(p => new TensorSpec(p.Name, p.Offset, p.Length, p.Description + Sharing(p.Name, placed)))
                .ToArray();
            return (new EquatableArray<TensorSpec>(ordered), total);
        }

        private static string Sharing(string name, List<(string Name, long Offset, long Length, int First, int Last, string Description)> placed)
        {
            var me = placed.First(p => p.Name == name);
            var shared = placed.Where(p => p.Name != name && p.Offset < me.Offset + Align(me.Length) && me.Offset < p.Offset + Align(p.Length))
                .Select(p => p.Name).ToArray();
            return shared.Length == 0 ? "" : "; shares memory with " + string.Join(", ", shared);
        }

        /// <summary>timm: <c>torch.linspace(0, drop_path_rate, depth)[i]</c>.</summary>
        public static double DropPathRate(ModelSpec s, int block) =>
            s.Depth <= 1 ? 0 : s.DropPath * block / (s.Depth - 1);

        public static long Align(long length) => (length + AlignFloats - 1) / AlignFloats * AlignFloats;

        /// <summary><c>blocks.0.attn.qkv.weight</c> → <c>Blocks0AttnQkvWeight</c>.</summary>
        public static string ConstantName(string timmName)
        {
            var sb = new StringBuilder();
            bool upper = true;
            foreach (char c in timmName)
            {
                if (c == '.' || c == '_') { upper = true; continue; }
                sb.Append(upper ? char.ToUpperInvariant(c) : c);
                upper = false;
            }
            return sb.ToString();
        }
    }
}
