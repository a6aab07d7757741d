using System.Diagnostics;
using Vit.Data;
using Vit.IO;

namespace Vit.Training;

/// <summary>The loss or the gradients stopped being finite; the message names the step.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);

/// <summary>How a <see cref="Trainer.Run"/> ended.</summary>
public enum TrainingOutcome
{
    /// <summary>Every epoch ran.</summary>
    Finished,

    /// <summary>Cancelled: a checkpoint at the last optimizer step was saved (when there is an out folder).</summary>
    Interrupted,
}

/// <summary>
/// Trains a compiled classifier on an image dataset (CIFAR records or an image folder): shuffled,
/// augmented batches from a prefetching loader; gradient accumulation; the optimizer with warmup + cosine schedule; evaluation after
/// every epoch; and, with an out folder, a checkpoint, <c>model.safetensors</c>,
/// <c>metrics.csv</c> and <c>training.svg</c> after every epoch. Every random draw is a function
/// of the seeds and the position in the run, so an interrupted run resumed from its checkpoint
/// computes the same losses as one that never stopped.
/// </summary>
public sealed class Trainer : IDisposable
{
    /// <summary>The checkpoint's file name in the out folder.</summary>
    public const string CheckpointFile = "checkpoint.safetensors";

    /// <summary>The weights-only file in the out folder (what <c>vit eval</c> and <c>vit predict</c> take).</summary>
    public const string WeightsFile = "model.safetensors";

    /// <summary>The metrics log in the out folder.</summary>
    public const string MetricsFile = "metrics.csv";

    /// <summary>The training curves in the out folder.</summary>
    public const string PlotFile = "training.svg";

    /// <summary>The class names in the out folder, as the documents' <c>class_indices.json</c> (<c>{"0": "daisy", …}</c>).</summary>
    public const string ClassIndicesFile = "class_indices.json";

    /// <summary>The metadata key of the transform recipe (<c>cifar</c> or <c>imagenet</c>), which eval and predict follow.</summary>
    public const string TransformsKey = "transforms";

    private readonly IVisionTransformer _model;
    private readonly Communicator? _communicator;
    private readonly GradientReducer? _reducer;
    private readonly ImageDataset _train;
    private readonly ImageDataset? _test;
    private readonly ImageLoader _loader;
    private readonly List<EpochMetrics> _history = [];

    /// <summary>Sets up a run; nothing is trained until <see cref="Run"/>.</summary>
    /// <exception cref="ArgumentException">The model does not fit the data, or the data is smaller than a batch.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A recipe value is out of range.</exception>
    public Trainer(IVisionTransformer model, ImageDataset train, ImageDataset? test, TrainOptions options, Normalization normalization)
        : this(model, train, test, options, normalization, communicator: null)
    {
    }

    /// <summary>
    /// Sets up one rank of a data-parallel run over <paramref name="communicator"/>'s ranks (or a
    /// plain run when it is null): each rank trains on its slice of every global batch of
    /// <c>Batch × ranks</c> images, the gradients are summed over the ranks before every optimizer
    /// step, and every rank holds the same parameters after it. Rank 0 alone writes files; the
    /// ranks share evaluation. Every rank must construct its trainer with the same arguments.
    /// </summary>
    /// <exception cref="ArgumentException">The model does not fit the data, the data is smaller than a global batch, or the model runs on a device.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A recipe value is out of range.</exception>
    public Trainer(IVisionTransformer model, ImageDataset train, ImageDataset? test, TrainOptions options, Normalization normalization,
        Communicator? communicator, DataParallelOptions? dataParallel = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Evaluator.CheckFits(model, train);
        if (test is not null) Evaluator.CheckFits(model, test);
        int ranks = communicator?.Size ?? 1;
        if (train.Count < (long)options.Batch * ranks)
            throw new ArgumentException(ranks == 1
                ? $"{train.Source} has {train.Count} training images, fewer than one batch of {options.Batch}; lower --batch."
                : $"{train.Source} has {train.Count} training images, fewer than one global batch of {options.Batch} × {ranks} ranks; lower --batch.");
        if (communicator is not null && model.Memory.Device is not null)
            throw new ArgumentException($"data-parallel training runs on the CPU backend; {model.Config.Name} runs on a device here (run each rank with --backend cpu)");
        _model = model;
        _communicator = communicator;
        DataParallel = dataParallel ?? new DataParallelOptions();
        DataParallel.Validate();
        _train = train;
        _test = test;
        Options = options;
        Normalization = normalization;
        ClassNames = train.ClassNames;
        Recipe = options.Transforms ?? SampleTransform.DefaultRecipe(model.Config.ImageSize);
        _loader = new ImageLoader(train, options.Batch, new LoaderOptions(Shuffle: true, Seed: options.Seed, DropLast: true,
            ShardIndex: communicator?.Rank ?? 0, ShardCount: ranks), SampleTransform.ForTraining(Recipe, model.Config.ImageSize, normalization, options.Augment));
        EvalTransform = SampleTransform.ForEvaluation(Recipe, model.Config.ImageSize, normalization);
        BatchesPerEpoch = _loader.BatchesPerEpoch;
        StepsPerEpoch = (BatchesPerEpoch + options.Accumulate - 1) / options.Accumulate;
        long total = (long)StepsPerEpoch * options.Epochs;
        Schedule = new LearningRateSchedule(options.LearningRate, (long)Math.Round(options.WarmupEpochs * StepsPerEpoch), total, options.FinalLearningRateFraction);
        Optimizer = Optimizer.Create(model.Memory, options.Optimizer, options.Freeze ? Optimizer.HeadOnly : null);
        model.Memory.LabelSmoothing = (float)options.LabelSmoothing;
        // A head compiled for more classes serves the data's: its first train.ClassCount outputs.
        if (train.ClassCount < model.Config.Classes && model.Memory.Device is { ServesFewerClasses: false } device)
            throw new ArgumentException($"{model.Config.Name} has a head of {model.Config.Classes} classes and {train.Source} has {train.ClassCount}; "
                + $"a head serving fewer classes than it was compiled for trains on the cpu and ilgpu backends, not on {device.BackendName}");
        model.Memory.ActiveClasses = train.ClassCount;
        model.Memory.Precision = options.Precision;
        if (communicator is not null)
        {
            _reducer = new GradientReducer(communicator, model.Memory, Optimizer.Trained, DataParallel);
            if (int.TryParse(Environment.GetEnvironmentVariable("VIT_FAULT_DROP_GRADIENTS_RANK"), System.Globalization.CultureInfo.InvariantCulture, out int drop))
                _reducer.DropOwnGradients = drop == communicator.Rank;
            // Rank 0's dropout stream is the one a single process uses; each other rank draws its own.
            if (communicator.Rank > 0)
                model.DropoutRng = new Vit.Numerics.Rng(KeyHash.Of(options.Seed, KeyHash.DropoutRankStream, (ulong)communicator.Rank));
        }
    }

    /// <summary>The data-parallel communicator (null for a plain run).</summary>
    public Communicator? Communicator => _communicator;

    /// <summary>Ranks in the run (1 for a plain run).</summary>
    public int Ranks => _communicator?.Size ?? 1;

    /// <summary>True on the rank that prints and writes files (always, in a plain run).</summary>
    public bool IsRoot => _communicator?.IsRoot ?? true;

    /// <summary>How gradients are reduced and replicas checked in a data-parallel run.</summary>
    public DataParallelOptions DataParallel { get; }

    /// <summary>The gradient reducer of a data-parallel run (its wait time is the communication not hidden behind backward).</summary>
    public GradientReducer? Reducer => _reducer;

    /// <summary>Stops the run, with a checkpoint, once this many optimizer steps have been taken in all (null: no limit).</summary>
    public long? StopAtStep { get; set; }

    /// <summary>The recipe.</summary>
    public TrainOptions Options { get; }

    /// <summary>How images are normalized.</summary>
    public Normalization Normalization { get; }

    /// <summary>The transform recipe in use (the recipe's, or the model's usual one).</summary>
    public TransformRecipe Recipe { get; }

    /// <summary>How test images are rendered.</summary>
    public SampleTransform EvalTransform { get; }

    /// <summary>The training loader's worker threads.</summary>
    public int LoaderWorkers => _loader.Workers;

    /// <summary>The class names saved with the weights.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>The optimizer (its state is in the checkpoint).</summary>
    public Optimizer Optimizer { get; }

    /// <summary>The learning-rate schedule over the whole run.</summary>
    public LearningRateSchedule Schedule { get; }

    /// <summary>Micro-batches per epoch (the last partial batch is dropped, as the seeds do).</summary>
    public int BatchesPerEpoch { get; }

    /// <summary>Optimizer steps per epoch.</summary>
    public int StepsPerEpoch { get; }

    /// <summary>Where the run stands.</summary>
    public TrainingProgress Progress { get; private set; } = TrainingProgress.Start;

    /// <summary>Epoch results so far (including those read back from <c>metrics.csv</c> when resuming).</summary>
    public IReadOnlyList<EpochMetrics> History => _history;

    /// <summary>Called after every micro-batch.</summary>
    public Action<BatchProgress>? BatchCompleted { get; set; }

    /// <summary>Called after every optimizer step with the 1-based step number and the mean loss of its micro-batches.</summary>
    public Action<long, double>? StepCompleted { get; set; }

    /// <summary>Called after every epoch, once its files are written.</summary>
    public Action<EpochMetrics>? EpochCompleted { get; set; }

    /// <summary>Called when evaluation starts (it takes a few seconds).</summary>
    public Action? EvaluationStarted { get; set; }

    /// <summary>
    /// Restores the model, optimizer, RNG and progress from <paramref name="checkpointPath"/>, and
    /// the epoch history from the <c>metrics.csv</c> next to it.
    /// </summary>
    /// <exception cref="InvalidDataException">The checkpoint is not from this model, optimizer or recipe.</exception>
    public CheckpointInfo Resume(string checkpointPath)
    {
        var info = Checkpoint.Load(checkpointPath, _model, Optimizer);
        int savedRanks = info.Metadata.TryGetValue(Checkpoint.RanksKey, out var rk) && int.TryParse(rk, System.Globalization.CultureInfo.InvariantCulture, out int n) ? n : 1;
        if (savedRanks != Ranks)
            throw new InvalidDataException(savedRanks == 1
                ? $"'{checkpointPath}' was trained by one process, this run has {Ranks} ranks; resume it without mpirun (a different rank count would change the dropout streams)"
                : $"'{checkpointPath}' was trained on {savedRanks} ranks, this run has {Ranks}; resume with mpirun -np {savedRanks} (a different rank count would change the dropout streams)");
        if (_communicator is { Rank: > 0 } comm)
            _model.DropoutRng = Checkpoint.ParseRng(checkpointPath, Checkpoint.DropoutRngKey(comm.Rank),
                info.Metadata.TryGetValue(Checkpoint.DropoutRngKey(comm.Rank), out var own) ? own : "");
        if (info.Progress.Epoch > Options.Epochs || (info.Progress.Epoch == Options.Epochs && info.Progress.NextBatch > 0))
            throw new InvalidDataException($"'{checkpointPath}' is at epoch {info.Progress.Epoch}, beyond the {Options.Epochs} epochs of this run; raise --epochs.");
        if (info.Metadata.TryGetValue("steps_per_epoch", out var spe) && spe != StepsPerEpoch.ToString(System.Globalization.CultureInfo.InvariantCulture))
            throw new InvalidDataException($"'{checkpointPath}' was trained with {spe} steps per epoch, this run has {StepsPerEpoch}; resume with the same data, --batch and --limit-train.");
        Progress = info.Progress;
        string metrics = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(checkpointPath))!, MetricsFile);
        _history.Clear();
        _history.AddRange(MetricsLog.Read(metrics).Where(m => m.Epoch <= Progress.Epoch));
        return info;
    }

    /// <summary>
    /// Trains from <see cref="Progress"/> to the last epoch, or until <paramref name="cancellation"/>
    /// is signalled (then a checkpoint is saved at the last completed optimizer step).
    /// </summary>
    /// <param name="outFolder">Where checkpoints, weights, metrics and the plot go; null writes nothing.</param>
    /// <param name="cancellation">Stops the run at the next optimizer step.</param>
    /// <exception cref="TrainingDivergedException">The loss or the gradient norm is not finite; the last checkpoint is kept.</exception>
    public TrainingOutcome Run(string? outFolder, CancellationToken cancellation = default)
    {
        if (outFolder is not null && IsRoot)
        {
            Directory.CreateDirectory(outFolder);
            AtomicFile.WriteAllText(Path.Combine(outFolder, ClassIndicesFile), ImageFolderDataset.ClassIndicesJson(ClassNames));
        }
        if (_communicator is not null)
        {
            // Every rank starts from rank 0's parameters (as DDP does), whatever each initialized or loaded.
            _communicator.Broadcast(_model.Memory.Parameters, 0, _model.Memory.Layout.ParameterFloats);
        }
        var clock = Stopwatch.StartNew();
        double secondsBefore = _history.Count > 0 ? _history[^1].Seconds : 0;
        int accumulate = Options.Accumulate;
        int width = _model.OutputWidth, classes = _model.Memory.ActiveClasses;
        Span<double> sums = stackalloc double[3]; // a data-parallel micro-batch's loss sum, correct predictions and images
        for (int epoch = Progress.Epoch; epoch < Options.Epochs; epoch++)
        {
            var p = Progress;
            double lossSum = p.EpochLossSum;
            long correct = p.EpochCorrect, seen = p.EpochSeen, step = p.Step;
            double groupLoss = 0;
            int groupCount = 0;
            double lr = Schedule.At(Math.Min(step, Schedule.TotalSteps - 1));
            var epochClock = Stopwatch.StartNew();
            long epochImages = 0;
            _loader.StartEpoch(epoch, p.NextBatch);
            while (_loader.Next(out var b))
            {
                bool lastInGroup = groupCount + 1 == accumulate || b.Index == BatchesPerEpoch - 1;
                if (groupCount == 0) _model.ZeroGradients();
                if (_reducer is not null && lastInGroup)
                {
                    // The last micro-batch of the step: its backward pass starts the gradient all-reduce bucket by bucket.
                    _reducer.Begin();
                    _model.Memory.GradientObserver = _reducer;
                }
                float loss;
                try
                {
                    // --freeze: the backbone runs as inference and only the head is differentiated (what HeadOnly trains).
                    loss = Options.Freeze ? _model.ForwardBackwardFrozen(b.Images, b.Labels, b.Count) : _model.ForwardBackward(b.Images, b.Labels, b.Count);
                }
                finally
                {
                    _model.Memory.GradientObserver = null;
                }
                var probs = _model.TrainingProbabilities;
                var labels = b.Labels;
                long batchCorrect = 0;
                for (int i = 0; i < b.Count; i++)
                    if (Evaluator.ArgMax(probs.Slice(i * width, classes)) == labels[i]) batchCorrect++;
                double batchLossSum = (double)loss * b.Count;
                int batchImages = b.Count;
                if (_communicator is not null)
                {
                    if (lastInGroup) _reducer!.Finish();
                    // The global batch's loss and accuracy.
                    sums[0] = batchLossSum;
                    sums[1] = batchCorrect;
                    sums[2] = batchImages;
                    _communicator.AllReduceSum(sums);
                    batchLossSum = sums[0];
                    batchCorrect = (long)sums[1];
                    batchImages = (int)sums[2];
                    loss = (float)(batchLossSum / batchImages);
                }
                if (!double.IsFinite(batchLossSum))
                    throw new TrainingDivergedException(
                        $"the training loss is {loss} at step {step + 1} (epoch {epoch + 1}, batch {b.Index + 1} of {BatchesPerEpoch}); stopped; {WhatIsKept(outFolder)}. Lower --lr or raise --warmup-epochs.");
                correct += batchCorrect;
                lossSum += batchLossSum;
                seen += batchImages;
                epochImages += batchImages;
                groupLoss += batchLossSum / batchImages;
                groupCount++;
                bool stop = false;
                if (lastInGroup)
                {
                    lr = Schedule.At(step);
                    // Summed over the ranks, the gradients are Ranks times a mean over the global batch.
                    double norm = Optimizer.Step(lr, 1f / (groupCount * Ranks));
                    if (!double.IsFinite(norm))
                        throw new TrainingDivergedException(
                            $"the gradient norm is {norm} at step {step + 1} (epoch {epoch + 1}, batch {b.Index + 1} of {BatchesPerEpoch}); stopped; {WhatIsKept(outFolder)}. Lower --lr.");
                    step++;
                    StepCompleted?.Invoke(step, groupLoss / groupCount);
                    groupLoss = 0;
                    groupCount = 0;
                    Progress = new TrainingProgress(epoch, b.Index + 1, step, lossSum, correct, seen);
                    if (DataParallel.CheckReplicasEvery > 0 && step % DataParallel.CheckReplicasEvery == 0) CheckReplicas($"after step {step}");
                    stop = StopVote(cancellation.IsCancellationRequested || step >= StopAtStep);
                }
                BatchCompleted?.Invoke(new BatchProgress(epoch + 1, b.Index + 1, BatchesPerEpoch, lossSum / seen, (double)correct / seen,
                    epochImages / Math.Max(epochClock.Elapsed.TotalSeconds, 1e-9), lr));
                if (stop && b.Index + 1 < BatchesPerEpoch)
                {
                    if (outFolder is not null) SaveCheckpoint(outFolder);
                    return TrainingOutcome.Interrupted;
                }
            }
            double trainSeconds = epochClock.Elapsed.TotalSeconds;
            Evaluation? test = null;
            if (_test is not null)
            {
                EvaluationStarted?.Invoke();
                test = Evaluator.Evaluate(_model, _test, EvalTransform, Options.EvalBatch, _communicator);
            }
            Progress = new TrainingProgress(epoch + 1, 0, step, 0, 0, 0);
            var metrics = new EpochMetrics(epoch + 1, lossSum / seen, (double)correct / seen, test?.Loss ?? double.NaN, test?.Accuracy ?? double.NaN,
                lr, epochImages / Math.Max(trainSeconds, 1e-9), secondsBefore + clock.Elapsed.TotalSeconds, step);
            _history.Add(metrics);
            if (_communicator is not null) CheckReplicas($"after epoch {epoch + 1}");
            if (outFolder is not null) WriteEpochFiles(outFolder);
            EpochCompleted?.Invoke(metrics);
            if (StopVote(cancellation.IsCancellationRequested || step >= StopAtStep) && epoch + 1 < Options.Epochs) return TrainingOutcome.Interrupted;
        }
        return TrainingOutcome.Finished;
    }

    /// <summary>Whether to stop here: in a data-parallel run, a stop asked on any rank stops every rank at the same step.</summary>
    private bool StopVote(bool stop)
    {
        if (_communicator is null) return stop;
        Span<double> vote = [stop ? 1 : 0];
        _communicator.AllReduceSum(vote);
        return vote[0] > 0;
    }

    /// <summary>
    /// A 64-bit checksum of the parameters (FNV-1a over their bits, so equal only when every bit
    /// is): the same on every rank of a healthy data-parallel run.
    /// </summary>
    public ulong ParameterChecksum()
    {
        var memory = _model.Memory;
        var parameters = memory.Parameters;
        ulong h = 0xCBF29CE484222325UL;
        long total = memory.Layout.ParameterFloats;
        for (long at = 0; at < total; at += 1 << 20)
        {
            var words = System.Runtime.InteropServices.MemoryMarshal.Cast<float, uint>(parameters.Slice(at, (int)Math.Min(1 << 20, total - at)));
            foreach (uint w in words) h = (h ^ w) * 0x100000001B3UL;
        }
        return h;
    }

    /// <summary>The <see cref="ParameterChecksum"/> every rank agreed on at the last replica check (after each epoch, and every <see cref="DataParallelOptions.CheckReplicasEvery"/> steps).</summary>
    public ulong ReplicaChecksum { get; private set; }

    /// <summary>Compares <see cref="ParameterChecksum"/> across the ranks.</summary>
    /// <exception cref="CommunicationException">A rank's parameters differ from rank 0's.</exception>
    private void CheckReplicas(string when)
    {
        if (_communicator is null) return;
        Span<ulong> all = _communicator.Size <= 64 ? stackalloc ulong[_communicator.Size] : new ulong[_communicator.Size];
        ReplicaChecksum = ParameterChecksum();
        _communicator.AllGather(ReplicaChecksum, all);
        for (int r = 1; r < all.Length; r++)
            if (all[r] != all[0])
                throw new CommunicationException($"the parameters of rank {r} differ from rank 0's {when} (checksum {all[r]:x16}, rank 0 {all[0]:x16}); the ranks no longer train one model");
    }

    /// <summary>
    /// What a diverged run leaves behind, as it is on disk: no out folder, no checkpoint yet, or
    /// the checkpoint's epoch and step and whether its parameters are finite (so resuming from it
    /// makes sense) or not (it was saved after the step that broke the run).
    /// </summary>
    internal string WhatIsKept(string? outFolder)
    {
        if (outFolder is null) return "nothing was saved (no out folder)";
        string path = Path.Combine(outFolder, CheckpointFile);
        if (!File.Exists(path)) return $"no checkpoint was saved in {outFolder} (none is written before the first epoch ends)";
        try
        {
            using var file = SafeTensorsFile.Open(path);
            file.Metadata.TryGetValue("epoch", out var epoch);
            file.Metadata.TryGetValue("step", out var savedStep);
            string at = $"the checkpoint {path} (after epoch {epoch ?? "?"}, step {savedStep ?? "?"})";
            return WeightFile.FindNonFinite(file, _model.Memory.Table) is { } bad
                ? $"{at} is kept, but its tensor '{bad.Name}' is not finite either, so start again rather than --resume"
                : $"{at} is kept and its weights are finite: continue with --resume";
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            return $"the checkpoint {path} exists but cannot be read ({e.Message})";
        }
    }

    /// <summary>More metadata for the checkpoint and weights (for example where the data came from).</summary>
    public Dictionary<string, string> ExtraMetadata { get; } = new(StringComparer.Ordinal);

    /// <summary>The metadata saved with weights and checkpoints: class names, the recipe, the schedule's shape, <see cref="ExtraMetadata"/>.</summary>
    public Dictionary<string, string> Metadata() => new(ExtraMetadata, StringComparer.Ordinal)
    {
        ["class_names"] = Checkpoint.ClassNamesJson(ClassNames),
        ["recipe"] = Options.ToJson(),
        ["steps_per_epoch"] = StepsPerEpoch.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["normalization_mean"] = string.Join(",", Enumerable.Range(0, 3).Select(c => Normalization.Mean(c).ToString("R", System.Globalization.CultureInfo.InvariantCulture))),
        ["normalization_std"] = string.Join(",", Enumerable.Range(0, 3).Select(c => Normalization.Std(c).ToString("R", System.Globalization.CultureInfo.InvariantCulture))),
        [TransformsKey] = SampleTransform.Name(Recipe),
    };

    /// <summary>
    /// Saves the checkpoint (rank 0 alone writes it). In a data-parallel run it also records the
    /// rank count and every other rank's dropout stream, which every rank joins in gathering.
    /// </summary>
    private void SaveCheckpoint(string outFolder)
    {
        var metadata = Metadata();
        if (_communicator is not null)
        {
            var c = System.Globalization.CultureInfo.InvariantCulture;
            var rng = _model.DropoutRng.State;
            var words = new[] { rng.Item1, rng.Item2, rng.Item3, rng.Item4 };
            var all = new ulong[4][];
            for (int w = 0; w < 4; w++)
            {
                all[w] = new ulong[_communicator.Size];
                _communicator.AllGather(words[w], all[w]);
            }
            metadata[Checkpoint.RanksKey] = _communicator.Size.ToString(c);
            for (int r = 1; r < _communicator.Size; r++)
                metadata[Checkpoint.DropoutRngKey(r)] = string.Join(",", Enumerable.Range(0, 4).Select(w => all[w][r].ToString("x16", c)));
        }
        if (IsRoot) Checkpoint.Save(Path.Combine(outFolder, CheckpointFile), _model, Optimizer, Progress, metadata);
    }

    private void WriteEpochFiles(string outFolder)
    {
        SaveCheckpoint(outFolder);
        if (!IsRoot) return;
        var weights = WeightFile.Metadata(_model.Config, Metadata());
        WeightFile.Save(Path.Combine(outFolder, WeightsFile), _model.Memory.Table, _model.Memory.Parameters.Start, weights);
        MetricsLog.Write(Path.Combine(outFolder, MetricsFile), _history);
        AtomicFile.WriteAllText(Path.Combine(outFolder, PlotFile), SvgPlot.TrainingCurves(_history, $"{_model.Config.Name} on {_train.Source}"));
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _loader.Dispose();
        Optimizer.Dispose();
    }
}
