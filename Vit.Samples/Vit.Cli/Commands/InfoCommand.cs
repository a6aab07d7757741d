using System.CommandLine;
using Spectre.Console;

namespace Vit.Cli;

/// <summary><c>vit info</c>: the seeds' per-module parameter table, FLOPs and memory of a preset.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var model = Cli.Model(required: true);
        var json = Cli.Json("Print one JSON object (parameters, forward_gflops_per_image, modules, …)");
        var command = new Command("info", "Parameters per module, FLOPs and activation memory per image of a preset") { model, json };
        command.SetAction(r => Cli.Guard(() => Run(Preset.Find(r.GetValue(model)!), r.GetValue(json))));
        return command;
    }

    /// <summary>Modules in timm order: patch_embed, cls_token, pos_embed, blocks.N.{norm1, attn, norm2, mlp}, norm, pre_logits, head.</summary>
    public static List<(string Name, long Count)> Modules(IReadOnlyList<ParameterInfo> parameters) =>
        parameters.GroupBy(p => Module(p.Name)).Select(g => (g.Key, g.Sum(p => p.Length))).ToList();

    /// <summary><c>blocks.3.attn.qkv.weight</c> → <c>blocks.3.attn</c>; <c>cls_token</c> stays.</summary>
    public static string Module(string name)
    {
        var parts = name.Split('.');
        if (parts[0] == "blocks") return string.Join('.', parts.Take(3));
        return parts.Length > 2 ? string.Join('.', parts.Take(parts.Length - 1)) : parts.Length == 2 ? parts[0] : name;
    }

    private static int Run(Preset preset, bool json)
    {
        var c = preset.Config;
        var s = preset.Summary;
        var modules = Modules(preset.Parameters);
        double mib = 1024.0 * 1024.0;
        if (json)
        {
            Cli.WriteJson(w =>
            {
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
                w.WriteNumber("inference_mib_per_image", s.InferenceFloatsPerImage * 4 / mib);
                w.WriteNumber("training_mib_per_image", s.TrainingFloatsPerImage * 4 / mib);
                w.WriteNumber("weights_mib", s.Parameters * 4 / mib);
                w.WriteStartObject("modules");
                foreach (var m in modules) w.WriteNumber(m.Name, m.Count);
                w.WriteEndObject();
            }, indented: true);
            return 0;
        }
        var console = AnsiConsole.Console;
        // Plain lines go to Console directly: Spectre would wrap them at its width (80 columns when
        // redirected), breaking "mlp 768, classes 10" in two. Only the table is Spectre's.
        Console.WriteLine($"{preset.Name}: {preset.Description}");
        Console.WriteLine($"image {c.ImageSize}x{c.ImageSize}x{c.Channels}, patch {c.Patch}, tokens {c.Tokens}, dim {c.Dim}, depth {c.Depth}, heads {c.Heads} x {c.HeadDim}, mlp {c.MlpDim}, classes {c.Classes}");
        var table = new Table().Border(TableBorder.Simple).AddColumn("module").AddColumn(new TableColumn("parameters").RightAligned()).AddColumn(new TableColumn("share").RightAligned());
        foreach (var (name, count) in modules)
            table.AddRow(Markup.Escape(name), $"{count:N0}", $"{100.0 * count / s.Parameters:F2}%");
        table.AddRow("[bold]total[/]", $"[bold]{s.Parameters:N0}[/]", "100.00%");
        console.Write(table);
        Console.WriteLine($"forward   {s.ForwardFlopsPerImage / 1e9,10:F3} GFLOP per image (matrix products, 2 per multiply-add)");
        Console.WriteLine($"training  {s.TrainingFlopsPerImage / 1e9,10:F3} GFLOP per image (forward + backward)");
        Console.WriteLine($"memory    {s.InferenceFloatsPerImage * 4 / mib,10:F2} MiB per image for inference, {s.TrainingFloatsPerImage * 4 / mib:F2} MiB for training (activations, from the generator's plan)");
        Console.WriteLine($"weights   {s.Parameters * 4 / mib,10:F1} MiB (fp32)");
        return 0;
    }
}
