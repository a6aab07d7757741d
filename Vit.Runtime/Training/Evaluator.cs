using Vit.Data;

namespace Vit.Training;

/// <summary>Test-set results: loss, accuracy and the confusion matrix.</summary>
/// <param name="Loss">Mean plain cross-entropy (no smoothing), computed in double from the logits.</param>
/// <param name="Accuracy">Fraction of images whose arg-max class is the label.</param>
/// <param name="Images">Images evaluated.</param>
/// <param name="Confusion">Counts, [label, predicted], ClassCount × ClassCount, row-major.</param>
/// <param name="ClassCount">Classes.</param>
public sealed record Evaluation(double Loss, double Accuracy, int Images, long[] Confusion, int ClassCount)
{
    /// <summary>The accuracy on the images of class <paramref name="label"/> (NaN when it has none).</summary>
    public double ClassAccuracy(int label)
    {
        long total = 0;
        for (int p = 0; p < ClassCount; p++) total += Confusion[label * ClassCount + p];
        return total == 0 ? double.NaN : (double)Confusion[label * ClassCount + label] / total;
    }

    /// <summary>Images whose label is <paramref name="label"/>.</summary>
    public long ClassImages(int label)
    {
        long total = 0;
        for (int p = 0; p < ClassCount; p++) total += Confusion[label * ClassCount + p];
        return total;
    }
}

/// <summary>Evaluates a classifier on an image dataset with <c>Forward</c> (dropout off).</summary>
public static class Evaluator
{
    /// <summary>
    /// Runs <paramref name="model"/> over every image of <paramref name="data"/>, in order, rendered
    /// by the evaluation transform of the model's usual recipe (<see cref="SampleTransform.DefaultRecipe"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The model's classes or channels do not fit the data.</exception>
    public static Evaluation Evaluate(IVisionTransformer model, ImageDataset data, Normalization normalization, int batch = 256) =>
        Evaluate(model, data, SampleTransform.ForEvaluation(SampleTransform.DefaultRecipe(model.Config.ImageSize), model.Config.ImageSize, normalization), batch, communicator: null);

    /// <summary>
    /// Runs <paramref name="model"/> over every image of <paramref name="data"/>, in order, rendered
    /// by <paramref name="transform"/> (an evaluation transform: its draws are not used). With
    /// <paramref name="communicator"/>, the ranks share the work: each evaluates its slice of
    /// every global batch, and the sums (loss, correct, the confusion matrix) are reduced, so every
    /// rank gets the result one process would compute.
    /// </summary>
    /// <exception cref="ArgumentException">The model's classes, channels or image size do not fit the data or the transform.</exception>
    /// <param name="model">The classifier.</param>
    /// <param name="data">The images.</param>
    /// <param name="transform">An evaluation transform at the model's size.</param>
    /// <param name="batch">Images per forward pass.</param>
    /// <param name="communicator">Data-parallel ranks sharing the work, or null.</param>
    /// <param name="predictions">When given (data.Count entries), receives each image's predicted class (this rank's images only in a shared run).</param>
    public static Evaluation Evaluate(IVisionTransformer model, ImageDataset data, SampleTransform transform, int batch, Communicator? communicator = null, int[]? predictions = null)
    {
        if (predictions is not null && predictions.Length != data.Count)
            throw new ArgumentException($"predictions needs {data.Count} entries, one per image, not {predictions.Length}.", nameof(predictions));
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(transform);
        CheckFits(model, data);
        if (transform.Size != model.Config.ImageSize)
            throw new ArgumentException($"{model.Config.Name} takes {model.Config.ImageSize}-pixel images, but the transform renders {transform.Size}.", nameof(transform));
        // The head's first data.ClassCount outputs are the data's classes (a head compiled wider serves fewer at runtime).
        int width = model.OutputWidth, k = data.ClassCount;
        var output = new float[batch * width];
        var confusion = new long[k * k];
        double lossSum = 0;
        long correct = 0;
        int seen = 0;
        int ranks = communicator?.Size ?? 1;
        using var loader = new ImageLoader(data, batch, new LoaderOptions(Shuffle: false, Seed: 0, DropLast: false,
            ShardIndex: communicator?.Rank ?? 0, ShardCount: ranks), transform);
        loader.StartEpoch(0);
        while (loader.Next(out var b))
        {
            if (b.Count == 0) continue; // this rank's slice of the last global batch is empty
            model.Forward(b.Images, b.Count, output);
            var labels = b.Labels;
            for (int i = 0; i < b.Count; i++)
            {
                var row = output.AsSpan(i * width, k);
                int predicted = ArgMax(row);
                lossSum += CrossEntropy(row, labels[i]);
                if (predicted == labels[i]) correct++;
                confusion[labels[i] * k + predicted]++;
                if (predictions is not null) predictions[b.SampleIndices[i]] = predicted;
            }
            seen += b.Count;
        }
        if (ranks > 1)
        {
            // Counts are exact in double (below 2^53); the loss sum differs from one process's only in rounding.
            var sums = new double[3 + confusion.Length];
            sums[0] = lossSum;
            sums[1] = correct;
            sums[2] = seen;
            for (int i = 0; i < confusion.Length; i++) sums[3 + i] = confusion[i];
            communicator!.AllReduceSum(sums);
            lossSum = sums[0];
            correct = (long)sums[1];
            seen = (int)sums[2];
            for (int i = 0; i < confusion.Length; i++) confusion[i] = (long)sums[3 + i];
        }
        return new Evaluation(seen == 0 ? double.NaN : lossSum / seen, seen == 0 ? double.NaN : (double)correct / seen, seen, confusion, k);
    }

    /// <summary>
    /// Fails unless the model classifies 3-channel images into at least the data's classes (any
    /// image size: the transforms bring each image to the model's; a wider head serves the data's
    /// classes with its first outputs).
    /// </summary>
    /// <exception cref="ArgumentException">It does not.</exception>
    public static void CheckFits(IVisionTransformer model, ImageDataset data)
    {
        var c = model.Config;
        if (c.Channels != CifarDataset.Channels)
            throw new ArgumentException($"{c.Name} takes {c.Channels}-channel images, but the images are read as RGB (3 channels); use a model with Channels = 3.");
        if (c.Classes < data.ClassCount)
            throw new ArgumentException(
                $"{c.Name} has a head of {c.Classes} classes, fewer than the {data.ClassCount} of {data.Source}; use a model with Classes ≥ {data.ClassCount}"
                + " (a wider head serves fewer classes: ModelMemory.ActiveClasses).");
    }

    /// <summary>The index of the largest value (the first on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int c = 1; c < row.Length; c++)
            if (row[c] > row[best]) best = c;
        return best;
    }

    /// <summary>−log softmax(logits)[label], in double.</summary>
    public static double CrossEntropy(ReadOnlySpan<float> logits, int label)
    {
        double max = double.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, v);
        double sum = 0;
        foreach (var v in logits) sum += Math.Exp(v - max);
        return Math.Log(sum) + max - logits[label];
    }

    /// <summary>softmax(logits) in double, written to <paramref name="probabilities"/>.</summary>
    public static void Softmax(ReadOnlySpan<float> logits, Span<double> probabilities)
    {
        double max = double.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, v);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += probabilities[i] = Math.Exp(logits[i] - max);
        for (int i = 0; i < logits.Length; i++) probabilities[i] /= sum;
    }
}
