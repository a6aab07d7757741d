using Vit;

namespace Vit.Tests.Model;

// The four configurations of tools/make_reference.py (PyTorch float64 fixtures), compiled by the
// generator as an analyzer of this test project.

/// <summary>Fixture <c>tiny_token</c>: token pooling, qkv bias, eps 1e-6.</summary>
[VisionTransformer(ImageSize = 8, Patch = 4, Channels = 3, Dim = 16, Depth = 2, Heads = 2, MlpDim = 64, Classes = 5)]
public partial class TinyToken;

/// <summary>Fixture <c>mean_repr_noqkvbias</c>: mean pooling, one channel, pre-logits, no qkv bias, MlpDim ≠ 4·Dim, eps 1e-5.</summary>
[VisionTransformer(ImageSize = 12, Patch = 4, Channels = 1, Dim = 24, Depth = 2, Heads = 3, MlpDim = 40, Classes = 7,
    QkvBias = false, Pooling = Pooling.Mean, RepresentationSize = 10, LayerNormEpsilon = 1e-5)]
public partial class MeanReprNoQkvBias;

/// <summary>Fixture <c>token_repr_eps</c>: token pooling with pre-logits, three blocks, eps 1e-5.</summary>
[VisionTransformer(ImageSize = 16, Patch = 8, Channels = 3, Dim = 32, Depth = 3, Heads = 4, MlpDim = 48, Classes = 10,
    RepresentationSize = 12, LayerNormEpsilon = 1e-5)]
public partial class TokenReprEps;

/// <summary>Fixture <c>features_only</c>: no head, the output is the normalized class token.</summary>
[VisionTransformer(ImageSize = 8, Patch = 2, Channels = 3, Dim = 8, Depth = 1, Heads = 1, MlpDim = 32, Classes = 0)]
public partial class FeaturesOnly;

/// <summary>Fixture <c>layerscale_token</c>: LayerScale (timm init_values 0.1; the fixture's gammas are random), token pooling.</summary>
[VisionTransformer(ImageSize = 8, Patch = 4, Channels = 3, Dim = 16, Depth = 2, Heads = 2, MlpDim = 32, Classes = 5, LayerScale = 0.1)]
public partial class LayerScaleToken;

/// <summary>Fixture <c>headdim_mean</c>: 3 heads of 8 channels (inner width 24) on a width of 20, mean pooling.</summary>
[VisionTransformer(ImageSize = 12, Patch = 4, Channels = 3, Dim = 20, Depth = 2, Heads = 3, HeadDim = 8, MlpDim = 40, Classes = 6,
    Pooling = Pooling.Mean)]
public partial class HeadDimMean;

/// <summary>tiny_token's shapes with every regularizer on, to test training-mode behaviour.</summary>
[VisionTransformer(ImageSize = 8, Patch = 4, Channels = 3, Dim = 16, Depth = 2, Heads = 2, MlpDim = 64, Classes = 5,
    Dropout = 0.2, AttentionDropout = 0.2, DropPath = 0.3)]
public partial class TinyRegularized;

/// <summary>The CIFAR preset's shapes (32/4, 192×6, 3 heads): big enough that kernels use every worker.</summary>
[VisionTransformer(ImageSize = 32, Patch = 4, Dim = 192, Depth = 6, Heads = 3, Classes = 10, Dropout = 0.1, DropPath = 0.1)]
public partial class CifarVit;

// timm's standard sizes (224, 1000 classes), for parameter counts.
[VisionTransformer(Patch = 16, Dim = 192, Depth = 12, Heads = 3)] public partial class VitTi16;
[VisionTransformer(Patch = 16, Dim = 384, Depth = 12, Heads = 6)] public partial class VitS16;
[VisionTransformer(Patch = 16, Dim = 768, Depth = 12, Heads = 12)] public partial class VitB16;
[VisionTransformer(Patch = 32, Dim = 768, Depth = 12, Heads = 12)] public partial class VitB32;
[VisionTransformer(Patch = 16, Dim = 1024, Depth = 24, Heads = 16)] public partial class VitL16;

/// <summary>
/// Every regularizer on at a size where finite differences over every parameter are cheap:
/// dropout, attention dropout and drop-path (rate 0.3 in block 1; timm's linear rule gives block 0 none).
/// </summary>
[VisionTransformer(ImageSize = 8, Patch = 4, Channels = 3, Dim = 8, Depth = 2, Heads = 2, Classes = 3,
    Dropout = 0.2, AttentionDropout = 0.2, DropPath = 0.3)]
public partial class TinyDropoutEverywhere;
