using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Memory;
using Vit.Numerics;
using Xunit;
using static Vit.Tests.Kernels.KernelTestSupport;

namespace Vit.Tests.Kernels;

public class LayerNormTests
{
    private static void Compare<TDim>(int rows, ulong seed) where TDim : struct, IDim
    {
        int d = TDim.Value;
        var rng = new Rng(seed);
        var x = Random(ref rng, rows * d, 3);
        for (int i = 0; i < x.Length; i++) x[i] = (float)(x[i] + 0.5); // non-zero mean
        var w = Random(ref rng, d);
        var b = Random(ref rng, d);
        var dy = Random(ref rng, rows * d);
        var dx0 = Random(ref rng, rows * d);
        var dw0 = Random(ref rng, d);
        var db0 = Random(ref rng, d);
        var y = new double[rows * d];
        var mean = new double[rows];
        var rstd = new double[rows];
        LayerNorm.ReferenceForward(y, mean, rstd, x, w, b, rows, d, 1e-6);
        double[] dx = (double[])dx0.Clone(), dw = (double[])dw0.Clone(), db = (double[])db0.Clone();
        LayerNorm.ReferenceBackward(dx, dw, db, dy, x, mean, rstd, w, rows, d);

        using FloatTensor fx = new(x), fw = new(w), fb = new(b), fy = new(rows * d), fm = new(rows), fr = new(rows),
            fdy = new(dy), fdx = new(dx0), fdw = new(dw0), fdb = new(db0), fy2 = new(rows * d);
        LayerNorm.Forward<TDim>(fy.Ptr, fm.Ptr, fr.Ptr, fx.Ptr, fw.Ptr, fb.Ptr, rows, 1e-6f);
        LayerNorm.Forward<TDim>(fy2.Ptr, TensorPtr.Null, TensorPtr.Null, fx.Ptr, fw.Ptr, fb.Ptr, rows, 1e-6f);
        LayerNorm.Backward<TDim>(fdx.Ptr, fdw.Ptr, fdb.Ptr, fdy.Ptr, fx.Ptr, fm.Ptr, fr.Ptr, fw.Ptr, rows);
        AssertClose(y, fy, 1e-4, 1e-5, "y");
        AssertClose(y, fy2, 1e-4, 1e-5, "y (inference)");
        AssertClose(mean, fm, 1e-4, 1e-5, "mean");
        AssertClose(rstd, fr, 1e-4, 1e-5, "rstd");
        AssertClose(dx, fdx, 1e-4, 1e-5, "dx (accumulated)");
        AssertClose(dw, fdw, 1e-4, 1e-5, "dweight");
        AssertClose(db, fdb, 1e-4, 1e-5, "dbias");
    }

    [Fact] public void Awkward() => Compare<D13>(11, 1);
    [Fact] public void Larger() => Compare<D192>(67, 2);
    [Fact] public void Wide() => Compare<D768>(9, 3);

    [Fact]
    public void ReferenceGradients()
    {
        const int rows = 3, d = 5;
        var rng = new Rng(4);
        var x = Random(ref rng, rows * d);
        var w = Random(ref rng, d);
        var b = Random(ref rng, d);
        var r = Random(ref rng, rows * d);
        var mean = new double[rows];
        var rstd = new double[rows];
        double[] Run() { var y = new double[rows * d]; LayerNorm.ReferenceForward(y, mean, rstd, x, w, b, rows, d, 1e-5); return y; }
        Run();
        var dx = new double[rows * d];
        var dw = new double[d];
        var db = new double[d];
        LayerNorm.ReferenceBackward(dx, dw, db, r, x, mean, rstd, w, rows, d);
        CheckGradient(x, Run, r, dx, "x");
        CheckGradient(w, Run, r, dw, "weight");
        CheckGradient(b, Run, r, db, "bias");
    }
}
