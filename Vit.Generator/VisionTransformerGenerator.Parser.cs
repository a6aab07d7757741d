using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Vit.Generator.Model;

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
                var estimate = SizeEstimate.Of(imageSize, patch, channels, dim, depth, heads, mlpDim, classes, representation, headDim > 0 ? headDim : dim / (double)heads, layerScale > 0);
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
    /// Upper bounds, in double precision (no overflow for any int sizes), of the planner's
    /// parameter buffer and training activations per image, alignment padding included. The
    /// planner computes the exact values in long arithmetic, which could overflow for absurd
    /// sizes, so this bound decides VIT0010 first; a test checks it never falls below the plan.
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

        public static SizeEstimate Of(double image, double patch, double channels, double dim, double depth, double heads, double mlp, double classes, double representation, double headDim = 0, bool layerScale = false)
        {
            if (headDim <= 0) headDim = dim / heads;
            double inner = Math.Max(dim, heads * headDim);
            double grid = Math.Floor(image / patch), tokens = grid * grid + 1, patchVector = channels * patch * patch;
            double T = tokens, D = dim, M = mlp, H = heads, R = representation, K = classes, A = heads * headDim;
            double padding = Planner.AlignFloats - 1;

            // Parameters: the exact count (attention inner width A = Heads·HeadDim, two LayerScale
            // gammas counted), plus padding after each of at most 14 per block + 10 others.
            double block = 4 * D + 3 * A * D + 3 * A + A * D + D + 2 * D * M + M + D + (layerScale ? 2 * D : 0);
            double features = R > 0 ? R : D;
            double parameters = D + T * D + D * patchVector + D + depth * block + 2 * D
                + (R > 0 ? R * D + R : 0) + (K > 0 ? K * features + K : 0)
                + padding * ((layerScale ? 14 : 12) * depth + 10);

            // Training activations with every optional tensor (dropout masks, drop-path scales):
            // per block 6 (T, D) tensors (2 more with LayerScale, its saved inputs), 4 (T, A)
            // (qkv counts 3), 3 (T, M) (one with rows padded by up to 32 floats, see
            // Planner.HiddenStride), 2 (H, T, T), 4 (T) and 2 scalars; before the blocks the
            // patches and 2 (T, D); after them the head tensors and the backward scratch.
            double perBlock = (layerScale ? 8 : 6) * T * D + 4 * T * A + 3 * T * M + 32 * T + 2 * H * T * T + 4 * T + 2;
            double head = 2 * D + 2 + 2 * R + 3 * K + 2 * D;
            double scratch = 3 * T * D + T * A + T * Math.Max(3 * A, M) + H * T * T;
            double tensors = 3 + 22 * depth + 20;
            double activations = T * patchVector + 2 * T * D + depth * perBlock + head + scratch + padding * tensors;
            return new SizeEstimate(parameters, activations);
        }
    }
}
