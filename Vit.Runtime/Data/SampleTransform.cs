using Vit.Imaging;

namespace Vit.Data;

/// <summary>Which of the two standard recipes turns images into model inputs.</summary>
public enum TransformRecipe
{
    /// <summary>
    /// The CIFAR recipe, for models whose input is the images' own size: the image is brought to
    /// S × S (shorter side resized to S, center crop; nothing to do for CIFAR's 32 × 32 at S = 32);
    /// training adds torchvision's <c>RandomCrop(S, padding=4)</c> and <c>RandomHorizontalFlip()</c>.
    /// </summary>
    Cifar,

    /// <summary>
    /// torchvision's ImageNet recipe: training <c>RandomResizedCrop(S, scale=(0.08, 1), ratio=(3/4, 4/3))</c>
    /// and <c>RandomHorizontalFlip()</c>; evaluation <c>Resize(round(S × 256 / 224))</c>, <c>CenterCrop(S)</c>.
    /// </summary>
    ImageNet,
}

/// <summary>
/// Renders one sample of an <see cref="ImageDataset"/> as the model's input: 3 × S × S normalized
/// floats (planes R, G, B), with the random draws of (seed, epoch, position) when it augments.
/// </summary>
/// <remarks>
/// The draws are a pure function of (seed, epoch, position in the epoch's order), so batches do not
/// depend on thread timing, the number of loader workers, the batch size or where a run resumed.
/// Instances are safe to use from several threads at once (scratch buffers are per thread).
/// </remarks>
public abstract class SampleTransform
{
    private protected SampleTransform(int size, Normalization normalization)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        normalization.Validate();
        Size = size;
        Normalization = normalization;
    }

    /// <summary>The output side S.</summary>
    public int Size { get; }

    /// <summary>The per-channel mean and std.</summary>
    public Normalization Normalization { get; }

    /// <summary>The floats one sample takes: 3 × S × S.</summary>
    public int OutputLength => 3 * Size * Size;

    /// <summary>Whether rendering from <paramref name="data"/> decodes or resamples images (costly enough that the loader runs several workers).</summary>
    public abstract bool IsCostly(ImageDataset data);

    /// <summary>Renders sample <paramref name="sample"/> of <paramref name="data"/> into <paramref name="chw"/>.</summary>
    /// <param name="data">The images.</param>
    /// <param name="sample">The image's index in <paramref name="data"/>.</param>
    /// <param name="seed">The run's seed.</param>
    /// <param name="epoch">The epoch (selects the draws).</param>
    /// <param name="position">The sample's position in the epoch's order (selects the draws).</param>
    /// <param name="chw"><see cref="OutputLength"/> floats.</param>
    public abstract void Apply(ImageDataset data, int sample, ulong seed, int epoch, long position, Span<float> chw);

    /// <summary>The recipe that suits a model whose input is <paramref name="imageSize"/> pixels: CIFAR's at 32, ImageNet's otherwise.</summary>
    public static TransformRecipe DefaultRecipe(int imageSize) => imageSize == CifarDataset.Side ? TransformRecipe.Cifar : TransformRecipe.ImageNet;

    /// <summary>The training transform of <paramref name="recipe"/> at <paramref name="size"/>; without <paramref name="augment"/>, the evaluation one.</summary>
    public static SampleTransform ForTraining(TransformRecipe recipe, int size, Normalization normalization, bool augment = true) =>
        !augment ? ForEvaluation(recipe, size, normalization)
        : recipe == TransformRecipe.Cifar ? new PadCropTransform(size, normalization, augment: true)
        : new ResizedCropTransform(new TrainTransform(size, normalization));

    /// <summary>The evaluation (and prediction) transform of <paramref name="recipe"/> at <paramref name="size"/>.</summary>
    public static SampleTransform ForEvaluation(TransformRecipe recipe, int size, Normalization normalization) =>
        recipe == TransformRecipe.Cifar ? new PadCropTransform(size, normalization, augment: false) : new CenterCropTransform(new EvalTransform(size, normalization));

    /// <summary>The recipe's name on the command line and in metadata: <c>cifar</c> or <c>imagenet</c>.</summary>
    public static string Name(TransformRecipe recipe) => recipe == TransformRecipe.Cifar ? "cifar" : "imagenet";

    /// <summary>Reads <c>cifar</c> or <c>imagenet</c>.</summary>
    /// <exception cref="FormatException">Any other text.</exception>
    public static TransformRecipe ParseRecipe(string text) => text switch
    {
        "cifar" => TransformRecipe.Cifar,
        "imagenet" => TransformRecipe.ImageNet,
        _ => throw new FormatException($"the transforms are 'cifar' or 'imagenet', not '{text}'"),
    };
}

/// <summary>
/// The CIFAR recipe (<see cref="TransformRecipe.Cifar"/>): the image brought to S × S (PIL-exact
/// <c>Resize(S)</c> + <c>CenterCrop(S)</c>; CIFAR records at S = 32 are read as they are), then, when
/// augmenting, the crop with 4 pixels of zero padding and the flip of <see cref="Augmentation.For"/>.
/// </summary>
public sealed class PadCropTransform : SampleTransform
{
    private readonly float[] _table;
    private readonly EvalTransform? _fit; // Resize(S) + CenterCrop(S), as bytes

    /// <summary>The CIFAR recipe at <paramref name="size"/>.</summary>
    public PadCropTransform(int size, Normalization normalization, bool augment) : base(size, normalization)
    {
        Augment = augment;
        _table = normalization.LookupTable();
        _fit = new EvalTransform(size, normalization, resizeSize: size);
    }

    /// <summary>Whether the random crop and flip are applied.</summary>
    public bool Augment { get; }

    /// <inheritdoc/>
    public override bool IsCostly(ImageDataset data) => Size != CifarDataset.Side || data.Count == 0 || data.CifarPixels(0).IsEmpty;

    /// <inheritdoc/>
    public override void Apply(ImageDataset data, int sample, ulong seed, int epoch, long position, Span<float> chw)
    {
        var a = Augment ? Augmentation.For(seed, epoch, position) : Augmentation.None;
        var pixels = data.CifarPixels(sample);
        if (Size == CifarDataset.Side && !pixels.IsEmpty)
        {
            Render(pixels, a, _table, chw);
            return;
        }
        var image = data.Load(sample);
        var scratch = PilBilinear.ForThread;
        int bands = Transforms.RgbBands(image);
        byte[] window = PilBilinear.Grow(ref scratch.Window, Size * Size * bands);
        _fit!.Resample(image, bands, window);
        RenderHwc(window.AsSpan(0, Size * Size * bands), Size, bands, a, _table, chw);
    }

    /// <summary>
    /// Writes one CIFAR record as normalized floats (CHW, 3 × 32 × 32) after applying
    /// <paramref name="augmentation"/>; padded pixels are 0 before normalization.
    /// </summary>
    /// <param name="image">3072 bytes, CHW, as <see cref="CifarDataset.Image"/> returns.</param>
    /// <param name="augmentation">The crop offsets and flip (<see cref="Augmentation.None"/> for none).</param>
    /// <param name="normalization">The per-channel mean and std.</param>
    /// <param name="destination">3072 floats.</param>
    public static void Render(ReadOnlySpan<byte> image, Augmentation augmentation, Normalization normalization, Span<float> destination) =>
        Render(image, augmentation, normalization.LookupTable(), destination);

    private static void Render(ReadOnlySpan<byte> image, Augmentation a, float[] lut, Span<float> destination)
    {
        const int side = CifarDataset.Side, plane = side * side;
        if (image.Length != CifarDataset.ImageBytes)
            throw new ArgumentException($"A CIFAR image is {CifarDataset.ImageBytes} bytes, not {image.Length}.", nameof(image));
        if (destination.Length != CifarDataset.ImageBytes)
            throw new ArgumentException($"The destination must hold {CifarDataset.ImageBytes} floats, not {destination.Length}.", nameof(destination));
        CheckOffsets(a);
        for (int c = 0; c < CifarDataset.Channels; c++)
        {
            ReadOnlySpan<float> table = lut.AsSpan(c * 256, 256);
            ReadOnlySpan<byte> src = image.Slice(c * plane, plane);
            Span<float> dst = destination.Slice(c * plane, plane);
            if (a == default)
            {
                for (int i = 0; i < plane; i++) dst[i] = table[src[i]];
                continue;
            }
            float zero = table[0];
            // out(y, x) = in(y + OffsetY, x' + OffsetX), x' = 31 − x when flipped; outside the image: the zero pixel.
            for (int y = 0; y < side; y++)
            {
                Span<float> row = dst.Slice(y * side, side);
                int sy = y + a.OffsetY;
                if ((uint)sy >= side)
                {
                    row.Fill(zero);
                    continue;
                }
                ReadOnlySpan<byte> srcRow = src.Slice(sy * side, side);
                for (int x = 0; x < side; x++)
                {
                    int sx = (a.Flip ? side - 1 - x : x) + a.OffsetX;
                    row[x] = (uint)sx < side ? table[srcRow[sx]] : zero;
                }
            }
        }
    }

    /// <summary>The same crop and flip on an S × S HWC image of <paramref name="bands"/> channels (gray is repeated in R, G and B).</summary>
    private static void RenderHwc(ReadOnlySpan<byte> hwc, int side, int bands, Augmentation a, float[] lut, Span<float> destination)
    {
        CheckOffsets(a);
        int plane = side * side;
        if (destination.Length != 3 * plane)
            throw new ArgumentException($"The destination must hold {3 * plane} floats, not {destination.Length}.", nameof(destination));
        for (int c = 0; c < 3; c++)
        {
            ReadOnlySpan<float> table = lut.AsSpan(c * 256, 256);
            Span<float> dst = destination.Slice(c * plane, plane);
            int channel = bands == 1 ? 0 : c;
            for (int y = 0; y < side; y++)
            {
                int sy = y + a.OffsetY;
                for (int x = 0; x < side; x++)
                {
                    int sx = (a.Flip ? side - 1 - x : x) + a.OffsetX;
                    dst[y * side + x] = (uint)sy < (uint)side && (uint)sx < (uint)side ? table[hwc[(sy * side + sx) * bands + channel]] : table[0];
                }
            }
        }
    }

    private static void CheckOffsets(Augmentation a)
    {
        if (Math.Abs(a.OffsetX) > Augmentation.Padding || Math.Abs(a.OffsetY) > Augmentation.Padding)
            throw new ArgumentOutOfRangeException(nameof(a), a, $"Crop offsets must lie in [-{Augmentation.Padding}, {Augmentation.Padding}].");
    }
}

/// <summary>The ImageNet training recipe: <see cref="TrainTransform"/> with the draws of (seed, epoch, position).</summary>
public sealed class ResizedCropTransform(TrainTransform transform) : SampleTransform(transform.Size, transform.Normalization)
{
    /// <summary>The torchvision transform applied.</summary>
    public TrainTransform Transform { get; } = transform;

    /// <inheritdoc/>
    public override bool IsCostly(ImageDataset data) => true;

    /// <inheritdoc/>
    public override void Apply(ImageDataset data, int sample, ulong seed, int epoch, long position, Span<float> chw) =>
        Transform.Apply(data.Load(sample), TrainTransform.Key(seed, epoch, position), chw);
}

/// <summary>The ImageNet evaluation recipe: <see cref="EvalTransform"/>.</summary>
public sealed class CenterCropTransform(EvalTransform transform) : SampleTransform(transform.Size, transform.Normalization)
{
    /// <summary>The torchvision transform applied.</summary>
    public EvalTransform Transform { get; } = transform;

    /// <inheritdoc/>
    public override bool IsCostly(ImageDataset data) => true;

    /// <inheritdoc/>
    public override void Apply(ImageDataset data, int sample, ulong seed, int epoch, long position, Span<float> chw) =>
        Transform.Apply(data.Load(sample), chw);
}
