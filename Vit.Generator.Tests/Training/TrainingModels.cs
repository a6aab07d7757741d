using Vit;

namespace Vit.Tests.Training;

/// <summary>
/// A small CIFAR-shaped classifier (32×32, 10 classes) with dropout and drop-path on, so training
/// tests exercise the dropout RNG; small enough that a few epochs take seconds.
/// </summary>
[VisionTransformer(ImageSize = 32, Patch = 8, Dim = 32, Depth = 2, Heads = 2, MlpDim = 64, Classes = 10,
    Dropout = 0.1, AttentionDropout = 0.1, DropPath = 0.1)]
public partial class SmallCifar;

/// <summary><see cref="SmallCifar"/> without dropout: deterministic gradients, for accumulation tests.</summary>
[VisionTransformer(ImageSize = 32, Patch = 8, Dim = 32, Depth = 2, Heads = 2, MlpDim = 64, Classes = 10)]
public partial class SmallCifarPlain;

/// <summary><see cref="SmallCifarPlain"/>'s backbone with a 5-class head: fine-tuning loads its backbone and keeps a new head.</summary>
[VisionTransformer(ImageSize = 32, Patch = 8, Dim = 32, Depth = 2, Heads = 2, MlpDim = 64, Classes = 5)]
public partial class SmallCifarFiveClasses;

/// <summary><see cref="SmallCifarPlain"/> at 48 pixels: a 6×6 patch grid, for pos_embed resampling.</summary>
[VisionTransformer(ImageSize = 48, Patch = 8, Dim = 32, Depth = 2, Heads = 2, MlpDim = 64, Classes = 10)]
public partial class SmallCifar48;

/// <summary><see cref="SmallCifarPlain"/> at 24 pixels: a 3×3 patch grid, for pos_embed resampling.</summary>
[VisionTransformer(ImageSize = 24, Patch = 8, Dim = 32, Depth = 2, Heads = 2, MlpDim = 64, Classes = 10)]
public partial class SmallCifar24;
