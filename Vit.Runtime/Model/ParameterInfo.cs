namespace Vit;

/// <summary>How a parameter is initialized (timm's <c>init_weights</c>, mode <c>''</c>).</summary>
public enum ParameterInit
{
    /// <summary>All zeros (biases, LayerNorm bias).</summary>
    Zeros,

    /// <summary>All ones (LayerNorm weight).</summary>
    Ones,

    /// <summary>timm <c>trunc_normal_(std=.02)</c> (Linear weights, <c>pos_embed</c>), truncated to [-2, 2].</summary>
    TruncatedNormal,

    /// <summary><c>normal_(std=1e-6)</c> (timm's <c>cls_token</c>).</summary>
    SmallNormal,

    /// <summary>PyTorch's default Conv2d init: uniform in ±1/√fan_in (weight and bias of <c>patch_embed.proj</c>).</summary>
    FanInUniform,

    /// <summary>Every element <see cref="ParameterInfo.Value"/> (LayerScale's <c>gamma</c>: timm <c>init_values</c>).</summary>
    Constant,
}

/// <summary>One parameter tensor of a compiled model: its timm name, shape and place in the flat buffer.</summary>
public sealed class ParameterInfo
{
    /// <summary>Creates the description of one parameter.</summary>
    /// <param name="name">The timm <c>state_dict</c> key, for example <c>blocks.0.attn.qkv.weight</c>.</param>
    /// <param name="shape">The PyTorch shape.</param>
    /// <param name="offset">Offset in floats into the model's parameter (and gradient) buffer.</param>
    /// <param name="init">How it is initialized.</param>
    /// <param name="fanIn">The fan-in used by <see cref="ParameterInit.FanInUniform"/>.</param>
    /// <param name="weightDecay">False for the usual no-decay set: norms, biases, <c>cls_token</c>, <c>pos_embed</c>, LayerScale gammas.</param>
    /// <param name="value">The value of every element for <see cref="ParameterInit.Constant"/>.</param>
    public ParameterInfo(string name, int[] shape, long offset, ParameterInit init, int fanIn, bool weightDecay, double value = 0)
    {
        Value = value;
        Name = name;
        Shape = shape;
        Offset = offset;
        Init = init;
        FanIn = fanIn;
        WeightDecay = weightDecay;
        long length = 1;
        foreach (var d in shape) length *= d;
        Length = length;
    }

    /// <summary>The timm <c>state_dict</c> key.</summary>
    public string Name { get; }

    /// <summary>The PyTorch shape.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>Offset in floats into the parameter and gradient buffers (a multiple of 16, 64-byte aligned).</summary>
    public long Offset { get; }

    /// <summary>Number of elements (the product of <see cref="Shape"/>).</summary>
    public long Length { get; }

    /// <summary>How it is initialized.</summary>
    public ParameterInit Init { get; }

    /// <summary>The initial value of every element for <see cref="ParameterInit.Constant"/>.</summary>
    public double Value { get; }

    /// <summary>Fan-in (inputs per output) for <see cref="ParameterInit.FanInUniform"/>.</summary>
    public int FanIn { get; }

    /// <summary>Whether decoupled weight decay applies (false for norms, biases, <c>cls_token</c>, <c>pos_embed</c>).</summary>
    public bool WeightDecay { get; }

    /// <summary>The shape as PyTorch prints it, for example <c>(768, 3, 16, 16)</c>.</summary>
    public string ShapeText => "(" + string.Join(", ", Shape) + ")";

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {ShapeText}";
}
