using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Vit;
using Vit.Cli;

// vit: the Vit.Compiler command line. Until the training commands land, it describes the
// compiled presets (`info`) and runs a forward pass on seeded random images (`forward`).
try
{
    return args.Length == 0 || args[0] is "-h" or "--help" or "help" ? Help() : args[0] switch
    {
        "info" => Commands.Info(new Options(args[1..])),
        "forward" => Commands.Forward(new Options(args[1..])),
        _ => throw new UsageException($"unknown command '{args[0]}'; commands are: info, forward (see vit --help)"),
    };
}
catch (UsageException e)
{
    Console.Error.WriteLine("vit: " + e.Message);
    return 2;
}
catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException or InvalidOperationException or KeyNotFoundException)
{
    Console.Error.WriteLine("vit: " + e.Message);
    return 1;
}

static int Help()
{
    Console.WriteLine("""
        vit: compiled Vision Transformers for .NET

          vit info --model PRESET [--json]
              parameters per module, FLOPs and activation memory per image
          vit forward --model PRESET [--batch N] [--runs N] [--weights FILE] [--seed N] [--json]
              a forward pass on seeded random images: output shape, first outputs, images/s

        presets: ti16, s16, b16, b32, l16, l32, h14 (224, 1000 classes), cifar (32/4, 192x6, 10 classes)
        """);
    return 0;
}

namespace Vit.Cli
{
    /// <summary>A command-line mistake: printed as one line, exit code 2.</summary>
    public sealed class UsageException(string message) : Exception(message);

    /// <summary><c>--name value</c> and <c>--flag</c> options.</summary>
    public sealed class Options
    {
        private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
        private readonly HashSet<string> _used = new(StringComparer.Ordinal);

        public Options(string[] args)
        {
            for (int i = 0; i < args.Length; i++)
            {
                if (!args[i].StartsWith("--", StringComparison.Ordinal))
                    throw new UsageException($"unexpected argument '{args[i]}'; options look like --name value");
                bool hasValue = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal);
                _values[args[i][2..]] = hasValue ? args[++i] : null;
            }
        }

        public string? String(string name)
        {
            _used.Add(name);
            return _values.TryGetValue(name, out var v) ? v ?? throw new UsageException($"--{name} needs a value") : null;
        }

        public string Required(string name) => String(name) ?? throw new UsageException($"--{name} is required");

        public int Int(string name, int fallback, int min = 1)
        {
            var s = String(name);
            if (s is null) return fallback;
            if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min)
                throw new UsageException($"--{name} expects an integer >= {min}, found '{s}'");
            return v;
        }

        public bool Flag(string name)
        {
            _used.Add(name);
            if (_values.TryGetValue(name, out var v) && v is not null)
                throw new UsageException($"--{name} takes no value, found '{v}'");
            return _values.ContainsKey(name);
        }

        /// <summary>Fails on options the command did not read.</summary>
        public void Done()
        {
            foreach (var key in _values.Keys)
                if (!_used.Contains(key)) throw new UsageException($"unknown option --{key}");
        }
    }

    public static class Commands
    {
        public static int Info(Options o)
        {
            var preset = Preset.Find(o.Required("model"));
            bool json = o.Flag("json");
            o.Done();
            var c = preset.Config;
            var s = preset.Summary;
            var modules = preset.Parameters
                .GroupBy(p => Module(p.Name))
                .Select(g => (Name: g.Key, Count: g.Sum(p => p.Length)))
                .ToList();
            if (json)
            {
                using var w = new Utf8JsonWriter(Console.OpenStandardOutput(), new JsonWriterOptions { Indented = true });
                w.WriteStartObject();
                w.WriteString("model", preset.Name);
                w.WriteString("description", preset.Description);
                w.WriteNumber("image_size", c.ImageSize);
                w.WriteNumber("patch", c.Patch);
                w.WriteNumber("dim", c.Dim);
                w.WriteNumber("depth", c.Depth);
                w.WriteNumber("heads", c.Heads);
                w.WriteNumber("mlp_dim", c.MlpDim);
                w.WriteNumber("classes", c.Classes);
                w.WriteNumber("tokens", c.Tokens);
                w.WriteNumber("parameters", s.Parameters);
                w.WriteNumber("forward_gflops_per_image", s.ForwardFlopsPerImage / 1e9);
                w.WriteNumber("training_gflops_per_image", s.TrainingFlopsPerImage / 1e9);
                w.WriteNumber("inference_mib_per_image", s.InferenceFloatsPerImage * 4 / 1048576.0);
                w.WriteNumber("training_mib_per_image", s.TrainingFloatsPerImage * 4 / 1048576.0);
                w.WriteStartObject("modules");
                foreach (var m in modules) w.WriteNumber(m.Name, m.Count);
                w.WriteEndObject();
                w.WriteEndObject();
                w.Flush();
                Console.WriteLine();
                return 0;
            }
            Console.WriteLine($"{preset.Name}: {preset.Description}");
            Console.WriteLine($"  image {c.ImageSize}x{c.ImageSize}x{c.Channels}, patch {c.Patch}, tokens {c.Tokens}, dim {c.Dim}, depth {c.Depth}, heads {c.Heads} x {c.HeadDim}, mlp {c.MlpDim}, classes {c.Classes}");
            Console.WriteLine();
            Console.WriteLine($"  {"module",-28} {"parameters",14}");
            foreach (var m in modules) Console.WriteLine($"  {m.Name,-28} {m.Count,14:N0}");
            Console.WriteLine($"  {"total",-28} {s.Parameters,14:N0}");
            Console.WriteLine();
            Console.WriteLine($"  forward   {s.ForwardFlopsPerImage / 1e9,10:F3} GFLOP per image (matrix products, 2 per multiply-add)");
            Console.WriteLine($"  training  {s.TrainingFlopsPerImage / 1e9,10:F3} GFLOP per image (forward + backward)");
            Console.WriteLine($"  memory    {s.InferenceFloatsPerImage * 4 / 1048576.0,10:F2} MiB per image for inference, {s.TrainingFloatsPerImage * 4 / 1048576.0:F2} MiB for training (activations)");
            Console.WriteLine($"  weights   {s.Parameters * 4 / 1048576.0,10:F1} MiB (fp32)");
            return 0;
        }

        /// <summary><c>blocks.3.attn.qkv.weight</c> → <c>blocks.3.attn</c>; <c>cls_token</c> stays.</summary>
        private static string Module(string name)
        {
            var parts = name.Split('.');
            if (parts[0] == "blocks") return string.Join('.', parts.Take(3));
            return parts.Length > 2 ? string.Join('.', parts.Take(parts.Length - 1)) : parts.Length == 2 ? parts[0] : name;
        }

        public static int Forward(Options o)
        {
            var preset = Preset.Find(o.Required("model"));
            int batch = o.Int("batch", 1);
            int runs = o.Int("runs", 3);
            int seed = o.Int("seed", 0, min: 0);
            string? weights = o.String("weights");
            bool json = o.Flag("json");
            o.Done();
            var c = preset.Config;
            using var model = preset.Create(seed, batch);
            if (weights is not null) model.LoadWeights(weights);
            var rng = new Vit.Numerics.Rng((ulong)seed + 1);
            var images = new float[(long)batch * c.Channels * c.ImageSize * c.ImageSize];
            for (int i = 0; i < images.Length; i++) images[i] = (float)rng.NextNormal();
            var output = new float[batch * model.OutputWidth];

            model.Forward(images, batch, output); // warm-up: JIT, buffers
            var times = new List<double>();
            for (int r = 0; r < runs; r++)
            {
                var sw = Stopwatch.StartNew();
                model.Forward(images, batch, output);
                times.Add(sw.Elapsed.TotalSeconds);
            }
            times.Sort();
            double median = times[times.Count / 2];
            double imagesPerSecond = batch / median;
            double gflops = preset.Summary.ForwardFlopsPerImage * (double)batch / median / 1e9;
            var first = output.Take(Math.Min(5, model.OutputWidth)).ToArray();
            if (json)
            {
                using var w = new Utf8JsonWriter(Console.OpenStandardOutput());
                w.WriteStartObject();
                w.WriteString("model", preset.Name);
                w.WriteNumber("batch", batch);
                w.WriteNumber("threads", Vit.Kernels.WorkerPool.Shared.Threads);
                w.WriteNumber("output_width", model.OutputWidth);
                w.WriteStartArray("first_outputs");
                foreach (var v in first) w.WriteNumberValue(v);
                w.WriteEndArray();
                w.WriteNumber("images_per_second", imagesPerSecond);
                w.WriteNumber("ms_per_batch", median * 1e3);
                w.WriteNumber("gflops_per_second", gflops);
                w.WriteEndObject();
                w.Flush();
                Console.WriteLine();
                return 0;
            }
            Console.WriteLine($"{preset.Name}: forward, batch {batch}, {Vit.Kernels.WorkerPool.Shared.Threads} threads, {(weights is null ? $"seed {seed} (timm-style init)" : weights)}");
            Console.WriteLine($"  output ({batch}, {model.OutputWidth}); image 0 starts [{string.Join(", ", first.Select(v => v.ToString("F4", CultureInfo.InvariantCulture)))}]");
            Console.WriteLine($"  median of {runs}: {median * 1e3:F1} ms per batch, {imagesPerSecond:F2} images/s, {gflops:F1} GFLOP/s");
            return 0;
        }
    }
}
