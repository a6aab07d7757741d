using System.Globalization;
using System.Text.Json;

namespace Vit.Training;

/// <summary>A training recipe: everything <c>vit train</c> takes besides the model and the data.</summary>
public sealed record TrainOptions
{
    /// <summary>Passes over the training set.</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>Images per forward/backward call (the micro-batch).</summary>
    public int Batch { get; init; } = 64;

    /// <summary>Micro-batches whose gradients are summed before one optimizer step: the effective batch is <see cref="Batch"/> × this.</summary>
    public int Accumulate { get; init; } = 1;

    /// <summary>The peak learning rate.</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Epochs of linear warmup (fractions allowed).</summary>
    public double WarmupEpochs { get; init; } = 1;

    /// <summary>The final learning rate as a fraction of the peak (the seeds' <c>lrf</c>).</summary>
    public double FinalLearningRateFraction { get; init; } = 0.01;

    /// <summary>Label smoothing ε of the loss.</summary>
    public double LabelSmoothing { get; init; } = 0.1;

    /// <summary>The random part of the training transform: the recipe's random crop and horizontal flip (see <see cref="Transforms"/>).</summary>
    public bool Augment { get; init; } = true;

    /// <summary>
    /// How images become model inputs: CIFAR's pad-and-crop or ImageNet's resized crop (see
    /// <see cref="Vit.Data.TransformRecipe"/>); null for the model's usual one
    /// (<see cref="Vit.Data.SampleTransform.DefaultRecipe"/>: CIFAR's at 32 pixels, ImageNet's otherwise).
    /// </summary>
    public Vit.Data.TransformRecipe? Transforms { get; init; }

    /// <summary>Seeds the shuffling and augmentation (the model's initialization and dropout are seeded when it is created).</summary>
    public ulong Seed { get; init; }

    /// <summary>Trains only the head (and pre-logits) on top of loaded weights.</summary>
    public bool Freeze { get; init; }

    /// <summary>
    /// fp32, or bf16 mixed precision on the CPU backend: the Linear layers' forward and backward
    /// products in bf16 with fp32 accumulation, the master weights, gradients and optimizer in fp32
    /// (<see cref="Vit.Backends.Cpu.Precision.Bf16"/>; no loss scaling: bf16 has fp32's exponent range).
    /// </summary>
    public Vit.Backends.Cpu.Precision Precision { get; init; }

    /// <summary>The optimizer and its hyperparameters.</summary>
    public OptimizerOptions Optimizer { get; init; } = new();

    /// <summary>Images per forward call when evaluating.</summary>
    public int EvalBatch { get; init; } = 256;

    /// <summary>Checks every value, with a message naming the bad one.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        static void Check(bool ok, string name, object value, string range)
        {
            if (!ok) throw new ArgumentOutOfRangeException(name, value, $"{name} must be {range}, found {value}.");
        }
        Check(Epochs >= 1, nameof(Epochs), Epochs, "at least 1");
        Check(Batch >= 1, nameof(Batch), Batch, "at least 1");
        Check(Accumulate >= 1, nameof(Accumulate), Accumulate, "at least 1");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), LearningRate, "finite and > 0");
        Check(WarmupEpochs >= 0 && WarmupEpochs <= Epochs, nameof(WarmupEpochs), WarmupEpochs, $"between 0 and the {Epochs} epochs");
        Check(FinalLearningRateFraction >= 0 && FinalLearningRateFraction <= 1, nameof(FinalLearningRateFraction), FinalLearningRateFraction, "in [0, 1]");
        Check(LabelSmoothing >= 0 && LabelSmoothing < 1, nameof(LabelSmoothing), LabelSmoothing, "in [0, 1)");
        Check(EvalBatch >= 1, nameof(EvalBatch), EvalBatch, "at least 1");
        Optimizer.Validate();
    }

    /// <summary>The recipe as JSON (stored in checkpoints, written to <c>recipe.json</c>).</summary>
    public string ToJson()
    {
        var c = CultureInfo.InvariantCulture;
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("epochs", Epochs);
            w.WriteNumber("batch", Batch);
            w.WriteNumber("accumulate", Accumulate);
            w.WriteString("optimizer", Optimizer.Kind == OptimizerKind.AdamW ? "adamw" : "sgd");
            w.WriteNumber("lr", LearningRate);
            w.WriteNumber("weight_decay", Optimizer.WeightDecay);
            w.WriteNumber("warmup_epochs", WarmupEpochs);
            w.WriteNumber("lrf", FinalLearningRateFraction);
            w.WriteNumber("label_smoothing", LabelSmoothing);
            w.WriteNumber("clip_norm", Optimizer.ClipNorm);
            if (Optimizer.Kind == OptimizerKind.AdamW)
            {
                w.WriteNumber("beta1", Optimizer.Beta1);
                w.WriteNumber("beta2", Optimizer.Beta2);
                w.WriteNumber("eps", Optimizer.Epsilon);
            }
            else
            {
                w.WriteNumber("momentum", Optimizer.Momentum);
                w.WriteBoolean("nesterov", Optimizer.Nesterov);
            }
            w.WriteBoolean("augment", Augment);
            if (Transforms is { } t) w.WriteString("transforms", Vit.Data.SampleTransform.Name(t));
            w.WriteBoolean("freeze", Freeze);
            if (Precision != Vit.Backends.Cpu.Precision.Fp32) w.WriteString("precision", "bf16");
            w.WriteNumber("seed", Seed);
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }
}

/// <summary>Reads the recipe JSON that <see cref="TrainOptions.ToJson"/> writes.</summary>
public static class TrainOptionsJson
{
    /// <summary>Parses a recipe; absent keys keep their defaults.</summary>
    /// <exception cref="InvalidDataException">The JSON is malformed or a value has the wrong type.</exception>
    public static TrainOptions Parse(string json, string source)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var r = doc.RootElement;
            var o = new TrainOptions();
            var opt = o.Optimizer;
            double D(string k, double d) => r.TryGetProperty(k, out var v) ? v.GetDouble() : d;
            int I(string k, int d) => r.TryGetProperty(k, out var v) ? v.GetInt32() : d;
            bool B(string k, bool d) => r.TryGetProperty(k, out var v) ? v.GetBoolean() : d;
            string kind = r.TryGetProperty("optimizer", out var k) ? k.GetString() ?? "adamw" : "adamw";
            opt = opt with
            {
                Kind = kind == "sgd" ? OptimizerKind.Sgd : kind == "adamw" ? OptimizerKind.AdamW
                    : throw new InvalidDataException($"{source}: unknown optimizer '{kind}' in the recipe (expected adamw or sgd)."),
                WeightDecay = D("weight_decay", opt.WeightDecay),
                ClipNorm = D("clip_norm", opt.ClipNorm),
                Beta1 = D("beta1", opt.Beta1),
                Beta2 = D("beta2", opt.Beta2),
                Epsilon = D("eps", opt.Epsilon),
                Momentum = D("momentum", opt.Momentum),
                Nesterov = B("nesterov", opt.Nesterov),
            };
            return o with
            {
                Epochs = I("epochs", o.Epochs),
                Batch = I("batch", o.Batch),
                Accumulate = I("accumulate", o.Accumulate),
                LearningRate = D("lr", o.LearningRate),
                WarmupEpochs = D("warmup_epochs", o.WarmupEpochs),
                FinalLearningRateFraction = D("lrf", o.FinalLearningRateFraction),
                LabelSmoothing = D("label_smoothing", o.LabelSmoothing),
                Augment = B("augment", o.Augment),
                Transforms = r.TryGetProperty("transforms", out var t) ? Vit.Data.SampleTransform.ParseRecipe(t.GetString() ?? "") : o.Transforms,
                Freeze = B("freeze", o.Freeze),
                Precision = !r.TryGetProperty("precision", out var p) ? o.Precision
                    : p.GetString() switch
                    {
                        "bf16" => Vit.Backends.Cpu.Precision.Bf16,
                        "fp32" => Vit.Backends.Cpu.Precision.Fp32,
                        var other => throw new InvalidDataException($"{source}: unknown precision '{other}' in the recipe (expected fp32 or bf16)."),
                    },
                // A number; recipes written before it was one hold it as a string ("seed": "0").
                Seed = !r.TryGetProperty("seed", out var seed) ? o.Seed
                    : seed.ValueKind == JsonValueKind.String ? ulong.Parse(seed.GetString()!, NumberStyles.None, CultureInfo.InvariantCulture) : seed.GetUInt64(),
                Optimizer = opt,
            };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or OverflowException)
        {
            throw new InvalidDataException($"{source}: the training recipe is not valid ({e.Message}).");
        }
    }
}

/// <summary>One epoch's results, as <c>metrics.csv</c> and <c>vit train --json</c> report them.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="TrainLoss">Mean training loss (with dropout and label smoothing as trained).</param>
/// <param name="TrainAccuracy">Training accuracy over the epoch's batches (augmented images, dropout on).</param>
/// <param name="TestLoss">Mean plain cross-entropy on the test set, or NaN without one.</param>
/// <param name="TestAccuracy">Test accuracy, or NaN without a test set.</param>
/// <param name="LearningRate">The learning rate of the epoch's last step.</param>
/// <param name="ImagesPerSecond">Training images per second of wall time in this epoch (evaluation excluded).</param>
/// <param name="Seconds">Wall time of the run so far, evaluation included.</param>
/// <param name="Step">Optimizer steps taken so far.</param>
public sealed record EpochMetrics(int Epoch, double TrainLoss, double TrainAccuracy, double TestLoss, double TestAccuracy,
    double LearningRate, double ImagesPerSecond, double Seconds, long Step);

/// <summary>Progress within an epoch, reported after every micro-batch.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Batch">Micro-batches done in this epoch.</param>
/// <param name="Batches">Micro-batches per epoch.</param>
/// <param name="Loss">Running mean training loss of the epoch.</param>
/// <param name="Accuracy">Running training accuracy of the epoch.</param>
/// <param name="ImagesPerSecond">Training images per second so far in this epoch.</param>
/// <param name="LearningRate">The current learning rate.</param>
public readonly record struct BatchProgress(int Epoch, int Batch, int Batches, double Loss, double Accuracy, double ImagesPerSecond, double LearningRate);
