using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Numerics;
using Xunit;
using static Vit.Tests.Kernels.KernelTestSupport;

namespace Vit.Tests.Kernels;

public class EmbeddingTests
{
    // Images, weight, bias, token gradient and the gradients' starting values (accumulated into), from one seed.
    private static (double[] Images, double[] W, double[] B, double[] Dtokens, double[] Dw0, double[] Db0) PatchInputs(int batch, int c, int size, int n, int k, int d, ulong seed)
    {
        var rng = new Rng(seed);
        return (Random(ref rng, batch * c * size * size), Random(ref rng, d * k), Random(ref rng, d), Random(ref rng, batch * (n + 1) * d),
            Random(ref rng, d * k), Random(ref rng, d));
    }

    private static void ComparePatchEmbedding<TC, TI, TP, TD>(int batch, ulong seed)
        where TC : struct, IDim where TI : struct, IDim where TP : struct, IDim where TD : struct, IDim
    {
        int c = TC.Value, size = TI.Value, p = TP.Value, d = TD.Value, grid = size / p, n = grid * grid, k = c * p * p;
        var (images, w, b, dtokens, dw0, db0) = PatchInputs(batch, c, size, n, k, d, seed);
        var tokens = new double[batch * (n + 1) * d];
        for (int i = 0; i < batch; i++) tokens[i * (n + 1) * d] = 42; // class slot must stay untouched
        PatchEmbedding.ReferenceForward(tokens, images, w, b, batch, c, size, p, d);
        double[] dw = (double[])dw0.Clone(), db = (double[])db0.Clone();
        PatchEmbedding.ReferenceBackward(dw, db, dtokens, images, batch, c, size, p, d);

        using FloatTensor fimg = new(images), fw = new(w), fb = new(b), ftok = new(tokens.Length), fpat = new(batch * n * k),
            fdt = new(dtokens), fdw = new(dw0), fdb = new(db0);
        for (int i = 0; i < batch; i++) ftok.Span[i * (n + 1) * d] = 42;
        PatchEmbedding.Forward<TC, TI, TP, TD>(ftok.Ptr, fpat.Ptr, fimg.Ptr, fw.Ptr, fb.Ptr, batch);
        PatchEmbedding.Backward<TC, TI, TP, TD>(fdw.Ptr, fdb.Ptr, fdt.Ptr, fpat.Ptr, batch);
        AssertClose(tokens, ftok, 1e-4, 1e-5, "tokens");
        AssertClose(dw, fdw, 1e-4, 1e-5, "dweight");
        AssertClose(db, fdb, 1e-4, 1e-5, "dbias");
    }

    // bf16 (Precision.Bf16, inference and mixed-precision training): the conv's product and its
    // weight gradient on bf16-rounded operands with fp32 sums, on both units, against the bf16
    // reference (the same rounding, sums in double) within fp32 summation error, and against fp32
    // within bf16's rounding and not equal to it; the bias gradient stays fp32.
    private static unsafe void ComparePatchEmbeddingBf16<TC, TI, TP, TD>(Bf16Units units, int batch, ulong seed)
        where TC : struct, IDim where TI : struct, IDim where TP : struct, IDim where TD : struct, IDim
    {
        Skip.If(units == Bf16Units.DotProduct && !Bf16Gemm.IsSupported, Bf16Gemm.Unavailable ?? "");
        int c = TC.Value, size = TI.Value, p = TP.Value, d = TD.Value, grid = size / p, n = grid * grid, k = c * p * p;
        var (images, w, b, dtokens, dw0, db0) = PatchInputs(batch, c, size, n, k, d, seed);
        double[] tokens = new double[batch * (n + 1) * d], tokens32 = new double[tokens.Length];
        PatchEmbedding.ReferenceForward(tokens, images, w, b, batch, c, size, p, d, bf16: true);
        PatchEmbedding.ReferenceForward(tokens32, images, w, b, batch, c, size, p, d);
        double[] dw = (double[])dw0.Clone(), db = (double[])db0.Clone(), dw32 = (double[])dw0.Clone(), db32 = (double[])db0.Clone();
        PatchEmbedding.ReferenceBackward(dw, db, dtokens, images, batch, c, size, p, d, bf16: true);
        PatchEmbedding.ReferenceBackward(dw32, db32, dtokens, images, batch, c, size, p, d);

        using var model = new Vit.Tests.Training.SmallCifar(seed: 1, maxBatch: 1); // a ModelMemory for the caches' parameter version
        using var bf16 = new Bf16Linear();
        using FloatTensor fimg = new(images), fw = new(w), fb = new(b), ftok = new(tokens.Length), fpat = new(batch * n * k),
            fdt = new(dtokens), fdw = new(dw0), fdb = new(db0);
        Bf16Linear.ForceUnits = units;
        try
        {
            PatchEmbedding.Forward<TC, TI, TP, TD>(ftok.Ptr, fpat.Ptr, fimg.Ptr, fw.Ptr, fb.Ptr, batch, bf16, model.Memory, inference: true);
            PatchEmbedding.Backward<TC, TI, TP, TD>(fdw.Ptr, fdb.Ptr, fdt.Ptr, fpat.Ptr, batch, bf16, model.Memory);
        }
        finally
        {
            Bf16Linear.ForceUnits = null;
        }
        // Row 0 of each image (the class slot) is not written by either: compare rows 1..N.
        for (int i = 0; i < batch; i++) tokens[i * (n + 1) * d] = tokens32[i * (n + 1) * d] = ftok.Span[i * (n + 1) * d];
        AssertClose(tokens, ftok, 1e-4, 1e-5, "bf16 tokens");
        AssertClose(dw, fdw, 1e-4, 1e-5, "bf16 dweight");
        AssertClose(db, fdb, 1e-5, 1e-6, "dbias (fp32)");
        AssertClose(tokens32, ftok, 3e-2, 1e-2, "bf16 tokens against fp32");
        AssertClose(dw32, fdw, 3e-2, 1e-2, "bf16 dweight against fp32");
        var ft = ftok.ToDoubles();
        Assert.True(tokens32.Zip(ft).Max(q => Math.Abs(q.First - q.Second)) > 1e-4 * MaxAbs(tokens32), "bf16 patch embedding equals fp32's: is bf16 on?");
    }

    [SkippableTheory]
    [InlineData(Bf16Units.DotProduct)]
    [InlineData(Bf16Units.Fma)]
    public void PatchEmbeddingBf16Awkward(Bf16Units units) => ComparePatchEmbeddingBf16<D3, D15, D5, D7>(units, 2, 11);

    [SkippableTheory]
    [InlineData(Bf16Units.DotProduct)]
    [InlineData(Bf16Units.Fma)]
    public void PatchEmbeddingBf16Larger(Bf16Units units) => ComparePatchEmbeddingBf16<D3, D32, D8, D48>(units, 3, 12);

    [Fact] public void PatchEmbeddingAwkward() => ComparePatchEmbedding<D3, D15, D5, D7>(2, 1);
    [Fact] public void PatchEmbeddingLarger() => ComparePatchEmbedding<D3, D32, D8, D48>(3, 2);

    [Fact]
    public void PatchEmbeddingReferenceGradients()
    {
        const int batch = 2, c = 2, size = 4, p = 2, d = 3, n = 4;
        var rng = new Rng(3);
        var images = Random(ref rng, batch * c * size * size);
        var w = Random(ref rng, d * c * p * p);
        var b = Random(ref rng, d);
        var r = Random(ref rng, batch * (n + 1) * d);
        for (int i = 0; i < batch; i++) for (int j = 0; j < d; j++) r[i * (n + 1) * d + j] = 0; // row 0 is not an output
        double[] Run() { var t = new double[batch * (n + 1) * d]; PatchEmbedding.ReferenceForward(t, images, w, b, batch, c, size, p, d); return t; }
        var dw = new double[w.Length];
        var db = new double[d];
        PatchEmbedding.ReferenceBackward(dw, db, r, images, batch, c, size, p, d);
        CheckGradient(w, Run, r, dw, "weight");
        CheckGradient(b, Run, r, db, "bias");
    }

    [Fact]
    public void PositionEmbeddingMatchesReference()
    {
        const int batch = 3, t = 7, d = 13;
        var rng = new Rng(4);
        var tokens = Random(ref rng, batch * t * d);
        var cls = Random(ref rng, d);
        var pos = Random(ref rng, t * d);
        var dt = Random(ref rng, batch * t * d);
        var dc0 = Random(ref rng, d);
        var dp0 = Random(ref rng, t * d);
        using FloatTensor ft = new(tokens), fc = new(cls), fp = new(pos), fdt = new(dt), fdc = new(dc0), fdp = new(dp0);
        PositionEmbedding.ReferenceForward(tokens, cls, pos, batch, t, d);
        double[] dc = (double[])dc0.Clone(), dp = (double[])dp0.Clone();
        PositionEmbedding.ReferenceBackward(dc, dp, dt, batch, t, d);
        PositionEmbedding.Forward<D7, D13>(ft.Ptr, fc.Ptr, fp.Ptr, batch);
        PositionEmbedding.Backward<D7, D13>(fdc.Ptr, fdp.Ptr, fdt.Ptr, batch);
        AssertClose(tokens, ft, 1e-6, 1e-7, "tokens");
        AssertClose(dc, fdc, 1e-5, 1e-6, "dclassToken (accumulated)");
        AssertClose(dp, fdp, 1e-5, 1e-6, "dpositions (accumulated)");
    }

    [Fact]
    public void PositionEmbeddingReferenceGradients()
    {
        const int batch = 2, t = 3, d = 4;
        var rng = new Rng(5);
        var tokens = Random(ref rng, batch * t * d);
        var cls = Random(ref rng, d);
        var pos = Random(ref rng, t * d);
        var r = Random(ref rng, batch * t * d);
        double[] Run() { var x = (double[])tokens.Clone(); PositionEmbedding.ReferenceForward(x, cls, pos, batch, t, d); return x; }
        var dc = new double[d];
        var dp = new double[t * d];
        PositionEmbedding.ReferenceBackward(dc, dp, r, batch, t, d);
        CheckGradient(cls, Run, r, dc, "classToken");
        CheckGradient(pos, Run, r, dp, "positions");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PoolingMatchesReference(bool mean)
    {
        const int batch = 3, t = 7, d = 13;
        var rng = new Rng(6);
        var tokens = Random(ref rng, batch * t * d);
        var dpooled = Random(ref rng, batch * d);
        var pooled = new double[batch * d];
        var dtokens = new double[batch * t * d];
        using FloatTensor ft = new(tokens), fpool = new(batch * d), fdpool = new(dpooled), fdt = new(batch * t * d);
        fdt.Fill(77); // overwritten everywhere
        if (mean)
        {
            MeanPooling.ReferenceForward(pooled, tokens, batch, t, d);
            MeanPooling.ReferenceBackward(dtokens, dpooled, batch, t, d);
            MeanPooling.Forward<D7, D13>(fpool.Ptr, ft.Ptr, batch);
            MeanPooling.Backward<D7, D13>(fdt.Ptr, fdpool.Ptr, batch);
        }
        else
        {
            TokenPooling.ReferenceForward(pooled, tokens, batch, t, d);
            TokenPooling.ReferenceBackward(dtokens, dpooled, batch, t, d);
            TokenPooling.Forward<D7, D13>(fpool.Ptr, ft.Ptr, batch);
            TokenPooling.Backward<D7, D13>(fdt.Ptr, fdpool.Ptr, batch);
        }
        AssertClose(pooled, fpool, 1e-5, 1e-6, "pooled");
        AssertClose(dtokens, fdt, 1e-5, 1e-6, "dtokens");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PoolingReferenceGradients(bool mean)
    {
        const int batch = 2, t = 4, d = 3;
        var rng = new Rng(8);
        var tokens = Random(ref rng, batch * t * d);
        var r = Random(ref rng, batch * d);
        double[] Run()
        {
            var p = new double[batch * d];
            if (mean) MeanPooling.ReferenceForward(p, tokens, batch, t, d); else TokenPooling.ReferenceForward(p, tokens, batch, t, d);
            return p;
        }
        var dt = new double[batch * t * d];
        if (mean) MeanPooling.ReferenceBackward(dt, r, batch, t, d); else TokenPooling.ReferenceBackward(dt, r, batch, t, d);
        CheckGradient(tokens, Run, r, dt, mean ? "mean pooling" : "token pooling");
    }
}
