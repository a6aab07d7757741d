using Vit.Backends;
using Vit.Numerics;
using Xunit;

namespace Vit.Tests.Kernels;

/// <summary>
/// <see cref="ProfiledKernels{TInner, TPtr}"/> through <see cref="Vit.Memory.ModelMemory.Profile"/>:
/// the model computes the same bits with a profile as without, and the profile holds every kernel
/// call of the pass with its shape and FLOPs.
/// </summary>
public sealed class KernelProfileTests
{
    // SmallCifarPlain: 32 px images, patch 8 → 16 patches + the class token = 17 tokens; dim 32,
    // 2 heads of 16, MLP 64, depth 2, 10 classes.
    private const int Batch = 3, Tokens = 17, Dim = 32, Mlp = 64, Depth = 2;

    private static float[] Images(int batch)
    {
        var rng = new Rng(5);
        var x = new float[batch * 3 * 32 * 32];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextNormal();
        return x;
    }

    private static KernelTiming Entry(KernelProfile profile, string kernel, string shape)
    {
        var found = profile.Entries.Where(e => e.Kernel == kernel && e.Shape == shape).ToArray();
        Assert.True(found.Length == 1, $"expected one {kernel} at {shape}; the profile has: {string.Join("; ", profile.Entries.Select(e => $"{e.Kernel} {e.Shape}"))}");
        return found[0];
    }

    [Fact]
    public void A_profiled_forward_gives_the_same_bits_and_records_every_kernel_with_its_shape_and_flops()
    {
        using var model = new Vit.Tests.Training.SmallCifarPlain(seed: 2, maxBatch: Batch);
        var images = Images(Batch);
        var plain = new float[Batch * 10];
        model.Forward(images, Batch, plain);

        var profile = new KernelProfile();
        model.Memory.Profile = profile;
        var profiled = new float[Batch * 10];
        model.Forward(images, Batch, profiled);
        model.Forward(images, Batch, profiled);
        model.Memory.Profile = null;
        Assert.Equal(plain, profiled);

        int rows = Batch * Tokens;
        var qkv = Entry(profile, "LinearForward", $"{rows} × {Dim} → {3 * Dim}");
        Assert.Equal(2 * Depth, qkv.Calls);
        Assert.Equal(2 * Depth * 2.0 * rows * Dim * 3 * Dim, qkv.Flops);
        Assert.Equal(2 * Depth, Entry(profile, "LinearForwardGelu", $"{rows} × {Dim} → {Mlp}").Calls);
        Assert.Equal(2 * Depth, Entry(profile, "LinearForwardResidual", $"{rows} × {Mlp} → {Dim}").Calls);
        Assert.Equal(2 * Depth, Entry(profile, "LinearForwardResidual", $"{rows} × {Dim} → {Dim}").Calls);
        var attention = Entry(profile, "AttentionForward", $"{Batch} × 2 heads × {Tokens} tokens × 16");
        Assert.Equal(2 * Depth * 4.0 * Batch * 2 * Tokens * Tokens * 16, attention.Flops);
        Assert.Equal(2, Entry(profile, "LinearForward", $"{Batch} × {Dim} → 10").Calls); // the head
        Assert.Equal(2, Entry(profile, "PatchEmbeddingForward", $"{Batch} × 3 ch × 32 px, patch 8").Calls);
        Assert.Equal(2 * (2 * Depth), Entry(profile, "LayerNormForward", $"{rows} × {Dim}").Calls);
        Assert.All(profile.Entries, e => Assert.True(e.Seconds > 0, $"{e.Kernel} {e.Shape}: {e.Seconds} s"));
        Assert.Equal(profile.Entries.Sum(e => e.Seconds), profile.TotalSeconds, 9);
        // Longest first.
        Assert.Equal(profile.Entries.OrderByDescending(e => e.Seconds).Select(e => e.Seconds), profile.Entries.Select(e => e.Seconds));
        profile.Clear();
        Assert.Empty(profile.Entries);
    }

    [Fact]
    public void A_profiled_training_step_gives_the_same_loss_and_records_the_backward_kernels()
    {
        using var a = new Vit.Tests.Training.SmallCifarPlain(seed: 2, maxBatch: Batch);
        using var b = new Vit.Tests.Training.SmallCifarPlain(seed: 2, maxBatch: Batch);
        var images = Images(Batch);
        int[] labels = [1, 4, 9];
        float plain = a.ForwardBackward(images, labels, Batch);
        var profile = new KernelProfile();
        b.Memory.Profile = profile;
        float profiled = b.ForwardBackward(images, labels, Batch);
        Assert.Equal(plain, profiled);
        int count = (int)a.Memory.Gradients.Length;
        Assert.Equal(a.Memory.Gradients.Slice(0, count).ToArray(), b.Memory.Gradients.Slice(0, count).ToArray());

        int rows = Batch * Tokens;
        var fc1 = Entry(profile, "LinearBackward", $"{rows} × {Dim} → {Mlp}");
        Assert.Equal(Depth, fc1.Calls);
        Assert.Equal(Depth * 2 * 2.0 * rows * Dim * Mlp, fc1.Flops); // dx = dy·w and dw = dyᵀ·x
        Assert.Equal(Depth, Entry(profile, "AttentionBackward", $"{Batch} × 2 heads × {Tokens} tokens × 16").Calls);
        Assert.Equal(1, Entry(profile, "SoftmaxCrossEntropyForward", $"{Batch} × 10").Calls);
        Assert.Equal(1, Entry(profile, "PatchEmbeddingBackward", $"{Batch} × 3 ch × 32 px, patch 8").Calls);
    }

    [Fact]
    public void The_bench_runner_profiles_the_cpu_backend_only()
    {
        var preset = Vit.Cli.Preset.Find("cifar");
        var result = Vit.Cli.BenchRunner.Run(preset, Backend.Cpu, "forward", batch: 1, threads: 0, TimeSpan.FromMilliseconds(10), optimizerStep: null, profile: true);
        Assert.NotNull(result.Profile);
        Assert.Equal(result.Runs * 6, Entry(result.Profile!, "LinearForward", "65 × 192 → 576").Calls); // qkv in each of the 6 blocks, per timed step
        Assert.True(result.Profile!.TotalSeconds * 1e3 / result.Runs <= result.MeanStepMs * 1.0001);
        Assert.Null(Vit.Cli.BenchRunner.Run(preset, Backend.Cpu, "forward", 1, 0, TimeSpan.FromMilliseconds(10), null).Profile);
    }
}
