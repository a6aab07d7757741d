namespace Vit.Generator;

/// <summary>Names of the pipeline steps, asserted by the incrementality tests.</summary>
internal static class TrackingNames
{
    public const string Parse = nameof(Parse);
    public const string Spec = nameof(Spec);
    public const string Plan = nameof(Plan);
    public const string Diagnostics = nameof(Diagnostics);
}
