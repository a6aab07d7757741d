using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Vit.Training;

namespace Vit.Cli;

/// <summary>A command-line mistake: printed as one line, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>Shared pieces of the commands: the error guard, common options, JSON output.</summary>
public static class Cli
{
    /// <summary>Runs a command body, turning expected failures into one line on stderr.</summary>
    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine("vit: " + e.Message);
            return 2;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException
            or InvalidOperationException or KeyNotFoundException or TrainingDivergedException or NotSupportedException or CommunicationException
            or Vit.Backends.OpenCL.ClException or Vit.Backends.OpenCL.ClUnavailableException)
        {
            Console.Error.WriteLine("vit: " + Message(e));
            return 1;
        }
    }

    /// <summary>The message of an exception, without .NET's " (Parameter 'x')" suffix.</summary>
    public static string Message(Exception e)
    {
        string m = e.Message;
        int i = m.IndexOf(" (Parameter '", StringComparison.Ordinal);
        if (i < 0) i = m.IndexOf("\nActual value was", StringComparison.Ordinal);
        return i > 0 ? m[..i] : m;
    }

    /// <summary><c>--backend cpu|opencl</c>.</summary>
    public static Option<string> BackendOption()
    {
        var o = new Option<string>("--backend")
        {
            Description = "Where the model runs: cpu (SIMD C#) or opencl (a GPU, else any OpenCL device; see 'vit devices')",
            DefaultValueFactory = _ => "cpu",
            HelpName = "NAME",
        };
        o.AcceptOnlyFromAmong("cpu", "opencl");
        return o;
    }

    /// <summary><c>--device NAME</c>: which OpenCL device.</summary>
    public static Option<string?> DeviceOption() => new("--device")
    {
        Description = "OpenCL device: part of its name or its id from 'vit devices' (default: VIT_OPENCL_DEVICE, else the first GPU, else the first device)",
        HelpName = "NAME",
    };

    /// <summary>The backend <c>--backend</c> and <c>--device</c> name.</summary>
    public static Vit.Backends.Backend Backend(ParseResult r, Option<string> backend, Option<string?> device) =>
        Vit.Backends.Backend.Parse(r.GetValue(backend)!, r.GetValue(device));

    /// <summary><c>--model PRESET</c>.</summary>
    public static Option<string> Model(bool required, string? fallback = null)
    {
        var o = new Option<string>("--model", "-m")
        {
            Description = $"Preset model: {string.Join(", ", Preset.All.Select(p => p.Name))}",
            HelpName = "PRESET",
            Required = required,
        };
        if (fallback is not null) o.DefaultValueFactory = _ => fallback;
        return o;
    }

    /// <summary><c>--json</c>.</summary>
    public static Option<bool> Json(string what) => new("--json") { Description = what };

    /// <summary>
    /// An integer option in [<paramref name="min"/>, <paramref name="max"/>]. A value that is not an
    /// integer or is out of range is a parse error (exit 2, one line) naming the option, the value
    /// given and what is allowed.
    /// </summary>
    public static Option<int> Int(string name, string description, int fallback, int min = 1, int max = int.MaxValue)
    {
        string allowed = max == int.MaxValue ? $"an integer of at least {min}" : $"an integer from {min} to {max}";
        return new Option<int>(name)
        {
            Description = description,
            DefaultValueFactory = _ => fallback,
            HelpName = "N",
            CustomParser = r =>
            {
                string token = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
                if (!int.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
                {
                    r.AddError($"{name} expects {allowed}, found '{token}'");
                    return fallback;
                }
                return v;
            },
        };
    }

    /// <summary>
    /// A finite floating-point option for which <paramref name="valid"/> holds. A value that is not
    /// a finite number or is out of range is a parse error (exit 2, one line) naming the option, the
    /// value given and what is allowed (<paramref name="range"/>).
    /// </summary>
    public static Option<double> Double(string name, string description, double fallback, Func<double, bool> valid, string range) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => fallback,
        HelpName = "X",
        CustomParser = r =>
        {
            string token = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
            if (!double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || !valid(v))
            {
                r.AddError($"{name} expects a number {range}, found '{token}'");
                return fallback;
            }
            return v;
        },
    };

    /// <summary>
    /// The command-line option behind a <see cref="TrainOptions"/> or <see cref="OptimizerOptions"/>
    /// property, so that a value that is valid alone but not with the others (the warmup longer than
    /// the run) is reported by the option's name.
    /// </summary>
    public static string OptionFor(string? property) => property switch
    {
        nameof(TrainOptions.Epochs) => "--epochs",
        nameof(TrainOptions.Batch) => "--batch",
        nameof(TrainOptions.Accumulate) => "--accumulate",
        nameof(TrainOptions.LearningRate) => "--lr",
        nameof(TrainOptions.WarmupEpochs) => "--warmup-epochs",
        nameof(TrainOptions.FinalLearningRateFraction) => "--lrf",
        nameof(TrainOptions.LabelSmoothing) => "--label-smoothing",
        nameof(OptimizerOptions.WeightDecay) => "--weight-decay",
        nameof(OptimizerOptions.Momentum) => "--momentum",
        nameof(OptimizerOptions.ClipNorm) => "--clip-grad",
        _ => property ?? "a training option",
    };

    /// <summary>Refuses a <c>--batch</c> the machine's memory cannot hold (exit 2, one line with both sizes), before anything is allocated.</summary>
    public static void CheckBatch(VisionTransformerConfig config, ModelSummary summary, int batch, bool training)
    {
        try
        {
            Vit.Memory.MemoryBudget.Check(config, summary, batch, training);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new UsageException("--batch: " + Message(e));
        }
    }

    /// <summary>Writes one JSON object on its own line of stdout.</summary>
    public static void WriteJson(Action<Utf8JsonWriter> body, bool indented = false)
    {
        using var stdout = Console.OpenStandardOutput();
        using (var w = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = indented }))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        stdout.WriteByte((byte)'\n');
        stdout.Flush();
    }

    /// <summary>Writes a number, or null when it is not finite (JSON has no NaN).</summary>
    public static void WriteNumberOrNull(this Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, value);
        else w.WriteNull(name);
    }
}
