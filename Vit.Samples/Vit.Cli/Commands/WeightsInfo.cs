using System.Globalization;
using System.Text.Json;
using Vit.Data;
using Vit.IO;
using Vit.Training;

namespace Vit.Cli;

/// <summary>What a weights file or checkpoint says about itself: its model, class names and normalization.</summary>
public sealed record WeightsInfo(string Path, Preset Preset, IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>Reads the metadata of <paramref name="path"/> and picks the preset: <paramref name="model"/>, or the one the metadata describes.</summary>
    public static WeightsInfo Read(string path, string? model)
    {
        InputPath.RequireFile(path, "weights file", $"the weights file '{path}' does not exist");
        IReadOnlyDictionary<string, string> metadata;
        using (var file = SafeTensorsFile.Open(path)) metadata = file.Metadata;
        var preset = model is not null ? Preset.Find(model) : Preset.FromMetadata(path, metadata);
        return new WeightsInfo(path, preset, metadata);
    }

    /// <summary>Creates the model and loads the weights (shape mismatches name the tensor and both shapes).</summary>
    public IVisionTransformer CreateModel(int batch, Vit.Backends.Backend backend)
    {
        var model = Preset.Create(0, batch, backend);
        try
        {
            model.LoadWeights(Path);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    /// <summary>
    /// The class names saved with the weights, or null when there are none. Names that are there
    /// but unusable are not an error (the weights are fine): one warning on stderr, then null.
    /// </summary>
    public IReadOnlyList<string>? ClassNames(int classes)
    {
        var names = ClassNamesFromMetadata(Metadata, classes, out string? problem);
        if (problem is not null)
            Console.Error.WriteLine($"vit: warning: '{Path}': {problem}; classes are shown by number");
        return names;
    }

    /// <summary>
    /// The <c>class_names</c> metadata: a JSON array of <paramref name="classes"/> non-empty strings.
    /// Null when it is absent (and <paramref name="problem"/> null) or invalid (and
    /// <paramref name="problem"/> says how).
    /// </summary>
    public static IReadOnlyList<string>? ClassNamesFromMetadata(IReadOnlyDictionary<string, string> metadata, int classes, out string? problem)
    {
        problem = null;
        if (!metadata.TryGetValue("class_names", out var json)) return null;
        string shown = json.Length > 60 ? json[..57] + "..." : json;
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Array)
                problem = $"metadata class_names must be a JSON array of {classes} names, found a {root.ValueKind.ToString().ToLowerInvariant()} ({shown})";
            else if (root.GetArrayLength() != classes)
                problem = $"metadata class_names holds {root.GetArrayLength()} names, but the model has {classes} classes";
            else
            {
                var names = new string[classes];
                int i = 0;
                foreach (var e in root.EnumerateArray())
                {
                    if (e.ValueKind != JsonValueKind.String || e.GetString()!.Trim().Length == 0)
                    {
                        problem = $"metadata class_names entry {i} is {(e.ValueKind == JsonValueKind.String ? "blank" : "a " + e.ValueKind.ToString().ToLowerInvariant())}; every name must be a non-empty string";
                        return null;
                    }
                    names[i++] = e.GetString()!;
                }
                return names;
            }
        }
        catch (JsonException)
        {
            problem = $"metadata class_names is not valid JSON ({shown})";
        }
        return null;
    }

    /// <summary>The normalization saved with the weights, or the usual one for the model's image size.</summary>
    public Normalization Normalization(ImageDataset? data = null) =>
        SavedNormalization(Metadata) ?? data?.DefaultNormalization
        ?? (Preset.Config.ImageSize == CifarDataset.Side ? Vit.Data.Normalization.Cifar10 : Vit.Data.Normalization.ImageNet);

    /// <summary>The normalization in weights' or a checkpoint's metadata (<c>normalization_mean</c>, <c>normalization_std</c>), or null.</summary>
    public static Normalization? SavedNormalization(IReadOnlyDictionary<string, string> metadata)
    {
        if (metadata.TryGetValue("normalization_mean", out var m) && metadata.TryGetValue("normalization_std", out var s))
        {
            var mean = Parse(m);
            var std = Parse(s);
            if (mean is { Length: 3 } && std is { Length: 3 })
                return new Normalization(mean[0], mean[1], mean[2], std[0], std[1], std[2]);
        }
        return null;
    }

    /// <summary>
    /// The classes the head serves: its first N outputs, N the number of saved class names (a run on
    /// k classes saves k, <see cref="Vit.Memory.ModelMemory.ActiveClasses"/>), or all of them.
    /// </summary>
    public int ActiveClasses => SavedClassNames(Metadata) is { Count: > 0 } names && names.Count <= Preset.Config.Classes ? names.Count : Preset.Config.Classes;

    /// <summary>The saved <c>class_names</c>, however many, or null when there are none or they are unusable.</summary>
    public static IReadOnlyList<string>? SavedClassNames(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue("class_names", out var json)) return null;
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.ValueKind == JsonValueKind.Array ? ClassNamesFromMetadata(metadata, doc.RootElement.GetArrayLength(), out _) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The transform recipe saved with the weights, or the model's usual one.</summary>
    public TransformRecipe Transforms =>
        Metadata.TryGetValue(Trainer.TransformsKey, out var t) && t is "cifar" or "imagenet" ? SampleTransform.ParseRecipe(t) : SampleTransform.DefaultRecipe(Preset.Config.ImageSize);

    private static float[]? Parse(string list)
    {
        var parts = list.Split(',');
        var values = new float[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!float.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i])) return null;
        return values;
    }

    /// <summary>
    /// Class names from a file: a JSON array of strings; the documents' <c>class_indices.json</c>, an
    /// object from index to name (<c>{"0": "daisy", "1": "dandelion"}</c>, indices 0 to N − 1); or
    /// one name per line (like batches.meta.txt).
    /// </summary>
    public static IReadOnlyList<string> ReadClassNames(string path)
    {
        string text = System.Text.Encoding.UTF8.GetString(InputPath.ReadAllBytes(path, "class-names file", $"the class-names file '{path}' does not exist", 1L << 20)).TrimStart('\uFEFF');
        if (text.TrimStart().StartsWith('{'))
        {
            try
            {
                using var doc = JsonDocument.Parse(text);
                var byIndex = new SortedDictionary<int, string>();
                foreach (var p in doc.RootElement.EnumerateObject())
                {
                    if (!int.TryParse(p.Name, NumberStyles.None, CultureInfo.InvariantCulture, out int index))
                        throw new InvalidDataException($"'{path}': the key \"{p.Name}\" is not a class index; expected an object like {{\"0\": \"daisy\", \"1\": \"dandelion\"}}");
                    if (p.Value.ValueKind != JsonValueKind.String)
                        throw new InvalidDataException($"'{path}': class {index} must be a JSON string, found {p.Value.ValueKind}");
                    if (!byIndex.TryAdd(index, p.Value.GetString()!))
                        throw new InvalidDataException($"'{path}': class index {index} appears twice");
                }
                for (int i = 0; i < byIndex.Count; i++)
                    if (!byIndex.ContainsKey(i))
                        throw new InvalidDataException($"'{path}': class indices must run from 0 to {byIndex.Count - 1}, but {i} is missing");
                return byIndex.Values.ToArray();
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"'{path}' is not valid JSON ({e.Message}); expected an object like {{\"0\": \"daisy\", \"1\": \"dandelion\"}}");
            }
        }
        if (text.TrimStart().StartsWith('['))
        {
            try
            {
                using var doc = JsonDocument.Parse(text);
                return doc.RootElement.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()!
                    : throw new InvalidDataException($"'{path}': every class name must be a JSON string, found {e.ValueKind}")).ToArray();
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"'{path}' is not valid JSON ({e.Message}); expected an array of class names like [\"airplane\", \"automobile\"]");
            }
        }
        return text.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
    }
}
