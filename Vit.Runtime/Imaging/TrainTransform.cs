using Vit.Data;
using Vit.Numerics;

namespace Vit.Imaging;

/// <summary>
/// The training transform of torchvision's ImageNet recipe, at any model size S:
/// <c>RandomResizedCrop(S, scale, ratio)</c>, <c>RandomHorizontalFlip(p)</c>, <c>ToTensor()</c>,
/// <c>Normalize(mean, std)</c>, on the image converted to RGB (gray repeated, alpha dropped) as
/// torchvision's <c>ImageFolder</c> loader does.
/// </summary>
/// <remarks>
/// The crop and resize equal PIL's <c>image.crop(box).resize((S, S), BILINEAR)</c> bit for bit,
/// and the floats torchvision's; the random draws come from <see cref="Rng"/>, not from torch, so
/// the parameters follow torchvision's distribution but not its sequence. One instance may be
/// used from many threads at once: scratch buffers are per thread, and a steady-state call allocates nothing.
/// </remarks>
public sealed class TrainTransform
{
    private const ulong KeyStream = 0x7272635F666C6970UL; // "rrc_flip"
    private readonly float[] _table = new float[3 * 256];

    /// <summary>A training transform to <paramref name="size"/> × <paramref name="size"/>.</summary>
    /// <param name="size">The model's input side S.</param>
    /// <param name="normalization">The per-channel mean and std.</param>
    /// <param name="minScale">The smallest area fraction of a crop (torchvision: 0.08).</param>
    /// <param name="maxScale">The largest area fraction of a crop (torchvision: 1).</param>
    /// <param name="minRatio">The smallest aspect ratio, width / height (torchvision: 3/4).</param>
    /// <param name="maxRatio">The largest aspect ratio, width / height (torchvision: 4/3).</param>
    /// <param name="flipProbability">The probability of a horizontal flip (torchvision: 0.5).</param>
    /// <exception cref="ArgumentException">A size or range is out of bounds, or the normalization is not usable.</exception>
    public TrainTransform(int size, Normalization normalization,
        double minScale = Transforms.DefaultMinScale, double maxScale = Transforms.DefaultMaxScale,
        double minRatio = Transforms.DefaultMinRatio, double maxRatio = Transforms.DefaultMaxRatio, double flipProbability = 0.5)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        normalization.Validate();
        if (!(flipProbability >= 0 && flipProbability <= 1))
            throw new ArgumentOutOfRangeException(nameof(flipProbability), flipProbability, "The flip probability must lie in [0, 1].");
        Transforms.ValidateRange(minScale, maxScale, "scale");
        Transforms.ValidateRange(minRatio, maxRatio, "ratio");
        Size = size;
        Normalization = normalization;
        MinScale = minScale;
        MaxScale = maxScale;
        MinRatio = minRatio;
        MaxRatio = maxRatio;
        FlipProbability = flipProbability;
        Transforms.FillTable(normalization, _table);
    }

    /// <summary>The output side S.</summary>
    public int Size { get; }

    /// <summary>The per-channel mean and std.</summary>
    public Normalization Normalization { get; }

    /// <summary>The smallest area fraction of a crop.</summary>
    public double MinScale { get; }

    /// <summary>The largest area fraction of a crop.</summary>
    public double MaxScale { get; }

    /// <summary>The smallest aspect ratio (width / height) of a crop.</summary>
    public double MinRatio { get; }

    /// <summary>The largest aspect ratio (width / height) of a crop.</summary>
    public double MaxRatio { get; }

    /// <summary>The probability of a horizontal flip.</summary>
    public double FlipProbability { get; }

    /// <summary>The floats one output takes: 3 × S × S.</summary>
    public int OutputLength => 3 * Size * Size;

    /// <summary>
    /// The generator seed for sample position <paramref name="position"/> of epoch
    /// <paramref name="epoch"/>: a pure function of (seed, epoch, position), so the draws do not
    /// depend on threading, batch size or where a run was resumed.
    /// </summary>
    public static ulong Key(ulong seed, int epoch, long position) => KeyHash.Of(seed, KeyStream, (ulong)epoch, (ulong)position);

    /// <summary>
    /// The random parameters for a <paramref name="width"/> × <paramref name="height"/> image: the
    /// crop (<see cref="Transforms.RandomResizedCropBox"/>), then the flip, both from <paramref name="rng"/>.
    /// </summary>
    public (CropBox Box, bool Flip) Draw(int width, int height, ref Rng rng)
    {
        var box = Transforms.RandomResizedCropBox(width, height, ref rng, MinScale, MaxScale, MinRatio, MaxRatio);
        return (box, Transforms.RandomHorizontalFlip(ref rng, FlipProbability));
    }

    /// <summary>Transforms <paramref name="image"/> with the draws of <c>new Rng(key)</c> (see <see cref="Key"/>).</summary>
    /// <param name="image">Any image (1–4 channels).</param>
    /// <param name="key">The generator seed of this sample.</param>
    /// <param name="chw">3 × S × S floats: planes R, G, B.</param>
    /// <exception cref="ArgumentException"><paramref name="chw"/> is not <see cref="OutputLength"/> floats.</exception>
    public void Apply(Image image, ulong key, Span<float> chw)
    {
        var rng = new Rng(key);
        Apply(image, ref rng, chw);
    }

    /// <summary>Transforms <paramref name="image"/> with the next draws of <paramref name="rng"/> (see <see cref="Draw"/>).</summary>
    /// <param name="image">Any image (1–4 channels).</param>
    /// <param name="rng">The generator; advanced past this sample's draws.</param>
    /// <param name="chw">3 × S × S floats: planes R, G, B.</param>
    /// <exception cref="ArgumentException"><paramref name="chw"/> is not <see cref="OutputLength"/> floats.</exception>
    public void Apply(Image image, ref Rng rng, Span<float> chw)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (box, flip) = Draw(image.Width, image.Height, ref rng);
        Apply(image, box, flip, chw);
    }

    /// <summary>
    /// The deterministic part: crop <paramref name="box"/>, resize to S × S (PIL BILINEAR), mirror
    /// when <paramref name="flip"/>, normalize into <paramref name="chw"/>.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="chw"/> is not <see cref="OutputLength"/> floats, or the box is not inside the image.</exception>
    public void Apply(Image image, CropBox box, bool flip, Span<float> chw)
    {
        ArgumentNullException.ThrowIfNull(image);
        Transforms.RequireInside(image, box);
        Transforms.RequireLength(chw, Size, Size);
        int bands = Transforms.RgbBands(image);
        var scratch = PilBilinear.ForThread;
        byte[] window = PilBilinear.Grow(ref scratch.Window, Size * Size * bands);
        PilBilinear.ResampleWindow(image, box, bands, Size, Size, new CropBox(0, 0, Size, Size), window);
        Transforms.WriteTensor(window, Size, Size, bands, bands, flip, _table, chw);
    }
}
