using System.Text.RegularExpressions;

namespace Vit.IO;

/// <summary>The naming a weights file uses, found from its tensor names.</summary>
public enum WeightFormat
{
    /// <summary>timm's names (<c>blocks.0.attn.qkv.weight</c>), the model's own: loaded as they are.</summary>
    Timm,

    /// <summary>torchvision's <c>vit_b_16</c>-style state_dict (<c>encoder.layers.encoder_layer_0.self_attention.in_proj_weight</c>).</summary>
    Torchvision,

    /// <summary>Hugging Face transformers' ViT (<c>vit.encoder.layer.0.attention.attention.query.weight</c>): query, key and value split.</summary>
    HuggingFace,

    /// <summary>Google's original JAX checkpoints (<c>.npz</c>, <c>Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel</c>): see <see cref="NpzWeights"/>.</summary>
    GoogleNpz,
}

/// <summary>A model parameter as stored in a file: its timm name and the file's tensors that hold it, stacked along the first axis.</summary>
/// <param name="Name">The timm name.</param>
/// <param name="Parts">The file's tensor names, in order (one, or query, key and value).</param>
public sealed record MappedTensor(string Name, IReadOnlyList<string> Parts);

/// <summary>
/// Maps torchvision and Hugging Face ViT weights onto timm's names, which the generated models
/// use. Only names change, and query, key and value are stacked into <c>qkv</c>: both libraries
/// store <c>nn.Linear</c> weights as (out, in), as timm does, and torchvision's
/// <c>in_proj_weight</c> is already [query; key; value] (torch.nn.MultiheadAttention), which is
/// timm's <c>qkv.weight</c>. Checked against torchvision's own forward pass on a fixture
/// (tools/make_torchvision_reference.py).
/// </summary>
public static partial class WeightConverter
{
    /// <summary>The naming of <paramref name="names"/>: torchvision by <c>conv_proj.weight</c>, Hugging Face by <c>embeddings.patch_embeddings.projection.weight</c>, else timm.</summary>
    public static WeightFormat Detect(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        foreach (string n in names)
        {
            if (n is "conv_proj.weight" or "class_token" || n.StartsWith("encoder.layers.encoder_layer_", StringComparison.Ordinal)) return WeightFormat.Torchvision;
            if (n.EndsWith("embeddings.patch_embeddings.projection.weight", StringComparison.Ordinal)) return WeightFormat.HuggingFace;
        }
        return WeightFormat.Timm;
    }

    /// <summary>
    /// Every tensor of <paramref name="file"/> under its timm name (training-state tensors left
    /// out). A name the format does not know keeps its own, so it shows up as unexpected.
    /// </summary>
    public static IReadOnlyList<MappedTensor> Map(SafeTensorsFile file, out WeightFormat format)
    {
        ArgumentNullException.ThrowIfNull(file);
        var names = file.Tensors.Select(t => t.Name).Where(n => !n.StartsWith(WeightFile.TrainingStatePrefix, StringComparison.Ordinal)).ToArray();
        format = Detect(names);
        var result = new List<MappedTensor>();
        var qkv = new SortedDictionary<string, string[]>(StringComparer.Ordinal); // timm name → query, key, value parts
        foreach (string n in names)
        {
            if (format == WeightFormat.HuggingFace && HfQkv().Match(n) is { Success: true } m)
            {
                string timm = $"blocks.{m.Groups[1].Value}.attn.qkv.{m.Groups[3].Value}";
                if (!qkv.TryGetValue(timm, out var parts)) qkv[timm] = parts = new string[3];
                parts[m.Groups[2].Value switch { "query" => 0, "key" => 1, _ => 2 }] = n;
                continue;
            }
            result.Add(new MappedTensor(format switch
            {
                WeightFormat.Torchvision => FromTorchvision(n),
                WeightFormat.HuggingFace => FromHuggingFace(n),
                _ => n,
            }, [n]));
        }
        foreach (var (timm, parts) in qkv)
        {
            if (parts.Any(p => p is null))
                throw new InvalidDataException($"'{file.Path}' has {string.Join(", ", parts.Where(p => p is not null))} but not all of query, key and value for {timm}.");
            result.Add(new MappedTensor(timm, parts));
        }
        return result;
    }

    /// <summary><see cref="Map"/> by timm name.</summary>
    /// <exception cref="InvalidDataException">Two of the file's tensors map to one timm name.</exception>
    public static Dictionary<string, MappedTensor> MapByName(SafeTensorsFile file, out WeightFormat format)
    {
        var byName = new Dictionary<string, MappedTensor>(StringComparer.Ordinal);
        foreach (var t in Map(file, out format))
            if (!byName.TryAdd(t.Name, t))
                throw new InvalidDataException($"'{file.Path}': {string.Join(" and ", byName[t.Name].Parts.Concat(t.Parts).Select(n => $"'{n}'"))} both map to '{t.Name}'.");
        return byName;
    }

    /// <summary>
    /// Writes <paramref name="input"/>'s weights to <paramref name="output"/> under timm's names as
    /// F32 safetensors (atomically), keeping the metadata; returns the input's format.
    /// </summary>
    /// <exception cref="InvalidDataException">The input is not readable weights, or two tensors map to one name.</exception>
    public static WeightFormat Convert(string input, string output)
    {
        if (NpzWeights.IsNpz(input))
        {
            NpzWeights.ToSafeTensors(input, output);
            return WeightFormat.GoogleNpz;
        }
        using var file = SafeTensorsFile.Open(input);
        var mapped = MapByName(file, out var format).Values;
        var writer = new SafeTensorsWriter();
        foreach (var (key, value) in file.Metadata) writer.Metadata[key] = value;
        writer.Metadata["converted_from"] = format.ToString();
        foreach (var t in mapped.OrderBy(t => t.Name, StringComparer.Ordinal))
            writer.Add(t.Name, ShapeOf(file, t), t.Parts.SelectMany(p => file.ReadSingles(p)).ToArray());
        writer.Write(output);
        return format;
    }

    /// <summary>The shape of a mapped tensor: its parts stacked along the first axis.</summary>
    public static long[] ShapeOf(SafeTensorsFile file, MappedTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(tensor);
        var first = file.GetTensor(tensor.Parts[0]).Shape;
        if (tensor.Parts.Count == 1 || first.Count == 0) return [.. first];
        return [tensor.Parts.Sum(p => file.GetTensor(p).Shape[0]), .. first.Skip(1)];
    }

    // torchvision's names (torchvision/models/vision_transformer.py), outside the blocks and per block.
    private static readonly Dictionary<string, string> TorchvisionTop = new(StringComparer.Ordinal)
    {
        ["class_token"] = "cls_token",
        ["conv_proj.weight"] = "patch_embed.proj.weight",
        ["conv_proj.bias"] = "patch_embed.proj.bias",
        ["encoder.pos_embedding"] = "pos_embed",
        ["encoder.ln.weight"] = "norm.weight",
        ["encoder.ln.bias"] = "norm.bias",
        ["heads.head.weight"] = "head.weight",
        ["heads.head.bias"] = "head.bias",
        ["heads.pre_logits.weight"] = "pre_logits.fc.weight",
        ["heads.pre_logits.bias"] = "pre_logits.fc.bias",
    };

    private static readonly Dictionary<string, string> TorchvisionModules = new(StringComparer.Ordinal)
    {
        ["ln_1"] = "norm1",
        ["ln_2"] = "norm2",
        ["self_attention.in_proj"] = "attn.qkv",
        ["self_attention.out_proj"] = "attn.proj",
        ["mlp.0"] = "mlp.fc1",
        ["mlp.linear_1"] = "mlp.fc1",
        ["mlp.3"] = "mlp.fc2",
        ["mlp.linear_2"] = "mlp.fc2",
    };

    // transformers' names (models/vit/modeling_vit.py), without the "vit." prefix of ViTForImageClassification.
    private static readonly Dictionary<string, string> HuggingFaceTop = new(StringComparer.Ordinal)
    {
        ["embeddings.cls_token"] = "cls_token",
        ["embeddings.position_embeddings"] = "pos_embed",
        ["embeddings.patch_embeddings.projection.weight"] = "patch_embed.proj.weight",
        ["embeddings.patch_embeddings.projection.bias"] = "patch_embed.proj.bias",
        ["layernorm.weight"] = "norm.weight",
        ["layernorm.bias"] = "norm.bias",
        ["pooler.dense.weight"] = "pre_logits.fc.weight",
        ["pooler.dense.bias"] = "pre_logits.fc.bias",
        ["classifier.weight"] = "head.weight",
        ["classifier.bias"] = "head.bias",
    };

    private static readonly Dictionary<string, string> HuggingFaceModules = new(StringComparer.Ordinal)
    {
        ["layernorm_before"] = "norm1",
        ["layernorm_after"] = "norm2",
        ["attention.output.dense"] = "attn.proj",
        ["intermediate.dense"] = "mlp.fc1",
        ["output.dense"] = "mlp.fc2",
    };

    // A name the naming does not know keeps its own, so that it shows up as unexpected.
    private static string FromTorchvision(string n) => Rename(n, TorchvisionTop, TorchvisionLayer(), TorchvisionModules) ?? n;

    private static string FromHuggingFace(string n) =>
        Rename(n.StartsWith("vit.", StringComparison.Ordinal) ? n[4..] : n, HuggingFaceTop, HfLayer(), HuggingFaceModules) ?? n;

    /// <summary>A name outside the blocks from <paramref name="top"/>; a block's (block, module, weight|bias) through <paramref name="modules"/>; null when neither knows it.</summary>
    private static string? Rename(string n, Dictionary<string, string> top, Regex layer, Dictionary<string, string> modules)
    {
        if (top.TryGetValue(n, out var timm)) return timm;
        var m = layer.Match(n);
        return m.Success && modules.TryGetValue(m.Groups[2].Value, out var module) ? $"blocks.{m.Groups[1].Value}.{module}.{m.Groups[3].Value}" : null;
    }

    // torchvision: encoder.layers.encoder_layer_{i}.{module}.{weight|bias}; in_proj_weight / in_proj_bias spelled without the dot.
    [GeneratedRegex(@"^encoder\.layers\.encoder_layer_(\d+)\.(ln_1|ln_2|self_attention\.in_proj|self_attention\.out_proj|mlp\.0|mlp\.3|mlp\.linear_1|mlp\.linear_2)[._](weight|bias)$")]
    private static partial Regex TorchvisionLayer();

    [GeneratedRegex(@"^encoder\.layer\.(\d+)\.(layernorm_before|layernorm_after|attention\.output\.dense|intermediate\.dense|output\.dense)\.(weight|bias)$")]
    private static partial Regex HfLayer();

    [GeneratedRegex(@"^(?:vit\.)?encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)$")]
    private static partial Regex HfQkv();
}
