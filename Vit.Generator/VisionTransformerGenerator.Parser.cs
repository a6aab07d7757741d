using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Vit.Generator.Model;
using Vit.Generator.Planning;

namespace Vit.Generator;

public sealed partial class VisionTransformerGenerator
{
    /// <summary>
    /// Parse: the annotated class and its attribute become one <see cref="ModelSpec"/> (or diagnostics).
    /// Everything read from symbols is copied into strings and numbers here.
    /// </summary>
    internal static class Parser
    {
        public static ParseResult Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
        {
            var diagnostics = new List<DiagnosticInfo>();
            var type = (INamedTypeSymbol)context.TargetSymbol;
            var syntax = (TypeDeclarationSyntax)context.TargetNode;
            var attribute = context.Attributes[0];
            var attributeSyntax = attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;

            // The class itself: partial, non-generic, inside partial non-generic types.
            if (!syntax.Modifiers.Any(SyntaxKind.PartialKeyword))
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.NotPartial, syntax.Identifier.GetLocation(), type.Name));
            if (type.TypeParameters.Length > 0)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.Generic, syntax.Identifier.GetLocation(), type.Name, type.Name));

            var containing = new List<string>();
            for (var outer = type.ContainingType; outer is not null; outer = outer.ContainingType)
            {
                bool partial = outer.DeclaringSyntaxReferences
                    .Select(r => r.GetSyntax(cancellationToken))
                    .OfType<TypeDeclarationSyntax>()
                    .All(d => d.Modifiers.Any(SyntaxKind.PartialKeyword));
                if (!partial)
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ContainingTypeNotPartial, syntax.Identifier.GetLocation(), type.Name, outer.Name));
                if (outer.TypeParameters.Length > 0)
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.Generic, syntax.Identifier.GetLocation(), type.Name, outer.Name));
                containing.Insert(0, Keyword(outer) + " " + outer.Name);
            }

            // The attribute's values, with the defaults of VisionTransformerAttribute.
            var values = new AttributeValues(attribute, attributeSyntax);
            int imageSize = values.Int("ImageSize", 224);
            int patch = values.Int("Patch", 16);
            int channels = values.Int("Channels", 3);
            int dim = values.Int("Dim", 768);
            int depth = values.Int("Depth", 12);
            int heads = values.Int("Heads", 12);
            int mlpDim = values.Int("MlpDim", 0);
            int classes = values.Int("Classes", 1000);
            bool qkvBias = values.Bool("QkvBias", true);
            int pooling = values.Int("Pooling", 0);
            int representation = values.Int("RepresentationSize", 0);
            double epsilon = values.Double("LayerNormEpsilon", 1e-6);
            double dropout = values.Double("Dropout", 0);
            double attentionDropout = values.Double("AttentionDropout", 0);
            double dropPath = values.Double("DropPath", 0);
            int headDim = values.Int("HeadDim", 0);
            double layerScale = values.Double("LayerScale", 0);

            bool sizesValid = true;
            foreach (var (name, value) in new[] { ("ImageSize", imageSize), ("Patch", patch), ("Channels", channels), ("Dim", dim), ("Depth", depth), ("Heads", heads) })
            {
                if (value <= 0)
                {
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.NonPositiveSize, values.Location(name), name, value));
                    sizesValid = false;
                }
            }
            foreach (var (name, value, meaning) in new[] { ("MlpDim", mlpDim, "4·Dim"), ("Classes", classes, "no head"), ("RepresentationSize", representation, "no pre-logits layer"), ("HeadDim", headDim, "Dim / Heads") })
            {
                if (value < 0)
                {
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.NegativeOptionalSize, values.Location(name), name, value, meaning));
                    sizesValid = false;
                }
            }
            if (dim > 0 && heads > 0 && headDim == 0 && dim % heads != 0)
            {
                int below = dim / heads * heads, above = below + heads;
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DimNotDivisibleByHeads,
                    values.Location("Dim", "Heads"), dim, heads, below > 0 ? below : above, below > 0 ? above : above + heads));
                sizesValid = false;
            }
            if (imageSize > 0 && patch > 0 && imageSize % patch != 0)
            {
                long below = (long)imageSize / patch * patch, above = below + patch;
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ImageNotDivisibleByPatch,
                    values.Location("ImageSize", "Patch"), imageSize, patch, below > 0 ? below : above, below > 0 ? above : above + patch));
                sizesValid = false;
            }
            foreach (var (name, rate) in new[] { ("Dropout", dropout), ("AttentionDropout", attentionDropout), ("DropPath", dropPath) })
            {
                if (!(rate >= 0 && rate < 1))
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.RateOutOfRange, values.Location(name), name, Format(rate)));
            }
            if (!(layerScale >= 0) || double.IsInfinity(layerScale))
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidLayerScale, values.Location("LayerScale"), Format(layerScale)));
            if (!(epsilon > 0) || double.IsInfinity(epsilon))
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidEpsilon, values.Location("LayerNormEpsilon"), Format(epsilon)));
            if (pooling != 0 && pooling != 1)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnknownPooling, values.Location("Pooling"), pooling));

            if (mlpDim == 0) mlpDim = checked(dim > int.MaxValue / 4 ? int.MaxValue : 4 * dim);

            // Sizes whose element counts must stay indexable. Estimated in double, so no overflow.
            if (sizesValid)
            {
                var estimate = SizeEstimate.Of(new ModelSpec("", "", EquatableArray<string>.Empty, imageSize, patch, channels, dim, depth, heads,
                    mlpDim, classes, qkvBias, pooling == 1 ? 1 : 0, representation, epsilon, dropout, attentionDropout, dropPath, headDim, layerScale));
                if (estimate.Parameters > int.MaxValue)
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.TooLarge, values.Location("Dim", "Depth"),
                        "parameter count", Grouped(estimate.Parameters), Grouped(int.MaxValue), "Dim, Depth, MlpDim or Classes"));
                else if (estimate.ActivationsPerImage > int.MaxValue)
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.TooLarge, values.Location("ImageSize", "Patch"),
                        "activation count per image", Grouped(estimate.ActivationsPerImage), Grouped(int.MaxValue), "ImageSize (or raise Patch), Dim, Depth or MlpDim"));
            }

            var spec = diagnostics.Count > 0 ? null : new ModelSpec(
                Namespace: type.ContainingNamespace.IsGlobalNamespace ? "" : type.ContainingNamespace.ToDisplayString(),
                TypeName: type.Name,
                ContainingTypes: new EquatableArray<string>(containing.ToArray()),
                ImageSize: imageSize, Patch: patch, Channels: channels, Dim: dim, Depth: depth, Heads: heads,
                MlpDim: mlpDim, Classes: classes, QkvBias: qkvBias, Pooling: pooling, RepresentationSize: representation,
                LayerNormEpsilon: epsilon, Dropout: dropout, AttentionDropout: attentionDropout, DropPath: dropPath,
                HeadDim: headDim, LayerScale: layerScale);
            return new ParseResult(spec, new EquatableArray<DiagnosticInfo>(diagnostics.ToArray()));
        }

        private static string Grouped(double value) => value.ToString("N0", CultureInfo.InvariantCulture);

        private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

        private static string Keyword(INamedTypeSymbol type) => type switch
        {
            { IsRecord: true, TypeKind: TypeKind.Struct } => "partial record struct",
            { IsRecord: true } => "partial record",
            { TypeKind: TypeKind.Struct } => "partial struct",
            { TypeKind: TypeKind.Interface } => "partial interface",
            _ => "partial class",
        };

        /// <summary>Reads named arguments and finds the syntax of each, to place diagnostics on it.</summary>
        private sealed class AttributeValues
        {
            private readonly AttributeData _attribute;
            private readonly AttributeSyntax? _syntax;

            public AttributeValues(AttributeData attribute, AttributeSyntax? syntax)
            {
                _attribute = attribute;
                _syntax = syntax;
            }

            private TypedConstant? Find(string name)
            {
                foreach (var pair in _attribute.NamedArguments)
                    if (pair.Key == name) return pair.Value;
                return null;
            }

            public int Int(string name, int fallback) => Find(name)?.Value is { } v ? Convert.ToInt32(v, CultureInfo.InvariantCulture) : fallback;

            public bool Bool(string name, bool fallback) => Find(name)?.Value is bool b ? b : fallback;

            public double Double(string name, double fallback) => Find(name)?.Value is { } v ? Convert.ToDouble(v, CultureInfo.InvariantCulture) : fallback;

            /// <summary>The first of the named arguments that is present, else the attribute itself.</summary>
            public Location? Location(params string[] names)
            {
                if (_syntax?.ArgumentList is { } list)
                {
                    foreach (var name in names)
                        foreach (var argument in list.Arguments)
                            if (argument.NameEquals?.Name.Identifier.ValueText == name)
                                return argument.GetLocation();
                }
                return _syntax?.GetLocation();
            }
        }
    }

    /// <summary>
    /// The parameter buffer and the training activations per image (alignment padding included),
    /// in double precision so that no size overflows, derived from the same step list as the plan:
    /// <see cref="Architecture"/> records the stem, one block (the last, so every optional tensor
    /// of a block is there) and the head, and the block's share is counted <c>Depth</c> times.
    /// The planner computes the exact values in long arithmetic, which could overflow for absurd
    /// sizes, so this decides VIT0010 first; a test checks it never falls below the plan.
    /// </summary>
    internal readonly struct SizeEstimate
    {
        public double Parameters { get; }
        public double ActivationsPerImage { get; }

        private SizeEstimate(double parameters, double activations)
        {
            Parameters = parameters;
            ActivationsPerImage = activations;
        }

        public static SizeEstimate Of(ModelSpec s)
        {
            double grid = Math.Floor((double)s.ImageSize / s.Patch), tokens = grid * grid + 1;
            double patchVector = (double)s.Channels * s.Patch * s.Patch;
            double headDim = s.HeadDim > 0 ? s.HeadDim : Math.Floor((double)s.Dim / s.Heads);
            // Shapes the steps hold as ints: when one of them does not fit, the model is far too
            // large already (pos_embed alone has T·D values, and x is (T, D) per image).
            if (tokens > int.MaxValue || patchVector > int.MaxValue || 3 * s.Heads * headDim > int.MaxValue || s.MlpDim > int.MaxValue - 64)
                return new SizeEstimate(tokens * s.Dim, tokens * s.Dim);
            var b = new PlanBuilder(s);
            var x = Architecture.Stem(b, (int)tokens, (int)(grid * grid), (int)patchVector);
            double p0 = b.ParameterFloats, a0 = b.SavedFloats;
            x = Architecture.Block(b, s.Depth - 1, x, (int)tokens, (int)headDim, Planner.HiddenStride(s.MlpDim));
            double blockParameters = b.ParameterFloats - p0, blockActivations = b.SavedFloats - a0;
            Architecture.Head(b, x);
            return new SizeEstimate(b.ParameterFloats + (s.Depth - 1) * blockParameters,
                b.SavedFloats + (s.Depth - 1) * blockActivations + b.ScratchFloats);
        }
    }
}
