using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Memory;
using Vit.Numerics;
using Xunit;
using static Vit.Tests.Kernels.KernelTestSupport;

namespace Vit.Tests.Kernels;

public class ElementwiseTests
{
    [Theory]
    [InlineData(13)]
    [InlineData(1037)]
    public void TanhMatchesReference(int n)
    {
        var rng = new Rng((ulong)n);
        var x = Random(ref rng, n, 3);
        var dy = Random(ref rng, n);
        var y = new double[n];
        var dx = new double[n];
        Tanh.ReferenceForward(y, x);
        Tanh.ReferenceBackward(dx, dy, y);
        using FloatTensor fx = new(x), fy = new(n), fdy = new(dy), fdx = new(n);
        Tanh.Forward(fy.Ptr, fx.Ptr, n);
        Tanh.Backward(fdx.Ptr, fdy.Ptr, fy.Ptr, n);
        AssertClose(y, fy, 1e-5, 1e-6, "tanh");
        AssertClose(dx, fdx, 1e-4, 1e-5, "tanh'");
        Tanh.Backward(fdy.Ptr, fdy.Ptr, fy.Ptr, n);
        AssertClose(dx, fdy, 1e-4, 1e-5, "tanh' in place");
    }

    [Fact]
    public void TanhReferenceGradient()
    {
        var rng = new Rng(1);
        var x = Random(ref rng, 20, 2);
        var r = Random(ref rng, 20);
        double[] Run() { var y = new double[20]; Tanh.ReferenceForward(y, x); return y; }
        var dx = new double[20];
        Tanh.ReferenceBackward(dx, r, Run());
        CheckGradient(x, Run, r, dx, "tanh x");
    }

    [Fact]
    public void DropoutMaskAndApply()
    {
        const int n = 20000;
        var rng = new Rng(7);
        using FloatTensor mask = new(n), x = new(n);
        Dropout.FillMask(mask.Ptr, n, 0.25f, ref rng);
        var m = mask.ToDoubles();
        int zeros = m.Count(v => v == 0);
        Assert.All(m, v => Assert.True(v == 0 || Math.Abs(v - 1 / 0.75) < 1e-6, $"mask value {v}"));
        Assert.InRange(zeros, n * 0.23, n * 0.27);
        var xs = Random(ref rng, n);
        x.Set(xs);
        var expected = (double[])xs.Clone();
        Dropout.ReferenceApply(expected, m);
        Dropout.Apply(x.Ptr, mask.Ptr, n);
        AssertClose(expected, x, 1e-6, 1e-7, "dropout");
        // Same seed, same mask.
        var rng2 = new Rng(7);
        using FloatTensor mask2 = new(n);
        Dropout.FillMask(mask2.Ptr, n, 0.25f, ref rng2);
        AssertClose(m, mask2, 0, 0, "mask reproducible");
        Assert.Throws<ArgumentOutOfRangeException>(() => { var r = new Rng(1); Dropout.FillMask(mask.Ptr, 1, 1f, ref r); });
    }

    // The mask is contiguous, (rows, cols); x has padded rows (the training layout's MLP activation).
    [Fact]
    public void DropoutOnPaddedRows()
    {
        const int rows = 9, cols = 67, stride = 80;
        var rng = new Rng(5);
        using FloatTensor mask = new(rows * cols), x = new(rows * stride);
        Dropout.FillMask(mask.Ptr, rows * cols, 0.3f, ref rng);
        var xs = Random(ref rng, rows * stride);
        x.Set(xs);
        var m = mask.ToDoubles();
        var expected = (double[])xs.Clone();
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) expected[r * stride + j] *= m[r * cols + j];
        Dropout.Apply(x.Ptr, stride, mask.Ptr, rows, cols);
        AssertClose(expected, x, 1e-6, 1e-7, "dropout on padded rows (padding unchanged)");
        Assert.Throws<ArgumentOutOfRangeException>(() => Dropout.Apply(x.Ptr, cols - 1, mask.Ptr, rows, cols));
    }

    [Fact]
    public void DropPathScales()
    {
        const int batch = 4000;
        var rng = new Rng(3);
        using FloatTensor s = new(batch);
        DropPath.FillScales(s.Ptr, batch, 0.1f, ref rng);
        var v = s.ToDoubles();
        Assert.All(v, x => Assert.True(x == 0 || Math.Abs(x - 1 / 0.9) < 1e-6, $"scale {x}"));
        Assert.InRange(v.Count(x => x == 0), 300, 500);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ResidualMatchesReference(bool scaled)
    {
        const int batch = 3, per = 7 * 13;
        var rng = new Rng(scaled ? 2UL : 1UL);
        var input = Random(ref rng, batch * per);
        var branch = Random(ref rng, batch * per);
        var dout = Random(ref rng, batch * per);
        double[]? scale = scaled ? [0, 1 / 0.8f, 1 / 0.8f] : null;
        var output = new double[batch * per];
        var dbranch = new double[batch * per];
        Residual.ReferenceForward(output, input, branch, scale, batch, per);
        Residual.ReferenceBackward(dbranch, dout, scale, batch, per);
        using FloatTensor fi = new(input), fb = new(branch), fs = new(scale ?? [0]), fo = new(batch * per), fdo = new(dout), fdb = new(batch * per);
        fdb.Fill(9);
        var sp = scaled ? fs.Ptr : TensorPtr.Null;
        Residual.Forward(fo.Ptr, fi.Ptr, fb.Ptr, sp, batch, per);
        Residual.Backward(fdb.Ptr, fdo.Ptr, sp, batch, per);
        AssertClose(output, fo, 1e-6, 1e-7, "output");
        AssertClose(dbranch, fdb, 1e-6, 1e-7, "dbranch");
        // In place: output aliases input.
        Residual.Forward(fi.Ptr, fi.Ptr, fb.Ptr, sp, batch, per);
        AssertClose(output, fi, 1e-6, 1e-7, "output in place");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ResidualReferenceGradient(bool scaled)
    {
        const int batch = 2, per = 5;
        var rng = new Rng(9);
        var input = Random(ref rng, batch * per);
        var branch = Random(ref rng, batch * per);
        var r = Random(ref rng, batch * per);
        double[]? scale = scaled ? [0, 1.25] : null;
        double[] Run() { var o = new double[batch * per]; Residual.ReferenceForward(o, input, branch, scale, batch, per); return o; }
        var dbranch = new double[batch * per];
        Residual.ReferenceBackward(dbranch, r, scale, batch, per);
        CheckGradient(branch, Run, r, dbranch, "branch");
        CheckGradient(input, Run, r, r, "input (identity)");
    }

    [Fact]
    public void FillZeroAndCopy()
    {
        var rng = new Rng(5);
        var a = Random(ref rng, 1001);
        using FloatTensor src = new(a), dst = new(1001);
        Fill.Copy(dst.Ptr, src.Ptr, 1001);
        AssertClose(a, dst, 0, 0, "copy");
        Fill.Zero(dst.Ptr + 1, 999);
        var d = dst.ToDoubles();
        Assert.Equal(a[0], d[0]);
        Assert.Equal(a[1000], d[1000]);
        for (int i = 1; i < 1000; i++) Assert.Equal(0.0, d[i]);
    }
}
