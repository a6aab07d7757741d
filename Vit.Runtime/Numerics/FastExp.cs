using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Vit.Numerics;

/// <summary>
/// exp(x) for 16 (AVX-512) or 8 (AVX2) floats, within 2 ulp of the exact value where the result
/// is normal (|x| ≤ 87): x = n·ln 2 + r with n = round(x·log₂e) and |r| ≤ ½ ln 2 (ln 2 split into a
/// hi part exact in float and a lo part, Cody–Waite), eʳ by its Taylor series to r⁷ (truncation
/// below 5e-9 relative), then the product with 2ⁿ, which also gives 0 below the float range, +∞
/// above it and NaN for NaN. In float throughout: .NET's <c>Vector512.Exp</c> and
/// <c>Vector256.Exp</c> widen to double.
/// </summary>
/// <remarks>
/// 2ⁿ is VSCALEFPS where the CPU has AVX-512F. Elsewhere (AVX2, or the 512-bit path run in
/// software) it is two multiplications by 2^⌊n/2⌋ and 2^(n − ⌊n/2⌋), each built from its exponent
/// bits: both halves are normal floats for every n the clamp allows (−150…128), so a normal result
/// is exact as with VSCALEFPS, and only subnormal results may differ from it, in their last bit.
/// </remarks>
public static class FastExp
{
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2Hi = 0.693145751953125f;      // 15 significant bits: n·Ln2Hi is exact for every |n| ≤ 150 used here
    private const float Ln2Lo = 1.42860682030941723e-6f; // ln 2 − Ln2Hi
    private const float Lowest = -104f;                  // below it e^x is 0 in float (e^−103.97 = 2^−150)
    private const float Highest = 89f;                   // above it e^x is +∞ in float (e^88.73 = 2^128)

    /// <summary>e^x, 16 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Evaluate(Vector512<float> x)
    {
        // Keep n finite and r small for any input: beyond the clamp the result is 0 or ∞ anyway.
        var clamped = Vector512.Min(Vector512.Max(x, Vector512.Create(Lowest)), Vector512.Create(Highest));
        var n = Vector512.Round(clamped * Vector512.Create(Log2E));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Hi), clamped);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Lo), r);
        var p = Vector512.Create(1f / 5040);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 720));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 120));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 24));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        Vector512<float> result;
        if (Avx512F.IsSupported)
            result = Avx512F.Scale(p, n);
        else
        {
            var half = Vector512.Floor(n * Vector512.Create(0.5f));
            result = p * Pow2(half) * Pow2(n - half);
        }
        // NaN in, NaN out (the clamp would have turned it into a number).
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), result, x);
    }

    /// <summary>e^x, 8 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Evaluate(Vector256<float> x)
    {
        var clamped = Vector256.Min(Vector256.Max(x, Vector256.Create(Lowest)), Vector256.Create(Highest));
        var n = Vector256.Round(clamped * Vector256.Create(Log2E));
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Hi), clamped);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Lo), r);
        var p = Vector256.Create(1f / 5040);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 720));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 120));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 24));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 6));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(0.5f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        var half = Vector256.Floor(n * Vector256.Create(0.5f));
        var result = p * Pow2(half) * Pow2(n - half);
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), result, x);
    }

    // 2^m for integral m in [−126, 127], from its exponent bits: (m + 127) << 23.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Pow2(Vector512<float> m) =>
        Vector512.ShiftLeft(Vector512.ConvertToInt32(m) + Vector512.Create(127), 23).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Pow2(Vector256<float> m) =>
        Vector256.ShiftLeft(Vector256.ConvertToInt32(m) + Vector256.Create(127), 23).AsSingle();
}
