using Vit.Kernels;
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
