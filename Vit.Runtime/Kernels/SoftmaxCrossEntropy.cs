using Vit.Memory;

namespace Vit.Kernels;

/// <summary>Softmax followed by the mean negative log-likelihood of integer class labels.</summary>
public static unsafe class SoftmaxCrossEntropy
{
    /// <summary>Forward: probs = softmax(logits) row-wise; returns the mean loss over the batch (computed in double).</summary>
    /// <param name="probs">Output, (batch, TClasses), kept for backward.</param>
    /// <param name="logits">Input, (batch, TClasses).</param>
    /// <param name="labels">Class labels, (batch), each in [0, TClasses).</param>
    /// <param name="batch">The number of images.</param>
    /// <returns>The mean cross-entropy loss.</returns>
    /// <exception cref="ArgumentException">Fewer than <paramref name="batch"/> labels.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A label is outside [0, TClasses).</exception>
    public static float Forward<TClasses>(TensorPtr probs, TensorPtr logits, ReadOnlySpan<int> labels, int batch)
        where TClasses : struct, IDim
    {
        int k = TClasses.Value;
        CheckLabels(labels, batch, k);
        double total = 0;
        for (int b = 0; b < batch; b++)
        {
            float* l = logits.Pointer + (long)b * k;
            float* p = probs.Pointer + (long)b * k;
            double max = double.NegativeInfinity;
            for (int c = 0; c < k; c++) max = Math.Max(max, l[c]);
            double sum = 0;
            for (int c = 0; c < k; c++) sum += Math.Exp(l[c] - max);
            double inv = 1 / sum;
            for (int c = 0; c < k; c++) p[c] = (float)(Math.Exp(l[c] - max) * inv);
            total += Math.Log(sum) + max - l[labels[b]];
        }
        return (float)(total / batch);
    }

    /// <summary>Backward: dlogits = (probs − onehot(labels))/batch (overwrite).</summary>
    /// <param name="dlogits">Output, (batch, TClasses), overwritten.</param>
    /// <param name="probs">From forward, (batch, TClasses).</param>
    /// <param name="labels">Class labels, (batch).</param>
    /// <param name="batch">The number of images.</param>
    /// <exception cref="ArgumentException">Fewer than <paramref name="batch"/> labels.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A label is outside [0, TClasses).</exception>
    public static void Backward<TClasses>(TensorPtr dlogits, TensorPtr probs, ReadOnlySpan<int> labels, int batch)
        where TClasses : struct, IDim
    {
        int k = TClasses.Value;
        CheckLabels(labels, batch, k);
        float inv = 1f / batch;
        for (int b = 0; b < batch; b++)
        {
            float* p = probs.Pointer + (long)b * k;
            float* d = dlogits.Pointer + (long)b * k;
            for (int c = 0; c < k; c++) d[c] = p[c] * inv;
            d[labels[b]] -= inv;
        }
    }

    private static void CheckLabels(ReadOnlySpan<int> labels, int batch, int classes)
    {
        if (labels.Length < batch)
            throw new ArgumentException($"Expected {batch} labels (one per image), found {labels.Length}.", nameof(labels));
        for (int b = 0; b < batch; b++)
            if ((uint)labels[b] >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(labels), labels[b],
                    $"Label at index {b} is {labels[b]}, outside the valid range [0, {classes}).");
    }

    /// <summary>Scalar reference of the forward pass.</summary>
    /// <param name="probs">(batch, classes).</param>
    /// <param name="logits">(batch, classes).</param>
    /// <param name="labels">(batch).</param>
    /// <param name="batch">Images.</param>
    /// <param name="classes">Classes.</param>
    /// <returns>The mean loss.</returns>
    public static double ReferenceForward(double[] probs, double[] logits, int[] labels, int batch, int classes)
    {
        double total = 0;
        for (int b = 0; b < batch; b++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int c = 0; c < classes; c++) max = Math.Max(max, logits[b * classes + c]);
            for (int c = 0; c < classes; c++) sum += Math.Exp(logits[b * classes + c] - max);
            for (int c = 0; c < classes; c++) probs[b * classes + c] = Math.Exp(logits[b * classes + c] - max) / sum;
            total += -Math.Log(probs[b * classes + labels[b]]);
        }
        return total / batch;
    }

    /// <summary>Scalar reference of the backward pass (overwrites).</summary>
    /// <param name="dlogits">(batch, classes).</param>
    /// <param name="probs">(batch, classes).</param>
    /// <param name="labels">(batch).</param>
    /// <param name="batch">Images.</param>
    /// <param name="classes">Classes.</param>
    public static void ReferenceBackward(double[] dlogits, double[] probs, int[] labels, int batch, int classes)
    {
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < classes; c++)
                dlogits[b * classes + c] = (probs[b * classes + c] - (c == labels[b] ? 1 : 0)) / batch;
    }
}
