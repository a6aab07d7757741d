using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>
/// timm <c>PatchEmbed</c>: a P×P convolution with stride P, computed as im2col followed by a
/// <see cref="Linear"/> with the conv weight (D, C, P, P) read as (D, C·P·P); in <see cref="Precision.Bf16"/>
/// the product runs in bf16 as the Linear layers' do (<see cref="Bf16Linear"/>).
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
        => Forward<TChannels, TImage, TPatch, TDim>(tokens, patches, images, weight, bias, batch, null, null, inference: false);

    /// <summary>
    /// The forward pass with its product in bf16 on <paramref name="bf16"/> (<see cref="Precision.Bf16"/>:
    /// the weight packed or rounded once per parameter version, each image's patches rounded as they are
    /// packed, fp32 accumulation and bias), or in fp32 when null.
    /// </summary>
    internal static void Forward<TChannels, TImage, TPatch, TDim>(TensorPtr tokens, TensorPtr patches, TensorPtr images, TensorPtr weight, TensorPtr bias, int batch,
        Bf16Linear? bf16, ModelMemory? memory, bool inference)
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
            float* y = tokens.Pointer + (long)b * (n + 1) * d + d;
            if (bf16 is null) Linear.Forward(y, pat, weight.Pointer, bias.Pointer, n, k, d);
            else bf16.Forward(memory!, new TensorPtr(y), d, new TensorPtr(pat), k, weight, bias, n, k, d, accumulate: false, inference);
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
        => Backward<TChannels, TImage, TPatch, TDim>(dweight, dbias, dtokens, patches, batch, null, null);

    /// <summary>
    /// The backward pass with dweight's product in bf16 on <paramref name="bf16"/> (mixed-precision
    /// training: dtokensᵀ·patches on bf16-rounded operands, accumulated in fp32 into the fp32 gradient;
    /// the bias gradient fp32), or in fp32 when null. There is no input gradient, so the weight itself is not read.
    /// </summary>
    internal static void Backward<TChannels, TImage, TPatch, TDim>(TensorPtr dweight, TensorPtr dbias, TensorPtr dtokens, TensorPtr patches, int batch,
        Bf16Linear? bf16, ModelMemory? memory)
        where TChannels : struct, IDim where TImage : struct, IDim where TPatch : struct, IDim where TDim : struct, IDim
    {
        int c = TChannels.Value, size = TImage.Value, p = TPatch.Value, d = TDim.Value;
        int grid = size / p, n = grid * grid, k = c * p * p;
        for (int b = 0; b < batch; b++)
        {
            float* dy = dtokens.Pointer + (long)b * (n + 1) * d + d, x = patches.Pointer + (long)b * n * k;
            if (bf16 is null) Linear.Backward(null, dweight.Pointer, dbias.Pointer, dy, x, null, n, k, d);
            else
            {
                bf16.Backward(memory!, null, dweight.Pointer, dy, x, k, null, n, k, d);
                if (!dbias.IsNull) ColumnSums.Add(dbias.Pointer, dy, n, d);
            }
        }
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
    /// <param name="bf16">The reference of <see cref="Precision.Bf16"/>: weights and pixels rounded to bf16 (<see cref="Bf16Gemm.Round"/>) before they multiply; the bias and the sums stay exact.</param>
    public static void ReferenceForward(double[] tokens, double[] images, double[] weight, double[] bias, int batch, int channels, int image, int patch, int dim, bool bf16 = false)
    {
        int grid = image / patch, n = grid * grid;
        double R(double x) => bf16 ? Bf16Gemm.Round((float)x) : x;
        for (int b = 0; b < batch; b++)
            for (int py = 0; py < grid; py++)
                for (int px = 0; px < grid; px++)
                    for (int o = 0; o < dim; o++)
                    {
                        double s = bias[o];
                        for (int ch = 0; ch < channels; ch++)
                            for (int ky = 0; ky < patch; ky++)
                                for (int kx = 0; kx < patch; kx++)
                                    s += R(weight[((o * channels + ch) * patch + ky) * patch + kx])
                                       * R(images[((b * channels + ch) * image + py * patch + ky) * image + px * patch + kx]);
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
    /// <param name="bf16">The reference of <see cref="Precision.Bf16"/>: dweight's products of bf16-rounded token gradients and pixels; dbias from the exact gradients.</param>
    public static void ReferenceBackward(double[] dweight, double[] dbias, double[] dtokens, double[] images, int batch, int channels, int image, int patch, int dim, bool bf16 = false)
    {
        int grid = image / patch, n = grid * grid;
        double R(double x) => bf16 ? Bf16Gemm.Round((float)x) : x;
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
                                        R(g) * R(images[((b * channels + ch) * image + py * patch + ky) * image + px * patch + kx]);
                    }
    }
}
