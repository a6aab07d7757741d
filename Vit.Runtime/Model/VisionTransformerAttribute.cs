namespace Vit;

/// <summary>
/// Turns a <c>partial class</c> into a compiled Vision Transformer ("An Image is Worth 16x16
/// Words", as timm implements it). The Vit.Generator source generator reads these values at
/// build time and emits the model's constants, parameter table, forward and backward passes.
/// </summary>
/// <example>
/// <code>
/// [VisionTransformer(ImageSize = 224, Patch = 16, Dim = 768, Depth = 12, Heads = 12, Classes = 1000)]
/// public partial class VitB16;
/// </code>
/// </example>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class VisionTransformerAttribute : Attribute
{
    /// <summary>Input height and width in pixels (square images). Default 224.</summary>
    public int ImageSize { get; set; } = 224;

    /// <summary>Patch size in pixels: the stride and kernel of <c>patch_embed.proj</c>. Default 16.</summary>
    public int Patch { get; set; } = 16;

    /// <summary>Input channels. Default 3.</summary>
    public int Channels { get; set; } = 3;

    /// <summary>Embedding width (timm <c>embed_dim</c>). Default 768.</summary>
    public int Dim { get; set; } = 768;

    /// <summary>Number of transformer blocks. Default 12.</summary>
    public int Depth { get; set; } = 12;

    /// <summary>Attention heads per block; must divide <see cref="Dim"/>. Default 12.</summary>
    public int Heads { get; set; } = 12;

    /// <summary>Hidden width of each MLP; 0 (the default) means 4·<see cref="Dim"/>.</summary>
    public int MlpDim { get; set; }

    /// <summary>Output classes of <c>head</c>; 0 means no head: the output is the features (the pre-logits output when <see cref="RepresentationSize"/> &gt; 0, else the normalized pooled tokens). Default 1000.</summary>
    public int Classes { get; set; } = 1000;

    /// <summary>Whether <c>attn.qkv</c> has a bias. Default true.</summary>
    public bool QkvBias { get; set; } = true;

    /// <summary>Token or mean pooling. Default <see cref="Vit.Pooling.Token"/>.</summary>
    public Pooling Pooling { get; set; } = Pooling.Token;

    /// <summary>When &gt; 0, adds the pre-logits layer <c>pre_logits.fc</c>: Linear(Dim→R) + Tanh. Default 0.</summary>
    public int RepresentationSize { get; set; }

    /// <summary>LayerNorm epsilon. Default 1e-6 (timm's ViT).</summary>
    public double LayerNormEpsilon { get; set; } = 1e-6;

    /// <summary>Dropout rate after the position embedding, the attention projection and in the MLP (timm <c>drop_rate</c>). Default 0.</summary>
    public double Dropout { get; set; }

    /// <summary>Dropout rate on the attention probabilities (timm <c>attn_drop_rate</c>). Default 0.</summary>
    public double AttentionDropout { get; set; }

    /// <summary>Stochastic depth: the drop-path rate of the last block; it rises linearly from 0 over the blocks, as in timm. Default 0.</summary>
    public double DropPath { get; set; }

    /// <summary>
    /// Channels per attention head (lucidrains' <c>dim_head</c>). Default 0: <c>Dim / Heads</c>.
    /// When set, the attention's inner width <c>Heads·HeadDim</c> may differ from <c>Dim</c>
    /// (<c>attn.qkv</c> is (3·Heads·HeadDim, Dim), <c>attn.proj</c> (Dim, Heads·HeadDim)), and Dim
    /// need not be divisible by Heads.
    /// </summary>
    public int HeadDim { get; set; }

    /// <summary>
    /// LayerScale (timm <c>init_values</c>, DeiT III, DINOv2, EVA): when &gt; 0, each block scales its
    /// attention and MLP branches per channel by <c>blocks.N.ls1.gamma</c> and <c>blocks.N.ls2.gamma</c>
    /// (shape (Dim), initialized to this value, not weight-decayed). Default 0: off.
    /// </summary>
    public double LayerScale { get; set; }
}
