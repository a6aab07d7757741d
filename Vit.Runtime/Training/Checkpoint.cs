using System.Globalization;
using System.Text.Json;
using Vit.IO;
using Vit.Numerics;

namespace Vit.Training;

/// <summary>Where a training run stands: what a checkpoint needs besides weights and optimizer state.</summary>
/// <param name="Epoch">The 0-based epoch in progress (equal to the epoch count when the run is finished).</param>
/// <param name="NextBatch">The next batch index within <paramref name="Epoch"/>; 0 at an epoch boundary.</param>
/// <param name="Step">Optimizer steps taken.</param>
/// <param name="EpochLossSum">Sum of per-image training losses so far in this epoch.</param>
/// <param name="EpochCorrect">Correct training predictions so far in this epoch.</param>
/// <param name="EpochSeen">Training images so far in this epoch.</param>
public sealed record TrainingProgress(int Epoch, int NextBatch, long Step, double EpochLossSum, long EpochCorrect, long EpochSeen)
{
    /// <summary>The start of a run.</summary>
    public static TrainingProgress Start { get; } = new(0, 0, 0, 0, 0, 0);
}

/// <summary>What <see cref="Checkpoint.Load"/> read besides the tensors.</summary>
/// <param name="Progress">Where the run stands.</param>
/// <param name="Metadata">Every <c>__metadata__</c> entry (the model's attribute values, the recipe, …).</param>
public sealed record CheckpointInfo(TrainingProgress Progress, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// A training checkpoint: one safetensors file with the weights under their timm names, the
/// optimizer state under <c>optimizer.{exp_avg|exp_avg_sq|momentum_buffer}.{timm name}</c>, and in
/// <c>__metadata__</c> the model's attribute values, the optimizer, the progress (epoch, batch,
/// step, the epoch's running sums) and the dropout RNG state. Written through a temporary file and
/// a rename, so a failed save never replaces a good checkpoint. Because the optimizer tensors
/// carry <see cref="WeightFile.TrainingStatePrefix"/>, <c>LoadWeights</c> accepts a checkpoint too.
/// </summary>
public static class Checkpoint
{
    /// <summary>The <c>format</c> metadata value that marks a checkpoint.</summary>
    public const string Format = "vit-checkpoint/1";

    /// <summary>The metadata key of a data-parallel run's rank count (absent: one process).</summary>
    public const string RanksKey = "ranks";

    /// <summary>The metadata key of data-parallel rank <paramref name="rank"/>'s dropout stream (rank 0's is <c>dropout_rng</c>).</summary>
    public static string DropoutRngKey(int rank) => rank == 0 ? "dropout_rng" : $"dropout_rng.{rank.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Reads a dropout stream written as 4 comma-separated hex words.</summary>
    /// <exception cref="InvalidDataException">The value is not 4 hex words.</exception>
    public static Rng ParseRng(string path, string key, string value)
    {
        var words = value.Split(',');
        if (words.Length != 4 || !words.All(w => ulong.TryParse(w, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out _)))
            throw new InvalidDataException($"'{path}': {key} must be 4 comma-separated hex words, found '{value}'.");
        var st = words.Select(w => ulong.Parse(w, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToArray();
        return Rng.FromState((st[0], st[1], st[2], st[3]));
    }

    /// <summary>Saves <paramref name="model"/>, <paramref name="optimizer"/> and <paramref name="progress"/> atomically.</summary>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="model">The model (its weights and dropout RNG).</param>
    /// <param name="optimizer">The optimizer (its state buffers and step count).</param>
    /// <param name="progress">Where the run stands.</param>
    /// <param name="extra">More metadata (class names, the recipe); keys must not clash with the reserved ones.</param>
    public static void Save(string path, IVisionTransformer model, Optimizer optimizer, TrainingProgress progress,
        IReadOnlyDictionary<string, string>? extra = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        var c = CultureInfo.InvariantCulture;
        var writer = new SafeTensorsWriter();
        if (extra is not null)
            foreach (var (key, value) in extra) writer.Metadata[key] = value;
        foreach (var (key, value) in model.Config.ToMetadata()) writer.Metadata[key] = value;
        var rng = model.DropoutRng.State;
        writer.Metadata["format"] = Format;
        writer.Metadata["optimizer"] = optimizer.Name;
        writer.Metadata["optimizer_steps"] = optimizer.Steps.ToString(c);
        writer.Metadata["epoch"] = progress.Epoch.ToString(c);
        writer.Metadata["next_batch"] = progress.NextBatch.ToString(c);
        writer.Metadata["step"] = progress.Step.ToString(c);
        writer.Metadata["epoch_loss_sum"] = progress.EpochLossSum.ToString("R", c);
        writer.Metadata["epoch_correct"] = progress.EpochCorrect.ToString(c);
        writer.Metadata["epoch_seen"] = progress.EpochSeen.ToString(c);
        writer.Metadata["dropout_rng"] = string.Join(",", new[] { rng.Item1, rng.Item2, rng.Item3, rng.Item4 }.Select(x => x.ToString("x16", c)));

        var memory = model.Memory;
        foreach (var p in memory.Table.Parameters)
            writer.Add(p.Name, Shape(p), memory.Parameters.Start + p.Offset);
        for (int s = 0; s < optimizer.StateNames.Count; s++)
            foreach (var p in optimizer.Trained)
                writer.Add($"{WeightFile.TrainingStatePrefix}{optimizer.StateNames[s]}.{p.Name}", Shape(p), optimizer.StateOf(s, p));
        writer.Write(path);
    }

    /// <summary>
    /// Restores weights, optimizer state, optimizer step count and dropout RNG from a checkpoint
    /// written by <see cref="Save"/>. Everything is validated before anything is changed.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a checkpoint of this model and optimizer.</exception>
    public static CheckpointInfo Load(string path, IVisionTransformer model, Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        model.Memory.ParametersChanged();
        TrainingProgress progress;
        Rng rng;
        IReadOnlyDictionary<string, string> metadata;
        using (var file = SafeTensorsFile.Open(path))
        {
            metadata = file.Metadata;
            string Get(string key) => file.Metadata.TryGetValue(key, out var v) ? v
                : throw new InvalidDataException($"'{path}' is not a training checkpoint: its metadata has no '{key}' (a weights-only file cannot be resumed; start a new run with it instead).");
            if (Get("format") != Format)
                throw new InvalidDataException($"'{path}' has checkpoint format '{Get("format")}', expected '{Format}'.");
            CheckConfig(path, file.Metadata, model.Config);
            if (Get("optimizer") != optimizer.Name)
                throw new InvalidDataException($"'{path}' was trained with optimizer '{Get("optimizer")}', but this run uses '{optimizer.Name}'; resume with --optimizer {Get("optimizer")}.");
            progress = new TrainingProgress(
                ParseInt(path, "epoch", Get("epoch")), ParseInt(path, "next_batch", Get("next_batch")), ParseLong(path, "step", Get("step")),
                ParseDouble(path, "epoch_loss_sum", Get("epoch_loss_sum")), ParseLong(path, "epoch_correct", Get("epoch_correct")),
                ParseLong(path, "epoch_seen", Get("epoch_seen")));
            long optimizerSteps = ParseLong(path, "optimizer_steps", Get("optimizer_steps"));
            rng = ParseRng(path, "dropout_rng", Get("dropout_rng"));

            var problems = new List<string>();
            for (int s = 0; s < optimizer.StateNames.Count; s++)
                foreach (var p in optimizer.Trained)
                {
                    string name = $"{WeightFile.TrainingStatePrefix}{optimizer.StateNames[s]}.{p.Name}";
                    if (!file.TryGetTensor(name, out var t)) problems.Add($"tensor '{name}' is missing");
                    else if (t.ElementCount != p.Length) problems.Add($"tensor '{name}' has {t.ElementCount} values, expected {p.Length} ({p.ShapeText})");
                }
            if (problems.Count > 0)
                throw new InvalidDataException($"'{path}' does not hold this run's optimizer state (was it trained with --freeze, or with another optimizer?): {string.Join("; ", problems.Take(6))}{(problems.Count > 6 ? $"; and {problems.Count - 6} more" : "")}.");

            // Validated: now change things. Weights first (WeightFile validates them all before copying).
            model.Memory.LoadWeights(path);
            for (int s = 0; s < optimizer.StateNames.Count; s++)
                foreach (var p in optimizer.Trained)
                    file.ReadSingles($"{WeightFile.TrainingStatePrefix}{optimizer.StateNames[s]}.{p.Name}", optimizer.StateOf(s, p), p.Length);
            optimizer.Steps = optimizerSteps;
        }
        model.DropoutRng = rng;
        return new CheckpointInfo(progress, metadata);
    }

    /// <summary>Fails when the file's attribute values differ from <paramref name="config"/>'s, naming each difference.</summary>
    /// <exception cref="InvalidDataException">A value differs or is missing.</exception>
    public static void CheckConfig(string path, IReadOnlyDictionary<string, string> metadata, VisionTransformerConfig config)
    {
        var differences = new List<string>();
        var own = config.ToMetadata();
        foreach (var (key, expected) in own)
        {
            if (key == "model") continue; // the class name may differ; the shape is what matters
            if (!metadata.TryGetValue(key, out var found)) differences.Add($"{key} is missing (the model has {expected})");
            else if (found != expected) differences.Add($"{key} is {found} in the file, {expected} in the model");
        }
        // Keys written only when set: a file that has one the model does not was saved from another model.
        foreach (var key in VisionTransformerConfig.OptionalMetadataKeys)
            if (metadata.TryGetValue(key, out var found) && !own.ContainsKey(key))
                differences.Add($"{key} is {found} in the file, not set in the model");
        if (differences.Count > 0)
            throw new InvalidDataException($"'{path}' was saved from a different model than {config.Name}: {string.Join("; ", differences)}.");
    }

    /// <summary>The class names stored under <c>class_names</c> (a JSON array of strings), or null.</summary>
    public static IReadOnlyList<string>? ClassNames(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue("class_names", out var json)) return null;
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Array) return null;
            return doc.RootElement.EnumerateArray().Select(e => e.GetString() ?? "").ToArray();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Class names as the <c>class_names</c> metadata value (a JSON array).</summary>
    public static string ClassNamesJson(IReadOnlyList<string> names)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartArray();
            foreach (var n in names) w.WriteStringValue(n);
            w.WriteEndArray();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    private static long[] Shape(ParameterInfo p) => p.Shape.Select(d => (long)d).ToArray();

    private static int ParseInt(string path, string key, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= 0 ? v
        : throw new InvalidDataException($"'{path}': metadata '{key}' must be a non-negative integer, found '{value}'.");

    private static long ParseLong(string path, string key, string value) =>
        long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) && v >= 0 ? v
        : throw new InvalidDataException($"'{path}': metadata '{key}' must be a non-negative integer, found '{value}'.");

    private static double ParseDouble(string path, string key, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v
        : throw new InvalidDataException($"'{path}': metadata '{key}' must be a number, found '{value}'.");
}
