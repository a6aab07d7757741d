using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Vit.Backends;
using Vit.Backends.Cpu;

namespace Vit.Cli;

/// <summary><c>vit forward</c>: one forward pass on seeded random images, timed.</summary>
public static class ForwardCommand
{
    public static Command Create()
    {
        var model = Cli.Model(required: true);
        var batch = Cli.Int("--batch", "Images per forward pass", 1);
        var runs = Cli.Int("--runs", "Timed runs (the median is reported)", 3);
        var seed = Cli.Int("--seed", "Seeds the initialization and the images", 0, min: 0);
        var weights = new Option<string?>("--weights") { Description = "Load these safetensors weights instead of the seeded initialization", HelpName = "FILE" };
        var json = Cli.Json("Print one JSON object");
        var backend = Cli.BackendOption();
        var device = Cli.DeviceOption();
        var precision = Cli.PrecisionOption();
        var command = new Command("forward", "A forward pass on seeded random images: output shape, first outputs, images/s") { model, batch, runs, seed, weights, backend, device, json, precision };
        command.SetAction(r => Cli.Guard(() => Run(Preset.Find(r.GetValue(model)!), r.GetValue(batch), r.GetValue(runs), r.GetValue(seed), r.GetValue(weights), r.GetValue(json), Cli.Backend(r, backend, device),
            Cli.Precision(r, precision))));
        return command;
    }

    private static int Run(Preset preset, int batch, int runs, int seed, string? weights, bool json, Vit.Backends.Backend backend, Vit.Backends.Cpu.Precision precision)
    {
        var c = preset.Config;
        Cli.CheckBatch(c, preset.Summary, batch, training: false);
        using var model = preset.Create(seed, batch, backend);
        model.Memory.Precision = precision;
        model.Memory.KeepPackedWeights = true; // the weights stay as loaded: pack them once
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
        Cli.RequireFinite(output, $"the outputs of {preset.Name}");
        double median = times[times.Count / 2];
        double imagesPerSecond = batch / median;
        double gflops = preset.Summary.ForwardFlopsPerImage * (double)batch / median / 1e9;
        var first = output.Take(Math.Min(5, model.OutputWidth)).ToArray();
        if (json)
        {
            Cli.WriteJson(w =>
            {
                w.WriteString("model", preset.Name);
                w.WriteNumber("batch", batch);
                w.WriteNumber("threads", WorkerPool.Shared.Threads);
                w.WriteString("backend", backend.Name);
                w.WriteNumber("output_width", model.OutputWidth);
                w.WriteStartArray("first_outputs");
                foreach (var v in first) w.WriteNumberValue(v);
                w.WriteEndArray();
                w.WriteNumber("images_per_second", imagesPerSecond);
                w.WriteNumber("ms_per_batch", median * 1e3);
                w.WriteNumber("gflops_per_second", gflops);
            });
            return 0;
        }
        Console.WriteLine($"{preset.Name}: forward, batch {batch}, on {backend}, {(weights is null ? $"seed {seed} (timm-style init)" : weights)}");
        Console.WriteLine($"  output ({batch}, {model.OutputWidth}); image 0 starts [{string.Join(", ", first.Select(v => v.ToString("F4", CultureInfo.InvariantCulture)))}]");
        Console.WriteLine($"  median of {runs}: {median * 1e3:F1} ms per batch, {imagesPerSecond:F2} images/s, {gflops:F1} GFLOP/s");
        return 0;
    }
}
