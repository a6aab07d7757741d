using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Numerics;
using Xunit;
using static Vit.Tests.Kernels.KernelTestSupport;

namespace Vit.Tests.Kernels;

public class SoftmaxCrossEntropyTests
{
    [Fact]
    public void MatchesReference()
    {
        const int batch = 11, k = 17;
        var rng = new Rng(1);
        var logits = Random(ref rng, batch * k, 30); // large logits: needs the stable log-sum-exp
        var labels = new int[batch];
        for (int i = 0; i < batch; i++) labels[i] = rng.NextInt(k);
        var probs = new double[batch * k];
        double loss = SoftmaxCrossEntropy.ReferenceForward(probs, logits, labels, batch, k);
        var dl = new double[batch * k];
        SoftmaxCrossEntropy.ReferenceBackward(dl, probs, labels, batch, k);
        using FloatTensor fl = new(logits), fp = new(batch * k), fd = new(batch * k);
        fd.Fill(3);
        float fLoss = SoftmaxCrossEntropy.Forward<D17>(fp.Ptr, fl.Ptr, labels, batch);
        SoftmaxCrossEntropy.Backward<D17>(fd.Ptr, fp.Ptr, labels, batch);
        Assert.True(Math.Abs(fLoss - loss) <= 1e-5 * Math.Abs(loss) + 1e-6, $"loss {fLoss} vs {loss}");
        AssertClose(probs, fp, 1e-5, 1e-6, "probs");
        AssertClose(dl, fd, 1e-5, 1e-6, "dlogits");
    }

    [Fact]
    public void ReferenceGradient()
    {
        const int batch = 3, k = 5;
        var rng = new Rng(2);
        var logits = Random(ref rng, batch * k, 3);
        int[] labels = [4, 0, 2];
        var probs = new double[batch * k];
        SoftmaxCrossEntropy.ReferenceForward(probs, logits, labels, batch, k);
        var dl = new double[batch * k];
        SoftmaxCrossEntropy.ReferenceBackward(dl, probs, labels, batch, k);
        CheckGradient(logits, () => [SoftmaxCrossEntropy.ReferenceForward(new double[batch * k], logits, labels, batch, k)], [1.0], dl, "logits");
    }

    [Fact]
    public void BadLabelIsReported()
    {
        using FloatTensor fl = new(2 * 5), fp = new(2 * 5);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxCrossEntropy.Forward<D5>(fp.Ptr, fl.Ptr, [1, 5], 2));
        Assert.Contains("index 1", e.Message);
        Assert.Contains("is 5", e.Message);
        Assert.Contains("[0, 5)", e.Message);
        var e2 = Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxCrossEntropy.Backward<D5>(fp.Ptr, fp.Ptr, [-1, 0], 2));
        Assert.Contains("index 0", e2.Message);
        Assert.Throws<ArgumentException>(() => SoftmaxCrossEntropy.Forward<D5>(fp.Ptr, fl.Ptr, [1], 2));
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.5)]
    public void LabelSmoothingMatchesReference(double smoothing)
    {
        const int batch = 7, k = 10;
        var rng = new Rng(3);
        var logits = Random(ref rng, batch * k, 4);
        var labels = new int[batch];
        for (int i = 0; i < batch; i++) labels[i] = rng.NextInt(k);
        var probs = new double[batch * k];
        double loss = SoftmaxCrossEntropy.ReferenceForward(probs, logits, labels, batch, k, smoothing);
        double plain = SoftmaxCrossEntropy.ReferenceForward(new double[batch * k], logits, labels, batch, k);
        Assert.NotEqual(plain, loss, 6); // smoothing changes the loss
        var dl = new double[batch * k];
        SoftmaxCrossEntropy.ReferenceBackward(dl, probs, labels, batch, k, smoothing);
        using FloatTensor fl = new(logits), fp = new(batch * k), fd = new(batch * k);
        float fLoss = SoftmaxCrossEntropy.Forward<D10>(fp.Ptr, fl.Ptr, labels, batch, (float)smoothing);
        SoftmaxCrossEntropy.Backward<D10>(fd.Ptr, fp.Ptr, labels, batch, (float)smoothing);
        Assert.True(Math.Abs(fLoss - loss) <= 1e-5 * Math.Abs(loss) + 1e-6, $"loss {fLoss} vs {loss}");
        AssertClose(dl, fd, 1e-5, 1e-6, "dlogits");
        // the reference backward is the derivative of the reference forward
        CheckGradient(logits, () => [SoftmaxCrossEntropy.ReferenceForward(new double[batch * k], logits, labels, batch, k, smoothing)], [1.0], dl, "logits");
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.1)]
    public void A_wider_head_serving_fewer_classes_is_exactly_the_narrower_heads_loss(double smoothing)
    {
        // Rows of 10 logits, 4 classes served: the loss, probabilities and gradients of the first 4 are a 4-way head's; the rest are 0.
        const int batch = 6, width = 10, k = 4;
        var rng = new Rng(8);
        var logits = Random(ref rng, batch * width, 5);
        var labels = new int[batch];
        for (int i = 0; i < batch; i++) labels[i] = rng.NextInt(k);
        var narrow = new double[batch * k];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < k; c++) narrow[b * k + c] = logits[b * width + c];
        var probs = new double[batch * k];
        double loss = SoftmaxCrossEntropy.ReferenceForward(probs, narrow, labels, batch, k, smoothing);
        var dl = new double[batch * k];
        SoftmaxCrossEntropy.ReferenceBackward(dl, probs, labels, batch, k, smoothing);
        using FloatTensor fl = new(logits), fp = new(batch * width), fd = new(batch * width);
        fp.Fill(7);
        fd.Fill(7);
        float fLoss = SoftmaxCrossEntropy.Forward<D10>(fp.Ptr, fl.Ptr, labels, batch, (float)smoothing, active: k);
        SoftmaxCrossEntropy.Backward<D10>(fd.Ptr, fp.Ptr, labels, batch, (float)smoothing, active: k);
        Assert.True(Math.Abs(fLoss - loss) <= 1e-5 * Math.Abs(loss) + 1e-6, $"loss {fLoss} vs {loss}");
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < width; c++)
            {
                int i = b * width + c;
                Assert.Equal(c < k ? probs[b * k + c] : 0, fp.Span[i], 1e-6);
                Assert.Equal(c < k ? dl[b * k + c] : 0, fd.Span[i], 1e-6);
            }
        // A label beyond the served classes is an error, as is serving none or more than the head has.
        Assert.Contains("[0, 4)", Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxCrossEntropy.Forward<D10>(fp.Ptr, fl.Ptr, [4, 0, 0, 0, 0, 0], batch, 0, active: k)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxCrossEntropy.Forward<D10>(fp.Ptr, fl.Ptr, labels, batch, 0, active: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxCrossEntropy.Backward<D10>(fd.Ptr, fp.Ptr, labels, batch, 0, active: 11));
    }

    [Fact]
    public void LabelSmoothingOutOfRangeIsReported()
    {
        using FloatTensor fl = new(2 * 5), fp = new(2 * 5);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxCrossEntropy.Forward<D5>(fp.Ptr, fl.Ptr, [1, 2], 2, 1f));
        Assert.Contains("[0, 1)", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxCrossEntropy.Backward<D5>(fp.Ptr, fp.Ptr, [1, 2], 2, -0.1f));
    }
}
