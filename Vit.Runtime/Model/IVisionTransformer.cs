namespace Vit;

/// <summary>
/// What every generated model implements, so tools can drive any compiled model the same way.
/// The generated class also has the same members as constants and statics (for example
/// <c>VitB16.ParameterCount</c>, <c>VitB16.Parameters</c>).
/// </summary>
public interface IVisionTransformer : IDisposable
{
    /// <summary>The attribute values.</summary>
    VisionTransformerConfig Config { get; }

    /// <summary>Parameter count, FLOPs and memory from the generator's plan.</summary>
    ModelSummary Summary { get; }

    /// <summary>Every parameter in timm <c>state_dict</c> order.</summary>
    IReadOnlyList<ParameterInfo> ParameterList { get; }

    /// <summary>Floats per output row: Classes, or the feature width when Classes = 0.</summary>
    int OutputWidth { get; }

    /// <summary>Inference: <paramref name="images"/> (batch, C, H, W) → <paramref name="output"/> (batch, OutputSize). No dropout.</summary>
    void Forward(ReadOnlySpan<float> images, int batch, Span<float> output);

    /// <summary>Training step: returns the mean cross-entropy and adds d(loss)/d(parameter) into the gradient buffer.</summary>
    float ForwardBackward(ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch);

    /// <summary>
    /// Training step of the head alone on a frozen backbone (<c>vit train --freeze</c>): the backbone
    /// runs as inference (no dropout or drop path, no saved activations), then the head
    /// (<c>pre_logits.*</c>, <c>head.*</c>) runs forward and backward. Returns the mean cross-entropy
    /// and adds d(loss)/d(parameter) into the head's gradients only; no backbone gradient is computed
    /// or written. Pair it with an optimizer over <c>Optimizer.HeadOnly</c>.
    /// </summary>
    float ForwardBackwardFrozen(ReadOnlySpan<float> images, ReadOnlySpan<int> labels, int batch);

    /// <summary>Sets every gradient to zero.</summary>
    void ZeroGradients();

    /// <summary>The values of a parameter, by timm name.</summary>
    Span<float> Parameter(string timmName);

    /// <summary>The gradient of a parameter, by timm name.</summary>
    Span<float> Gradient(string timmName);

    /// <summary>Loads weights from a safetensors file with timm names.</summary>
    void LoadWeights(string path);

    /// <summary>Saves weights to a safetensors file with timm names (atomically).</summary>
    void SaveWeights(string path);

    /// <summary>The flat parameter, gradient and activation buffers (what optimizers and checkpoints work on).</summary>
    Vit.Memory.ModelMemory Memory { get; }

    /// <summary>The random stream of the dropout and drop-path masks (saved in checkpoints so a resumed run continues exactly).</summary>
    Vit.Numerics.Rng DropoutRng { get; set; }

    /// <summary>
    /// The softmax probabilities of the last <see cref="ForwardBackward"/> or <see cref="ForwardBackwardFrozen"/> call,
    /// (batch, Classes); empty when there is no head. After a frozen step they share the inference buffer, so read
    /// them before the next <see cref="Forward"/>.
    /// </summary>
    ReadOnlySpan<float> TrainingProbabilities { get; }
}
