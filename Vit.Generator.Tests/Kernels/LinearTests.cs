using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Memory;
using Vit.Numerics;
using Xunit;
using static Vit.Tests.Kernels.KernelTestSupport;

namespace Vit.Tests.Kernels;

public class LinearTests
{
    internal static void CompareWithReference<TIn, TOut>(int rows, bool bias, ulong seed)
        where TIn : struct, IDim where TOut : struct, IDim
    {
        int nIn = TIn.Value, nOut = TOut.Value;
        var rng = new Rng(seed);
        var x = Random(ref rng, rows * nIn);
        var w = Random(ref rng, nOut * nIn);
        var b = bias ? Random(ref rng, nOut) : null;
        var dy = Random(ref rng, rows * nOut);
        var dw0 = Random(ref rng, nOut * nIn);
        var db0 = Random(ref rng, nOut);

        var y = new double[rows * nOut];
        Linear.ReferenceForward(y, x, w, b, rows, nIn, nOut);
        var dx = new double[rows * nIn];
        var dw = (double[])dw0.Clone();
        var db = (double[])db0.Clone();
        Linear.ReferenceBackward(dx, dw, bias ? db : null, dy, x, w, rows, nIn, nOut);

        using var fx = new FloatTensor(x);
        using var fw = new FloatTensor(w);
        using var fb = new FloatTensor(b ?? new double[nOut]);
        using var fy = new FloatTensor(rows * nOut);
        fy.Fill(123f);
        using var fdy = new FloatTensor(dy);
        using var fdx = new FloatTensor(rows * nIn);
        fdx.Fill(-7f); // overwritten
        using var fdw = new FloatTensor(dw0); // accumulated
        using var fdb = new FloatTensor(db0);

        Linear.Forward<TIn, TOut>(fy.Ptr, fx.Ptr, fw.Ptr, bias ? fb.Ptr : TensorPtr.Null, rows);
        Linear.Backward<TIn, TOut>(fdx.Ptr, fdw.Ptr, bias ? fdb.Ptr : TensorPtr.Null, fdy.Ptr, fx.Ptr, fw.Ptr, rows);

        AssertClose(y, fy, 1e-4, 1e-5, "y");
        AssertClose(dx, fdx, 1e-4, 1e-5, "dx");
        AssertClose(dw, fdw, 1e-4, 1e-5, "dw");
        AssertClose(db, fdb, 1e-4, 1e-5, "db");
        if (!bias) AssertClose(db0, fdb, 0, 0, "db untouched");
    }

    [Fact] public void AwkwardSizes() => CompareWithReference<D13, D7>(11, true, 1);
    [Fact] public void NoBias() => CompareWithReference<D17, D5>(3, false, 2);
    [Fact] public void VectorEdges() => CompareWithReference<D130, D67>(37, true, 3);
    [Fact] public void Larger() => CompareWithReference<D192, D130>(70, true, 4);
    [Fact] public void MultipleOfTiles() => CompareWithReference<D192, D64>(129, true, 5);

    // The training layout's MLP: fc1 + GELU writes the activation with padded rows (80 floats for
    // 67 columns, as Planner.HiddenStride pads them), fc2 reads it forward and backward. The
    // padding holds NaN: it must stay untouched and never reach a result.
    [Fact]
    public void Padded_activation_rows_match_the_contiguous_layers()
    {
        const int rows = 23, stride = 80, nIn = 17, hidden = 67, nOut = 13;
        var rng = new Rng(21);
        var x = Random(ref rng, rows * nIn);
        var w1 = Random(ref rng, hidden * nIn);
        var b1 = Random(ref rng, hidden);
        var w2 = Random(ref rng, nOut * hidden);
        var b2 = Random(ref rng, nOut);
        var dy = Random(ref rng, rows * nOut);
        var pre = new double[rows * hidden];
        Linear.ReferenceForward(pre, x, w1, b1, rows, nIn, hidden);
        var act = new double[pre.Length];
        Gelu.ReferenceForward(act, pre);
        var y = new double[rows * nOut];
        Linear.ReferenceForward(y, act, w2, b2, rows, hidden, nOut);
        var dact = new double[rows * hidden];
        var dw2 = new double[nOut * hidden];
        var db2 = new double[nOut];
        Linear.ReferenceBackward(dact, dw2, db2, dy, act, w2, rows, hidden, nOut);

        using FloatTensor fx = new(x), fw1 = new(w1), fb1 = new(b1), fw2 = new(w2), fb2 = new(b2), fdy = new(dy);
        using FloatTensor fpre = new(rows * hidden), fact = new(rows * stride), fy = new(rows * nOut);
        using FloatTensor fdact = new(rows * hidden), fdw2 = new(nOut * hidden), fdb2 = new(nOut);
        fact.Fill(float.NaN);
        Linear.ForwardGelu<D17, D67>(fact.Ptr, stride, fpre.Ptr, fx.Ptr, fw1.Ptr, fb1.Ptr, rows);
        Linear.Forward<D67, D13>(fy.Ptr, fact.Ptr, stride, fw2.Ptr, fb2.Ptr, rows);
        Linear.Backward<D67, D13>(fdact.Ptr, fdw2.Ptr, fdb2.Ptr, fdy.Ptr, fact.Ptr, stride, fw2.Ptr, rows);

        var got = fact.ToDoubles();
        var valid = new double[rows * hidden];
        for (int r = 0; r < rows; r++)
        {
            Array.Copy(got, r * stride, valid, r * hidden, hidden);
            for (int j = hidden; j < stride; j++) Assert.True(double.IsNaN(got[r * stride + j]), $"padding at row {r}, column {j} was written");
        }
        AssertClose(pre, fpre, 1e-4, 1e-5, "fc1 pre-activation (contiguous)");
        AssertClose(act, valid, 1e-4, 1e-5, "GELU activation (padded rows)");
        AssertClose(y, fy, 1e-4, 1e-5, "fc2 y");
        AssertClose(dact, fdact, 1e-4, 1e-5, "fc2 dx");
        AssertClose(dw2, fdw2, 1e-4, 1e-5, "fc2 dw");
        AssertClose(db2, fdb2, 1e-4, 1e-5, "fc2 db");
        Assert.Throws<ArgumentOutOfRangeException>(() => Linear.Forward<D67, D13>(fy.Ptr, fact.Ptr, 66, fw2.Ptr, fb2.Ptr, rows));
    }

    [Fact]
    public void SkipsNullInputGradient()
    {
        var rng = new Rng(9);
        var x = Random(ref rng, 5 * 13);
        var w = Random(ref rng, 7 * 13);
        var dy = Random(ref rng, 5 * 7);
        var dw = new double[7 * 13];
        Linear.ReferenceBackward(null, dw, null, dy, x, w, 5, 13, 7);
        using FloatTensor fx = new(x), fw = new(w), fdy = new(dy), fdw = new(7 * 13);
        Linear.Backward<D13, D7>(TensorPtr.Null, fdw.Ptr, TensorPtr.Null, fdy.Ptr, fx.Ptr, fw.Ptr, 5);
        AssertClose(dw, fdw, 1e-4, 1e-5, "dw");
    }

    [Fact]
    public void ReferenceGradients()
    {
        const int rows = 3, nIn = 4, nOut = 5;
        var rng = new Rng(11);
        var x = Random(ref rng, rows * nIn);
        var w = Random(ref rng, nOut * nIn);
        var b = Random(ref rng, nOut);
        var r = Random(ref rng, rows * nOut);
        var dx = new double[rows * nIn];
        var dw = new double[nOut * nIn];
        var db = new double[nOut];
        Linear.ReferenceBackward(dx, dw, db, r, x, w, rows, nIn, nOut);
        double[] Run() { var y = new double[rows * nOut]; Linear.ReferenceForward(y, x, w, b, rows, nIn, nOut); return y; }
        CheckGradient(x, Run, r, dx, "x");
        CheckGradient(w, Run, r, dw, "w");
        CheckGradient(b, Run, r, db, "b");
    }
}
