using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>
/// timm <c>PatchEmbed</c>: a P×P convolution with stride P, computed as im2col followed by a
/// <see cref="Linear"/> with the conv weight (D, C, P, P) read as (D, C·P·P).
/// </summary>
/// <remarks>
/// Patch n = (py, px) in raster order; its vector is ordered (c, ky, kx). Token row 0 of each
/// image is the class-token slot and is left to <see cref="PositionEmbedding"/>.
/// </remarks>
public static unsafe class PatchEmbedding
{
    /// <summary>Forward: patches = im2col(images); tokens[b, 1 + n] = patches[b, n]·weightᵀ + bias.</summary>
    /// <param name="tokens">Output, (batch, N + 1, TDim); rows 1..N written, row 0 untouched.</param>
    /// <param name="patches">Output, (batch, N, C·P·P) with N = (I/P)²; kept for backward.</param>
    /// <param name="images">Input, (batch, TChannels, TImage, TImage).</param>
    /// <param name="weight">Conv weight, (TDim, TChannels, TPatch, TPatch).</param>
    /// <param name="bias">Conv bias, (TDim).</param>
    /// <param name="batch">The number of images.</param>
    public static void Forward<TChannels, TImage, TPatch, TDim>(TensorPtr tokens, TensorPtr patches, TensorPtr images, TensorPtr weight, TensorPtr bias, int batch)
        where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim where TDim : struct, IDim
    {
        int c = TChannels.Value, size = TImage.Value, p = TPatch.Value, d = TDim.Value;
        int grid = size / p, n = grid * grid, k = c * p * p;
        for (int b = 0; b < batch; b++)
        {
            float* img = images.Pointer + (long)b * c * size * size;
            float* pat = patches.Pointer + (long)b * n * k;
            for (int py = 0; py < grid; py++)
                for (int px = 0; px < grid; px++)
                {
                    float* row = pat + (long)(py * grid + px) * k;
                    for (int ch = 0; ch < c; ch++)
                        for (int ky = 0; ky < p; ky++)
                            new ReadOnlySpan<float>(img + ((long)ch * size + py * p + ky) * size + px * p, p)
                                .CopyTo(new Span<float>(row + (ch * p + ky) * p, p));
                }
            Linear.Forward(tokens.Pointer + (long)b * (n + 1) * d + d, pat, weight.Pointer, bias.Pointer, n, k, d);
        }
    }

    /// <summary>Backward: dweight += Σ dtokens[b, 1..]ᵀ·patches[b], dbias += Σ dtokens[b, 1..] (no image gradient).</summary>
    /// <param name="dweight">Conv weight gradient, (TDim, TChannels·TPatch·TPatch), accumulated.</param>
    /// <param name="dbias">Conv bias gradient, (TDim), accumulated.</param>
    /// <param name="dtokens">Token gradient, (batch, N + 1, TDim); row 0 is ignored.</param>
    /// <param name="patches">From forward, (batch, N, C·P·P).</param>
    /// <param name="batch">The number of images.</param>
    public static void Backward<TChannels, TImage, TPatch, TDim>(TensorPtr dweight, TensorPtr dbias, TensorPtr dtokens, TensorPtr patches, int batch)
        where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim where TDim : struct, IDim
    {
        int c = TChannels.Value, size = TImage.Value, p = TPatch.Value, d = TDim.Value;
        int grid = size / p, n = grid * grid, k = c * p * p;
        for (int b = 0; b < batch; b++)
            Linear.Backward(null, dweight.Pointer, dbias.Pointer, dtokens.Pointer + (long)b * (n + 1) * d + d,
                patches.Pointer + (long)b * n * k, null, n, k, d);
    }

    /// <summary>Scalar reference of the forward pass (a direct convolution, not im2col).</summary>
    /// <param name="tokens">(batch, N + 1, dim); rows 1..N written.</param>
    /// <param name="images">(batch, channels, image, image).</param>
    /// <param name="weight">(dim, channels, patch, patch).</param>
    /// <param name="bias">(dim).</param>
    /// <param name="batch">Images.</param>
    /// <param name="channels">Channels.</param>
    /// <param name="image">Image side.</param>
    /// <param name="patch">Patch side.</param>
    /// <param name="dim">Embedding dimension.</param>
    public static void ReferenceForward(double[] tokens, double[] images, double[] weight, double[] bias, int batch, int channels, int image, int patch, int dim)
    {
        int grid = image / patch, n = grid * grid;
        for (int b = 0; b < batch; b++)
            for (int py = 0; py < grid; py++)
                for (int px = 0; px < grid; px++)
                    for (int o = 0; o < dim; o++)
                    {
                        double s = bias[o];
                        for (int ch = 0; ch < channels; ch++)
                            for (int ky = 0; ky < patch; ky++)
                                for (int kx = 0; kx < patch; kx++)
                                    s += weight[((o * channels + ch) * patch + ky) * patch + kx]
                                       * images[((b * channels + ch) * image + py * patch + ky) * image + px * patch + kx];
                        tokens[(b * (n + 1) + 1 + py * grid + px) * dim + o] = s;
                    }
    }

    /// <summary>Scalar reference of the backward pass (accumulates).</summary>
    /// <param name="dweight">(dim, channels, patch, patch), accumulated.</param>
    /// <param name="dbias">(dim), accumulated.</param>
    /// <param name="dtokens">(batch, N + 1, dim).</param>
    /// <param name="images">(batch, channels, image, image).</param>
    /// <param name="batch">Images.</param>
    /// <param name="channels">Channels.</param>
    /// <param name="image">Image side.</param>
    /// <param name="patch">Patch side.</param>
    /// <param name="dim">Embedding dimension.</param>
    public static void ReferenceBackward(double[] dweight, double[] dbias, double[] dtokens, double[] images, int batch, int channels, int image, int patch, int dim)
    {
        int grid = image / patch, n = grid * grid;
        for (int b = 0; b < batch; b++)
            for (int py = 0; py < grid; py++)
                for (int px = 0; px < grid; px++)
                    for (int o = 0; o < dim; o++)
                    {
                        double g = dtokens[(b * (n + 1) + 1 + py * grid + px) * dim + o];
                        dbias[o] += g;
                        for (int ch = 0; ch < channels; ch++)
                            for (int ky = 0; ky < patch; ky++)
                                for (int kx = 0; kx < patch; kx++)
                                    dweight[((o * channels + ch) * patch + ky) * patch + kx] +=
                                        g * images[((b * channels + ch) * image + py * patch + ky) * image + px * patch + kx];
                    }
    }
}
