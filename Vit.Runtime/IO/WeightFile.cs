using Vit.Memory;

namespace Vit.IO;

/// <summary>
/// Model weights as safetensors: load (timm names, or torchvision's or Hugging Face's, mapped by
/// <see cref="WeightConverter"/>; validated against the model's parameter table before anything
/// is copied) and save (F32, timm names, atomically).
/// </summary>
public static unsafe class WeightFile
{
    /// <summary>
    /// Tensors whose names start with this prefix are training state (optimizer moments in a
    /// checkpoint), not weights: <see cref="Load(string, ParameterTable, TensorPtr)"/> skips them, so a checkpoint loads as weights.
    /// </summary>
    public const string TrainingStatePrefix = "optimizer.";

    /// <summary>
    /// Loads every parameter of <paramref name="table"/> from <paramref name="path"/> into the flat
    /// buffer at <paramref name="parameters"/>. The file must hold exactly the model's tensors with
    /// the model's shapes (plus, in a checkpoint, tensors under <see cref="TrainingStatePrefix"/>);
    /// otherwise nothing is copied and the error names every mismatch.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is malformed, its tensors do not fit the model, or one holds a NaN or an infinity (the first is named).</exception>
    public static void Load(string path, ParameterTable table, TensorPtr parameters) => Load(path, table, parameters, newHead: false);

    /// <summary>
    /// Loads as <see cref="Load(string, ParameterTable, TensorPtr)"/>; with <paramref name="newHead"/>,
    /// the classifier may differ, as when fine-tuning pretrained weights on other classes: every
    /// <c>head.*</c> and <c>pre_logits.*</c> tensor of the file that is missing from the model or has
    /// another shape is skipped, and the model's own (freshly initialized) ones are kept, as timm and
    /// the documents' train.py do (<c>del weights["head.weight"]</c>, then
    /// <c>load_state_dict(strict=False)</c>). Any other mismatch is still an error.
    /// </summary>
    /// <param name="path">The weights.</param>
    /// <param name="table">The model's parameters.</param>
    /// <param name="parameters">Where they live.</param>
    /// <param name="newHead">Skip <c>head.*</c> and <c>pre_logits.*</c> tensors that do not fit.</param>
    /// <param name="replaceHead">With <paramref name="newHead"/>: skip every <c>head.*</c> tensor, even one that fits (the file's classes are not the data's).</param>
    /// <returns>What was kept from the model's initialization (missing) and what of the file was skipped (unexpected).</returns>
    /// <exception cref="InvalidDataException">The file is malformed, a backbone tensor does not fit, or one holds a NaN or an infinity.</exception>
    public static WeightLoadReport Load(string path, ParameterTable table, TensorPtr parameters, bool newHead, bool replaceHead = false)
    {
        if (NpzWeights.IsNpz(path))
            return NpzWeights.WithSafeTensors(path, converted => Load(converted, table, parameters, newHead, replaceHead) with { Format = WeightFormat.GoogleNpz });
        using var file = SafeTensorsFile.Open(path);
        // torchvision and Hugging Face files are read under timm's names (WeightConverter).
        var mapped = WeightConverter.MapByName(file, out var format);
        string named = format == WeightFormat.Timm ? "" : $" (read as {format} weights)";
        var missing = new List<string>();
        var unexpected = new List<string>();
        var resampled = new List<string>();
        var keep = new HashSet<string>(StringComparer.Ordinal); // parameters not read from the file: the model's own values stay
        if (newHead)
        {
            static bool IsHead(string n) => n.StartsWith("head.", StringComparison.Ordinal) || n.StartsWith("pre_logits.", StringComparison.Ordinal);
            foreach (var t in mapped.Values.Where(t => IsHead(t.Name)).ToArray())
                if (!table.TryFind(t.Name, out var p) || !SameShape(p.Shape, WeightConverter.ShapeOf(file, t))
                    || (replaceHead && t.Name.StartsWith("head.", StringComparison.Ordinal)))
                {
                    unexpected.Add($"{t.Name} {Format(WeightConverter.ShapeOf(file, t))}");
                    mapped.Remove(t.Name);
                }
            foreach (var p in table.Parameters.Where(p => IsHead(p.Name) && !mapped.ContainsKey(p.Name)))
            {
                missing.Add($"{p.Name} {p.ShapeText}");
                keep.Add(p.Name);
            }
        }
        // Fine-tuning at another resolution: a pos_embed for another square grid is resampled (timm's resample_abs_pos_embed).
        float[]? resampledPos = null;
        if (newHead && table.TryFind("pos_embed", out var pos) && mapped.TryGetValue("pos_embed", out var filePos))
        {
            var shape = WeightConverter.ShapeOf(file, filePos);
            int dim = pos.Shape[^1], tokens = pos.Shape[1];
            int oldSide = shape.Length == 3 ? (int)Math.Round(Math.Sqrt(shape[1] - 1)) : 0, newSide = (int)Math.Round(Math.Sqrt(tokens - 1));
            if (shape.Length == 3 && shape[2] == dim && shape[1] != tokens && oldSide * oldSide == shape[1] - 1 && newSide * newSide == tokens - 1)
            {
                resampledPos = PositionEmbeddingResampler.Resample(file.ReadSingles(filePos.Parts[0]), 1, oldSide, newSide, dim);
                resampled.Add($"pos_embed {Format(shape)} → {pos.ShapeText} (grid {oldSide}×{oldSide} → {newSide}×{newSide}, bicubic)");
                keep.Add("pos_embed"); // written from the resampled copy below
            }
        }
        var problems = new List<string>();
        foreach (var p in table.Parameters)
        {
            if (keep.Contains(p.Name)) continue;
            if (!mapped.TryGetValue(p.Name, out var t))
            {
                problems.Add($"tensor '{p.Name}' is missing (expected shape {p.ShapeText})");
                continue;
            }
            var shape = WeightConverter.ShapeOf(file, t);
            if (!SameShape(p.Shape, shape))
                problems.Add($"tensor {Describe(t)} has shape {Format(shape)} in the file, but the model expects {p.ShapeText}");
            else if (t.Parts.Select(file.GetTensor).FirstOrDefault(x => x.DType is not (SafeTensorDType.F32 or SafeTensorDType.F64 or SafeTensorDType.F16 or SafeTensorDType.BF16)) is { } bad)
                problems.Add($"tensor '{bad.Name}' has dtype {bad.DType.GetName()}, but weights must be floating point (F32, F64, F16 or BF16)");
        }
        foreach (var t in mapped.Values)
        {
            if (!table.TryFind(t.Name, out _))
                problems.Add($"tensor {Describe(t)} {Format(WeightConverter.ShapeOf(file, t))} is not a parameter of {table.ModelName}");
        }
        if (problems.Count > 0)
        {
            const int shown = 8;
            string more = problems.Count > shown ? $"; and {problems.Count - shown} more" : "";
            throw new InvalidDataException(
                $"'{path}'{named} does not fit {table.ModelName}: {string.Join("; ", problems.Take(shown))}{more}.");
        }
        // Non-finite weights would make every output NaN. Every tensor is checked before anything
        // is copied (each is read twice, at load only), so a bad file leaves the parameters as they were.
        if (FindNonFinite(file, table, mapped) is var (name, index, value))
            throw new InvalidDataException(
                $"'{path}': tensor '{name}' holds a non-finite value ({value.ToString(System.Globalization.CultureInfo.InvariantCulture)}) at element {index}; weights must be finite numbers");
        if (resampledPos is not null)
        {
            if (resampledPos.Any(v => !float.IsFinite(v)))
                throw new InvalidDataException($"'{path}': tensor 'pos_embed' holds a non-finite value; weights must be finite numbers");
            table.TryFind("pos_embed", out var pe);
            resampledPos.CopyTo(new Span<float>((parameters + pe!.Offset).Pointer, resampledPos.Length));
        }
        foreach (var p in table.Parameters)
        {
            if (keep.Contains(p.Name)) continue; // the model's own initialization stays, or pos_embed was resampled
            long at = p.Offset;
            foreach (string part in mapped[p.Name].Parts)
            {
                long n = file.GetTensor(part).ElementCount;
                file.ReadSingles(part, parameters + at, n);
                at += n;
            }
        }
        return new WeightLoadReport(format, missing, unexpected, resampled);
    }

    /// <summary>A tensor's name in quotes, and the file's names when they differ: <c>'qkv' (from 'in_proj_weight')</c>.</summary>
    private static string Describe(MappedTensor t) =>
        t.Parts.Count == 1 && t.Parts[0] == t.Name ? $"'{t.Name}'" : $"'{t.Name}' (from '{string.Join("' + '", t.Parts)}')";

    /// <summary>
    /// The first parameter of <paramref name="table"/> in <paramref name="file"/> that holds a NaN or
    /// an infinity, with the element and its value; null when every one present is finite. Reads
    /// each tensor through one scratch buffer.
    /// </summary>
    public static (string Name, long Index, float Value)? FindNonFinite(SafeTensorsFile file, ParameterTable table)
    {
        ArgumentNullException.ThrowIfNull(file);
        return FindNonFinite(file, table, WeightConverter.MapByName(file, out _));
    }

    private static (string Name, long Index, float Value)? FindNonFinite(SafeTensorsFile file, ParameterTable table, Dictionary<string, MappedTensor> mapped)
    {
        ArgumentNullException.ThrowIfNull(table);
        using var scratch = new NativeBuffer(table.Parameters.Max(p => p.Length));
        float* x = scratch.Start.Pointer;
        foreach (var p in table.Parameters)
        {
            if (!mapped.TryGetValue(p.Name, out var t)) continue;
            foreach (string part in t.Parts)
            {
                var info = file.GetTensor(part);
                if (info.ElementCount > p.Length) continue; // a shape mismatch, reported by Load
                file.ReadSingles(part, scratch.Start, info.ElementCount);
                for (long i = 0; i < info.ElementCount; i++)
                    if (!float.IsFinite(x[i])) return (part, i, x[i]);
            }
        }
        return null;
    }

    /// <summary>
    /// Saves every parameter to <paramref name="path"/> as F32 with timm names, in timm order, with
    /// <paramref name="metadata"/> in the header. Written to a temporary file and renamed, so an
    /// existing file is replaced only by a complete one.
    /// </summary>
    public static void Save(string path, ParameterTable table, TensorPtr parameters, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var writer = new SafeTensorsWriter();
        if (metadata is not null)
            foreach (var (key, value) in metadata) writer.Metadata[key] = value;
        foreach (var p in table.Parameters)
            writer.Add(p.Name, p.Shape.Select(d => (long)d).ToArray(), parameters + p.Offset);
        writer.Write(path);
    }

    /// <summary>
    /// The metadata of a weights file: the model's attribute values (<see cref="VisionTransformerConfig.ToMetadata"/>)
    /// plus <paramref name="extra"/> entries such as <c>class_names</c>; the attribute values win on a clash.
    /// </summary>
    public static Dictionary<string, string> Metadata(VisionTransformerConfig config, IReadOnlyDictionary<string, string>? extra)
    {
        var all = new Dictionary<string, string>(StringComparer.Ordinal);
        if (extra is not null)
            foreach (var (key, value) in extra) all[key] = value;
        foreach (var (key, value) in config.ToMetadata()) all[key] = value;
        return all;
    }

    /// <summary>A shape as PyTorch prints it: (1, 197, 768).</summary>
    private static string Format(IReadOnlyList<long> shape) => "(" + string.Join(", ", shape) + ")";

    private static bool SameShape(IReadOnlyList<int> expected, IReadOnlyList<long> found)
    {
        if (expected.Count != found.Count) return false;
        for (int i = 0; i < expected.Count; i++)
            if (expected[i] != found[i]) return false;
        return true;
    }
}

/// <summary>What <see cref="WeightFile.Load(string, ParameterTable, TensorPtr, bool, bool)"/> did, as PyTorch's <c>load_state_dict(strict=False)</c> reports it.</summary>
/// <param name="Format">The file's naming.</param>
/// <param name="Missing">The model's parameters the file did not give (they keep their initialization): name and shape.</param>
/// <param name="Unexpected">The file's tensors the model did not take: name and shape.</param>
/// <param name="Resampled">Tensors resampled to the model's shape (<c>pos_embed</c> for another patch grid).</param>
public sealed record WeightLoadReport(WeightFormat Format, IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected, IReadOnlyList<string> Resampled);
