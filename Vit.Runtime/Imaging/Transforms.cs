using Vit.Data;
using Vit.Numerics;

namespace Vit.Imaging;

/// <summary>A rectangle of pixels: the columns [Left, Left + Width) and rows [Top, Top + Height).</summary>
/// <param name="Left">The first column; negative when the rectangle starts left of the image (padding).</param>
/// <param name="Top">The first row; negative when the rectangle starts above the image (padding).</param>
/// <param name="Width">The number of columns; positive.</param>
/// <param name="Height">The number of rows; positive.</param>
public readonly record struct CropBox(int Left, int Top, int Width, int Height)
{
    /// <summary>Whether the rectangle lies inside a <paramref name="width"/> × <paramref name="height"/> image.</summary>
    public bool IsInside(int width, int height) =>
        Left >= 0 && Top >= 0 && Width > 0 && Height > 0 && (long)Left + Width <= width && (long)Top + Height <= height;
}

/// <summary>
/// torchvision's image transforms on PIL images, as pure functions: <c>Resize</c>,
/// <c>CenterCrop</c>, <c>RandomResizedCrop</c>, <c>RandomHorizontalFlip</c>, <c>ToTensor</c> and
/// <c>Normalize</c> (torchvision 0.14 with Pillow 9.4, BILINEAR). The 8-bit outputs equal PIL's
/// exactly; the float outputs equal torchvision's float32 arithmetic.
/// </summary>
/// <remarks>
/// <para>The resampling is PIL's antialiased bilinear filter, emulated in integer arithmetic as
/// Pillow's <c>ImagingResample</c> does it (see <c>docs/training.md</c>). Channels are resampled
/// independently; PIL instead premultiplies alpha when it resizes an RGBA or LA image, so for
/// images with alpha these functions match PIL on each band, not on PIL's RGBA resize. The
/// training and evaluation pipelines (<see cref="TrainTransform"/>, <see cref="EvalTransform"/>)
/// drop alpha first, as torchvision's <c>ImageFolder</c> loader (<c>convert("RGB")</c>) does.</para>
/// <para>The functions that return an <see cref="Image"/> allocate it; the pipelines write into
/// the caller's buffer and allocate nothing in a steady state.</para>
/// </remarks>
public static class Transforms
{
    /// <summary>RandomResizedCrop's default smallest area fraction: 0.08.</summary>
    public const double DefaultMinScale = 0.08;

    /// <summary>RandomResizedCrop's default largest area fraction: 1.</summary>
    public const double DefaultMaxScale = 1.0;

    /// <summary>RandomResizedCrop's default smallest aspect ratio (width / height): 3/4.</summary>
    public const double DefaultMinRatio = 3.0 / 4.0;

    /// <summary>RandomResizedCrop's default largest aspect ratio (width / height): 4/3.</summary>
    public const double DefaultMaxRatio = 4.0 / 3.0;

    /// <summary>The number of random attempts before RandomResizedCrop falls back to a central crop: 10.</summary>
    public const int RandomCropAttempts = 10;

    /// <summary>
    /// The size torchvision's <c>Resize(size)</c> gives a <paramref name="width"/> × <paramref name="height"/>
    /// image: the shorter side becomes <paramref name="size"/>, the longer <c>int(size × long / short)</c>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, or the longer side would not fit an int.</exception>
    public static (int Width, int Height) ShorterSideSize(int width, int height, int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        int shorter = Math.Min(width, height), longer = Math.Max(width, height);
        double other = Math.Floor((double)((long)size * longer) / shorter); // Python's true division, then int()
        if (other > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(size), size, $"Resizing {width}×{height} so that the shorter side is {size} makes the longer side {other}, beyond an int.");
        return width <= height ? (size, (int)other) : ((int)other, size);
    }

    /// <summary>
    /// The resize before the evaluation crop: <c>round(size × 256 / 224)</c> (224 → 256, 384 → 439, 32 → 37).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not positive.</exception>
    public static int EvalResizeSize(int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        return (int)Math.Round(size * 256.0 / 224.0, MidpointRounding.ToEven);
    }

    /// <summary>
    /// <paramref name="image"/> resized to <paramref name="width"/> × <paramref name="height"/> as PIL's
    /// <c>image.resize((width, height), Image.BILINEAR)</c> does (torchvision's <c>Resize((height, width))</c>);
    /// every channel is resampled.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive.</exception>
    public static Image Resize(Image image, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        var pixels = new byte[checked(width * height * image.Channels)];
        PilBilinear.ResampleWindow(image, Whole(image), image.Channels, width, height, new CropBox(0, 0, width, height), pixels);
        return new Image(width, height, image.Channels, pixels);
    }

    /// <summary>
    /// <paramref name="image"/> resized so that its shorter side is <paramref name="size"/>, as
    /// torchvision's <c>Resize(size)</c> (see <see cref="ShorterSideSize"/>).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not positive.</exception>
    public static Image ResizeShorterSide(Image image, int size)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (w, h) = ShorterSideSize(image.Width, image.Height, size);
        return Resize(image, w, h);
    }

    /// <summary>
    /// The rectangle torchvision's <c>CenterCrop(size)</c> takes from a <paramref name="width"/> ×
    /// <paramref name="height"/> image: offsets <c>int(round((side − size) / 2))</c> with ties to even;
    /// along a side shorter than <paramref name="size"/>, torchvision first pads
    /// <c>(size − side) // 2</c> zero pixels before (and the rest after), so the offset is minus that.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive.</exception>
    public static CropBox CenterCropBox(int width, int height, int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        return new CropBox(CenterOffset(width, size), CenterOffset(height, size), size, size);
    }

    private static int CenterOffset(int side, int size) =>
        size > side ? -((size - side) / 2) : (int)Math.Round((side - size) / 2.0, MidpointRounding.ToEven);

    /// <summary>
    /// The central <paramref name="size"/> × <paramref name="size"/> pixels of <paramref name="image"/>,
    /// as torchvision's <c>CenterCrop(size)</c> (zero padding where the image is smaller; see <see cref="CenterCropBox"/>).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not positive.</exception>
    public static Image CenterCrop(Image image, int size)
    {
        ArgumentNullException.ThrowIfNull(image);
        var box = CenterCropBox(image.Width, image.Height, size);
        var pixels = new byte[checked(size * size * image.Channels)];
        // Same size in and out: no resampling pass runs, the window is copied (0 outside the image).
        PilBilinear.ResampleWindow(image, Whole(image), image.Channels, image.Width, image.Height, box, pixels);
        return new Image(size, size, image.Channels, pixels);
    }

    /// <summary>
    /// The rectangle <paramref name="box"/> of <paramref name="image"/> resized to
    /// <paramref name="size"/> × <paramref name="size"/>, as torchvision's <c>resized_crop</c>
    /// (PIL's <c>image.crop(box).resize((size, size), BILINEAR)</c>): the second half of
    /// <c>RandomResizedCrop</c>. The filter sees only the pixels inside the box.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not positive, or <paramref name="box"/> is not inside the image.</exception>
    public static Image ResizedCrop(Image image, CropBox box, int size)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        RequireInside(image, box);
        var pixels = new byte[checked(size * size * image.Channels)];
        PilBilinear.ResampleWindow(image, box, image.Channels, size, size, new CropBox(0, 0, size, size), pixels);
        return new Image(size, size, image.Channels, pixels);
    }

    /// <summary>
    /// <c>RandomResizedCrop.get_params</c> of torchvision: up to <see cref="RandomCropAttempts"/>
    /// draws of an area fraction uniform in [<paramref name="minScale"/>, <paramref name="maxScale"/>]
    /// and an aspect ratio (width / height) log-uniform in [<paramref name="minRatio"/>,
    /// <paramref name="maxRatio"/>], giving <c>w = round(√(area·ratio))</c>, <c>h = round(√(area/ratio))</c>;
    /// the first that fits is placed at a uniform position (row first, then column). When none
    /// fits, the central crop of the whole image clamped to the ratio range. The random numbers
    /// come from <paramref name="rng"/> (not torch's generator), so the draw is deterministic per seed.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, or a range is empty, not positive or not finite.</exception>
    public static CropBox RandomResizedCropBox(int width, int height, ref Rng rng,
        double minScale = DefaultMinScale, double maxScale = DefaultMaxScale, double minRatio = DefaultMinRatio, double maxRatio = DefaultMaxRatio)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ValidateRange(minScale, maxScale, "scale");
        ValidateRange(minRatio, maxRatio, "ratio");
        double area = (double)width * height;
        double logMin = Math.Log(minRatio), logMax = Math.Log(maxRatio);
        for (int attempt = 0; attempt < RandomCropAttempts; attempt++)
        {
            double target = area * (minScale + (maxScale - minScale) * rng.NextDouble());
            double ratio = Math.Exp(logMin + (logMax - logMin) * rng.NextDouble());
            double w = Math.Round(Math.Sqrt(target * ratio), MidpointRounding.ToEven);
            double h = Math.Round(Math.Sqrt(target / ratio), MidpointRounding.ToEven);
            if (w > 0 && w <= width && h > 0 && h <= height)
            {
                int top = rng.NextInt(height - (int)h + 1);
                int left = rng.NextInt(width - (int)w + 1);
                return new CropBox(left, top, (int)w, (int)h);
            }
        }
        return FallbackCropBox(width, height, minRatio, maxRatio);
    }

    /// <summary>
    /// get_params's fallback when every attempt fails: the whole image when its aspect ratio is in
    /// [<paramref name="minRatio"/>, <paramref name="maxRatio"/>]; otherwise the full shorter side and
    /// the longer side <c>round</c>ed to the nearer ratio bound, centered (offsets <c>(side − crop) // 2</c>).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, or the ratio range is empty, not positive or not finite.</exception>
    public static CropBox FallbackCropBox(int width, int height, double minRatio = DefaultMinRatio, double maxRatio = DefaultMaxRatio)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ValidateRange(minRatio, maxRatio, "ratio");
        double inRatio = (double)width / height;
        int w = width, h = height;
        if (inRatio < minRatio)
            h = (int)Math.Round(w / minRatio, MidpointRounding.ToEven);
        else if (inRatio > maxRatio)
            w = (int)Math.Round(h * maxRatio, MidpointRounding.ToEven);
        return new CropBox((width - w) / 2, (height - h) / 2, w, h);
    }

    /// <summary>
    /// torchvision's <c>RandomHorizontalFlip(p)</c> draw: true (flip) when a uniform number from
    /// <paramref name="rng"/> is below <paramref name="probability"/>.
    /// </summary>
    public static bool RandomHorizontalFlip(ref Rng rng, double probability = 0.5) => rng.NextDouble() < probability;

    /// <summary><paramref name="image"/> mirrored left to right (torchvision's <c>hflip</c>).</summary>
    public static Image HorizontalFlip(Image image)
    {
        ArgumentNullException.ThrowIfNull(image);
        int w = image.Width, c = image.Channels;
        var pixels = new byte[image.Pixels.Length];
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < w; x++)
                Array.Copy(image.Pixels, ((long)y * w + x) * c, pixels, ((long)y * w + (w - 1 - x)) * c, c);
        return new Image(w, image.Height, c, pixels);
    }

    /// <summary>
    /// torchvision's <c>ToTensor()</c> + <c>Normalize(mean, std)</c> on <paramref name="image"/>
    /// converted to RGB as PIL's <c>convert("RGB")</c> does (gray repeated in R, G and B; alpha
    /// dropped): <paramref name="chw"/>[c, y, x] = (pixel / 255 − mean[c]) / std[c] in float32.
    /// </summary>
    /// <param name="image">Any image (1–4 channels).</param>
    /// <param name="normalization">The per-channel mean and std.</param>
    /// <param name="chw">3 × Height × Width floats: planes R, G, B.</param>
    /// <exception cref="ArgumentException"><paramref name="chw"/> has the wrong length, or the normalization is not usable.</exception>
    public static void ToTensor(Image image, Normalization normalization, Span<float> chw)
    {
        ArgumentNullException.ThrowIfNull(image);
        normalization.Validate();
        RequireLength(chw, image.Width, image.Height);
        Span<float> table = stackalloc float[3 * 256];
        FillTable(normalization, table);
        WriteTensor(image.Pixels, image.Width, image.Height, image.Channels, RgbBands(image), flip: false, table, chw);
    }

    internal static CropBox Whole(Image image) => new(0, 0, image.Width, image.Height);

    /// <summary>The channels that carry color: 1 for gray (with or without alpha), 3 for RGB(A).</summary>
    internal static int RgbBands(Image image) => image.Channels >= 3 ? 3 : 1;

    internal static void RequireInside(Image image, CropBox box)
    {
        if (!box.IsInside(image.Width, image.Height))
            throw new ArgumentOutOfRangeException(nameof(box), box, $"The crop box must lie inside the {image.Width}×{image.Height} image.");
    }

    internal static void RequireLength(Span<float> chw, int width, int height)
    {
        long needed = 3L * width * height;
        if (chw.Length != needed)
            throw new ArgumentException($"A 3 × {height} × {width} tensor needs {needed} floats, not {chw.Length}.", nameof(chw));
    }

    /// <summary>table[c × 256 + v] = (v / 255 − mean[c]) / std[c], as <see cref="Normalization.Apply"/>.</summary>
    internal static void FillTable(Normalization normalization, Span<float> table)
    {
        for (int c = 0; c < 3; c++)
            for (int v = 0; v < 256; v++)
                table[c * 256 + v] = normalization.Apply(c, (byte)v);
    }

    /// <summary>
    /// Writes HWC bytes (<paramref name="stride"/> bytes a pixel, the first <paramref name="bands"/>
    /// of which are gray or R, G, B) as normalized CHW floats, optionally mirrored left to right.
    /// </summary>
    internal static void WriteTensor(ReadOnlySpan<byte> hwc, int width, int height, int stride, int bands, bool flip,
        ReadOnlySpan<float> table, Span<float> chw)
    {
        int plane = width * height;
        ReadOnlySpan<float> red = table[..256], green = table.Slice(256, 256), blue = table.Slice(512, 256);
        for (int y = 0; y < height; y++)
        {
            ReadOnlySpan<byte> row = hwc.Slice(y * width * stride, width * stride);
            int o = y * width;
            for (int x = 0; x < width; x++, o++)
            {
                int p = (flip ? width - 1 - x : x) * stride;
                byte r = row[p];
                byte g = bands == 1 ? r : row[p + 1];
                byte b = bands == 1 ? r : row[p + 2];
                chw[o] = red[r];
                chw[plane + o] = green[g];
                chw[2 * plane + o] = blue[b];
            }
        }
    }

    internal static void ValidateRange(double min, double max, string name)
    {
        if (!(min > 0) || !double.IsFinite(max) || !(min <= max))
            throw new ArgumentOutOfRangeException(name, $"The {name} range must be finite and positive with min ≤ max, not ({min}, {max}).");
    }
}
