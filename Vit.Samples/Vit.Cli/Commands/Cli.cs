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
            or InvalidOperationException or KeyNotFoundException or TrainingDivergedException or NotSupportedException
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

    /// <summary>An integer option with a lower bound.</summary>
    public static Option<int> Int(string name, string description, int fallback, int min = 1)
    {
        var o = new Option<int>(name) { Description = description, DefaultValueFactory = _ => fallback, HelpName = "N" };
        o.Validators.Add(r =>
        {
            int v = r.GetValueOrDefault<int>();
            if (v < min) r.AddError($"{name} must be at least {min}, found {v}");
        });
        return o;
    }

    /// <summary>A floating-point option with a validity check.</summary>
    public static Option<double> Double(string name, string description, double fallback, Func<double, bool> valid, string range)
    {
        var o = new Option<double>(name) { Description = description, DefaultValueFactory = _ => fallback, HelpName = "X" };
        o.Validators.Add(r =>
        {
            double v = r.GetValueOrDefault<double>();
            if (!valid(v)) r.AddError($"{name} must be {range}, found {v.ToString(CultureInfo.InvariantCulture)}");
        });
        return o;
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
