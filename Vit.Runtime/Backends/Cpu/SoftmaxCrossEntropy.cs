using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>Softmax followed by the mean negative log-likelihood of integer class labels.</summary>
public static unsafe class SoftmaxCrossEntropy
{
    /// <summary>
    /// Forward: probs = softmax(logits) row-wise; returns the mean loss over the batch (computed in
    /// double) against the smoothed target (1 − ε)·one_hot + ε/classes, as PyTorch's
    /// <c>CrossEntropyLoss(label_smoothing=ε)</c>; ε = 0 is plain cross-entropy.
    /// </summary>
    /// <param name="probs">Output, (batch, TClasses), kept for backward.</param>
    /// <param name="logits">Input, (batch, TClasses).</param>
    /// <param name="labels">Class labels, (batch), each in [0, TClasses).</param>
    /// <param name="batch">The number of images.</param>
    /// <param name="labelSmoothing">ε in [0, 1).</param>
    /// <returns>The mean cross-entropy loss.</returns>
    /// <exception cref="ArgumentException">Fewer than <paramref name="batch"/> labels.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A label is outside [0, TClasses), or ε is outside [0, 1).</exception>
    public static float Forward<TClasses>(TensorPtr probs, TensorPtr logits, ReadOnlySpan<int> labels, int batch, float labelSmoothing = 0)
        where TClasses : struct, IDim
        => Forward<TClasses>(probs, logits, labels, batch, labelSmoothing, TClasses.Value);

    /// <summary>
    /// The same over the first <paramref name="active"/> of the TClasses logits of each row (a head
    /// compiled for TClasses classes serving <paramref name="active"/> ≤ TClasses at runtime): the
    /// softmax and the smoothed target cover those classes only, exactly as an
    /// <paramref name="active"/>-way head; the probabilities of the others are 0.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A label is outside [0, active), or <paramref name="active"/> is outside [1, TClasses].</exception>
    public static float Forward<TClasses>(TensorPtr probs, TensorPtr logits, ReadOnlySpan<int> labels, int batch, float labelSmoothing, int active)
        where TClasses : struct, IDim
    {
        int stride = TClasses.Value;
        CheckActive(active, stride);
        int k = active;
        CheckLabels(labels, batch, k);
        CheckSmoothing(labelSmoothing);
        double onTarget = 1 - (double)labelSmoothing, uniform = (double)labelSmoothing / k;
        double total = 0;
        for (int b = 0; b < batch; b++)
        {
            float* l = logits.Pointer + (long)b * stride;
            float* p = probs.Pointer + (long)b * stride;
            double max = double.NegativeInfinity;
            for (int c = 0; c < k; c++) max = Math.Max(max, l[c]);
            double sum = 0, logitSum = 0;
            for (int c = 0; c < k; c++)
            {
                sum += Math.Exp(l[c] - max);
                logitSum += l[c];
            }
            double inv = 1 / sum;
            for (int c = 0; c < k; c++) p[c] = (float)(Math.Exp(l[c] - max) * inv);
            for (int c = k; c < stride; c++) p[c] = 0;
            double logSumExp = Math.Log(sum) + max;
            // −Σ target·log p = (1 − ε)(lse − l[y]) + (ε/k)·Σ (lse − l[c])
            total += onTarget * (logSumExp - l[labels[b]]) + (labelSmoothing > 0 ? uniform * (k * logSumExp - logitSum) : 0);
        }
        return (float)(total / batch);
    }

    /// <summary>Backward: dlogits = (probs − target)/batch (overwrite), target = (1 − ε)·one_hot + ε/classes.</summary>
    /// <param name="dlogits">Output, (batch, TClasses), overwritten.</param>
    /// <param name="probs">From forward, (batch, TClasses).</param>
    /// <param name="labels">Class labels, (batch).</param>
    /// <param name="batch">The number of images.</param>
    /// <param name="labelSmoothing">ε in [0, 1), the same as in forward.</param>
    /// <exception cref="ArgumentException">Fewer than <paramref name="batch"/> labels.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A label is outside [0, TClasses), or ε is outside [0, 1).</exception>
    public static void Backward<TClasses>(TensorPtr dlogits, TensorPtr probs, ReadOnlySpan<int> labels, int batch, float labelSmoothing = 0)
        where TClasses : struct, IDim
        => Backward<TClasses>(dlogits, probs, labels, batch, labelSmoothing, TClasses.Value);

    /// <summary>The same over the first <paramref name="active"/> classes (see the forward overload); the other logits get a zero gradient.</summary>
    public static void Backward<TClasses>(TensorPtr dlogits, TensorPtr probs, ReadOnlySpan<int> labels, int batch, float labelSmoothing, int active)
        where TClasses : struct, IDim
    {
        int stride = TClasses.Value;
        CheckActive(active, stride);
        int k = active;
        CheckLabels(labels, batch, k);
        CheckSmoothing(labelSmoothing);
        float inv = 1f / batch;
        float uniform = labelSmoothing / k * inv, onTarget = (1 - labelSmoothing) * inv;
        for (int b = 0; b < batch; b++)
        {
            float* p = probs.Pointer + (long)b * stride;
            float* d = dlogits.Pointer + (long)b * stride;
            for (int c = 0; c < k; c++) d[c] = p[c] * inv - uniform;
            for (int c = k; c < stride; c++) d[c] = 0;
            d[labels[b]] -= onTarget;
        }
    }

    private static void CheckActive(int active, int classes)
    {
        if ((uint)(active - 1) >= (uint)classes)
            throw new ArgumentOutOfRangeException(nameof(active), active, $"The active classes must lie in [1, {classes}], found {active}.");
    }

    private static void CheckSmoothing(float labelSmoothing)
    {
        if (!(labelSmoothing >= 0 && labelSmoothing < 1))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, $"Label smoothing must be in [0, 1), found {labelSmoothing}.");
    }

    /// <summary>Every label in [0, classes): the message names the first bad one (the OpenCL backend checks with this before uploading).</summary>
    internal static void CheckLabels(ReadOnlySpan<int> labels, int batch, int classes)
    {
        if (labels.Length < batch)
            throw new ArgumentException($"Expected {batch} labels (one per image), found {labels.Length}.", nameof(labels));
        for (int b = 0; b < batch; b++)
            if ((uint)labels[b] >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(labels), labels[b],
                    $"Label at index {b} is {labels[b]}, outside the valid range [0, {classes}).");
    }

    /// <summary>Scalar reference of the forward pass: −Σ target·log softmax, target = (1 − ε)·one_hot + ε/classes.</summary>
    /// <param name="probs">(batch, classes).</param>
    /// <param name="logits">(batch, classes).</param>
    /// <param name="labels">(batch).</param>
    /// <param name="batch">Images.</param>
    /// <param name="classes">Classes.</param>
    /// <param name="labelSmoothing">ε.</param>
    /// <returns>The mean loss.</returns>
    public static double ReferenceForward(double[] probs, double[] logits, int[] labels, int batch, int classes, double labelSmoothing = 0)
    {
        double total = 0;
        for (int b = 0; b < batch; b++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int c = 0; c < classes; c++) max = Math.Max(max, logits[b * classes + c]);
            for (int c = 0; c < classes; c++) sum += Math.Exp(logits[b * classes + c] - max);
            for (int c = 0; c < classes; c++) probs[b * classes + c] = Math.Exp(logits[b * classes + c] - max) / sum;
            for (int c = 0; c < classes; c++)
            {
                double target = (c == labels[b] ? 1 - labelSmoothing : 0) + labelSmoothing / classes;
                total -= target * Math.Log(probs[b * classes + c]);
            }
        }
        return total / batch;
    }

    /// <summary>Scalar reference of the backward pass (overwrites).</summary>
    /// <param name="dlogits">(batch, classes).</param>
    /// <param name="probs">(batch, classes).</param>
    /// <param name="labels">(batch).</param>
    /// <param name="batch">Images.</param>
    /// <param name="classes">Classes.</param>
    /// <param name="labelSmoothing">ε.</param>
    public static void ReferenceBackward(double[] dlogits, double[] probs, int[] labels, int batch, int classes, double labelSmoothing = 0)
    {
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < classes; c++)
            {
                double target = (c == labels[b] ? 1 - labelSmoothing : 0) + labelSmoothing / classes;
                dlogits[b * classes + c] = (probs[b * classes + c] - target) / batch;
            }
    }
}
