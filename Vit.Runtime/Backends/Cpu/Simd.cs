using System.Runtime.Intrinsics;

namespace Vit.Backends.Cpu;

/// <summary>The vector width a hand-written kernel uses.</summary>
public enum SimdLevel
{
    /// <summary>Portable 128-bit <see cref="Vector128{T}"/> (SSE, NEON).</summary>
    Vector128 = 0,

    /// <summary>256-bit <see cref="Vector256{T}"/> with FMA (AVX2).</summary>
    Avx2 = 1,

    /// <summary>512-bit <see cref="Vector512{T}"/> (AVX-512F).</summary>
    Avx512 = 2,
}

/// <summary>
/// Which vector width the hand-written kernels (<see cref="Gemm"/>, <see cref="Attention"/>,
/// <see cref="Gelu"/>) use: the widest the hardware accelerates, unless the <c>VIT_SIMD</c>
/// environment variable (<c>avx2</c>, <c>vector128</c>) caps it or a test forces one.
/// </summary>
public static class Simd
{
    /// <summary>The widest level this machine accelerates.</summary>
    public static SimdLevel Detected { get; } =
        Vector512.IsHardwareAccelerated ? SimdLevel.Avx512
        : Vector256.IsHardwareAccelerated ? SimdLevel.Avx2
        : SimdLevel.Vector128;

    private static SimdLevel s_level = FromEnvironment() ?? Detected;

    // VIT_SIMD=avx2 (or vector128) caps the width, for example to compare with a library that
    // only uses AVX2 here; it never raises it above what the hardware accelerates.
    private static SimdLevel? FromEnvironment()
    {
        SimdLevel? requested = Environment.GetEnvironmentVariable("VIT_SIMD")?.ToLowerInvariant() switch
        {
            "avx512" => SimdLevel.Avx512,
            "avx2" => SimdLevel.Avx2,
            "vector128" => SimdLevel.Vector128,
            _ => null,
        };
        return requested is { } r && r < Detected ? r : null;
    }

    /// <summary>The level the kernels use now.</summary>
    public static SimdLevel Level => s_level;

    /// <summary>
    /// Forces <paramref name="level"/> (tests use it to check every path against the reference);
    /// <see langword="null"/> restores <see cref="Detected"/>. A level wider than the hardware
    /// accelerates still runs, but in software.
    /// </summary>
    internal static void Force(SimdLevel? level) => s_level = level ?? Detected;
}
