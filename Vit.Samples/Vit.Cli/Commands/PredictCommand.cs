using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Vit.Imaging;
using Vit.Training;

namespace Vit.Cli;

/// <summary><c>vit predict</c>: the top classes of one image, as the seeds' predict.py prints them.</summary>
public static class PredictCommand
{
    public static Command Create()
    {
        var weights = new Option<string>("--weights") { Description = "Weights or checkpoint (safetensors)", HelpName = "FILE", Required = true };
        var image = new Option<string>("--image") { Description = "A JPEG, PNG, BMP, GIF, WebP or PPM/PGM image; resized (shorter side), center-cropped and normalized as the weights were trained", HelpName = "FILE", Required = true };
        var show = new Option<string?>("--show") { Description = "Also write the image with the top class and its probability as its title (PNG), as the documents' predict.py shows it", HelpName = "FILE.png" };
        var top = Cli.Int("--top", "How many classes to show", 5);
        var classes = new Option<string?>("--classes") { Description = "Class names: class_indices.json ({\"0\": \"daisy\", ...}), a JSON array, or one per line like batches.meta.txt (default: the names saved with the weights)", HelpName = "FILE" };
        var model = Cli.Model(required: false);
        model.Description += " (default: the model the weights' metadata names)";
        var json = Cli.Json("Print one JSON object with the top classes and probabilities");
        var backend = Cli.BackendOption();
        var device = Cli.DeviceOption();
        var maxMegapixels = DataSource.MaxMegapixelsOption();
        var precision = Cli.PrecisionOption();
        var command = new Command("predict", "Classify an image with trained weights") { weights, image, top, classes, model, show, maxMegapixels, backend, device, json, precision };
        command.SetAction(r => Cli.Guard(() => Run(r.GetValue(weights)!, r.GetValue(image)!, r.GetValue(top), r.GetValue(classes), r.GetValue(model), r.GetValue(show), r.GetValue(json),
            Cli.Backend(r, backend, device), (long)r.GetValue(maxMegapixels) << 20, Cli.Precision(r, precision))));
        return command;
    }

    private static int Run(string weightsPath, string imagePath, int top, string? classesPath, string? modelName, string? showPath, bool json, Vit.Backends.Backend backend, long maxPixels, Vit.Backends.Cpu.Precision precision)
    {
        var info = WeightsInfo.Read(weightsPath, modelName);
        var c = info.Preset.Config;
        if (c.Classes == 0)
            throw new UsageException($"{info.Preset.Name} has no classification head (Classes = 0); predict needs a classifier");
        int classes = info.ActiveClasses; // the head's first outputs: the classes it was trained on
        var names = classesPath is not null ? WeightsInfo.ReadClassNames(classesPath) : info.ClassNames(classes);
        if (names is not null && names.Count != classes)
            throw new InvalidDataException($"{classesPath} names {names.Count} classes, but the weights classify {classes}");

        var picture = ImageDecoder.Load(imagePath, maxPixels);
        var input = new float[c.Channels * c.ImageSize * c.ImageSize];
        // The evaluation transform the weights were trained with: Resize + CenterCrop, ToTensor, Normalize.
        var transform = info.Transforms == Vit.Data.TransformRecipe.Cifar
            ? new EvalTransform(c.ImageSize, info.Normalization(), resizeSize: c.ImageSize)
            : new EvalTransform(c.ImageSize, info.Normalization());
        transform.Apply(picture, input);
        using var model = info.CreateModel(1, backend);
        model.Memory.Precision = precision;
        model.Memory.KeepPackedWeights = true; // the weights stay as loaded: pack them once
        var outputs = new float[c.Classes];
        model.Forward(input, 1, outputs);
        var logits = outputs.AsSpan(0, classes);
        Cli.RequireFinite(logits, $"the model's outputs for '{imagePath}'");
        var probabilities = new double[classes];
        Evaluator.Softmax(logits, probabilities);
        var ranked = Enumerable.Range(0, classes).OrderByDescending(i => probabilities[i]).ThenBy(i => i).Take(Math.Min(top, classes)).ToArray();
        string Name(int i) => names is not null ? names[i] : $"class {i}";
        if (showPath is not null)
        {
            // predict.py's title: "class: {name}   prob: {p:.3}".
            string title = string.Create(CultureInfo.InvariantCulture, $"class: {Name(ranked[0])}   prob: {probabilities[ranked[0]]:0.###}");
            var titled = TitledImage.Render(picture, title);
            Vit.IO.AtomicFile.Write(showPath, stream => stream.Write(ImageEncoder.EncodePng(titled)));
        }

        if (json)
        {
            Cli.WriteJson(w =>
            {
                w.WriteString("image", imagePath);
                w.WriteString("weights", weightsPath);
                w.WriteString("model", info.Preset.Name);
                w.WriteString("image_size", $"{picture.Width}x{picture.Height}");
                w.WriteStartArray("predictions");
                foreach (int i in ranked)
                {
                    w.WriteStartObject();
                    w.WriteNumber("class", i);
                    w.WriteString("name", Name(i));
                    w.WriteNumber("probability", probabilities[i]);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            });
            return 0;
        }
        Console.WriteLine($"{imagePath} ({picture.Width}x{picture.Height}, {picture.ChannelDescription}) with {info.Preset.Name}:");
        var table = new Table().Border(TableBorder.Simple).AddColumn("#").AddColumn("class").AddColumn(new TableColumn("probability").RightAligned());
        for (int k = 0; k < ranked.Length; k++)
            table.AddRow((k + 1).ToString(CultureInfo.InvariantCulture), Markup.Escape(Name(ranked[k])), (probabilities[ranked[k]] * 100).ToString("F2", CultureInfo.InvariantCulture) + "%");
        AnsiConsole.Write(table);
        if (showPath is not null) Console.WriteLine($"wrote {showPath}: the image titled with its top class");
        return 0;
    }
}
