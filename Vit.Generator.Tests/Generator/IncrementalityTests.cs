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
    }
}
