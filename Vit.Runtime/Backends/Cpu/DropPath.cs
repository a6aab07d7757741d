using Vit.Memory;
using Vit.Numerics;

namespace Vit.Backends.Cpu;

/// <summary>timm drop-path (stochastic depth): one keep/drop decision per image and residual branch.</summary>
public static unsafe class DropPath
{
    /// <summary>Writes per-image branch scales: 0 with probability <paramref name="rate"/>, else 1/(1 − rate).</summary>
    /// <param name="scale">Output, (batch).</param>
    /// <param name="batch">The number of images.</param>
    /// <param name="rate">The drop probability, in [0, 1).</param>
    /// <param name="rng">The generator; advanced by one draw per image.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rate"/> is outside [0, 1).</exception>
    public static void FillScales(TensorPtr scale, int batch, float rate, ref Rng rng)
    {
        if (!(rate >= 0f && rate < 1f))
            throw new ArgumentOutOfRangeException(nameof(rate), rate, "The drop-path rate must be in [0, 1).");
        float keep = 1f / (1f - rate);
        for (int b = 0; b < batch; b++) scale.Pointer[b] = rng.NextSingle() < rate ? 0f : keep;
    }
}
