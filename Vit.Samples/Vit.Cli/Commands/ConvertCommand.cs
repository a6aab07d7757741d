using System.CommandLine;
using Vit.IO;

namespace Vit.Cli;

/// <summary>
/// <c>vit convert IN OUT</c>: torchvision or Hugging Face ViT weights (safetensors) to timm's names,
/// which every vit command and <c>LoadWeights</c> also read directly.
/// </summary>
public static class ConvertCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("IN") { Description = "Weights: safetensors with timm, torchvision (vit_b_16 state_dict) or Hugging Face (ViTForImageClassification) names, or a Google .npz checkpoint" };
        var output = new Argument<string>("OUT") { Description = "Where to write the weights under timm's names (F32 safetensors)" };
        var command = new Command("convert", "Convert torchvision, Hugging Face or Google .npz ViT weights to timm's names (a .pth must first go through tools/pth_to_safetensors.py)") { input, output };
        command.SetAction(r => Cli.Guard(() =>
        {
            string from = r.GetValue(input)!, to = r.GetValue(output)!;
            if (Path.GetFullPath(from) == Path.GetFullPath(to))
                throw new UsageException($"IN and OUT are the same file '{from}'; write the timm-named weights elsewhere");
            var format = WeightConverter.Convert(from, to);
            Console.WriteLine(format == WeightFormat.Timm
                ? $"{from} already has timm's names; copied to {to}"
                : $"{from}: {format} names → timm names in {to}");
            return 0;
        }));
        return command;
    }
}
