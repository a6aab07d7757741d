using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Vit.IO;
using Vit.Training;

namespace Vit.Cli;

/// <summary><c>vit eval</c>: test loss and accuracy, per-class accuracy, and a confusion-matrix plot.</summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var weights = new Option<string>("--weights") { Description = "Weights or checkpoint (safetensors) to evaluate", HelpName = "FILE", Required = true };
        var data = new Option<string?>("--data") { Description = "CIFAR-10 or CIFAR-100 binary folder; its test set is used (default: the embedded 500-image test subset)", HelpName = "DIR" };
        var model = Cli.Model(required: false);
        model.Description += " (default: the model the weights' metadata names)";
        var batch = Cli.Int("--batch", "Images per forward pass", 256);
        var plot = new Option<string?>("--plot") { Description = "Where to write the confusion matrix (SVG; default: confusion.svg next to the weights)", HelpName = "FILE" };
        var json = Cli.Json("Print one JSON object (test_loss, test_accuracy, per-class accuracy, confusion matrix)");
        var backend = Cli.BackendOption();
        var device = Cli.DeviceOption();
        var command = new Command("eval", "Evaluate weights on a CIFAR test set: loss, accuracy, per-class accuracy, confusion matrix") { weights, data, model, batch, plot, backend, device, json };
        command.SetAction(r => Cli.Guard(() => Run(r.GetValue(weights)!, r.GetValue(data), r.GetValue(model), r.GetValue(batch), r.GetValue(plot), r.GetValue(json), Cli.Backend(r, backend, device))));
        return command;
    }

    private static int Run(string weightsPath, string? dataFolder, string? modelName, int batch, string? plotPath, bool json, Vit.Backends.Backend backend)
    {
        var info = WeightsInfo.Read(weightsPath, modelName);
        var test = DataSource.LoadTest(dataFolder);
        batch = Math.Min(batch, Math.Max(1, test.Count)); // no pass is larger than the test set
        Cli.CheckBatch(info.Preset.Config, info.Preset.Summary, batch, training: false);
        using var model = info.CreateModel(batch, backend);
        Evaluator.CheckFits(model, test);
        var names = test.ClassNames;
        var result = Evaluator.Evaluate(model, test, info.Normalization(test.Kind), batch);
        Cli.RequireFinite(result.Loss, $"the test loss of '{weightsPath}' on {test.Source}");
        plotPath ??= Path.Combine(Path.GetDirectoryName(Path.GetFullPath(weightsPath))!, "confusion.svg");
        try
        {
            AtomicFile.WriteAllText(plotPath, SvgPlot.ConfusionMatrix(result, names, $"{info.Preset.Name}: {Path.GetFileName(weightsPath)} on {test.Source}"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot write the confusion matrix to '{plotPath}': {e.Message}; choose another place with --plot", e);
        }
        if (json)
        {
            Cli.WriteJson(w =>
            {
                w.WriteString("weights", weightsPath);
                w.WriteString("model", info.Preset.Name);
                w.WriteString("data", test.Source);
                w.WriteNumber("images", result.Images);
                w.WriteNumber("test_loss", result.Loss);
                w.WriteNumber("test_accuracy", result.Accuracy);
                w.WriteStartArray("classes");
                for (int c = 0; c < result.ClassCount; c++)
                {
                    w.WriteStartObject();
                    w.WriteString("name", c < names.Count ? names[c] : c.ToString(CultureInfo.InvariantCulture));
                    w.WriteNumber("images", result.ClassImages(c));
                    w.WriteNumberOrNull("accuracy", result.ClassAccuracy(c));
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteStartArray("confusion");
                for (int c = 0; c < result.ClassCount; c++)
                {
                    w.WriteStartArray();
                    for (int p = 0; p < result.ClassCount; p++) w.WriteNumberValue(result.Confusion[c * result.ClassCount + p]);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
                w.WriteString("plot", plotPath);
            });
            return 0;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{info.Preset.Name} on {test.Source}: test loss {result.Loss:F4}, accuracy {result.Accuracy * 100:F2}% ({result.Images:N0} images)"));
        var table = new Table().Border(TableBorder.Simple).AddColumn("class").AddColumn(new TableColumn("images").RightAligned())
            .AddColumn(new TableColumn("correct").RightAligned()).AddColumn(new TableColumn("accuracy").RightAligned());
        for (int c = 0; c < result.ClassCount; c++)
        {
            long n = result.ClassImages(c);
            if (n == 0 && result.ClassCount > 20) continue;
            double acc = result.ClassAccuracy(c);
            table.AddRow(Markup.Escape(c < names.Count ? names[c] : c.ToString(CultureInfo.InvariantCulture)), n.ToString("N0", CultureInfo.InvariantCulture),
                result.Confusion[c * result.ClassCount + c].ToString("N0", CultureInfo.InvariantCulture),
                double.IsNaN(acc) ? "-" : (acc * 100).ToString("F1", CultureInfo.InvariantCulture) + "%");
        }
        AnsiConsole.Write(table);
        Console.WriteLine($"confusion matrix: {plotPath}");
        return 0;
    }
}
