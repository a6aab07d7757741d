using Vit.Memory;
using Vit.Numerics;

namespace Vit;

/// <summary>timm-style initialization of a parameter buffer, reproducible from a seed.</summary>
public static class ParameterInitializer
{
    /// <summary>
    /// Initializes every parameter in <paramref name="parameters"/> inside <paramref name="buffer"/>.
    /// Each parameter draws from its own stream (seed, index), so the values do not depend on
    /// the order in which parameters are initialized.
    /// </summary>
    public static void Initialize(NativeBuffer buffer, IReadOnlyList<ParameterInfo> parameters, int seed)
    {
        for (int index = 0; index < parameters.Count; index++)
        {
            var p = parameters[index];
            var rng = new Rng(((ulong)(uint)seed << 32) ^ (ulong)index * 0x9E3779B97F4A7C15UL);
            for (long start = 0; start < p.Length; start += int.MaxValue / 2)
            {
                var values = buffer.Slice(p.Offset + start, (int)Math.Min(p.Length - start, int.MaxValue / 2));
                Fill(values, p, ref rng);
            }
        }
    }

    private static void Fill(Span<float> values, ParameterInfo p, ref Rng rng)
    {
        switch (p.Init)
        {
            case ParameterInit.Zeros:
                values.Clear();
                break;
            case ParameterInit.Ones:
                values.Fill(1f);
                break;
            case ParameterInit.TruncatedNormal:
                // timm trunc_normal_(std=.02, a=-2, b=2): the bounds are absolute, so resampling is rare.
                for (int i = 0; i < values.Length; i++)
                {
                    double v;
                    do v = 0.02 * rng.NextNormal(); while (v < -2 || v > 2);
                    values[i] = (float)v;
                }
                break;
            case ParameterInit.SmallNormal:
                for (int i = 0; i < values.Length; i++) values[i] = (float)(1e-6 * rng.NextNormal());
                break;
            case ParameterInit.FanInUniform:
                double bound = 1.0 / Math.Sqrt(Math.Max(1, p.FanIn));
                for (int i = 0; i < values.Length; i++) values[i] = (float)((2 * rng.NextDouble() - 1) * bound);
                break;
            case ParameterInit.Constant:
                values.Fill((float)p.Value);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(p), p.Init, $"Unknown initialization for {p.Name}.");
        }
    }
}
