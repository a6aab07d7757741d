using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Vit.Data;
using Vit.IO;
using Vit.Training;

namespace Vit.Cli;

/// <summary>
/// <c>vit train</c>: trains a preset on CIFAR (a folder, or the embedded subset) with AdamW or SGD,
/// warmup + cosine, checkpoints every epoch, <c>--resume</c>, metrics.csv and training.svg.
/// </summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var model = Cli.Model(required: false, fallback: "cifar");
        var dataSet = new DataSource.OptionSet();
        var normalize = new Option<string?>("--normalize") { Description = $"Per-channel mean and std: {Normalization.Syntax} (default: the CIFAR statistics for CIFAR data, imagenet for an image folder)", HelpName = "NAME" };
        var transforms = new Option<string>("--transforms") { Description = "cifar (resize to the model's size, random crop with 4-pixel padding, flip) or imagenet (RandomResizedCrop + flip; eval Resize(S·256/224) + CenterCrop(S)); auto: cifar for 32-pixel models, else imagenet", DefaultValueFactory = _ => "auto", HelpName = "RECIPE" };
        transforms.AcceptOnlyFromAmong("auto", "cifar", "imagenet");
        var epochs = Cli.Int("--epochs", "Passes over the training set", 8);
        var batch = Cli.Int("--batch", "Images per forward/backward pass", 64);
        var accumulate = Cli.Int("--accumulate", "Micro-batches per optimizer step (effective batch = batch × accumulate)", 1);
        var optimizer = new Option<string>("--optimizer") { Description = "adamw or sgd (momentum, Nesterov)", DefaultValueFactory = _ => "adamw", HelpName = "NAME" };
        optimizer.AcceptOnlyFromAmong("adamw", "sgd");
        var lr = Cli.Double("--lr", "Peak learning rate", 1e-3, v => v > 0 && double.IsFinite(v), "> 0");
        var weightDecay = Cli.Double("--weight-decay", "Decoupled weight decay (not on norms, biases, cls_token, pos_embed)", 0.05, v => v >= 0 && double.IsFinite(v), ">= 0");
        var warmup = Cli.Double("--warmup-epochs", "Epochs of linear warmup before the cosine decay", 1, v => v >= 0 && double.IsFinite(v), ">= 0");
        var lrf = Cli.Double("--lrf", "Final learning rate as a fraction of the peak", 0.01, v => v >= 0 && v <= 1, "in [0, 1]");
        var smoothing = Cli.Double("--label-smoothing", "Label smoothing of the training loss", 0.1, v => v >= 0 && v < 1, "in [0, 1)");
        var clip = Cli.Double("--clip-grad", "Clip gradients to this global norm (0 = off)", 1.0, v => v >= 0 && double.IsFinite(v), ">= 0");
        var momentum = Cli.Double("--momentum", "SGD momentum", 0.9, v => v >= 0 && v < 1, "in [0, 1)");
        var noNesterov = new Option<bool>("--no-nesterov") { Description = "SGD: plain momentum instead of Nesterov" };
        var noAugment = new Option<bool>("--no-augment") { Description = "Turn off the random crop and horizontal flip (train images get the eval transform)" };
        var limitTrain = Cli.Int("--limit-train", "Use only N training images: the first N of CIFAR, N drawn (seeded by --seed) from an image folder (0 = all)", 0, min: 0);
        var output = new Option<string>("--out") { Description = "Folder for checkpoint.safetensors, model.safetensors, metrics.csv, training.svg", DefaultValueFactory = _ => "runs/train", HelpName = "DIR" };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its checkpoint (same recipe unless options are given)" };
        var seed = Cli.Int("--seed", "Seeds initialization, dropout, shuffling and augmentation", 0, min: 0);
        var weights = new Option<string?>("--weights") { Description = "Start from pretrained weights (safetensors with timm, torchvision or Hugging Face names, or a Google .npz) instead of the seeded initialization; a head for other classes is replaced by a new one", HelpName = "FILE" };
        var freeze = new Option<bool>("--freeze") { Description = "Train only the head (and pre-logits) on top of --weights" };
        var json = Cli.Json("Print one JSON object per epoch on stdout instead of the progress display");
        var stopAt = Cli.Int("--stop-at-step", "Stop after this many optimizer steps in all, with a checkpoint to --resume from (0 = run every epoch)", 0, min: 0);
        // Data-parallel training under mpirun (docs/distributed.md).
        var bucketMb = Cli.Double("--bucket-mb", "mpirun: MiB of gradients per all-reduce bucket", DataParallelOptions.DefaultBucketMegabytes, v => v > 0 && v <= 1024, "in (0, 1024]");
        var noOverlap = new Option<bool>("--no-overlap") { Description = "mpirun: all-reduce the gradients after the backward pass, not bucket by bucket while it runs" };
        var checkReplicas = Cli.Int("--check-replicas", "mpirun: compare a checksum of the parameters across ranks every N steps (0 = after each epoch)", 0, min: 0);

        var backend = Cli.BackendOption();
        var device = Cli.DeviceOption();
        var precision = Cli.PrecisionOption();
        var command = new Command("train", "Train or fine-tune a preset on CIFAR or an image folder: AdamW/SGD, warmup + cosine, checkpoints, resume")
        {
            model, normalize, transforms, epochs, batch, accumulate, optimizer, lr, weightDecay, warmup, lrf, smoothing, clip, momentum, noNesterov,
            noAugment, limitTrain, output, resume, seed, weights, freeze, backend, device, json, stopAt, bucketMb, noOverlap, checkReplicas, precision,
        };
        foreach (var o in dataSet.All) command.Options.Add(o);
        command.SetAction(r => Cli.Guard(() =>
        {
            bool Given(Option o) => r.GetResult(o) is { Implicit: false };
            string outFolder = r.GetValue(output)!;
            string checkpoint = Path.Combine(outFolder, Trainer.CheckpointFile);
            bool resuming = r.GetValue(resume);

            // On --resume the checkpoint's recipe, model and data are the defaults; options given now override them.
            TrainOptions recipe = new();
            IReadOnlyDictionary<string, string>? saved = null;
            if (resuming)
            {
                if (!File.Exists(checkpoint))
                    throw new UsageException($"--resume: there is no {Trainer.CheckpointFile} in '{outFolder}' to resume; run without --resume to start, or point --out at the run");
                using var file = SafeTensorsFile.Open(checkpoint);
                saved = file.Metadata;
                if (saved.TryGetValue("recipe", out var recipeJson)) recipe = TrainOptionsJson.Parse(recipeJson, checkpoint);
            }
            else if (File.Exists(checkpoint))
            {
                throw new UsageException($"'{outFolder}' already holds a training run ({Trainer.CheckpointFile}); continue it with --resume, or choose a new folder with --out");
            }
            // Without --resume every value comes from the command line (or its default); with it, only the given ones do.
            T Pick<T>(Option<T> o, T saved) => resuming && !Given(o) ? saved : r.GetValue(o)!;
            var opt = recipe.Optimizer;
            opt = opt with
            {
                Kind = Pick(optimizer, opt.Kind == OptimizerKind.Sgd ? "sgd" : "adamw") == "sgd" ? OptimizerKind.Sgd : OptimizerKind.AdamW,
                WeightDecay = Pick(weightDecay, opt.WeightDecay),
                ClipNorm = Pick(clip, opt.ClipNorm),
                Momentum = Pick(momentum, opt.Momentum),
                Nesterov = !Pick(noNesterov, !opt.Nesterov),
            };
            recipe = recipe with
            {
                Epochs = Pick(epochs, recipe.Epochs),
                Batch = Pick(batch, recipe.Batch),
                Accumulate = Pick(accumulate, recipe.Accumulate),
                LearningRate = Pick(lr, recipe.LearningRate),
                WarmupEpochs = Pick(warmup, recipe.WarmupEpochs),
                FinalLearningRateFraction = Pick(lrf, recipe.FinalLearningRateFraction),
                LabelSmoothing = Pick(smoothing, recipe.LabelSmoothing),
                Augment = !Pick(noAugment, !recipe.Augment),
                Transforms = Given(transforms) ? (r.GetValue(transforms) == "auto" ? null : SampleTransform.ParseRecipe(r.GetValue(transforms)!)) : recipe.Transforms,
                Freeze = Pick(freeze, recipe.Freeze),
                Precision = resuming && !Given(precision) ? recipe.Precision : Cli.Precision(r, precision),
                Seed = (ulong)Pick(seed, (int)recipe.Seed),
                Optimizer = opt,
            };
            try
            {
                recipe.Validate();
            }
            catch (ArgumentOutOfRangeException e)
            {
                // Each option is checked alone when parsed; this catches combinations (and resumed recipes).
                string option = Cli.OptionFor(e.ParamName);
                string message = Cli.Message(e);
                if (e.ParamName is { } p && message.StartsWith(p, StringComparison.Ordinal)) message = option + message[p.Length..];
                throw new UsageException(message.TrimEnd('.'));
            }
            int limit = r.GetValue(limitTrain);
            Preset preset = Preset.Find(r.GetValue(model)!);
            Normalization? normalization = r.GetValue(normalize) is { } n ? Cli.ParseNormalization(n) : null;
            if (saved is not null)
            {
                if (!Given(limitTrain) && saved.TryGetValue(DataSource.LimitKey, out var l)) limit = int.Parse(l, CultureInfo.InvariantCulture);
                if (!Given(model)) preset = Preset.FromMetadata(checkpoint, saved);
                normalization ??= WeightsInfo.SavedNormalization(saved);
            }
            var dataOptions = DataSource.FromCommandLine(r, dataSet, saved, limit, recipe.Seed, folderFromSaved: true);
            if (recipe.Freeze && r.GetValue(weights) is null && !resuming)
                throw new UsageException("--freeze trains only the head, so it needs pretrained --weights to start from");
            var parallel = new DataParallelOptions { BucketMegabytes = r.GetValue(bucketMb), Overlap = !r.GetValue(noOverlap), CheckReplicasEvery = r.GetValue(checkReplicas) };
            int stopAtStep = r.GetValue(stopAt);
            return Run(preset, recipe, dataOptions, normalization, outFolder, resuming ? checkpoint : null, r.GetValue(weights), r.GetValue(json), Cli.Backend(r, backend, device),
                parallel, stopAtStep == 0 ? null : stopAtStep);
        }));
        return command;
    }

    private static int Run(Preset preset, TrainOptions recipe, DataOptions data, Normalization? normalization, string outFolder, string? resumeFrom, string? weights, bool json, Vit.Backends.Backend backend,
        DataParallelOptions parallel, long? stopAtStep)
    {
        // Under mpirun this process is one rank of a data-parallel run (docs/distributed.md).
        if (Communicator.FromEnvironment() is { } communicator)
            return RunRank(communicator, preset, recipe, data, normalization, outFolder, resumeFrom, weights, json, backend, parallel, stopAtStep);
        using var run = Prepare(null, preset, recipe, data, normalization, outFolder, resumeFrom, weights, backend, parallel, stopAtStep);
        if (run is null) return 0;
        var (trainer, train, test) = (run.Trainer, run.Train, run.Test);

        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (cancel.IsCancellationRequested) return; // a second Ctrl+C ends the process
            e.Cancel = true;
            cancel.Cancel();
            Console.Error.WriteLine("vit: stopping after this step; saving a checkpoint (Ctrl+C again to quit at once)");
        };
        Console.CancelKeyPress += onCancel;
        // SIGTERM (kill, a job scheduler's stop) is treated as Ctrl+C: save at the next step, then exit 143.
        bool terminated = false;
        using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
        {
            if (cancel.IsCancellationRequested) return; // a second SIGTERM ends the process
            context.Cancel = true;
            terminated = true;
            cancel.Cancel();
            Console.Error.WriteLine("vit: SIGTERM: stopping after this step; saving a checkpoint");
        });
        try
        {
            string what = $"{preset.Name} ({preset.Summary.Parameters:N0} parameters) on {train.Source}: {train.Count:N0} train / {test?.Count ?? 0:N0} test images, "
                + $"{Plural(recipe.Epochs, "epoch")} × {Plural(trainer.BatchesPerEpoch, "batch", "batches")} of {recipe.Batch}{(recipe.Accumulate > 1 ? $" (×{recipe.Accumulate} accumulated)" : "")}, "
                + $"{trainer.Optimizer.Name} lr {recipe.LearningRate.ToString(CultureInfo.InvariantCulture)}, on {backend}";
            what += "; " + Inputs(trainer);
            if (trainer.Progress.Step > 0) what += $"; resuming at epoch {trainer.Progress.Epoch + 1}, step {trainer.Progress.Step}";
            TrainingOutcome outcome;
            if (json)
            {
                Console.Error.WriteLine(what);
                trainer.EpochCompleted = m => WriteEpochJson(m, null);
                outcome = trainer.Run(outFolder, cancel.Token);
            }
            else
            {
                Console.WriteLine(what);
                outcome = Cli.InteractiveConsole ? RunWithProgressBars(trainer, recipe, outFolder, cancel.Token) : RunWithLines(trainer, outFolder, cancel.Token);
            }
            if (outcome == TrainingOutcome.Interrupted && !cancel.IsCancellationRequested)
            {
                Console.Error.WriteLine($"vit: stopped after step {trainer.Progress.Step} (--stop-at-step), in epoch {trainer.Progress.Epoch + 1}; checkpoint saved in {outFolder}; continue with: vit train --resume --out {outFolder}");
                return 0;
            }
            if (outcome == TrainingOutcome.Interrupted)
            {
                Console.Error.WriteLine($"vit: interrupted at epoch {trainer.Progress.Epoch + 1}, step {trainer.Progress.Step}; checkpoint saved in {outFolder}; continue with: vit train --resume --out {outFolder}");
                return terminated ? 143 : 130;
            }
            if (!json)
            {
                var last = trainer.History[^1];
                string result = double.IsNaN(last.TestAccuracy) ? string.Create(CultureInfo.InvariantCulture, $"no test set (train accuracy {last.TrainAccuracy * 100:F1}%)")
                    : string.Create(CultureInfo.InvariantCulture, $"test accuracy {last.TestAccuracy * 100:F1}%");
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"done: {result} after {Plural(last.Epoch, "epoch")}, {last.Seconds / 60:F1} min. Files in {outFolder}: "
                    + $"{string.Join(", ", OutputFiles)}"));
                Console.WriteLine($"next: vit eval --weights {Path.Combine(outFolder, Trainer.WeightsFile)}{(data.Folder is null ? "" : $" --data {data.Folder}")}");
            }
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>
    /// One rank of a data-parallel run under mpirun. Rank 0 alone holds the out folder, prints and
    /// writes files. A failure on any rank after MPI is up aborts the whole run (MPI_Abort), so no
    /// rank is left waiting in a collective; its one line comes first. SIGTERM (mpirun sends it to
    /// every rank when one dies or when mpirun is interrupted, and kills them a second later)
    /// stops at once: the last checkpoint is kept.
    /// </summary>
    private static int RunRank(Communicator communicator, Preset preset, TrainOptions recipe, DataOptions data, Normalization? normalization, string outFolder,
        string? resumeFrom, string? weights, bool json, Vit.Backends.Backend backend, DataParallelOptions parallel, long? stopAtStep)
    {
        bool root = communicator.IsRoot;
        string who = $"vit: rank {communicator.Rank} of {communicator.Size}: ";
        using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, _ =>
            Console.Error.WriteLine(who + $"SIGTERM from mpirun (another rank stopped, or mpirun was interrupted): stopping now; the last checkpoint in {outFolder} is kept"));
        try
        {
            if (!root) Console.SetOut(TextWriter.Null);
            if (communicator.LocalSize > 1 && Environment.GetEnvironmentVariable("VIT_THREADS") is null)
                Vit.Backends.Cpu.WorkerPool.Configure(Math.Max(1, Vit.Backends.Cpu.WorkerPool.PhysicalCoreCount / communicator.LocalSize)); // this machine's cores, shared
            using var run = Prepare(communicator, preset, recipe, data, normalization, outFolder, resumeFrom, weights, backend, parallel, stopAtStep);
            if (run is null)
            {
                communicator.Dispose();
                return 0;
            }
            var (trainer, train) = (run.Trainer, run.Train);
            string what = string.Create(CultureInfo.InvariantCulture,
                $"{preset.Name} ({preset.Summary.Parameters:N0} parameters) on {train.Source}, data-parallel on {Plural(communicator.Size, "rank")} × {Plural(Vit.Backends.Cpu.WorkerPool.Shared.Threads, "thread")}: "
                + $"{Plural(recipe.Epochs, "epoch")} × {Plural(trainer.BatchesPerEpoch, "global batch", "global batches")} of {recipe.Batch} × {communicator.Size}{(recipe.Accumulate > 1 ? $" (×{recipe.Accumulate} accumulated)" : "")}, "
                + $"{trainer.Optimizer.Name} lr {recipe.LearningRate}, buckets of {parallel.BucketMegabytes} MiB {(parallel.Overlap ? "reduced while backward runs" : "reduced after backward")} ({Plural(trainer.Reducer!.Buckets.Count, "bucket")})");
            what += "; " + Inputs(trainer);
            if (trainer.Progress.Step > 0) what += $"; resuming at epoch {trainer.Progress.Epoch + 1}, step {trainer.Progress.Step}";
            if (root) Console.Error.WriteLine(what);
            // Plain lines (a progress line every 5 s, one per epoch with the all-reduce wait so far), or one JSON object per epoch.
            var lines = root && !json ? new ProgressLines(Console.Out, recipe.Epochs) : null;
            if (lines is not null) trainer.BatchCompleted = lines.Batch;
            trainer.EpochCompleted = m =>
            {
                if (!root) return;
                if (lines is not null)
                {
                    lines.Epoch(m);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  all-reduce wait so far {trainer.Reducer.WaitSeconds:F2} s ({trainer.Reducer.WaitSeconds * 1e3 / Math.Max(1, trainer.Reducer.Steps):F1} ms per step)"));
                    return;
                }
                WriteEpochJson(m, w =>
                {
                    w.WriteNumber("ranks", communicator.Size);
                    w.WriteNumber("allreduce_wait_seconds", trainer.Reducer.WaitSeconds);
                    w.WriteString("parameter_checksum", trainer.ReplicaChecksum.ToString("x16", CultureInfo.InvariantCulture));
                });
            };
            var outcome = trainer.Run(outFolder);
            if (root && outcome == TrainingOutcome.Interrupted)
                Console.Error.WriteLine($"vit: stopped after step {trainer.Progress.Step} (--stop-at-step), in epoch {trainer.Progress.Epoch + 1}; checkpoint saved in {outFolder}; continue with: mpirun -np {communicator.Size} vit train --resume --out {outFolder}");
            else if (root && !json)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"done: {(double.IsNaN(trainer.History[^1].TestAccuracy) ? "no test set" : $"test accuracy {trainer.History[^1].TestAccuracy * 100:F1}%")} after {Plural(trainer.History[^1].Epoch, "epoch")} on {communicator.Size} ranks. Files in {outFolder}: "
                    + $"{string.Join(", ", OutputFiles)}"));
            communicator.Dispose(); // MPI_Finalize: every rank gets here
            return 0;
        }
        catch (Exception e) when (e is UsageException or IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException
            or InvalidOperationException or KeyNotFoundException or TrainingDivergedException or CommunicationException or NotSupportedException)
        {
            // The other ranks may be waiting in a collective: end them all.
            Console.Error.WriteLine(who + Cli.Message(e));
            Console.Error.Flush();
            int code = e is UsageException ? 2 : 1;
            if (communicator is MpiCommunicator mpi && communicator.Size > 1) mpi.Abort(code);
            return code;
        }
    }

    /// <summary>What a run needs, set up the same way with or without mpirun.</summary>
    private sealed class PreparedRun(RunFolderLock? folderLock, IVisionTransformer model, Trainer trainer, ImageDataset train, ImageDataset? test) : IDisposable
    {
        public Trainer Trainer { get; } = trainer;

        public ImageDataset Train { get; } = train;

        public ImageDataset? Test { get; } = test;

        public void Dispose()
        {
            Trainer.Dispose();
            model.Dispose();
            folderLock?.Dispose();
        }
    }

    /// <summary>
    /// Loads the data, takes the out folder, builds the model and the trainer, loads --weights or
    /// resumes, and writes recipe.json. Under mpirun only rank 0 touches the out folder and prints.
    /// Null when a resumed run has already finished (it says so).
    /// </summary>
    private static PreparedRun? Prepare(Communicator? communicator, Preset preset, TrainOptions recipe, DataOptions data, Normalization? normalization, string outFolder,
        string? resumeFrom, string? weights, Vit.Backends.Backend backend, DataParallelOptions parallel, long? stopAtStep)
    {
        bool root = communicator?.IsRoot ?? true;
        var (train, test) = DataSource.Load(data);
        var norm = normalization ?? train.DefaultNormalization;
        if (root) PrepareOutFolder(outFolder);
        RunFolderLock? folderLock = root ? LockOutFolder(outFolder) : null;
        IVisionTransformer? model = null;
        Trainer? trainer = null;
        try
        {
            Cli.CheckBatch(preset.Config, preset.Summary, recipe.Batch, training: true, frozen: recipe.Freeze);
            model = preset.Create((int)recipe.Seed, recipe.Batch, backend);
            if (weights is not null && resumeFrom is null) LoadPretrained(model, weights, train.ClassNames, print: root);
            trainer = new Trainer(model, train, test, recipe, norm, communicator, parallel) { StopAtStep = stopAtStep };
            DataSource.Describe(data, trainer.ExtraMetadata);
            var run = new PreparedRun(folderLock, model, trainer, train, test);
            if (resumeFrom is not null)
            {
                trainer.Resume(resumeFrom);
                if (trainer.Progress.Epoch >= recipe.Epochs)
                {
                    if (root) Console.Error.WriteLine($"vit: the run in '{outFolder}' has finished its {recipe.Epochs} epochs; raise --epochs to train further");
                    run.Dispose();
                    return null;
                }
            }
            if (root) AtomicFile.WriteAllText(Path.Combine(outFolder, RecipeFile), recipe.ToJson() + "\n");
            return run;
        }
        catch
        {
            trainer?.Dispose();
            model?.Dispose();
            folderLock?.Dispose();
            throw;
        }
    }

    /// <summary>How the images reach the model: the transform recipe and size, the normalization, the loader's workers.</summary>
    private static string Inputs(Trainer trainer)
    {
        var n = trainer.Normalization;
        var c = CultureInfo.InvariantCulture;
        string Three(Func<int, float> f) => string.Join(",", Enumerable.Range(0, 3).Select(i => f(i).ToString("0.####", c)));
        return $"{SampleTransform.Name(trainer.Recipe)} transforms at {trainer.EvalTransform.Size} px{(trainer.Options.Augment ? "" : " (no augmentation)")}, "
            + $"normalized by mean {Three(n.Mean)} std {Three(n.Std)}, {Plural(trainer.LoaderWorkers, "loader worker")}";
    }

    /// <summary>One JSON object per epoch on stdout (<c>--json</c>); <paramref name="extra"/> adds fields.</summary>
    private static void WriteEpochJson(EpochMetrics m, Action<System.Text.Json.Utf8JsonWriter>? extra) => Cli.WriteJson(w =>
    {
        w.WriteNumber("epoch", m.Epoch);
        w.WriteNumber("train_loss", m.TrainLoss);
        w.WriteNumber("train_accuracy", m.TrainAccuracy);
        w.WriteNumberOrNull("test_loss", m.TestLoss);
        w.WriteNumberOrNull("test_accuracy", m.TestAccuracy);
        w.WriteNumber("lr", m.LearningRate);
        w.WriteNumber("images_per_second", m.ImagesPerSecond);
        w.WriteNumber("seconds", m.Seconds);
        w.WriteNumber("step", m.Step);
        extra?.Invoke(w);
    });

    /// <summary>
    /// Loads <c>--weights</c> for fine-tuning: timm, torchvision or Hugging Face names; a classifier
    /// for other classes is replaced by the model's fresh one. Prints, as PyTorch's
    /// <c>load_state_dict(strict=False)</c> reports it, what was missing and what was unexpected.
    /// </summary>
    private static void LoadPretrained(IVisionTransformer model, string weights, IReadOnlyList<string> classes, bool print)
    {
        // A head trained on other classes is replaced even where its shape fits (a wider head serves any class count up to its width).
        IReadOnlyDictionary<string, string> metadata = new Dictionary<string, string>();
        if (!NpzWeights.IsNpz(weights))
            using (var file = SafeTensorsFile.Open(weights)) metadata = file.Metadata;
        var saved = WeightsInfo.SavedClassNames(metadata);
        // Without saved names (timm, torchvision, Google files), a head that fits is kept only for data of its full width (ImageNet-1k into a 1000-class model).
        bool otherClasses = saved is null ? classes.Count != model.Config.Classes : !saved.SequenceEqual(classes, StringComparer.Ordinal);
        var report = model.Memory.LoadPretrained(weights, replaceHead: otherClasses);
        if (!print) return;
        string names = report.Format == WeightFormat.Timm ? "" : $" ({report.Format} names, read as timm's)";
        foreach (string r in report.Resampled) Console.Error.WriteLine($"vit: --weights {weights}: {r}, as timm's resample_abs_pos_embed");
        if (report.Missing.Count == 0 && report.Unexpected.Count == 0)
        {
            if (names.Length > 0) Console.Error.WriteLine($"vit: --weights {weights}{names}: every tensor loaded");
            return;
        }
        string why = !otherClasses ? ""
            : saved is null ? $" (the data has {classes.Count} classes, not the {model.Config.Classes} of the weights' head)"
            : $" (they were trained on other classes: {string.Join(", ", saved.Take(5))}{(saved.Count > 5 ? ", …" : "")})";
        Console.Error.WriteLine($"vit: --weights {weights}{names}: a new head{why}; missing (freshly initialized): {string.Join(", ", report.Missing)}; "
            + $"unexpected (skipped): {(report.Unexpected.Count == 0 ? "none" : string.Join(", ", report.Unexpected))}");
    }

    /// <summary>Holds the out folder for this run: a second run on the same folder is refused (exit 2), naming this one.</summary>
    private static RunFolderLock LockOutFolder(string outFolder)
    {
        try
        {
            return RunFolderLock.Acquire(outFolder);
        }
        catch (RunFolderInUseException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>Creates the out folder and proves it is writable before any training time is spent.</summary>
    private static void PrepareOutFolder(string outFolder)
    {
        try
        {
            Directory.CreateDirectory(outFolder);
            string probe = Path.Combine(outFolder, $".vit-write-test-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot write to the out folder '{outFolder}': {e.Message}", e);
        }
    }

    /// <summary>The recipe's file name in the out folder (the options of the run, as JSON).</summary>
    public const string RecipeFile = "recipe.json";

    /// <summary>The files a run leaves in its out folder, in the order they are listed.</summary>
    public static IReadOnlyList<string> OutputFiles { get; } = [Trainer.WeightsFile, Trainer.CheckpointFile, Trainer.MetricsFile, Trainer.PlotFile, RecipeFile];

    /// <summary><c>1 epoch</c>, <c>8 epochs</c>; <c>1 batch</c>, <c>31 batches</c>.</summary>
    public static string Plural(long count, string singular, string? plural = null) =>
        string.Create(CultureInfo.InvariantCulture, $"{count:N0} {(count == 1 ? singular : plural ?? singular + "s")}");

    /// <summary>Output that is not a terminal (a log, a pipe, CI): a plain line every few seconds and one per epoch.</summary>
    private static TrainingOutcome RunWithLines(Trainer trainer, string outFolder, CancellationToken cancel)
    {
        ProgressLines.Attach(trainer, Console.Out);
        return trainer.Run(outFolder, cancel);
    }

    private static TrainingOutcome RunWithProgressBars(Trainer trainer, TrainOptions recipe, string outFolder, CancellationToken cancel)
    {
        return AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                ProgressTask? task = null;
                trainer.BatchCompleted = p =>
                {
                    task ??= ctx.AddTask($"epoch {p.Epoch}/{recipe.Epochs}", maxValue: p.Batches);
                    task.Value = p.Batch;
                    task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                        $"epoch {p.Epoch}/{recipe.Epochs}  loss {p.Loss:F3}  acc {p.Accuracy * 100:F1}%  {p.ImagesPerSecond:F0} img/s  lr {p.LearningRate:0.0e+0}"));
                };
                trainer.EvaluationStarted = () =>
                {
                    if (task is not null) task.Description += "  evaluating…";
                };
                trainer.EpochCompleted = m =>
                {
                    if (task is not null)
                    {
                        task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                            $"epoch {m.Epoch}/{recipe.Epochs}  train {m.TrainLoss:F3} {m.TrainAccuracy * 100:F1}%  test {m.TestLoss:F3} {m.TestAccuracy * 100:F1}%  {m.ImagesPerSecond:F0} img/s"));
                        task.Value = task.MaxValue;
                        task.StopTask();
                    }
                    task = null;
                };
                return trainer.Run(outFolder, cancel);
            });
    }
}
