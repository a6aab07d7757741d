namespace Vit.IO;

/// <summary>
/// timm's <c>resample_abs_pos_embed</c>: learned position embeddings for another patch grid. The
/// class token's embedding is kept; the grid's are resampled bicubically as
/// <c>torch.nn.functional.interpolate(mode="bicubic", align_corners=False)</c> does (Keys' cubic
/// convolution with A = −0.75, source coordinate (i + ½)·in/out − ½, edges clamped), in double.
/// </summary>
public static class PositionEmbeddingResampler
{
    /// <summary>
    /// Resamples <paramref name="source"/> ((prefix + oldSide²) × dim) to
    /// (prefix + newSide²) × dim; the first <paramref name="prefix"/> rows (the class token) are copied.
    /// </summary>
    /// <exception cref="ArgumentException">The source length does not match the sizes.</exception>
    public static float[] Resample(ReadOnlySpan<float> source, int prefix, int oldSide, int newSide, int dim)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(prefix);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(oldSide);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(newSide);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        if (source.Length != (long)(prefix + oldSide * oldSide) * dim)
            throw new ArgumentException($"A position embedding of {prefix} + {oldSide}² tokens × {dim} has {(prefix + oldSide * oldSide) * dim} values, not {source.Length}.", nameof(source));
        var result = new float[(prefix + newSide * newSide) * dim];
        source[..(prefix * dim)].CopyTo(result);
        var (index, weight) = Taps(oldSide, newSide);
        var grid = source[(prefix * dim)..];
        for (int oy = 0; oy < newSide; oy++)
            for (int ox = 0; ox < newSide; ox++)
                for (int c = 0; c < dim; c++)
                {
                    double sum = 0;
                    for (int ky = 0; ky < 4; ky++)
                    {
                        double row = 0;
                        int sy = index[oy * 4 + ky];
                        for (int kx = 0; kx < 4; kx++)
                            row += weight[ox * 4 + kx] * grid[(sy * oldSide + index[ox * 4 + kx]) * dim + c];
                        sum += weight[oy * 4 + ky] * row;
                    }
                    result[(prefix + oy * newSide + ox) * dim + c] = (float)sum;
                }
        return result;
    }

    /// <summary>For each output position, its 4 source indices (clamped) and cubic weights.</summary>
    private static (int[] Index, double[] Weight) Taps(int inSize, int outSize)
    {
        const double A = -0.75;
        var index = new int[outSize * 4];
        var weight = new double[outSize * 4];
        double scale = (double)inSize / outSize;
        for (int o = 0; o < outSize; o++)
        {
            double real = scale * (o + 0.5) - 0.5;
            int first = (int)Math.Floor(real);
            double t = real - first;
            // Keys' kernel at distances 1 + t, t, 1 − t, 2 − t.
            weight[o * 4] = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A;
            weight[o * 4 + 1] = ((A + 2) * t - (A + 3)) * t * t + 1;
            weight[o * 4 + 2] = ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1;
            weight[o * 4 + 3] = ((A * (2 - t) - 5 * A) * (2 - t) + 8 * A) * (2 - t) - 4 * A;
            for (int k = 0; k < 4; k++) index[o * 4 + k] = Math.Clamp(first - 1 + k, 0, inSize - 1);
        }
        return (index, weight);
    }
}
