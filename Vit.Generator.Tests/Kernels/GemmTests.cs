using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Numerics;
using Vit.Tests.Model;
using Xunit;
using static Vit.Tests.Kernels.KernelTestSupport;

namespace Vit.Tests.Kernels;

/// <summary>
/// <see cref="Gemm"/> against its double reference in the three forms Linear uses, on every SIMD
/// path (forced), with shapes that exercise edge tiles, several K blocks, many row blocks and
/// accumulation, and a B with contiguous rows both read in place and packed (1030 rows of C, or
/// rows more than 1024 floats apart; 4160 × 1040 floats packed with streaming stores, over
/// 16 MiB; rows 1040 floats apart, an odd number of cache lines, read in place). Forcing a path is process-wide, so this class runs alone.
/// </summary>
[Collection(nameof(RunsAlone))]
public sealed unsafe class GemmTests
{
    public enum Form { ABt, AB, AtB }

    public static TheoryData<SimdLevel, Form, int, int, int> Cases()
    {
        var data = new TheoryData<SimdLevel, Form, int, int, int>();
        var shapes = new (int M, int N, int K)[] { (1, 1, 1), (5, 3, 7), (6, 32, 16), (13, 37, 700), (150, 70, 5), (301, 96, 64), (7, 1000, 33), (20, 45, 19), (1030, 70, 40), (9, 1100, 50), (8, 4160, 1040) };
        foreach (var level in new[] { SimdLevel.Avx512, SimdLevel.Avx2, SimdLevel.Vector128 })
            foreach (var form in new[] { Form.ABt, Form.AB, Form.AtB })
                foreach (var (m, n, k) in shapes) data.Add(level, form, m, n, k);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_reference_on_every_path(SimdLevel level, Form form, int m, int n, int k)
    {
        var rng = new Rng((ulong)(m * 131 + n * 7 + k) + (ulong)form);
        var a = Random(ref rng, m * k);
        var b = Random(ref rng, k * n);
        var bias = Random(ref rng, n);
        var c0 = Random(ref rng, m * n);
        // Strides: ABt reads B as (n, k); AtB reads A as (k, m); AB reads both row-major.
        (int aRow, int aCol) = form == Form.AtB ? (1, m) : (k, 1);
        (int bRow, int bCol) = form == Form.ABt ? (1, k) : (n, 1);
        bool accumulate = form == Form.AtB;
        double[]? biasOrNull = form == Form.ABt ? bias : null;
        var expected = (double[])c0.Clone();
        Gemm.ReferenceMultiply(expected, n, a, aRow, aCol, b, bRow, bCol, m, n, k, biasOrNull, accumulate);

        using FloatTensor fa = new(a), fb = new(b), fbias = new(bias), fc = new(c0);
        Simd.Force(level);
        try
        {
            Gemm.Multiply(fc.Ptr.Pointer, n, fa.Ptr.Pointer, aRow, aCol, fb.Ptr.Pointer, bRow, bCol, m, n, k,
                biasOrNull is null ? null : fbias.Ptr.Pointer, accumulate);
        }
        finally { Simd.Force(null); }
        AssertClose(expected, fc, 1e-4, 2e-6 * Math.Sqrt(k), $"C ({level}, {form}, {m}x{n}x{k})");

        // The serial entry point gives the same result.
        using FloatTensor fs = new(c0);
        Simd.Force(level);
        try
        {
            Gemm.MultiplySerial(fs.Ptr.Pointer, n, fa.Ptr.Pointer, aRow, aCol, fb.Ptr.Pointer, bRow, bCol, m, n, k,
                biasOrNull is null ? null : fbias.Ptr.Pointer, accumulate);
        }
        finally { Simd.Force(null); }
        AssertClose(expected, fs, 1e-4, 2e-6 * Math.Sqrt(k), $"C serial ({level}, {form}, {m}x{n}x{k})");
    }

    public static TheoryData<SimdLevel, Form> StridedCases()
    {
        var data = new TheoryData<SimdLevel, Form>();
        foreach (var level in new[] { SimdLevel.Avx512, SimdLevel.Avx2, SimdLevel.Vector128 })
            foreach (var form in new[] { Form.AB, Form.AtB }) data.Add(level, form);
        return data;
    }

    // A B whose rows are 1040 floats apart (65 cache lines: more than 1024 floats, an odd number
    // of lines) is read in place, as fc2's weight gradient reads the padded MLP activation; the
    // padding holds NaN, so a read past a row's 1030 columns would show in C.
    [Theory]
    [MemberData(nameof(StridedCases))]
    public void Reads_a_B_with_padded_rows_in_place(SimdLevel level, Form form)
    {
        const int m = 70, n = 1030, k = 300, ldb = 1040;
        Assert.True(Gemm.SpreadsOverL1Sets(ldb));
        Assert.False(Gemm.SpreadsOverL1Sets(1024 + 32));
        var rng = new Rng(11 + (ulong)form);
        var a = Random(ref rng, m * k);
        var b = Random(ref rng, k * n);
        var c0 = Random(ref rng, m * n);
        (int aRow, int aCol) = form == Form.AtB ? (1, m) : (k, 1);
        bool accumulate = form == Form.AtB;
        var expected = (double[])c0.Clone();
        Gemm.ReferenceMultiply(expected, n, a, aRow, aCol, b, n, 1, m, n, k, null, accumulate);

        using FloatTensor fa = new(a), fb = new((long)k * ldb), fc = new(c0);
        fb.Fill(float.NaN);
        for (int p = 0; p < k; p++)
            for (int j = 0; j < n; j++) fb.Span[p * ldb + j] = (float)b[p * n + j];
        Simd.Force(level);
        try { Gemm.Multiply(fc.Ptr.Pointer, n, fa.Ptr.Pointer, aRow, aCol, fb.Ptr.Pointer, ldb, 1, m, n, k, null, accumulate); }
        finally { Simd.Force(null); }
        AssertClose(expected, fc, 1e-4, 2e-6 * Math.Sqrt(k), $"C ({level}, {form}, B rows {ldb} apart)");
    }

    [Fact]
    public void Paths_agree_with_each_other()
    {
        const int m = 97, n = 200, k = 330;
        var rng = new Rng(42);
        var a = Random(ref rng, m * k);
        var b = Random(ref rng, n * k);
        var results = new List<double[]>();
        foreach (var level in new[] { SimdLevel.Avx512, SimdLevel.Avx2, SimdLevel.Vector128 })
        {
            using FloatTensor fa = new(a), fb = new(b), fc = new(m * n);
            Simd.Force(level);
            try { Gemm.Multiply(fc.Ptr.Pointer, n, fa.Ptr.Pointer, k, 1, fb.Ptr.Pointer, 1, k, m, n, k, null, false); }
            finally { Simd.Force(null); }
            results.Add(fc.ToDoubles());
        }
        AssertClose(results[0], results[1], 1e-5, 1e-4, "AVX-512 vs AVX2");
        AssertClose(results[0], results[2], 1e-5, 1e-4, "AVX-512 vs Vector128");
    }

    [Fact]
    public void Zero_inner_dimension_writes_the_bias_or_keeps_the_accumulator()
    {
        using FloatTensor c = new(6), bias = new([1, 2, 3]);
        c.Fill(9);
        Gemm.Multiply(c.Ptr.Pointer, 3, null, 0, 1, null, 1, 0, 2, 3, 0, bias.Ptr.Pointer, false);
        AssertClose([1, 2, 3, 1, 2, 3], c.ToDoubles(), 0, 0, "bias rows");
        Gemm.Multiply(c.Ptr.Pointer, 3, null, 0, 1, null, 1, 0, 2, 3, 0, null, true);
        AssertClose([1, 2, 3, 1, 2, 3], c.ToDoubles(), 0, 0, "unchanged");
    }
}
