using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Memory;
using Vit.Numerics;
using Xunit;

namespace Vit.Tests.Kernels;

public struct D1 : IDim { public static int Value => 1; }
public struct D2 : IDim { public static int Value => 2; }
public struct D3 : IDim { public static int Value => 3; }
public struct D4 : IDim { public static int Value => 4; }
public struct D5 : IDim { public static int Value => 5; }
public struct D7 : IDim { public static int Value => 7; }
public struct D8 : IDim { public static int Value => 8; }
public struct D10 : IDim { public static int Value => 10; }
public struct D13 : IDim { public static int Value => 13; }
public struct D15 : IDim { public static int Value => 15; }
public struct D16 : IDim { public static int Value => 16; }
public struct D17 : IDim { public static int Value => 17; }
public struct D24 : IDim { public static int Value => 24; }
public struct D31 : IDim { public static int Value => 31; }
public struct D32 : IDim { public static int Value => 32; }
public struct D48 : IDim { public static int Value => 48; }
public struct D64 : IDim { public static int Value => 64; }
public struct D65 : IDim { public static int Value => 65; }
public struct D67 : IDim { public static int Value => 67; }
public struct D130 : IDim { public static int Value => 130; }
public struct D192 : IDim { public static int Value => 192; }
public struct D768 : IDim { public static int Value => 768; }
public struct D2304 : IDim { public static int Value => 2304; }

/// <summary>A float tensor in native memory, filled from / read back as doubles.</summary>
public sealed class FloatTensor : IDisposable
{
    private readonly NativeBuffer _buffer;

    public FloatTensor(long length) { _buffer = new NativeBuffer(length); Length = length; }

    public FloatTensor(double[] values) : this(values.Length) => Set(values);

    public long Length { get; }

    public TensorPtr Ptr => _buffer.Start;

    public Span<float> Span => _buffer.Slice(0, checked((int)Length));

    public void Set(double[] values)
    {
        var s = Span;
        for (int i = 0; i < values.Length; i++) s[i] = (float)values[i];
    }

    public void Fill(float value) => Span.Fill(value);

    public double[] ToDoubles()
    {
        var s = Span;
        var d = new double[s.Length];
        for (int i = 0; i < d.Length; i++) d[i] = s[i];
        return d;
    }

    public void Dispose() => _buffer.Dispose();
}

public static class KernelTestSupport
{
    /// <summary>Random values in [-scale, scale), rounded to float so float and double kernels see the same inputs.</summary>
    public static double[] Random(ref Rng rng, int length, double scale = 1.0)
    {
        var a = new double[length];
        for (int i = 0; i < length; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return a;
    }

    public static double MaxAbs(double[] a)
    {
        double m = 0;
        foreach (var v in a) m = Math.Max(m, Math.Abs(v));
        return m;
    }

    /// <summary>Fails unless |a − e| ≤ atol + rtol·|e| everywhere; reports the worst element.</summary>
    public static void AssertClose(double[] expected, double[] actual, double rtol, double atol, string what)
    {
        Assert.True(expected.Length <= actual.Length, $"{what}: expected {expected.Length} elements, got {actual.Length}.");
        int worst = -1;
        double worstExcess = 0, worstErr = 0;
        int failures = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            double allowed = atol + rtol * Math.Abs(expected[i]);
            bool bad = !(err <= allowed);
            if (bad) failures++;
            double excess = double.IsNaN(err) ? double.PositiveInfinity : err - allowed;
            if (worst < 0 || excess > worstExcess) { worst = i; worstExcess = excess; worstErr = err; }
        }
        if (failures > 0)
            Assert.Fail($"{what}: {failures} of {expected.Length} elements out of tolerance (rtol {rtol:G3}, atol {atol:G3}); " +
                        $"worst at [{worst}]: expected {expected[worst]:G9}, actual {actual[worst]:G9}, error {worstErr:G3}.");
    }

    public static void AssertClose(double[] expected, FloatTensor actual, double rtol, double atolScale, string what)
        => AssertClose(expected, actual.ToDoubles(), rtol, atolScale * Math.Max(MaxAbs(expected), 1e-30), what);

    public static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>
    /// Gradient check: the analytic gradient of L = Σ r⊙forward(x) with respect to <paramref name="input"/>
    /// against central differences, for every element of the input.
    /// </summary>
    public static void CheckGradient(double[] input, Func<double[]> forward, double[] r, double[] analytic, string what,
        double h = 1e-6, double rtol = 1e-6)
    {
        var numeric = new double[input.Length];
        for (int i = 0; i < input.Length; i++)
        {
            double saved = input[i];
            input[i] = saved + h;
            double lp = Dot(r, forward());
            input[i] = saved - h;
            double lm = Dot(r, forward());
            input[i] = saved;
            numeric[i] = (lp - lm) / (2 * h);
        }
        AssertClose(numeric, analytic, rtol, 1e-6 * Math.Max(MaxAbs(numeric), 1e-3), $"gradient of {what}");
    }
}
