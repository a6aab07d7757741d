using Vit.Data;

namespace Vit.Imaging;

/// <summary>
/// The evaluation (and prediction) transform of torchvision's ImageNet recipe, at any model size
/// S: <c>Resize(R)</c> (shorter side to R, BILINEAR with antialiasing), <c>CenterCrop(S)</c>,
/// <c>ToTensor()</c>, <c>Normalize(mean, std)</c>, on the image converted to RGB (gray repeated,
/// alpha dropped) as torchvision's <c>ImageFolder</c> loader does. By default R =
/// <c>round(S × 256 / 224)</c> (<see cref="Transforms.EvalResizeSize"/>).
/// </summary>
/// <remarks>
/// The 8-bit resized and cropped pixels equal PIL's bit for bit, and the floats torchvision's.
/// Only the pixels inside the crop are resampled. One instance may be used from many threads at
/// once: scratch buffers are per thread, and a steady-state call allocates nothing.
/// </remarks>
public sealed class EvalTransform
{
    private readonly float[] _table = new float[3 * 256];

    /// <summary>An evaluation transform to <paramref name="size"/> × <paramref name="size"/>.</summary>
    /// <param name="size">The model's input side S.</param>
    /// <param name="normalization">The per-channel mean and std.</param>
    /// <param name="resizeSize">The shorter side before the crop, at least S; 0 for <c>round(S × 256 / 224)</c>.</param>
    /// <exception cref="ArgumentException">A size is out of bounds, or the normalization is not usable.</exception>
    public EvalTransform(int size, Normalization normalization, int resizeSize = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        ArgumentOutOfRangeException.ThrowIfNegative(resizeSize);
        normalization.Validate();
        if (resizeSize == 0)
            resizeSize = Transforms.EvalResizeSize(size);
        if (resizeSize < size)
            throw new ArgumentOutOfRangeException(nameof(resizeSize), resizeSize, $"The resize before a {size}-pixel center crop must be at least {size} pixels.");
        Size = size;
        ResizeSize = resizeSize;
        Normalization = normalization;
        Transforms.FillTable(normalization, _table);
    }

    /// <summary>The output side S.</summary>
    public int Size { get; }

    /// <summary>The shorter side R after the resize, before the crop.</summary>
    public int ResizeSize { get; }

    /// <summary>The per-channel mean and std.</summary>
    public Normalization Normalization { get; }

    /// <summary>The floats one output takes: 3 × S × S.</summary>
    public int OutputLength => 3 * Size * Size;

    /// <summary>Transforms <paramref name="image"/> into <paramref name="chw"/>.</summary>
    /// <param name="image">Any image (1–4 channels).</param>
    /// <param name="chw">3 × S × S floats: planes R, G, B.</param>
    /// <exception cref="ArgumentException"><paramref name="chw"/> is not <see cref="OutputLength"/> floats.</exception>
    public void Apply(Image image, Span<float> chw)
    {
        ArgumentNullException.ThrowIfNull(image);
        Transforms.RequireLength(chw, Size, Size);
        int bands = Transforms.RgbBands(image);
        var scratch = PilBilinear.ForThread;
        byte[] window = PilBilinear.Grow(ref scratch.Window, Size * Size * bands);
        Resample(image, bands, window);
        Transforms.WriteTensor(window, Size, Size, bands, bands, flip: false, _table, chw);
    }

    /// <summary>The resize and crop alone: S × S × <paramref name="bands"/> bytes (HWC) into <paramref name="window"/>, as PIL's.</summary>
    internal void Resample(Image image, int bands, Span<byte> window)
    {
        var (rw, rh) = Transforms.ShorterSideSize(image.Width, image.Height, ResizeSize);
        var crop = Transforms.CenterCropBox(rw, rh, Size);
        PilBilinear.ResampleWindow(image, Transforms.Whole(image), bands, rw, rh, crop, window);
    }
}
