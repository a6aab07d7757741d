using System.CommandLine;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using Vit.Backends.Ilgpu;
using Vit.IO;
using Vit.Training;

namespace Vit.Cli;

/// <summary>
/// <c>vit kernels --backend ilgpu --target ptx --arch sm_80 --model PRESET --out DIR</c>: every
/// ILGPU kernel the preset's passes and optimizers launch, compiled to PTX without a GPU, one
/// <c>.ptx</c> file per kernel (tools/check-ptx assembles them with ptxas).
/// </summary>
public static class KernelsCommand
{
    public static Command Create()
    {
        var model = Cli.Model(required: true);
        var backend = new Option<string>("--backend") { Description = "The backend whose kernels to write: ilgpu", DefaultValueFactory = _ => "ilgpu", HelpName = "NAME" };
        backend.AcceptOnlyFromAmong("ilgpu");
        var target = new Option<string>("--target") { Description = "What to write: ptx (CUDA's assembly, for ptxas)", DefaultValueFactory = _ => "ptx", HelpName = "T" };
        target.AcceptOnlyFromAmong("ptx");
        var arch = new Option<string>("--arch") { Description = "CUDA architecture: sm_80 (A100), sm_86, sm_89 or sm_90 (H100)", DefaultValueFactory = _ => "sm_80", HelpName = "SM" };
        arch.AcceptOnlyFromAmong([.. IlgpuPtx.Architectures]);
        var output = new Option<string>("--out") { Description = "Folder for the .ptx files (created; files of the same names are replaced)", Required = true, HelpName = "DIR" };
        var json = Cli.Json("Print one JSON object: model, arch, kernels[] (name, file, bytes)");
        var command = new Command("kernels", "Write the ILGPU kernels a preset uses (forward, training, frozen training, AdamW and SGD) as PTX, one file per kernel, without a GPU")
        {
            model, backend, target, arch, output, json,
        };
        command.SetAction(r => Cli.Guard(() => Run(Preset.Find(r.GetValue(model)!), r.GetValue(arch)!, r.GetValue(output)!, r.GetValue(json))));
        return command;
    }

    private static int Run(Preset preset, string arch, string folder, bool json)
    {
        // ILC folds this to false: the native build compiles nothing of ILGPU and says so.
        if (!RuntimeFeature.IsDynamicCodeSupported) throw new PlatformNotSupportedException(Vit.Backends.Backend.IlgpuNeedsJit);
        var kernels = Plan(preset);
        var ptx = IlgpuPtx.Compile(kernels, arch);
        Directory.CreateDirectory(folder);
        var written = new List<(string Name, string File, long Bytes)>();
        foreach (var k in ptx)
        {
            string path = Path.Combine(folder, k.Name + ".ptx");
            AtomicFile.WriteAllText(path, k.Ptx);
            written.Add((k.Name, path, new FileInfo(path).Length));
        }
        if (json)
        {
            Cli.WriteJson(w =>
            {
                w.WriteString("model", preset.Name);
                w.WriteString("arch", arch);
                w.WriteStartArray("kernels");
                foreach (var (name, file, bytes) in written)
                {
                    w.WriteStartObject();
                    w.WriteString("name", name);
                    w.WriteString("file", file);
                    w.WriteNumber("bytes", bytes);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            });
            return 0;
        }
        Console.WriteLine($"{preset.Name}: {written.Count} ILGPU kernels as PTX for {arch} in {folder}");
        foreach (var (name, _, bytes) in written)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name + ".ptx",-60} {bytes,9:N0} bytes"));
        return 0;
    }

    // Runs every pass the preset has (forward, training, frozen training) and both optimizers, with
    // clipping, on a planning backend at batch 1: the kernels are recorded, nothing is launched.
    [RequiresDynamicCode("ILGPU compiles its kernels at run time with Reflection.Emit.")]
    private static IReadOnlyList<System.Reflection.MethodInfo> Plan(Preset preset)
    {
        var backend = IlgpuBackend.Planning();
        var c = preset.Config;
        using var model = preset.Create(0, 1, backend);
        var images = new float[c.Channels * c.ImageSize * c.ImageSize];
        model.Forward(images, 1, new float[model.OutputWidth]);
        if (c.Classes > 0)
        {
            model.ForwardBackward(images, [0], 1);
            model.ForwardBackwardFrozen(images, [0], 1);
            foreach (var kind in new[] { OptimizerKind.AdamW, OptimizerKind.Sgd })
            {
                using var optimizer = Optimizer.Create(model.Memory, new OptimizerOptions { Kind = kind, ClipNorm = 1 });
                optimizer.Step(1e-3);
            }
        }
        return backend.PlannedKernels;
    }
}
