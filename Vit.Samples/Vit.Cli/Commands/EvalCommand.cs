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
        var dataSet = new DataSource.OptionSet();
        var precision = Cli.PrecisionOption();
        dataSet.Data.Description = "CIFAR-10/100 binary folder (its test split), or an image folder (its val/ folder, or the --val-fraction split the run used) (default: the embedded 500-image test subset)";
        dataSet.Classes.Description += " (default: the classes the weights were trained on)";
        var model = Cli.Model(required: false);
        model.Description += " (default: the model the weights' metadata names)";
        var batch = Cli.Int("--batch", "Images per forward pass", 256);
        var plot = new Option<string?>("--plot") { Description = "Where to write the confusion matrix (SVG; default: confusion.svg next to the weights)", HelpName = "FILE" };
        var json = Cli.Json("Print one JSON object (test_loss, test_accuracy, per-class accuracy, confusion matrix)");
        var backend = Cli.BackendOption();
        var device = Cli.DeviceOption();
        var command = new Command("eval", "Evaluate weights on a CIFAR test set or an image folder's validation images: loss, accuracy, per-class accuracy, confusion matrix")
        {
            weights, model, batch, plot, backend, device, json, precision,
        };
        foreach (var o in dataSet.All) command.Options.Add(o);
        command.SetAction(r => Cli.Guard(() =>
        {
            var info = WeightsInfo.Read(r.GetValue(weights)!, r.GetValue(model));
            var data = DataSource.FromCommandLine(r, dataSet, info.Metadata, limitTrain: 0, seed: null, folderFromSaved: false);
            return Run(info, data, r.GetValue(batch), r.GetValue(plot), r.GetValue(json), Cli.Backend(r, backend, device), Cli.Precision(r, precision));
        }));
        return command;
    }

    private static int Run(WeightsInfo info, DataOptions data, int batch, string? plotPath, bool json, Vit.Backends.Backend backend, Vit.Backends.Cpu.Precision precision)
    {
        string weightsPath = info.Path;
        var test = DataSource.LoadTest(data);
        batch = Math.Min(batch, Math.Max(1, test.Count)); // no pass is larger than the test set
        Cli.CheckBatch(info.Preset.Config, info.Preset.Summary, batch, training: false);
        using var model = info.CreateModel(batch, backend);
        model.Memory.Precision = precision;
        model.Memory.KeepPackedWeights = true; // the weights stay as loaded: pack them once
        Evaluator.CheckFits(model, test);
        if (test.ClassCount != info.ActiveClasses)
            throw new InvalidDataException($"'{weightsPath}' classifies {info.ActiveClasses} classes, but {test.Source} has {test.ClassCount}; pass --classes to evaluate on the classes it was trained on");
        var names = test.ClassNames;
        var size = info.Preset.Config.ImageSize;
        var transform = Vit.Data.SampleTransform.ForEvaluation(info.Transforms, size, info.Normalization(test));
        var predictions = precision == Vit.Backends.Cpu.Precision.Fp32 ? null : new int[test.Count];
        var result = Evaluator.Evaluate(model, test, transform, batch, predictions: predictions);
        double? agreement = null;
        if (predictions is not null)
        {
            // bf16: how many top-1 predictions fp32 shares, from a second pass in fp32.
            model.Memory.Precision = Vit.Backends.Cpu.Precision.Fp32;
            var fp32 = new int[test.Count];
            Evaluator.Evaluate(model, test, transform, batch, predictions: fp32);
            agreement = (double)predictions.Zip(fp32).Count(p => p.First == p.Second) / test.Count;
        }
        Cli.RequireFinite(result.Loss, $"the test loss of '{weightsPath}' on {test.Source}");
        bool plotChosen = plotPath is not null;
        plotPath ??= Path.Combine(Path.GetDirectoryName(Path.GetFullPath(weightsPath))!, "confusion.svg");
        var plot = WritePlot(plotPath, plotChosen, () => SvgPlot.ConfusionMatrix(result, names, $"{info.Preset.Name}: {Path.GetFileName(weightsPath)} on {test.Source}"));
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
                w.WriteString("precision", precision == Vit.Backends.Cpu.Precision.Bf16 ? "bf16" : "fp32");
                if (agreement is { } a) w.WriteNumber("top1_agreement_with_fp32", a);
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
                if (plot.Written) w.WriteString("plot", plotPath);
                else w.WriteNull("plot");
            });
            return plot.Report();
        }
        string agrees = agreement is { } a ? string.Create(CultureInfo.InvariantCulture, $"; bf16: top-1 agrees with fp32 on {a * 100:F2}% of the images") : "";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{info.Preset.Name} on {test.Source}: test loss {result.Loss:F4}, accuracy {result.Accuracy * 100:F2}% ({result.Images:N0} images){agrees}"));
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
        if (plot.Written) Console.WriteLine($"confusion matrix: {plotPath}");
        return plot.Report();
    }

    /// <summary>
    /// What became of the confusion-matrix plot. The results are printed either way; then a plot
    /// that could not be written is one line on stderr: a warning (exit code 0) for the default
    /// place beside the weights, which the user did not ask for, and an error (exit code 1) for a
    /// <c>--plot</c> the user named.
    /// </summary>
    /// <param name="Written">Whether the plot is on disk.</param>
    /// <param name="Problem">The line for stderr (without <c>vit: </c>) when it is not; else null.</param>
    /// <param name="ExitCode">The command's exit code.</param>
    public sealed record PlotOutcome(bool Written, string? Problem, int ExitCode)
    {
        /// <summary>Prints <see cref="Problem"/>, if any, to stderr, and returns <see cref="ExitCode"/>.</summary>
        public int Report()
        {
            if (Problem is not null) Console.Error.WriteLine("vit: " + Problem);
            return ExitCode;
        }
    }

    /// <summary>
    /// Writes the plot to <paramref name="path"/>; a failure is returned, not thrown, so that the
    /// results computed before it are still printed. <paramref name="chosen"/>: the path came from <c>--plot</c>.
    /// </summary>
    public static PlotOutcome WritePlot(string path, bool chosen, Func<string> svg)
    {
        ArgumentNullException.ThrowIfNull(svg);
        try
        {
            AtomicFile.WriteAllText(path, svg());
            return new PlotOutcome(true, null, 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string reason = Cli.Message(e);
            string full = Path.GetFullPath(path);
            if (reason.StartsWith($"cannot write '{full}': ", StringComparison.Ordinal)) reason = reason[($"cannot write '{full}': ").Length..];
            return chosen
                ? new PlotOutcome(false, $"cannot write the confusion matrix to '{path}' ({reason}); the results above are complete", 1)
                : new PlotOutcome(false, $"warning: cannot write the confusion matrix to '{path}' ({reason}); the results above are complete; choose another place with --plot", 0);
        }
    }
}
