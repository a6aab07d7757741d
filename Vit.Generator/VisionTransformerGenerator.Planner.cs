using System;
using System.Collections.Generic;
using System.Linq;
using Vit.Generator.Model;
using Vit.Generator.Planning;

namespace Vit.Generator;

public sealed partial class VisionTransformerGenerator
{
    /// <summary>
    /// Plan: records the model's steps (<see cref="Architecture"/>), then derives from them every
    /// size, the parameter table, the training layout (every saved tensor), the inference steps
    /// (no dropout, Linear + residual fused) and their layout (buffers shared by liveness), the
    /// dimension structs and the FLOPs, so that emitting is formatting only.
    /// </summary>
    internal static class Planner
    {
        /// <summary>Offsets are rounded up to 16 floats: 64 bytes, one cache line and one AVX-512 vector.</summary>
        public const int AlignFloats = PlanBuilder.AlignFloats;

        public static ModelPlan Plan(ModelSpec s)
        {
            int grid = s.ImageSize / s.Patch, patches = grid * grid, tokens = patches + 1;
            int headDim = HeadDim(s), patchVector = s.Channels * s.Patch * s.Patch;
            int features = s.RepresentationSize > 0 ? s.RepresentationSize : s.Dim;
            int output = s.Classes > 0 ? s.Classes : features;
            int hiddenStride = HiddenStride(s.MlpDim);

            var b = new PlanBuilder(s);
            Architecture.Build(b, tokens, patches, patchVector, headDim, hiddenStride);
            var steps = b.Steps.ToArray();
            var (training, trainingFloats) = b.TrainingLayout();
            var inferenceSteps = InferenceSteps(steps);
            var (inference, inferenceFloats) = InferenceLayout(inferenceSteps);

            long forward = steps.Sum(Flops);
            long patchFlops = steps.Where(t => t.Op == OpKind.PatchEmbedding).Sum(Flops);
            // Backward computes two products per forward product (input and weight gradients),
            // except the patch embedding, whose input (the image) needs no gradient.
            long trainingFlops = forward + 2 * (forward - patchFlops) + patchFlops;

            // The frozen step: the backbone as inference, the head as training (no head without classes).
            var headSteps = s.Classes > 0 ? steps.SkipWhile(t => !IsHead(t)).ToArray() : new StepSpec[0];
            var backboneSteps = s.Classes > 0 ? inferenceSteps.TakeWhile(t => !IsHead(t)).ToArray() : new StepSpec[0];
            var (frozen, frozenFloats) = FrozenLayout(headSteps, training, inferenceFloats);
            // The head's backward: two products per forward product, but its first layer computes
            // no input gradient (the backbone takes none).
            long headFlops = headSteps.Sum(Flops);
            long frozenFlops = s.Classes > 0 ? forward + 2 * headFlops - headSteps.Where(t => t.Op == OpKind.Linear).Select(Flops).FirstOrDefault() : 0;

            var dims = new SortedSet<int>(steps.SelectMany(t => t.Sizes));

            return new ModelPlan(s, grid, patches, tokens, headDim, patchVector, features, output, hiddenStride,
                new EquatableArray<ParameterSpec>(b.ParameterList.ToArray()), (long)b.ParameterCount, b.ParameterBufferFloats,
                training, trainingFloats, inference, inferenceFloats, forward, trainingFlops,
                new EquatableArray<int>(dims.ToArray()), new EquatableArray<StepSpec>(steps), new EquatableArray<StepSpec>(inferenceSteps),
                new EquatableArray<StepSpec>(backboneSteps), new EquatableArray<StepSpec>(headSteps), frozen, frozenFloats, frozenFlops);
        }

        /// <summary>
        /// Whether a step belongs to the trained head of a frozen-backbone step: <c>pre_logits.*</c>,
        /// <c>head</c> and the loss, the parameters <c>Optimizer.HeadOnly</c> trains. Everything before
        /// (the stem, the blocks, the pooling and <c>norm</c> / <c>fc_norm</c>) is the frozen backbone.
        /// </summary>
        public static bool IsHead(StepSpec step) =>
            step.Op == OpKind.Loss || step.Module == "head" || step.Module.StartsWith("pre_logits.", StringComparison.Ordinal);

        /// <summary>
        /// The frozen step's head tensors, after the inference layout (from <paramref name="start"/>,
        /// its floats per image): every tensor the head's steps read, write or save, in forward order,
        /// then their gradients, each as long as its training slot. The gradient of the head's input
        /// (the pooled features) has none: the frozen backbone takes no gradient.
        /// </summary>
        private static (EquatableArray<TensorSpec>, long) FrozenLayout(StepSpec[] head, EquatableArray<TensorSpec> training, long start)
        {
            if (head.Length == 0) return (EquatableArray<TensorSpec>.Empty, start);
            var input = head[0].Inputs[0];
            var names = new List<string>();
            var tensors = head.SelectMany(t => t.Inputs.Concat(t.Outputs).Concat(t.Saved)).ToArray();
            foreach (var t in tensors)
                if (!names.Contains(t.Name)) names.Add(t.Name);
            foreach (var t in tensors)
                if (t.Grad.Length > 0 && t.Grad != input.Grad && !names.Contains(t.Grad)) names.Add(t.Grad);
            var list = new List<TensorSpec>();
            long offset = start;
            foreach (var name in names)
            {
                var slot = training.First(t => t.ConstantName == name);
                string description = name == input.Name ? slot.Description + ", the head's input: the backbone's last step writes it" : slot.Description;
                list.Add(new TensorSpec(name, offset, slot.Length, description));
                offset += Align(slot.Length);
            }
            return (new EquatableArray<TensorSpec>(list.ToArray()), offset);
        }

        /// <summary>Channels per head: <c>HeadDim</c> when set, else Dim / Heads.</summary>
        public static int HeadDim(ModelSpec s) => s.HeadDim > 0 ? s.HeadDim : s.Dim / s.Heads;

        /// <summary>Matrix-product FLOPs per image of one step (2 per multiply-add).</summary>
        private static long Flops(StepSpec step)
        {
            switch (step.Op)
            {
                case OpKind.PatchEmbedding:
                    var patches = step.Saved[0];
                    return 2L * patches.Shape[0] * patches.Shape[1] * step.Sizes[3];
                case OpKind.Linear:
                    var x = step.Inputs[0];
                    long rows = x.Shape.Count >= 2 ? x.Shape[0] : 1;
                    return 2L * rows * step.Sizes[0] * step.Sizes[1];
                case OpKind.Attention:
                    long t = step.Sizes[0], h = step.Sizes[1], d = step.Sizes[2];
                    return 4L * t * t * h * d;
                default:
                    return 0;
            }
        }

        /// <summary>
        /// The inference steps: the training steps without dropout and the loss (drop path is the
        /// residual's scale, absent in inference), with each Linear that feeds a residual add
        /// fused into it (<c>x += x·wᵀ + b</c>).
        /// </summary>
        public static StepSpec[] InferenceSteps(StepSpec[] steps)
        {
            var kept = steps.Where(t => t.Op != OpKind.Dropout && t.Op != OpKind.Loss).ToList();
            var result = new List<StepSpec>();
            for (int i = 0; i < kept.Count; i++)
            {
                var step = kept[i];
                if (step.Op == OpKind.Linear && step.Variant.Length == 0 && i + 1 < kept.Count
                    && kept[i + 1] is { Op: OpKind.Residual } residual && residual.Inputs[1].Buffer == step.Outputs[0].Buffer)
                {
                    result.Add(step with { Variant = "residual", Outputs = residual.Outputs });
                    i++;
                    continue;
                }
                result.Add(step);
            }
            return result.ToArray();
        }

        /// <summary>
        /// Inference buffers with live ranges over one canonical block (blocks run one after another
        /// and each reuses the same buffers): a buffer is live from the first step of the stem, block
        /// or head that touches it to the last. Buffers whose live ranges do not overlap share memory.
        /// </summary>
        private static (EquatableArray<TensorSpec>, long) InferenceLayout(StepSpec[] steps)
        {
            // Canonical time: the stem's steps, then block 0's (every block maps onto them), then the head's.
            var time = new int[steps.Length];
            int stem = steps.TakeWhile(t => t.Block < 0).Count();
            int blockLength = steps.Count(t => t.Block == 0);
            for (int i = 0, inBlock = 0, head = 0; i < steps.Length; i++)
            {
                if (steps[i].Block >= 0)
                {
                    if (i > 0 && steps[i - 1].Block != steps[i].Block) inBlock = 0;
                    time[i] = stem + inBlock++;
                }
                else time[i] = i < stem ? i : stem + blockLength + head++;
            }
            var wanted = new List<(string Name, long Length, int First, int Last, string Description)>();
            for (int i = 0; i < steps.Length; i++)
            {
                foreach (var t in steps[i].Inputs.Concat(steps[i].Outputs).Concat(steps[i].Saved))
                {
                    if (t.Buffer.Length == 0) continue;
                    long length = t.Shape.Aggregate(1L, (a, d) => a * d);
                    int at = wanted.FindIndex(w => w.Name == t.Buffer);
                    if (at < 0) wanted.Add((t.Buffer, length, time[i], time[i], $"{Describe(t.Buffer)} {t.ShapeText}"));
                    else
                    {
                        var w = wanted[at];
                        wanted[at] = (w.Name, Math.Max(w.Length, length), Math.Min(w.First, time[i]), Math.Max(w.Last, time[i]), w.Description);
                    }
                }
            }

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

        private static string Describe(string buffer) => buffer switch
        {
            "Patches" => "patch_embed im2col",
            "X" => "the residual stream x",
            "Normed" => "norm1 / norm2 output",
            "Qkv" => "attn.qkv output",
            "Probs" => "attention probabilities",
            "AttnOut" => "attention heads merged",
            "Branch" => "attn.proj / mlp.fc2 output before the residual",
            "Hidden" => "mlp.fc1 output and GELU",
            "Pooled" => "pooled features",
            "Features" => "norm / fc_norm output",
            "PreLogits" => "pre_logits output",
            "Logits" => "head output",
            _ => buffer,
        };

        private static string Sharing(string name, List<(string Name, long Offset, long Length, int First, int Last, string Description)> placed)
        {
            var me = placed.First(p => p.Name == name);
            var shared = placed.Where(p => p.Name != name && p.Offset < me.Offset + Align(me.Length) && me.Offset < p.Offset + Align(p.Length))
                .Select(p => p.Name).ToArray();
            return shared.Length == 0 ? "" : "; shares memory with " + string.Join(", ", shared);
        }

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

        /// <summary>timm: <c>torch.linspace(0, drop_path_rate, depth)[i]</c>.</summary>
        public static double DropPathRate(ModelSpec s, int block) =>
            s.Depth <= 1 ? 0 : s.DropPath * block / (s.Depth - 1);

        private static long Align(long length) => PlanBuilder.Align(length);
    }
}
