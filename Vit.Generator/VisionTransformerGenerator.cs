using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using System.Text;

namespace Vit.Generator;

/// <summary>
/// Turns each <c>[VisionTransformer]</c> partial class into a compiled Vision Transformer.
/// Pipeline: parse (attribute → <c>ModelSpec</c> + diagnostics) → plan (sizes, parameter table,
/// activation layouts, FLOPs) → emit (three source files per model).
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed partial class VisionTransformerGenerator : IIncrementalGenerator
{
    /// <summary>The attribute's metadata name.</summary>
    public const string AttributeName = "Vit.VisionTransformerAttribute";

    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var parsed = context.SyntaxProvider.ForAttributeWithMetadataName(
                AttributeName,
                predicate: static (node, _) => node is ClassDeclarationSyntax,
                transform: static (ctx, ct) => Parser.Parse(ctx, ct))
            .WithTrackingName(TrackingNames.Parse);

        // Diagnostics are their own output: a change that only affects diagnostics re-emits no source.
        var diagnostics = parsed.Select(static (r, _) => r.Diagnostics).WithTrackingName(TrackingNames.Diagnostics);
        context.RegisterSourceOutput(diagnostics, static (spc, list) =>
        {
            foreach (var d in list) spc.ReportDiagnostic(d.ToDiagnostic());
        });

        var plans = parsed
            .Where(static r => r.Spec is not null)
            .Select(static (r, _) => r.Spec!)
            .WithTrackingName(TrackingNames.Spec)
            .Select(static (spec, _) => Planner.Plan(spec))
            .WithTrackingName(TrackingNames.Plan);

        context.RegisterSourceOutput(plans, static (spc, plan) =>
        {
            foreach (var (hint, source) in Emitter.Emit(plan))
                spc.AddSource(hint, SourceText.From(source, Encoding.UTF8));
        });
    }
}
