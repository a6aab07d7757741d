using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Numerics;
using Xunit;
using static Vit.Tests.Kernels.KernelTestSupport;

namespace Vit.Tests.Kernels;

public class ErfGeluTests
{
    /// <summary>erf by composite Simpson integration of 2/√π·e^(−t²) (independent of the library's method).</summary>
    private static double ErfByQuadrature(double x)
    {
        const int n = 4000;
        double h = x / n, s = 1 + Math.Exp(-x * x);
        for (int i = 1; i < n; i++) s += (i % 2 == 1 ? 4 : 2) * Math.Exp(-(i * h) * (i * h));
        return s * h / 3 * 2 / Math.Sqrt(Math.PI);
    }

    [Fact]
    public void ErfMatchesQuadrature()
    {
        double worstDouble = 0, worstFloat = 0;
        for (double x = -6; x <= 6; x += 0.0137)
        {
            double expected = ErfByQuadrature(x);
            worstDouble = Math.Max(worstDouble, Math.Abs(Erf.Evaluate(x) - expected));
            worstFloat = Math.Max(worstFloat, Math.Abs(Erf.Evaluate((float)x) - ErfByQuadrature((float)x)));
        }
        Assert.True(worstDouble < 1e-12, $"double erf error {worstDouble:G3}");
        Assert.True(worstFloat <= 2e-7, $"float erf error {worstFloat:G3}");
        Assert.Equal(0.0, Erf.Evaluate(0.0));
        Assert.Equal(1.0, Erf.Evaluate(40.0));
        Assert.Equal(-1f, Erf.Evaluate(-40f));
        Assert.True(double.IsNaN(Erf.Evaluate(double.NaN)));
    }

    [Fact]
    public void ComplementIsRelativelyAccurateInTheTail()
    {
        // erfc(5) = 1.5374597944280348e-12, erfc(10) = 2.0884875837625447e-45.
        Assert.True(Math.Abs(Erf.Complement(5) / 1.5374597944280348e-12 - 1) < 1e-12);
        Assert.True(Math.Abs(Erf.Complement(10) / 2.0884875837625447e-45 - 1) < 1e-12);
    }

    [Theory]
    [InlineData(13, 1.0)]
    [InlineData(9999, 4.0)]
    [InlineData(20011, 12.0)]
    public void GeluMatchesReference(int count, double scale)
    {
        var rng = new Rng((ulong)count);
        var x = Random(ref rng, count, scale);
        var dy = Random(ref rng, count);
        var y = new double[count];
        var dx = new double[count];
        Gelu.ReferenceForward(y, x);
        Gelu.ReferenceBackward(dx, dy, x);
        using FloatTensor fx = new(x), fy = new(count), fdy = new(dy), fdx = new(count);
        Gelu.Forward(fy.Ptr, fx.Ptr, count);
        Gelu.Backward(fdx.Ptr, fdy.Ptr, fx.Ptr, count);
        AssertClose(y, fy.ToDoubles(), 1e-5, 1e-6, "gelu");
        AssertClose(dx, fdx.ToDoubles(), 1e-5, 1e-6, "gelu'");
        // dx may alias dy.
        Gelu.Backward(fdy.Ptr, fdy.Ptr, fx.Ptr, count);
        AssertClose(dx, fdy.ToDoubles(), 1e-5, 1e-6, "gelu' in place");
    }

    [Fact]
    public void GeluAtLargeMagnitude()
    {
        var x = new double[] { -40, -12, -8, -5, -3, 3, 5, 8, 12, 40, 1e4f, -1e4f };
        using FloatTensor fx = new(x), fy = new(x.Length), g = new(x.Length), fdx = new(x.Length);
        g.Fill(1);
        Gelu.Forward(fy.Ptr, fx.Ptr, x.Length);
        Gelu.Backward(fdx.Ptr, g.Ptr, fx.Ptr, x.Length);
        var y = fy.ToDoubles();
        var d = fdx.ToDoubles();
        var yRef = new double[x.Length];
        var dRef = new double[x.Length];
        Gelu.ReferenceForward(yRef, x);
        Gelu.ReferenceBackward(dRef, Enumerable.Repeat(1.0, x.Length).ToArray(), x);
        // Relative accuracy everywhere, including the tiny negative tail.
        AssertClose(yRef, y, 1e-5, 1e-30, "gelu at large |x|");
        AssertClose(dRef, d, 1e-5, 1e-30, "gelu' at large |x|");
        for (int i = 0; i < x.Length; i++)
            if (x[i] >= 8) { Assert.Equal(x[i], y[i]); Assert.Equal(1.0, d[i]); }
        // gelu(−5) = −5·Φ(−5) = −1.4332e-6, which 1 + erf would lose in float; relative accuracy is kept.
        Assert.True(Math.Abs(y[3] / -1.4332484e-6 - 1) < 1e-4, $"gelu(-5) = {y[3]:G9}");
    }

    // Both widths on every CPU: the 256-bit one natively on AVX2, the 512-bit one natively on
    // AVX-512 (VSCALEFPS) and in software elsewhere (2ⁿ from exponent bits, as the 256-bit one).
    [Fact]
    public void FastExpIsWithinTwoUlpAndKeepsTheSpecialValues()
    {
        AssertFastExp(lanes => { var v = FastExp.Evaluate(System.Runtime.Intrinsics.Vector512.Create(lanes)); return [.. Enumerable.Range(0, 16).Select(l => v[l])]; }, 16);
        AssertFastExp(lanes => { var v = FastExp.Evaluate(System.Runtime.Intrinsics.Vector256.Create(lanes)); return [.. Enumerable.Range(0, 8).Select(l => v[l])]; }, 8);
    }

    private static void AssertFastExp(Func<float[], float[]> exp, int width)
    {
        var rng = new Rng(12);
        double worst = 0;
        var lanes = new float[width];
        for (int i = 0; i < 320_000 / width; i++)
        {
            for (int l = 0; l < width; l++) lanes[l] = (float)(-87 + 175 * rng.NextDouble());
            var e = exp(lanes);
            for (int l = 0; l < width; l++)
            {
                double exact = Math.Exp(lanes[l]);
                if (exact > float.MaxValue) continue;
                double ulp = (double)MathF.BitIncrement((float)exact) - (float)exact;
                worst = Math.Max(worst, Math.Abs(e[l] - exact) / ulp);
            }
        }
        Assert.True(worst <= 2, $"FastExp ({width} lanes) is {worst:F2} ulp from exp");
        float[] special = [0f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, -1000f, 1000f, 89f, -104f, 88.7f, 1f, -1f, 0.5f, 1e-8f, -1e-8f, 20f, -20f];
        var s = new float[special.Length];
        for (int at = 0; at < special.Length; at += width)
            exp(special[at..(at + width)]).CopyTo(s, at);
        Assert.Equal(1f, s[0]);
        Assert.True(float.IsNaN(s[1]));
        Assert.Equal(float.PositiveInfinity, s[2]);
        Assert.Equal(0f, s[3]);
        Assert.Equal(0f, s[4]);
        Assert.Equal(float.PositiveInfinity, s[5]);
        Assert.Equal(float.PositiveInfinity, s[6]);
        Assert.True(s[7] >= 0 && s[7] < 1e-44f, $"exp(-104) = {s[7]:G9}");
        Assert.True(Math.Abs(s[8] / Math.Exp(88.7f) - 1) < 1e-6, $"exp(88.7) = {s[8]:G9}");
        Assert.Equal((float)Math.E, s[9]);
        Assert.Equal(1f, s[12]);
        Assert.True(Math.Abs(s[14] / Math.Exp(20) - 1) < 2.4e-7 && Math.Abs(s[15] / Math.Exp(-20) - 1) < 2.4e-7, $"exp(±20) = {s[14]:G9}, {s[15]:G9}");
    }

    [Fact]
    public void GeluReferenceGradient()
    {
        var rng = new Rng(3);
        var x = Random(ref rng, 40, 4);
        var r = Random(ref rng, 40);
        var dx = new double[40];
        Gelu.ReferenceBackward(dx, r, x);
        CheckGradient(x, () => { var y = new double[40]; Gelu.ReferenceForward(y, x); return y; }, r, dx, "gelu x");
    }
}
