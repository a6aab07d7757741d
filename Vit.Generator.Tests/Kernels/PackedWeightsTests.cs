using Vit.Backends.Cpu;
using Vit.Numerics;
using Xunit;

namespace Vit.Tests.Kernels;

/// <summary>
/// The fp32 inference weights packed once (<see cref="Gemm.PackB"/>, <see cref="PackedWeights"/>):
/// the products are bit for bit those of <see cref="Gemm.Multiply"/>, the model's outputs are bit
/// for bit those of packing on every call, and the packed copies follow the parameters.
/// </summary>
public sealed unsafe class PackedWeightsTests
{
    private static float[] Random(ref Rng rng, int length)
    {
        var x = new float[length];
        for (int i = 0; i < length; i++) x[i] = (float)rng.NextNormal();
        return x;
    }

    [Theory]
    [InlineData(1, 1, 1, false, false)]
    [InlineData(197, 70, 33, true, false)]   // a partial last panel
    [InlineData(13, 96, 700, false, true)]   // several K blocks
    [InlineData(301, 1000, 64, true, true)]
    [InlineData(1576, 64, 300, true, false)] // many row blocks
    public void A_packed_weight_gives_the_same_bits_as_packing_on_every_call(int m, int n, int k, bool bias, bool accumulate)
    {
        var rng = new Rng((ulong)(m + 31 * n + 7 * k));
        var x = Random(ref rng, m * (k + 5)); // rows k + 5 floats apart
        var w = Random(ref rng, n * k);      // (n, k): x·wᵀ
        var b = Random(ref rng, n);
        var c0 = Random(ref rng, m * n);
        var expected = (float[])c0.Clone();
        var actual = (float[])c0.Clone();
        var geluExpected = new float[m * n];
        var geluActual = new float[m * n];
        var preExpected = new float[m * n];
        var preActual = new float[m * n];
        fixed (float* px = x, pw = w, pb = b, pe = expected, pa = actual, ge = geluExpected, ga = geluActual, qe = preExpected, qa = preActual)
        {
            Gemm.Multiply(pe, n, px, k + 5, 1, pw, 1, k, m, n, k, bias ? pb : null, accumulate);
            Gemm.MultiplyGelu(ge, n, qe, n, px, k + 5, 1, pw, 1, k, m, n, k, bias ? pb : null);
            using var packed = Gemm.PackB(pw, 1, k, n, k);
            Gemm.MultiplyPacked(pa, n, px, k + 5, 1, packed, m, bias ? pb : null, accumulate);
            Gemm.MultiplyPacked(qa, n, px, k + 5, 1, packed, m, bias ? pb : null, accumulate: false, ga, n);
        }
        Assert.Equal(expected, actual);
        Assert.Equal(preExpected, preActual);
        Assert.Equal(geluExpected, geluActual);
    }

    private static float[] Logits(Vit.Tests.Training.SmallCifarPlain model, float[] images, int batch)
    {
        var logits = new float[batch * 10];
        model.Forward(images, batch, logits);
        return logits;
    }

    [Fact]
    public void Model_outputs_are_bit_for_bit_those_of_packing_on_every_call_and_follow_the_parameters()
    {
        const int batch = 3;
        using var model = new Vit.Tests.Training.SmallCifarPlain(seed: 4, maxBatch: batch);
        model.Memory.KeepPackedWeights = true;
        var rng = new Rng(8);
        var images = Random(ref rng, batch * 3 * 32 * 32);
        PackedWeights.Disabled = true;
        float[] unpacked, unpackedAfter;
        try
        {
            unpacked = Logits(model, images, batch);
        }
        finally
        {
            PackedWeights.Disabled = false;
        }
        var first = Logits(model, images, batch);  // packs
        var second = Logits(model, images, batch); // reuses
        Assert.Equal(unpacked, first);
        Assert.Equal(unpacked, second);
        Assert.True(model.Memory.PackedWeightsIfAny!.Floats > 0);

        model.Parameter("blocks.1.mlp.fc2.weight")[3] += 0.25f; // a write through Parameter changes the version
        var after = Logits(model, images, batch);
        PackedWeights.Disabled = true;
        try
        {
            unpackedAfter = Logits(model, images, batch);
        }
        finally
        {
            PackedWeights.Disabled = false;
        }
        Assert.NotEqual(first, after);
        Assert.Equal(unpackedAfter, after);

        // An optimizer step changes the version: the next Forward repacks in place (no new copies)
        // and gives the unpacked path's bits.
        long floats = model.Memory.PackedWeightsIfAny!.Floats, packs = model.Memory.PackedWeightsIfAny.Packs;
        using var optimizer = Vit.Training.Optimizer.Create(model.Memory, new Vit.Training.OptimizerOptions());
        model.ForwardBackward(images, [1, 2, 3], batch);
        optimizer.Step(1e-2);
        var stepped = Logits(model, images, batch);
        Assert.Equal(floats, model.Memory.PackedWeightsIfAny.Floats);
        Assert.True(model.Memory.PackedWeightsIfAny.Packs > packs);
        PackedWeights.Disabled = true;
        try
        {
            Assert.Equal(Logits(model, images, batch), stepped);
        }
        finally
        {
            PackedWeights.Disabled = false;
        }
    }

    [Fact]
    public void Off_by_default_so_writes_through_a_kept_span_are_seen()
    {
        const int batch = 2;
        using var model = new Vit.Tests.Training.SmallCifarPlain(seed: 4, maxBatch: batch);
        var rng = new Rng(9);
        var images = Random(ref rng, batch * 3 * 32 * 32);
        var w = model.Parameter("blocks.0.attn.qkv.weight"); // kept, then written twice
        var before = Logits(model, images, batch);
        w[5] += 0.5f;
        var after = Logits(model, images, batch);
        Assert.NotEqual(before, after);
        Assert.Null(model.Memory.PackedWeightsIfAny);
    }

    [Fact]
    public void Steady_state_inference_with_packed_weights_allocates_nothing_and_alternates_with_training()
    {
        const int batch = 2;
        using var model = new Vit.Tests.Training.SmallCifarPlain(seed: 4, maxBatch: batch);
        model.Memory.KeepPackedWeights = true;
        using var optimizer = Vit.Training.Optimizer.Create(model.Memory, new Vit.Training.OptimizerOptions());
        var rng = new Rng(10);
        var images = Random(ref rng, batch * 3 * 32 * 32);
        var logits = new float[batch * 10];
        int[] labels = [1, 2];
        void Cycle()
        {
            model.ZeroGradients();
            model.ForwardBackward(images, labels, batch);
            optimizer.Step(1e-3);
            model.Forward(images, batch, logits); // repacks every weight in place
        }
        var result = SteadyState.Allocation(Cycle, () => GC.GetAllocatedBytesForCurrentThread() + WorkerPool.Shared.WorkerAllocatedBytes, window: 3, confirm: 10, maxWindows: 60);
        Assert.True(result.Quiet && result.ConfirmedBytes == 0, $"train + step + packed inference cycles allocate: {result}");
    }
}
