using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Numerics;
using Xunit;
using static Vit.Tests.Kernels.KernelTestSupport;

namespace Vit.Tests.Kernels;

public class LayerScaleTests
{
    // Widths around the vector lengths (16 floats), a ViT width, and one past the kernel's
    // 1024-column block so the gamma gradient is summed in two blocks.
    [Theory]
    [InlineData(5, 1)]
    [InlineData(3, 7)]
    [InlineData(4, 16)]
    [InlineData(6, 17)]
    [InlineData(9, 67)]
    [InlineData(2, 130)]
    [InlineData(11, 768)]
    [InlineData(3, 1030)]
    public void KernelMatchesReference(int rows, int dim)
    {
        var rng = new Rng((ulong)(rows * 10007 + dim));
        int n = rows * dim;
        var x = Random(ref rng, n, 2);
        var gamma = Random(ref rng, dim);
        var dy = Random(ref rng, n);
        var dgamma0 = Random(ref rng, dim); // backward adds to these
        var y = new double[n];
        var dx = new double[n];
        var dgamma = (double[])dgamma0.Clone();
        LayerScale.ReferenceForward(y, x, gamma, rows, dim);
        LayerScale.ReferenceBackward(dx, dgamma, dy, x, gamma, rows, dim);

        using FloatTensor fx = new(x), fg = new(gamma), fy = new(n), fdy = new(dy), fdx = new(n), fdg = new(dgamma0);
        fy.Fill(7);
        fdx.Fill(-3); // overwritten
        LayerScale.Forward(fy.Ptr, fx.Ptr, fg.Ptr, rows, dim);
        LayerScale.Backward(fdx.Ptr, fdg.Ptr, fdy.Ptr, fx.Ptr, fg.Ptr, rows, dim);
        AssertClose(y, fy, 1e-6, 1e-7, "y");
        AssertClose(dx, fdx, 1e-6, 1e-7, "dx");
        AssertClose(dgamma, fdg, 1e-5, 1e-6, "dgamma (accumulated)");

        // In place: y over x, and dx over dy (dgamma must be computed from dy before it is overwritten).
        using FloatTensor gx = new(x), gdy = new(dy), gdg = new(dgamma0);
        LayerScale.Forward(gx.Ptr, gx.Ptr, fg.Ptr, rows, dim);
        AssertClose(y, gx, 1e-6, 1e-7, "y in place");
        LayerScale.Backward(gdy.Ptr, gdg.Ptr, gdy.Ptr, fx.Ptr, fg.Ptr, rows, dim);
        AssertClose(dx, gdy, 1e-6, 1e-7, "dx in place");
        AssertClose(dgamma, gdg, 1e-5, 1e-6, "dgamma with dx in place");
    }

    [Fact]
    public void ReferenceInPlaceMatchesOutOfPlace()
    {
        const int rows = 4, dim = 5;
        var rng = new Rng(17);
        var x = Random(ref rng, rows * dim);
        var gamma = Random(ref rng, dim);
        var dy = Random(ref rng, rows * dim);
        var y = new double[rows * dim];
        var dx = new double[rows * dim];
        var dgamma = new double[dim];
        LayerScale.ReferenceForward(y, x, gamma, rows, dim);
        LayerScale.ReferenceBackward(dx, dgamma, dy, x, gamma, rows, dim);
        var xi = (double[])x.Clone();
        LayerScale.ReferenceForward(xi, xi, gamma, rows, dim);
        Assert.Equal(y, xi);
        var dyi = (double[])dy.Clone();
        var dgammai = new double[dim];
        LayerScale.ReferenceBackward(dyi, dgammai, dyi, x, gamma, rows, dim);
        Assert.Equal(dx, dyi);
        Assert.Equal(dgamma, dgammai);
    }

    // The gamma gradient is a sum over rows in a fixed order: bit for bit the same on every run.
    [Fact]
    public void GammaGradientIsDeterministic()
    {
        const int rows = 197 * 3, dim = 67;
        var rng = new Rng(23);
        using FloatTensor x = new(Random(ref rng, rows * dim)), g = new(Random(ref rng, dim)), dy = new(Random(ref rng, rows * dim)),
            dx = new(rows * dim), first = new(dim), second = new(dim);
        LayerScale.Backward(dx.Ptr, first.Ptr, dy.Ptr, x.Ptr, g.Ptr, rows, dim);
        for (int run = 0; run < 3; run++)
        {
            second.Fill(0);
            LayerScale.Backward(dx.Ptr, second.Ptr, dy.Ptr, x.Ptr, g.Ptr, rows, dim);
            Assert.Equal(first.Span.ToArray(), second.Span.ToArray());
        }
    }

    // L = Σ r ⊙ y: the reference backward against central differences of the reference forward,
    // for x and gamma; dgamma starts at nonzero values, so what the backward added is compared.
    [Fact]
    public void ReferenceGradients()
    {
        const int rows = 3, dim = 7;
        var rng = new Rng(29);
        var x = Random(ref rng, rows * dim, 1.5);
        var gamma = Random(ref rng, dim);
        var r = Random(ref rng, rows * dim);
        var dgamma0 = Random(ref rng, dim);
        double[] Run() { var y = new double[rows * dim]; LayerScale.ReferenceForward(y, x, gamma, rows, dim); return y; }
        var dx = new double[rows * dim];
        var dgamma = (double[])dgamma0.Clone();
        LayerScale.ReferenceBackward(dx, dgamma, r, x, gamma, rows, dim);
        CheckGradient(x, Run, r, dx, "x");
        CheckGradient(gamma, Run, r, Added(dgamma, dgamma0), "gamma (accumulated)");
    }

    // The float kernel's gradients against central differences of the reference forward.
    [Fact]
    public void KernelGradientsMatchFiniteDifferences()
    {
        const int rows = 6, dim = 19;
        var rng = new Rng(31);
        var x = Random(ref rng, rows * dim, 1.5);
        var gamma = Random(ref rng, dim);
        var r = Random(ref rng, rows * dim);
        var dgamma0 = Random(ref rng, dim);
        double[] Run() { var y = new double[rows * dim]; LayerScale.ReferenceForward(y, x, gamma, rows, dim); return y; }
        using FloatTensor fx = new(x), fg = new(gamma), fr = new(r), fdx = new(rows * dim), fdg = new(dgamma0);
        LayerScale.Backward(fdx.Ptr, fdg.Ptr, fr.Ptr, fx.Ptr, fg.Ptr, rows, dim);
        CheckGradient(x, Run, r, fdx.ToDoubles(), "x (kernel)", rtol: 1e-5);
        CheckGradient(gamma, Run, r, Added(fdg.ToDoubles(), dgamma0), "gamma (kernel, accumulated)", rtol: 1e-5);
    }

    private static double[] Added(double[] after, double[] before)
    {
        var d = new double[before.Length];
        for (int i = 0; i < d.Length; i++) d[i] = after[i] - before[i];
        return d;
    }
}
