using Vit.Generator;
using Vit.Generator.Model;
using Xunit;

namespace Vit.Tests.Generator;

/// <summary>The plan's step list and what is derived from it: layouts, inference fusion, parameters.</summary>
public sealed class StepListTests
{
    private static ModelPlan Plan(int depth = 2, double dropout = 0, double dropPath = 0, double layerScale = 0, int headDim = 0, int dim = 16, int heads = 2) =>
        VisionTransformerGenerator.Planner.Plan(new ModelSpec("N", "M", EquatableArray<string>.Empty, ImageSize: 8, Patch: 4, Channels: 3, Dim: dim,
            Depth: depth, Heads: heads, MlpDim: 4 * dim, Classes: 5, QkvBias: true, Pooling: 0, RepresentationSize: 0, LayerNormEpsilon: 1e-6,
            Dropout: dropout, AttentionDropout: dropout, DropPath: dropPath, HeadDim: headDim, LayerScale: layerScale));

    [Fact]
    public void Steps_follow_timm_forward_order()
    {
        var plan = Plan();
        var ops = plan.Steps.Select(s => s.Op).ToArray();
        var block = new[] { OpKind.LayerNorm, OpKind.Linear, OpKind.Attention, OpKind.Linear, OpKind.Residual, OpKind.LayerNorm, OpKind.Linear, OpKind.Linear, OpKind.Residual };
        var expected = new[] { OpKind.PatchEmbedding, OpKind.PositionEmbedding }.Concat(block).Concat(block)
            .Concat(new[] { OpKind.Pooling, OpKind.LayerNorm, OpKind.Linear, OpKind.Loss }).ToArray();
        Assert.Equal(expected, ops);
        Assert.Equal("blocks.1.mlp.fc1", plan.Steps[2 + 9 + 6].Module);
    }

    [Fact]
    public void Every_parameter_belongs_to_exactly_one_step()
    {
        foreach (var plan in new[] { Plan(), Plan(layerScale: 0.1, headDim: 8, dim: 20, heads: 3) })
        {
            var used = plan.Steps.SelectMany(s => s.Parameters).Where(p => p.Length > 0).ToList();
            Assert.Equal(used.Count, used.Distinct().Count());
            Assert.Equal(plan.Parameters.Select(p => p.ConstantName).OrderBy(n => n), used.OrderBy(n => n));
        }
    }

    [Fact]
    public void Every_tensor_of_a_pass_has_a_slot_in_its_layout()
    {
        foreach (var plan in new[] { Plan(), Plan(dropout: 0.1, dropPath: 0.2, layerScale: 0.1) })
        {
            var training = plan.Training.Select(t => t.ConstantName).ToHashSet();
            foreach (var step in plan.Steps)
                foreach (var t in step.Inputs.Concat(step.Outputs).Concat(step.Saved))
                {
                    Assert.Contains(t.Name, training);
                    if (t.Grad.Length > 0) Assert.Contains(t.Grad, training);
                }
            var inference = plan.Inference.Select(t => t.ConstantName).ToHashSet();
            foreach (var step in plan.InferenceSteps)
                foreach (var t in step.Inputs.Concat(step.Outputs).Where(t => t.Buffer.Length > 0))
                    Assert.Contains(t.Buffer, inference);
        }
    }

    [Fact]
    public void Inference_drops_dropout_and_the_loss_and_fuses_each_linear_into_its_residual()
    {
        var plan = Plan(dropout: 0.1, dropPath: 0.2);
        Assert.Contains(plan.Steps, s => s.Op == OpKind.Dropout);
        Assert.DoesNotContain(plan.InferenceSteps, s => s.Op is OpKind.Dropout or OpKind.Loss or OpKind.Residual);
        Assert.Equal(2 * 2, plan.InferenceSteps.Count(s => s.Variant == "residual"));
        Assert.DoesNotContain(plan.Inference, t => t.ConstantName == "Branch");

        // With LayerScale the branch is scaled before the residual add: no fusion, the Branch buffer is used.
        var scaled = Plan(layerScale: 0.1);
        Assert.Equal(0, scaled.InferenceSteps.Count(s => s.Variant == "residual"));
        Assert.Equal(2 * 2, scaled.InferenceSteps.Count(s => s.Op == OpKind.Residual));
        Assert.Contains(scaled.Inference, t => t.ConstantName == "Branch");
        Assert.Contains(scaled.Training, t => t.ConstantName == "Block1MlpFc2");
    }

    [Fact]
    public void The_attention_width_follows_HeadDim()
    {
        var plan = Plan(headDim: 8, dim: 20, heads: 3);
        var qkv = plan.Parameters.Single(p => p.Name == "blocks.0.attn.qkv.weight");
        var proj = plan.Parameters.Single(p => p.Name == "blocks.0.attn.proj.weight");
        Assert.Equal(new[] { 72, 20 }, qkv.Shape.ToArray());
        Assert.Equal(new[] { 20, 24 }, proj.Shape.ToArray());
        var attention = plan.Steps.First(s => s.Op == OpKind.Attention);
        Assert.Equal(new long[] { 5, 24 }, attention.Outputs[0].Shape.ToArray());
    }

    [Fact]
    public void The_plan_is_deterministic_and_equatable()
    {
        Assert.Equal(Plan(dropout: 0.1, layerScale: 0.1), Plan(dropout: 0.1, layerScale: 0.1));
        Assert.NotEqual(Plan(), Plan(layerScale: 0.1));
    }
}
