using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Vit.Training;

namespace Vit.Cli;

/// <summary>A command-line mistake: printed as one line, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>Shared pieces of the commands: the error guard, common options, JSON output.</summary>
public static class Cli
{
    /// <summary>
    /// Sets up Spectre.Console for the process: no ANSI codes at all (no colors, no bold, no cursor
    /// movement) when stdout is not a terminal or <c>NO_COLOR</c> is set (https://no-color.org),
    /// and no live progress display unless stdout and stderr are both terminals.
    /// </summary>
    public static void ConfigureConsole()
    {
        bool plain = Console.IsOutputRedirected || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = plain ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = plain ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Interactive = InteractiveConsole ? InteractionSupport.Detect : InteractionSupport.No,
            Out = new AnsiConsoleOutput(Console.Out),
        });
    }

    /// <summary>Whether stdout and stderr are both terminals (a live progress display may redraw lines).</summary>
    public static bool InteractiveConsole => !Console.IsOutputRedirected && !Console.IsErrorRedirected;

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
            or Vit.Backends.OpenCL.ClException or Vit.Backends.OpenCL.ClUnavailableException or PlatformNotSupportedException)
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

    /// <summary><c>--backend cpu|opencl|ilgpu</c>.</summary>
    public static Option<string> BackendOption()
    {
        var o = new Option<string>("--backend")
        {
            Description = "Where the model runs: cpu (SIMD C#), opencl (a GPU, else any OpenCL device) or ilgpu (ILGPU kernels: a CUDA GPU, else ILGPU's CPU accelerator; JIT only); see 'vit devices'",
            DefaultValueFactory = _ => "cpu",
            HelpName = "NAME",
        };
        o.AcceptOnlyFromAmong("cpu", "opencl", "ilgpu");
        return o;
    }

    /// <summary><c>--device NAME</c>: which OpenCL or ILGPU device.</summary>
    public static Option<string?> DeviceOption() => new("--device")
    {
        Description = "The OpenCL or ILGPU device: part of its name or its id from 'vit devices' (default: VIT_OPENCL_DEVICE or VIT_ILGPU_DEVICE, else the first GPU, else the first device)",
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
    /// <summary><c>--precision fp32|bf16</c>: inference, and mixed-precision training.</summary>
    public static Option<string> PrecisionOption()
    {
        var o = new Option<string>("--precision")
        {
            Description = "fp32, or bf16: the Linear layers', the patch embedding's and attention's products in bf16 with fp32 accumulation (the CPU backend; on VDPBF16PS or the fp32 FMAs, whichever is faster here: VIT_BF16_UNITS=dot|fma pins it); in training, mixed precision (fp32 weights, gradients and optimizer)",
            DefaultValueFactory = _ => "fp32",
            HelpName = "P",
        };
        o.AcceptOnlyFromAmong("fp32", "bf16");
        return o;
    }

    /// <summary>The precision a <see cref="PrecisionOption"/> names.</summary>
    public static Vit.Backends.Cpu.Precision Precision(ParseResult r, Option<string> option) =>
        r.GetValue(option) == "bf16" ? Vit.Backends.Cpu.Precision.Bf16 : Vit.Backends.Cpu.Precision.Fp32;

    /// <summary>Reads <c>--normalize</c>: a name or explicit means and stds.</summary>
    /// <exception cref="UsageException">It is neither.</exception>
    public static Vit.Data.Normalization ParseNormalization(string text)
    {
        try
        {
            return Vit.Data.Normalization.Parse(text);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new UsageException("--normalize: " + Message(e));
        }
    }

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
    public static void CheckBatch(VisionTransformerConfig config, ModelSummary summary, int batch, bool training, bool frozen = false)
    {
        try
        {
            Vit.Memory.MemoryBudget.Check(config, summary, batch, training, frozen);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new UsageException("--batch: " + Message(e));
        }
    }

    /// <summary>
    /// Writes one JSON object on its own line of stdout. The object is built in memory first, so a
    /// value that cannot be written never leaves a partial object on stdout: it is one error line.
    /// </summary>
    public static void WriteJson(Action<Utf8JsonWriter> body, bool indented = false) => WriteJson(Console.OpenStandardOutput(), body, indented);

    /// <summary>Writes one JSON object and a line break to <paramref name="output"/> (and disposes it), or nothing when <paramref name="body"/> fails.</summary>
    /// <exception cref="InvalidDataException">A value is not a finite number (JSON has no NaN or infinity); nothing was written.</exception>
    public static void WriteJson(Stream output, Action<Utf8JsonWriter> body, bool indented = false)
    {
        using var stream = output;
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        try
        {
            using var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented });
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"a result is not a finite number, so nothing was printed ({e.Message.Split('.')[0]})", e);
        }
        stream.Write(buffer.WrittenSpan);
        stream.WriteByte((byte)'\n');
        stream.Flush();
    }

    /// <summary>
    /// Throws (one line, exit 1) unless every value is finite: no command prints NaN or infinity as a
    /// result. <paramref name="what"/> names the values in the message: <c>the model's outputs</c>.
    /// </summary>
    /// <exception cref="InvalidDataException">A value is NaN or infinite; the message gives the first.</exception>
    public static void RequireFinite(ReadOnlySpan<float> values, string what)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i]))
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                    $"{what} are not finite (value {i} of {values.Length} is {values[i]}); no result is printed"));
    }

    /// <summary>Throws (one line, exit 1) unless <paramref name="value"/> is finite (see <see cref="RequireFinite(ReadOnlySpan{float}, string)"/>).</summary>
    public static double RequireFinite(double value, string what) =>
        double.IsFinite(value) ? value
        : throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{what} is not finite ({value}); no result is printed"));

    /// <summary>
    /// Writes a number, or null when it is not finite (JSON has no NaN). Only for values that are
    /// undefined by nature (the accuracy of a class with no test images, the test metrics of a run
    /// without a test set); a computed result that is not finite is an error (<see cref="RequireFinite(double, string)"/>).
    /// </summary>
    public static void WriteNumberOrNull(this Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, value);
        else w.WriteNull(name);
    }
}
