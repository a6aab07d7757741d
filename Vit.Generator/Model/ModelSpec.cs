namespace Vit.Generator.Model;

/// <summary>
/// What the parser read from one <c>[VisionTransformer]</c> class: where the class lives and the
/// attribute's values, with defaults applied (MlpDim 0 resolved to 4·Dim; HeadDim 0 means Dim / Heads). Valid by construction:
/// invalid attributes produce diagnostics and no spec.
/// </summary>
/// <remarks>
/// Structurally equatable and free of <c>ISymbol</c>/<c>Compilation</c>: the incremental pipeline
/// caches on it, so a symbol here would silently break caching (a test walks this graph).
/// </remarks>
internal sealed record ModelSpec(
    string Namespace,
    string TypeName,
    EquatableArray<string> ContainingTypes,
    int ImageSize,
    int Patch,
    int Channels,
    int Dim,
    int Depth,
    int Heads,
    int MlpDim,
    int Classes,
    bool QkvBias,
    int Pooling,
    int RepresentationSize,
    double LayerNormEpsilon,
    double Dropout,
    double AttentionDropout,
    double DropPath,
    int HeadDim,
    double LayerScale)
{
    /// <summary>The type's full name without <c>global::</c>, used in hint names.</summary>
    public string FullName
    {
        get
        {
            var prefix = Namespace.Length > 0 ? Namespace + "." : "";
            foreach (var containing in ContainingTypes)
                prefix += containing.Substring(containing.LastIndexOf(' ') + 1) + ".";
            return prefix + TypeName;
        }
    }
}

/// <summary>The parser's result for one annotated class: a spec when valid, and the diagnostics.</summary>
/// <remarks>Structurally equatable: required for incremental caching.</remarks>
internal sealed record ParseResult(ModelSpec? Spec, EquatableArray<DiagnosticInfo> Diagnostics);
