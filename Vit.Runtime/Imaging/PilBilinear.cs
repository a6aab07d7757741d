namespace Vit.Imaging;

/// <summary>
/// PIL's BILINEAR resampling (Pillow 9.4's <c>ImagingResample</c> on 8-bit images), bit for bit:
/// a triangle filter whose support is widened by the scale when shrinking (antialiasing), its
/// weights normalized in double precision and converted to fixed point with
/// <see cref="PrecisionBits"/> fraction bits, a horizontal pass then a vertical pass, each
/// rounded and clipped to 8 bits. A pass whose size does not change is skipped, as PIL does.
/// </summary>
/// <remarks>
/// Written from the behaviour of Pillow's <c>src/libImaging/Resample.c</c> (no code copied).
/// Only a window of the resized image is computed (the pixels of a later crop); each output
/// pixel depends only on its own coefficients, so the window's values are those of the whole
/// resize. Scratch buffers are per thread and only grow, so a steady-state call allocates nothing.
/// </remarks>
internal static class PilBilinear
{
    /// <summary>PIL's <c>PRECISION_BITS</c>: 32 − 8 − 2 fraction bits in the fixed-point weights.</summary>
    public const int PrecisionBits = 32 - 8 - 2;

    private const int RoundingHalf = 1 << (PrecisionBits - 1);

    /// <summary>The growing buffers of one thread.</summary>
    internal sealed class Scratch
    {
        public int[] BoundsX = [], WeightsX = [], BoundsY = [], WeightsY = [], Sums = [];
        public double[] Filter = [];
        public byte[] Rows = [], Window = [];
    }

    [ThreadStatic] private static Scratch? t_scratch;

    /// <summary>This thread's scratch buffers.</summary>
    public static Scratch ForThread => t_scratch ??= new Scratch();

    /// <summary>Returns <paramref name="buffer"/>, replaced by a larger array when shorter than <paramref name="length"/>.</summary>
    public static T[] Grow<T>(ref T[] buffer, int length)
    {
        if (buffer.Length < length)
            buffer = new T[(int)Math.Min(Math.Max(length, 2L * buffer.Length), Math.Max(length, Array.MaxLength))];
        return buffer;
    }

    /// <summary>
    /// Resizes the rectangle <paramref name="source"/> of <paramref name="image"/> (inside it) to
    /// <paramref name="outWidth"/> × <paramref name="outHeight"/> as PIL's
    /// <c>image.crop(source).resize((outWidth, outHeight), BILINEAR)</c>, and writes the window
    /// <paramref name="window"/> of the result into <paramref name="destination"/>
    /// (window.Height × window.Width × <paramref name="bands"/>, HWC); pixels of the window outside
    /// the result are 0, as torchvision's padding. The first <paramref name="bands"/> channels of
    /// the image are resampled, each independently.
    /// </summary>
    public static void ResampleWindow(Image image, CropBox source, int bands, int outWidth, int outHeight, CropBox window, Span<byte> destination)
    {
        int c0 = Math.Max(window.Left, 0), c1 = Math.Min(window.Left + window.Width, outWidth);
        int r0 = Math.Max(window.Top, 0), r1 = Math.Min(window.Top + window.Height, outHeight);
        if (c0 != window.Left || r0 != window.Top || c1 != window.Left + window.Width || r1 != window.Top + window.Height)
            destination.Clear();
        if (c0 >= c1 || r0 >= r1)
            return;
        int columns = c1 - c0, outRows = r1 - r0, rowLength = columns * bands;
        bool horizontal = outWidth != source.Width, vertical = outHeight != source.Height;
        var s = ForThread;
        int kx = horizontal ? Coefficients(source.Width, outWidth, c0, columns, ref s.BoundsX, ref s.WeightsX, s) : 0;
        int ky = vertical ? Coefficients(source.Height, outHeight, r0, outRows, ref s.BoundsY, ref s.WeightsY, s) : 0;

        // The source rows (counted from source.Top) that the vertical pass reads.
        int rowFirst = r0, rowEnd = r1;
        if (vertical)
        {
            rowFirst = int.MaxValue;
            rowEnd = int.MinValue;
            for (int j = 0; j < outRows; j++)
            {
                rowFirst = Math.Min(rowFirst, s.BoundsY[2 * j]);
                rowEnd = Math.Max(rowEnd, s.BoundsY[2 * j] + s.BoundsY[2 * j + 1]);
            }
        }
        int rowCount = rowEnd - rowFirst;

        // Horizontal pass: rows (rowCount × columns × bands), each value rounded and clipped to 8 bits.
        byte[] rows = Grow(ref s.Rows, rowCount * rowLength);
        byte[] pixels = image.Pixels;
        int channels = image.Channels;
        for (int r = 0; r < rowCount; r++)
        {
            long rowStart = ((long)(source.Top + rowFirst + r) * image.Width + source.Left) * channels;
            int o = r * rowLength;
            if (!horizontal)
            {
                for (int i = 0; i < columns; i++)
                    for (int b = 0; b < bands; b++)
                        rows[o++] = pixels[rowStart + (long)(c0 + i) * channels + b];
                continue;
            }
            for (int i = 0; i < columns; i++)
            {
                int xmin = s.BoundsX[2 * i], count = s.BoundsX[2 * i + 1];
                ReadOnlySpan<int> k = s.WeightsX.AsSpan(i * kx, count);
                long first = rowStart + (long)xmin * channels;
                for (int b = 0; b < bands; b++)
                {
                    int sum = RoundingHalf;
                    long p = first + b;
                    for (int x = 0; x < k.Length; x++, p += channels)
                        sum += pixels[p] * k[x];
                    rows[o++] = Clip8(sum);
                }
            }
        }

        // Vertical pass into the window.
        Span<int> sums = Grow(ref s.Sums, rowLength).AsSpan(0, rowLength);
        for (int j = 0; j < outRows; j++)
        {
            Span<byte> target = destination.Slice(((r0 - window.Top + j) * window.Width + (c0 - window.Left)) * bands, rowLength);
            if (!vertical)
            {
                rows.AsSpan((r0 + j - rowFirst) * rowLength, rowLength).CopyTo(target);
                continue;
            }
            int ymin = s.BoundsY[2 * j] - rowFirst, count = s.BoundsY[2 * j + 1];
            ReadOnlySpan<int> k = s.WeightsY.AsSpan(j * ky, count);
            sums.Fill(RoundingHalf);
            for (int y = 0; y < k.Length; y++)
            {
                ReadOnlySpan<byte> row = rows.AsSpan((ymin + y) * rowLength, rowLength);
                int w = k[y];
                for (int t = 0; t < rowLength; t++)
                    sums[t] += row[t] * w;
            }
            for (int t = 0; t < rowLength; t++)
                target[t] = Clip8(sums[t]);
        }
    }

    /// <summary>
    /// PIL's <c>precompute_coeffs</c> + <c>normalize_coeffs_8bpc</c> for outputs
    /// [<paramref name="first"/>, first + <paramref name="count"/>) of a resize from
    /// <paramref name="inSize"/> to <paramref name="outSize"/>: bounds[2i] is the first source
    /// index of output i, bounds[2i + 1] the number of taps; weights[i × ksize + k] the fixed-point
    /// weights. Returns ksize.
    /// </summary>
    private static int Coefficients(int inSize, int outSize, int first, int count, ref int[] bounds, ref int[] weights, Scratch s)
    {
        // PIL's box is (0, inSize) as floats: exact below 2^24, so in1 − in0 is inSize and in0 adds nothing.
        double scale = (double)inSize / outSize;
        double filterScale = scale < 1.0 ? 1.0 : scale;
        double support = 1.0 * filterScale; // the triangle's support is 1
        int ksize = (int)Math.Ceiling(support) * 2 + 1;
        double inverse = 1.0 / filterScale;
        int[] b = Grow(ref bounds, 2 * count);
        int[] kk = Grow(ref weights, count * ksize);
        double[] filter = Grow(ref s.Filter, ksize);
        for (int i = 0; i < count; i++)
        {
            double center = (first + i + 0.5) * scale;
            int xmin = (int)(center - support + 0.5); // C's truncating cast
            if (xmin < 0) xmin = 0;
            int xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            double total = 0.0;
            for (int x = 0; x < xmax; x++)
            {
                double w = Triangle((x + xmin - center + 0.5) * inverse);
                filter[x] = w;
                total += w;
            }
            for (int x = 0; x < xmax; x++)
            {
                double w = total != 0.0 ? filter[x] / total : filter[x];
                // The triangle is never negative, so PIL's rounding is 0.5 up.
                kk[i * ksize + x] = (int)(0.5 + w * (1 << PrecisionBits));
            }
            b[2 * i] = xmin;
            b[2 * i + 1] = xmax;
        }
        return ksize;
    }

    private static double Triangle(double x)
    {
        if (x < 0.0) x = -x;
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    private static byte Clip8(int sum)
    {
        int v = sum >> PrecisionBits;
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }
}
