using System.CommandLine;
using System.Globalization;
using Vit.Training;

namespace Vit.Cli;

/// <summary><c>vit bench</c>: images/s and GFLOP/s of a preset's forward pass or training step (median of timed steps).</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var model = Cli.Model(required: true);
        var mode = new Option<string>("--mode") { Description = "forward (inference), train (forward, backward and an AdamW step), or load (the training loader alone, on --data)", DefaultValueFactory = _ => "forward", HelpName = "MODE" };
        mode.AcceptOnlyFromAmong("forward", "train", "load");
        var dataSet = new DataSource.OptionSet();
        dataSet.Data.Description = "load mode: the images (" + DataSource.DataDescription + ")";
        var transforms = new Option<string>("--transforms") { Description = "load mode: cifar or imagenet (default: the model's usual one)", DefaultValueFactory = _ => "auto", HelpName = "RECIPE" };
        transforms.AcceptOnlyFromAmong("auto", "cifar", "imagenet");
        var precision = Cli.PrecisionOption();
        var workers = Cli.Int("--workers", "load mode: loader worker threads (0: as vit train chooses)", 0, min: 0, max: Vit.Data.ImageLoader.MaxWorkers);
        var batch = Cli.Int("--batch", "Images per step", 8);
        var threads = Cli.Int("--threads", $"Worker threads, at most {Vit.Backends.Cpu.WorkerPool.MaxThreads} (default: the physical cores, or VIT_THREADS)", 0, min: 0,
            max: Vit.Backends.Cpu.WorkerPool.MaxThreads);
        var backend = Cli.BackendOption();
        var device = Cli.DeviceOption();
        var seconds = Cli.Double("--seconds", "How long to time steps after the warm-up", 5, v => v > 0 && v <= 3600, "in (0, 3600]");
        var json = Cli.Json("Print one JSON object: model, mode, freeze, batch, threads, backend, images_per_second, ms_per_batch, gflops_per_second");
        var bucketMb = Cli.Double("--bucket-mb", "mpirun, train mode: MiB of gradients per all-reduce bucket", Vit.Training.DataParallelOptions.DefaultBucketMegabytes, v => v > 0 && v <= 1024, "in (0, 1024]");
        var noOverlap = new Option<bool>("--no-overlap") { Description = "mpirun, train mode: all-reduce after the backward pass, not while it runs" };
        var freeze = new Option<bool>("--freeze")
        {
            Description = "train mode: the step of vit train --freeze (the backbone as inference, then the head's forward, backward and AdamW step)",
        };
        var profile = new Option<bool>("--profile")
        {
            Description = "cpu backend: time every kernel call of the timed steps and print each kernel and shape's calls, ms and share per step, and GFLOP/s (with --json: a \"profile\" array)",
        };
        var command = new Command("bench", "Benchmark a preset: warm-up, then timed steps; reports the median (under mpirun: data-parallel, for all ranks)")
        {
            model, mode, batch, threads, backend, device, seconds, json, bucketMb, noOverlap, freeze, transforms, workers, precision, profile,
        };
        foreach (var o in dataSet.All) command.Options.Add(o);
        command.SetAction(r => Cli.Guard(() =>
        {
            var preset = Preset.Find(r.GetValue(model)!);
            if (Cli.Precision(r, precision) != Vit.Backends.Cpu.Precision.Fp32 && r.GetValue(mode) == "load")
                throw new UsageException("--precision bf16 applies to --mode forward and train, not load");
            if (r.GetValue(profile) && r.GetValue(mode) == "load")
                throw new UsageException("--profile times the model's kernels: use it with --mode forward or train, not load");
            if (r.GetValue(mode) == "load") return RunLoader(r, preset, dataSet, transforms, workers, batch, seconds, json);
            bool frozen = r.GetValue(freeze);
            if (frozen && r.GetValue(mode) != "train")
                throw new UsageException("--freeze times a training step: use it with --mode train");
            if (r.GetValue(profile) && r.GetValue(backend) != "cpu")
                throw new UsageException($"--profile times the cpu backend's kernels, found --backend {r.GetValue(backend)}");
            AdamW? adam = null;
            // Under mpirun: one rank of a data-parallel benchmark; rank 0 alone prints.
            using var communicator = Communicator.FromEnvironment();
            if (communicator is { IsRoot: false }) Console.SetOut(TextWriter.Null);
            int threadCount = r.GetValue(threads);
            if (threadCount == 0 && communicator is { LocalSize: > 1 } && Environment.GetEnvironmentVariable("VIT_THREADS") is null)
                threadCount = Math.Max(1, Vit.Backends.Cpu.WorkerPool.PhysicalCoreCount / communicator.LocalSize); // this machine's cores, shared
            try
            {
                var parallel = new DataParallelOptions { BucketMegabytes = r.GetValue(bucketMb), Overlap = !r.GetValue(noOverlap) };
                var result = BenchRunner.Run(preset, Cli.Backend(r, backend, device), r.GetValue(mode)!, r.GetValue(batch), threadCount, TimeSpan.FromSeconds(r.GetValue(seconds)),
                    m => (adam ??= new AdamW(m.Memory, new OptimizerOptions(), frozen ? Optimizer.HeadOnly : null)).Step(1e-4), communicator, parallel, frozen,
                    Cli.Precision(r, precision), r.GetValue(profile));
                if (communicator is { IsRoot: false })
                {
                    // Rank 0 prints for all.
                }
                else if (r.GetValue(json))
                {
                    Cli.WriteJson(w =>
                    {
                        w.WriteString("model", result.Model);
                        w.WriteString("mode", result.Mode);
                        w.WriteBoolean("freeze", result.Freeze);
                        w.WriteString("precision", r.GetValue(precision));
                        if (Cli.Precision(r, precision) == Vit.Backends.Cpu.Precision.Bf16)
                        {
                            w.WriteString("bf16_units", Vit.Backends.Cpu.Bf16Gemm.Units == Vit.Backends.Cpu.Bf16Units.DotProduct ? "dot" : "fma");
                            w.WriteString("bf16_units_reason", Vit.Backends.Cpu.Bf16Gemm.UnitsReason);
                        }
                        w.WriteNumber("batch", result.Batch);
                        w.WriteNumber("threads", result.Threads);
                        w.WriteString("backend", result.Backend);
                        w.WriteNumber("images_per_second", result.ImagesPerSecond);
                        w.WriteNumber("ms_per_batch", result.MsPerBatch);
                        w.WriteNumber("gflops_per_second", result.GflopsPerSecond);
                        w.WriteNumber("runs", result.Runs);
                        if (result.Profile is { } kernels)
                        {
                            w.WriteNumber("mean_ms_per_batch", result.MeanStepMs);
                            w.WriteStartArray("profile");
                            foreach (var k in kernels.Entries)
                            {
                                w.WriteStartObject();
                                w.WriteString("kernel", k.Kernel);
                                w.WriteString("shape", k.Shape);
                                w.WriteNumber("calls_per_batch", (double)k.Calls / result.Runs);
                                w.WriteNumber("ms_per_batch", k.Seconds * 1e3 / result.Runs);
                                if (k.Flops > 0) w.WriteNumber("gflops_per_second", k.Flops / k.Seconds / 1e9);
                                w.WriteEndObject();
                            }
                            w.WriteEndArray();
                            w.WriteNumber("other_ms_per_batch", result.BetweenKernelsMs);
                        }
                        if (communicator is not null)
                        {
                            w.WriteNumber("ranks", result.Ranks);
                            w.WriteNumber("allreduce_wait_ms", result.AllReduceWaitMs);
                            if (result.Buckets is { } buckets)
                            {
                                // MB (10^6 bytes) of gradients per bucket, in the order they are reduced (the last waits for the stem).
                                w.WriteStartArray("bucket_mb");
                                foreach (var (_, count) in buckets) w.WriteNumberValue(Math.Round(count * 4e-6, 2));
                                w.WriteEndArray();
                            }
                        }
                    });
                }
                else
                {
                    string ranks = result.Ranks > 1 ? string.Create(CultureInfo.InvariantCulture, $" × {result.Ranks} ranks") : "";
                    string units = Cli.Precision(r, precision) == Vit.Backends.Cpu.Precision.Bf16
                        ? $", bf16 on {(Vit.Backends.Cpu.Bf16Gemm.Units == Vit.Backends.Cpu.Bf16Units.DotProduct ? "VDPBF16PS" : "the fp32 FMAs")} ({Vit.Backends.Cpu.Bf16Gemm.UnitsReason})"
                        : "";
                    string wait = result.Ranks > 1 && result.Mode == "train" ? string.Create(CultureInfo.InvariantCulture, $", all-reduce wait {result.AllReduceWaitMs:F1} ms per step") : "";
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{result.Model} {result.Mode}{(result.Freeze ? " (frozen backbone)" : "")}, batch {result.Batch}{ranks}, {result.Threads} threads, {result.Backend}{units}: {result.ImagesPerSecond:F2} images/s, {result.MsPerBatch:F1} ms per batch, {result.GflopsPerSecond:F1} GFLOP/s (median of {result.Runs}){wait}"));
                    if (result.Profile is { } kernels) PrintProfile(kernels, result);
                }
                return 0;
            }
            finally
            {
                adam?.Dispose();
            }
        }));
        return command;
    }

    /// <summary>The <c>--profile</c> table: each kernel and shape per step, longest first, then what ran between kernels.</summary>
    private static void PrintProfile(Vit.Backends.KernelProfile kernels, BenchResult result)
    {
        double step = result.MeanStepMs;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"per batch, mean of {result.Runs} steps ({step:F2} ms):"));
        Console.WriteLine($"  {"kernel",-28} {"shape",-34} {"calls",6} {"ms",9} {"share",7} {"GFLOP/s",8}");
        foreach (var k in kernels.Entries)
        {
            double ms = k.Seconds * 1e3 / result.Runs;
            string rate = k.Flops > 0 ? (k.Flops / k.Seconds / 1e9).ToString("F1", CultureInfo.InvariantCulture) : "";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {k.Kernel,-28} {k.Shape,-34} {(double)k.Calls / result.Runs,6:0.##} {ms,9:F3} {ms / step,7:P1} {rate,8}"));
        }
        double other = result.BetweenKernelsMs;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {"(between kernels)",-28} {"staging, the optimizer, the model's own code",-34} {"",6} {other,9:F3} {other / step,7:P1}"));
    }

    /// <summary><c>--mode load</c>: the training loader alone, as <c>vit train</c> would run it on this data at this model's size.</summary>
    private static int RunLoader(System.CommandLine.ParseResult r, Preset preset, DataSource.OptionSet dataSet, Option<string> transforms, Option<int> workers,
        Option<int> batch, Option<double> seconds, Option<bool> json)
    {
        var data = DataSource.FromCommandLine(r, dataSet, saved: null, limitTrain: 0, seed: 0, folderFromSaved: false);
        string t = r.GetValue(transforms)!;
        var result = LoaderBench.Run(preset, data, t == "auto" ? null : Vit.Data.SampleTransform.ParseRecipe(t), r.GetValue(batch), r.GetValue(workers),
            TimeSpan.FromSeconds(r.GetValue(seconds)));
        if (r.GetValue(json))
        {
            Cli.WriteJson(w =>
            {
                w.WriteString("model", result.Model);
                w.WriteString("mode", "load");
                w.WriteString("data", result.Data);
                w.WriteString("transforms", result.Recipe);
                w.WriteNumber("size", result.Size);
                w.WriteNumber("batch", result.Batch);
                w.WriteNumber("workers", result.Workers);
                w.WriteNumber("images_per_second", result.ImagesPerSecond);
                w.WriteNumber("images", result.Images);
            });
            return 0;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{result.Model} loader on {result.Data}: {result.Recipe} transforms at {result.Size} px, batch {result.Batch}, {TrainCommand.Plural(result.Workers, "worker")}: {result.ImagesPerSecond:F1} images/s ({result.Images:N0} images)"));
        return 0;
    }
}
