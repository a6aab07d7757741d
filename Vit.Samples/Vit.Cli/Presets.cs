using Vit;

namespace Vit.Cli;

// The preset models: timm's vit_* factories (224, 1000 classes) and the CIFAR model that
// ../shared/bench/torch_vit.py calls `cifar`. Each is a class compiled by Vit.Generator.

[VisionTransformer(Patch = 16, Dim = 192, Depth = 12, Heads = 3)] public partial class VitTi16;
[VisionTransformer(Patch = 16, Dim = 384, Depth = 12, Heads = 6)] public partial class VitS16;
[VisionTransformer(Patch = 16, Dim = 768, Depth = 12, Heads = 12)] public partial class VitB16;
[VisionTransformer(Patch = 32, Dim = 768, Depth = 12, Heads = 12)] public partial class VitB32;
[VisionTransformer(Patch = 16, Dim = 1024, Depth = 24, Heads = 16)] public partial class VitL16;
[VisionTransformer(Patch = 32, Dim = 1024, Depth = 24, Heads = 16)] public partial class VitL32;
[VisionTransformer(Patch = 14, Dim = 1280, Depth = 32, Heads = 16)] public partial class VitH14;
[VisionTransformer(ImageSize = 32, Patch = 4, Dim = 192, Depth = 6, Heads = 3, MlpDim = 768, Classes = 10)] public partial class CifarVit;

/// <summary>A preset: its name, its static description, and how to create an instance.</summary>
public sealed record Preset(string Name, string Description, VisionTransformerConfig Config, ModelSummary Summary,
    IReadOnlyList<ParameterInfo> Parameters, Func<int, int, Vit.Backends.Backend, IVisionTransformer> Create)
{
    public static IReadOnlyList<Preset> All { get; } =
    [
        new("ti16", "ViT-Ti/16 (timm vit_tiny_patch16_224)", VitTi16.Config, VitTi16.Summary, VitTi16.Parameters, (s, b, be) => new VitTi16(s, b, be)),
        new("s16", "ViT-S/16 (timm vit_small_patch16_224)", VitS16.Config, VitS16.Summary, VitS16.Parameters, (s, b, be) => new VitS16(s, b, be)),
        new("b16", "ViT-B/16 (timm vit_base_patch16_224)", VitB16.Config, VitB16.Summary, VitB16.Parameters, (s, b, be) => new VitB16(s, b, be)),
        new("b32", "ViT-B/32 (timm vit_base_patch32_224)", VitB32.Config, VitB32.Summary, VitB32.Parameters, (s, b, be) => new VitB32(s, b, be)),
        new("l16", "ViT-L/16 (timm vit_large_patch16_224)", VitL16.Config, VitL16.Summary, VitL16.Parameters, (s, b, be) => new VitL16(s, b, be)),
        new("l32", "ViT-L/32 (timm vit_large_patch32_224)", VitL32.Config, VitL32.Summary, VitL32.Parameters, (s, b, be) => new VitL32(s, b, be)),
        new("h14", "ViT-H/14 (timm vit_huge_patch14_224)", VitH14.Config, VitH14.Summary, VitH14.Parameters, (s, b, be) => new VitH14(s, b, be)),
        new("cifar", "CIFAR ViT: 32/4, 192x6, 3 heads, 10 classes (torch_vit.py cifar)", CifarVit.Config, CifarVit.Summary, CifarVit.Parameters, (s, b, be) => new CifarVit(s, b, be)),
    ];

    /// <summary>
    /// The preset whose attribute values match a weights file's <c>__metadata__</c>, so that
    /// <c>--model</c> is optional for files this tool (or any Vit.Compiler model) saved.
    /// </summary>
    public static Preset FromMetadata(string path, IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.ContainsKey("Dim"))
            throw new UsageException($"'{path}' does not say which model it belongs to (no attribute values in its metadata); pass --model");
        foreach (var p in All)
        {
            try
            {
                Vit.Training.Checkpoint.CheckConfig(path, metadata, p.Config);
                return p;
            }
            catch (InvalidDataException)
            {
            }
        }
        string Get(string k) => metadata.TryGetValue(k, out var v) ? v : "?";
        throw new InvalidDataException(
            $"'{path}' is for a model (ImageSize {Get("ImageSize")}, Patch {Get("Patch")}, Dim {Get("Dim")}, Depth {Get("Depth")}, Heads {Get("Heads")}, Classes {Get("Classes")}) that vit does not have compiled; presets are {string.Join(", ", All.Select(p => p.Name))}. Annotate a class with those values in your own project to use it.");
    }

    public static Preset Find(string name) =>
        All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new UsageException($"unknown model '{name}'; presets are: {string.Join(", ", All.Select(p => p.Name))}");
}
