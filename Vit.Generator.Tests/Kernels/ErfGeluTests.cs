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

    // The vector paths (16 lanes at a time) over the whole range where Φ(x) is a normal float,
    // relative accuracy included: the tail is where a single-exp erfc could lose it.
    [Fact]
    public void GeluVectorPathsAreRelativelyAccurateFromMinus12To12()
    {
        var x = Enumerable.Range(0, 4801).Select(i => -12 + i * 0.005).ToArray();
        using FloatTensor fx = new(x), fy = new(x.Length), g = new(x.Length), fdx = new(x.Length);
        g.Fill(1);
        var xs = fx.ToDoubles(); // the float inputs, for the reference
        Gelu.Forward(fy.Ptr, fx.Ptr, x.Length);
        Gelu.Backward(fdx.Ptr, g.Ptr, fx.Ptr, x.Length);
        var yRef = new double[x.Length];
        var dRef = new double[x.Length];
        Gelu.ReferenceForward(yRef, xs);
        Gelu.ReferenceBackward(dRef, Enumerable.Repeat(1.0, x.Length).ToArray(), xs);
        // |x| ≥ 3: relative accuracy alone (the tail; gelu within 2e-6, which a float exp(P(t) − a²)
        // without the TwoSum correction misses by 2×); |x| < 3: also 1e-6 absolute, because gelu'
        // crosses zero at x ≈ −0.75 (Φ(x) + x·φ(x), two terms of about 0.2), where no float
        // evaluation keeps relative accuracy.
        var y = fy.ToDoubles();
        var d = fdx.ToDoubles();
        int[] tail = Enumerable.Range(0, x.Length).Where(i => Math.Abs(xs[i]) >= 3).ToArray();
        int[] middle = Enumerable.Range(0, x.Length).Where(i => Math.Abs(xs[i]) < 3).ToArray();
        AssertClose(tail.Select(i => yRef[i]).ToArray(), tail.Select(i => y[i]).ToArray(), 2e-6, 1e-30, "gelu for |x| in [3, 12]");
        AssertClose(tail.Select(i => dRef[i]).ToArray(), tail.Select(i => d[i]).ToArray(), 1e-5, 1e-30, "gelu' for |x| in [3, 12]");
        AssertClose(middle.Select(i => yRef[i]).ToArray(), middle.Select(i => y[i]).ToArray(), 1e-5, 1e-6, "gelu for |x| < 3");
        AssertClose(middle.Select(i => dRef[i]).ToArray(), middle.Select(i => d[i]).ToArray(), 1e-5, 1e-6, "gelu' for |x| < 3");
    }

    [SkippableFact]
    public void FastExpIsWithinTwoUlpAndKeepsTheSpecialValues()
    {
        Skip.IfNot(System.Runtime.Intrinsics.X86.Avx512F.IsSupported, "FastExp is AVX-512 code; this CPU lacks AVX-512F");
        var rng = new Rng(12);
        double worst = 0;
        var lanes = new float[16];
        for (int i = 0; i < 20_000; i++)
        {
            for (int l = 0; l < 16; l++) lanes[l] = (float)(-87 + 175 * rng.NextDouble());
            var e = FastExp.Evaluate(System.Runtime.Intrinsics.Vector512.Create(lanes));
            for (int l = 0; l < 16; l++)
            {
                double exact = Math.Exp(lanes[l]);
                if (exact > float.MaxValue) continue;
                double ulp = (double)MathF.BitIncrement((float)exact) - (float)exact;
                worst = Math.Max(worst, Math.Abs(e[l] - exact) / ulp);
            }
        }
        Assert.True(worst <= 2, $"FastExp is {worst:F2} ulp from exp");
        float[] special = [0f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, -1000f, 1000f, 89f, -104f, 88.7f, 1f, -1f, 0.5f, 1e-8f, -1e-8f, 20f, -20f];
        var s = FastExp.Evaluate(System.Runtime.Intrinsics.Vector512.Create(special));
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
