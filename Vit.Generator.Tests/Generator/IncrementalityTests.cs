using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Vit.Generator;
using Xunit;

namespace Vit.Tests.Generator;

/// <summary>The pipeline caches: unrelated edits reuse the spec and emit nothing new; changing Depth regenerates.</summary>
public sealed class IncrementalityTests
{
    private const string Model = "using Vit;\nnamespace N;\n[VisionTransformer(ImageSize = 8, Patch = 4, Dim = 16, Depth = 2, Heads = 2, Classes = 5)]\npublic partial class M;\n";

    private static IncrementalStepRunReason[] Reasons(GeneratorRunResult result, string step) =>
        result.TrackedSteps[step].SelectMany(s => s.Outputs).Select(o => o.Reason).ToArray();

    [Fact]
    public void Unrelated_edit_is_cached()
    {
        var compilation = GeneratorHarness.Compilation(Model, "class Other { int X => 1; }");
        var driver = GeneratorHarness.Driver(trackSteps: true).RunGenerators(compilation);

        var edited = compilation.ReplaceSyntaxTree(compilation.SyntaxTrees.Last(),
            CSharpSyntaxTree.ParseText("class Other { int X => 2; int Y => 3; }", GeneratorHarness.ParseOptions, path: "Model1.cs"));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        Assert.All(Reasons(result, TrackingNames.Spec), r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, r.ToString()));
        Assert.All(Reasons(result, TrackingNames.Plan), r => Assert.Equal(IncrementalStepRunReason.Cached, r));
        Assert.All(result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs),
            o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }

    [Fact]
    public void Whitespace_edit_of_the_model_file_does_not_re_emit()
    {
        var compilation = GeneratorHarness.Compilation(Model);
        var driver = GeneratorHarness.Driver(trackSteps: true).RunGenerators(compilation);
        var edited = compilation.ReplaceSyntaxTree(compilation.SyntaxTrees.Single(),
            CSharpSyntaxTree.ParseText(Model + "\n// a comment\n", GeneratorHarness.ParseOptions, path: "Model0.cs"));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();
        Assert.All(Reasons(result, TrackingNames.Spec), r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, r.ToString()));
        Assert.All(Reasons(result, TrackingNames.Plan), r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, r.ToString()));
    }

    [Fact]
    public void Changing_depth_regenerates()
    {
        var compilation = GeneratorHarness.Compilation(Model);
        var driver = GeneratorHarness.Driver(trackSteps: true).RunGenerators(compilation);
        var before = driver.GetRunResult().Results.Single().GeneratedSources.Single(s => s.HintName.EndsWith("Forward.g.cs")).SourceText.ToString();

        var edited = compilation.ReplaceSyntaxTree(compilation.SyntaxTrees.Single(),
            CSharpSyntaxTree.ParseText(Model.Replace("Depth = 2", "Depth = 3"), GeneratorHarness.ParseOptions, path: "Model0.cs"));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(result, TrackingNames.Spec));
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(result, TrackingNames.Plan));
        var after = result.GeneratedSources.Single(s => s.HintName.EndsWith("Forward.g.cs")).SourceText.ToString();
        Assert.DoesNotContain("blocks.2.", before);
        Assert.Contains("blocks.2.", after);
    }

    /// <summary>Walks the types of the pipeline models: no ISymbol, Compilation, SyntaxNode or other Roslyn object may be reachable.</summary>
    [Fact]
    public void Pipeline_models_hold_no_symbols()
    {
        var assembly = typeof(VisionTransformerGenerator).Assembly;
        var roots = new[] { "Vit.Generator.Model.ParseResult", "Vit.Generator.Model.ModelPlan" }.Select(n => assembly.GetType(n, throwOnError: true)!);
        var seen = new HashSet<Type>();
        var pending = new Stack<Type>(roots);
        var forbidden = new[] { typeof(ISymbol), typeof(Compilation), typeof(SyntaxNode), typeof(SyntaxTree), typeof(SemanticModel), typeof(Location), typeof(AttributeData) };
        while (pending.Count > 0)
        {
            var type = pending.Pop();
            if (!seen.Add(type)) continue;
            Assert.False(forbidden.Any(f => f.IsAssignableFrom(type)), $"{type} is a Roslyn object and breaks incremental caching");
            if (type.IsPrimitive || type == typeof(string) || type.IsEnum) continue;
            if (type.IsGenericType) foreach (var a in type.GetGenericArguments()) pending.Push(a);
            if (type.IsArray) { pending.Push(type.GetElementType()!); continue; }
            if (type.Namespace?.StartsWith("System", StringComparison.Ordinal) == true || type.Namespace?.StartsWith("Microsoft.CodeAnalysis", StringComparison.Ordinal) == true)
            {
                // Framework value types used in models (TextSpan, LinePositionSpan) and DiagnosticDescriptor (static, equatable) are fine.
                continue;
            }
            foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
                pending.Push(field.FieldType);
        }
        Assert.Contains(seen, t => t.Name == "ModelSpec");
        Assert.Contains(seen, t => t.Name == "ParameterSpec");
        Assert.Contains(seen, t => t.Name == "StepSpec");
        Assert.Contains(seen, t => t.Name == "TensorRef");
    }
}

/// <summary>The VIT0010 guard estimates sizes in double; it must bound the planner's exact sizes from above.</summary>
public sealed class SizeEstimateTests
{
    [Theory]
    [InlineData(8, 4, 3, 16, 2, 2, 0, 5, 0, 0.0, 0.0)]
    [InlineData(12, 4, 1, 24, 2, 3, 40, 7, 10, 0.1, 0.2)]
    [InlineData(224, 16, 3, 768, 12, 12, 0, 1000, 0, 0.1, 0.1)]
    [InlineData(224, 14, 3, 1280, 32, 16, 0, 0, 0, 0.1, 0.1)]
    [InlineData(32, 2, 3, 8, 1, 1, 4000, 3, 3, 0.5, 0.0)]
    [InlineData(224, 16, 3, 768, 12, 12, 0, 1000, 0, 0.1, 0.1, 0, 1e-5)]
    [InlineData(12, 4, 3, 20, 2, 3, 40, 6, 0, 0.1, 0.1, 8, 0.1)]
    [InlineData(32, 4, 3, 64, 2, 8, 0, 10, 0, 0.0, 0.0, 64, 0)]
    public void Estimate_bounds_the_plan(int image, int patch, int channels, int dim, int depth, int heads, int mlp, int classes, int representation, double dropout, double attentionDropout,
        int headDim = 0, double layerScale = 0)
    {
        int mlpDim = mlp == 0 ? 4 * dim : mlp;
        var spec = new Vit.Generator.Model.ModelSpec("N", "M", Vit.Generator.Model.EquatableArray<string>.Empty,
            image, patch, channels, dim, depth, heads, mlpDim, classes, QkvBias: true, Pooling: 0, representation,
            LayerNormEpsilon: 1e-6, dropout, attentionDropout, DropPath: 0.1, HeadDim: headDim, LayerScale: layerScale);
        var plan = VisionTransformerGenerator.Planner.Plan(spec);
        var estimate = VisionTransformerGenerator.SizeEstimate.Of(spec);
        Assert.True(estimate.Parameters >= plan.ParameterFloats, $"parameters: estimate {estimate.Parameters}, plan {plan.ParameterFloats}");
        Assert.True(estimate.ActivationsPerImage >= plan.TrainingFloatsPerImage, $"activations: estimate {estimate.ActivationsPerImage}, plan {plan.TrainingFloatsPerImage}");
        Assert.True(estimate.ActivationsPerImage >= plan.InferenceFloatsPerImage);
        Assert.True(estimate.ActivationsPerImage <= 2.0 * plan.TrainingFloatsPerImage, "the bound should stay close to the plan");
    }
}

public sealed class TrainingLayoutTests
{
    // The training layout pads the MLP activation's rows to a stride the runtime's GEMM reads in
    // place (an odd number of cache lines): the generator and the runtime must agree.
    [Theory]
    [InlineData(3072, 3088)]
    [InlineData(768, 784)]
    [InlineData(1536, 1552)]
    [InlineData(5120, 5136)]
    [InlineData(64, 80)]
    [InlineData(67, 80)]
    [InlineData(96, 112)]
    [InlineData(40, 48)]
    [InlineData(48, 48)]
    [InlineData(4000, 4016)]
    public void Hidden_stride_is_an_odd_number_of_cache_lines(int mlpDim, int expected)
    {
        int stride = VisionTransformerGenerator.Planner.HiddenStride(mlpDim);
        Assert.Equal(expected, stride);
        Assert.InRange(stride - mlpDim, 0, 31);
        Assert.True(Vit.Backends.Cpu.Gemm.SpreadsOverL1Sets(stride));
    }
}
