using Vit.Data;

namespace Vit.Imaging;

/// <summary>
/// Turns a decoded image into a model input the way timm's / torchvision's evaluation transform
/// does: <c>Resize(size)</c> (shorter side to <c>size</c>, bilinear with antialiasing),
/// <c>CenterCrop(size)</c>, <c>ToTensor()</c>, <c>Normalize(mean, std)</c>.
/// </summary>
/// <remarks>
/// The resize uses PIL's BILINEAR resampling weights (a triangle filter widened by the scale
/// when shrinking, so every source pixel contributes: area averaging), computed in double
/// precision without PIL's rounding to 8 bits between the horizontal and vertical passes, so
/// values can differ from PIL's by about one 8-bit step. Only the pixels inside the crop are
/// computed. The output size along the longer side is <c>floor(size × long / short)</c> and
/// the crop offsets are <c>round((resized − size) / 2)</c> with ties to even, as torchvision's.
/// </remarks>
public static class Preprocess
{
    /// <summary>
    /// Writes <paramref name="image"/> as a normalized CHW float image of
    /// <paramref name="size"/> × <paramref name="size"/> into <paramref name="chw"/>; alpha is dropped.
    /// </summary>
    /// <param name="image">An RGB or RGBA image.</param>
    /// <param name="size">The model's input side (ImageSize).</param>
    /// <param name="patch">The model's patch side: the smallest shorter side accepted.</param>
    /// <param name="norm">The per-channel mean and std.</param>
    /// <param name="chw">3 × size × size floats: planes R, G, B.</param>
    /// <param name="name">Names the image in messages (usually its path).</param>
    /// <exception cref="InvalidDataException">The image is not RGB(A), or its shorter side is below <paramref name="patch"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="chw"/> has the wrong length, or <paramref name="size"/> / <paramref name="patch"/> are not positive.</exception>
    public static void ToModelInput(Image image, int size, int patch, Normalization norm, Span<float> chw, string name)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(patch);
        norm.Validate();
        if (chw.Length != 3 * size * size)
            throw new ArgumentException($"The model input needs 3 × {size} × {size} = {3 * size * size} floats, not {chw.Length}.", nameof(chw));
        if (image.Channels < 3)
            throw new InvalidDataException(
                $"{name}: the model expects 3 channels (RGB) but the image has {image.Channels} ({image.ChannelDescription}); convert it to RGB.");
        int shorter = Math.Min(image.Width, image.Height);
        if (shorter < patch)
            throw new InvalidDataException(
                $"{name}: {image.Width}×{image.Height} pixels is too small; the shorter side must be at least {patch} pixels (one patch).");

        var (rw, rh) = ResizedSize(image.Width, image.Height, size);
        int left = CropOffset(rw, size), top = CropOffset(rh, size);
        var columns = Weights.For(image.Width, rw, left, size);
        var rows = Weights.For(image.Height, rh, top, size);

        // Horizontal pass over the source rows the crop needs: (rows used) × size × 3.
        int firstRow = rows.First[0], lastRow = rows.First[size - 1] + rows.Count[size - 1];
        for (int i = 0; i < size; i++)
        {
            firstRow = Math.Min(firstRow, rows.First[i]);
            lastRow = Math.Max(lastRow, rows.First[i] + rows.Count[i]);
        }
        int used = lastRow - firstRow;
        var horizontal = new double[used * size * 3];
        int channels = image.Channels;
        byte[] pixels = image.Pixels;
        for (int r = 0; r < used; r++)
        {
            long rowStart = (long)(firstRow + r) * image.Width * channels;
            for (int ox = 0; ox < size; ox++)
            {
                double red = 0, green = 0, blue = 0;
                int first = columns.First[ox];
                for (int k = 0; k < columns.Count[ox]; k++)
                {
                    double w = columns.Coefficients[ox * columns.Stride + k];
                    long p = rowStart + (long)(first + k) * channels;
                    red += w * pixels[p];
                    green += w * pixels[p + 1];
                    blue += w * pixels[p + 2];
                }
                int t = (r * size + ox) * 3;
                horizontal[t] = red;
                horizontal[t + 1] = green;
                horizontal[t + 2] = blue;
            }
        }

        int plane = size * size;
        Span<double> mean = [norm.MeanR, norm.MeanG, norm.MeanB];
        Span<double> std = [norm.StdR, norm.StdG, norm.StdB];
        for (int oy = 0; oy < size; oy++)
        {
            int first = rows.First[oy] - firstRow;
            for (int ox = 0; ox < size; ox++)
            {
                for (int c = 0; c < 3; c++)
                {
                    double v = 0;
                    for (int k = 0; k < rows.Count[oy]; k++)
                        v += rows.Coefficients[oy * rows.Stride + k] * horizontal[((first + k) * size + ox) * 3 + c];
                    v = Math.Clamp(v, 0, 255);
                    chw[c * plane + oy * size + ox] = (float)((v / 255.0 - mean[c]) / std[c]);
                }
            }
        }
    }

    /// <summary>
    /// The size after <c>Resize(size)</c>: the shorter side becomes <paramref name="size"/>, the
    /// longer one <c>floor(size × long / short)</c> (torchvision's rule).
    /// </summary>
    public static (int Width, int Height) ResizedSize(int width, int height, int size)
    {
        if (width <= height) return (size, (int)((double)size * height / width));
        return ((int)((double)size * width / height), size);
    }

    /// <summary>The first row or column kept by <c>CenterCrop(size)</c> of a side of <paramref name="length"/>: round((length − size) / 2), ties to even.</summary>
    public static int CropOffset(int length, int size) => (int)Math.Round((length - size) / 2.0, MidpointRounding.ToEven);

    /// <summary>PIL's bilinear resampling weights (Resample.c, precompute_coeffs) for the output positions [start, start + count).</summary>
    private sealed class Weights
    {
        public required int[] First { get; init; }
        public required int[] Count { get; init; }
        public required double[] Coefficients { get; init; }
        public required int Stride { get; init; }

        public static Weights For(int inSize, int outSize, int start, int count)
        {
            double scale = (double)inSize / outSize;
            double filterScale = Math.Max(scale, 1.0);
            double support = 1.0 * filterScale; // the triangle filter's support is 1
            int stride = (int)Math.Ceiling(support) * 2 + 1;
            var first = new int[count];
            var taps = new int[count];
            var coefficients = new double[count * stride];
            for (int i = 0; i < count; i++)
            {
                double center = (start + i + 0.5) * scale;
                int min = Math.Max((int)(center - support + 0.5), 0);
                int max = Math.Min((int)(center + support + 0.5), inSize);
                int n = max - min;
                double total = 0;
                for (int k = 0; k < n; k++)
                {
                    double w = Triangle((k + min - center + 0.5) / filterScale);
                    coefficients[i * stride + k] = w;
                    total += w;
                }
                if (total != 0)
                    for (int k = 0; k < n; k++) coefficients[i * stride + k] /= total;
                first[i] = min;
                taps[i] = n;
            }
            return new Weights { First = first, Count = taps, Coefficients = coefficients, Stride = stride };
        }

        private static double Triangle(double x)
        {
            x = Math.Abs(x);
            return x < 1 ? 1 - x : 0;
        }
    }
}
