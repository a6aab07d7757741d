using Xunit;

namespace Vit.Tests.Model;

/// <summary>Tests that measure process-wide state; xunit runs this collection alone, after the parallel ones.</summary>
[CollectionDefinition(nameof(RunsAlone), DisableParallelization = true)]
public sealed class RunsAlone;

/// <summary>
/// No managed allocation in a steady-state Forward or ForwardBackward: counted on the calling
/// thread and on every worker-pool thread (not process-wide: the test host's own threads allocate
/// now and then). Runs alone so the pool is not shared with other tests meanwhile.
/// </summary>
[Collection(nameof(RunsAlone))]
public sealed class AllocationTests
{
    /// <summary>
    /// After warm-up, Forward and ForwardBackward allocate no managed memory on any thread. The
    /// warm-up runs past the JIT's tier-up threshold (30 calls): until then, tiered PGO's
    /// instrumented code allocates, which is the runtime warming up, not the model.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Steady_state_forward_and_training_step_allocate_nothing(bool regularized)
    {
        using IVisionTransformer model = regularized ? new TinyRegularized(seed: 3, maxBatch: 4) : new CifarVit(seed: 3, maxBatch: 2);
        int batch = regularized ? 4 : 2;
        var rng = new Vit.Numerics.Rng(1);
        var images = Enumerable.Range(0, batch * model.Config.Channels * model.Config.ImageSize * model.Config.ImageSize).Select(_ => (float)rng.NextNormal()).ToArray();
        var labels = Enumerable.Range(0, batch).Select(i => i % model.Config.Classes).ToArray();
        var output = new float[batch * model.OutputWidth];
        void Step()
        {
            model.Forward(images, batch, output);
            model.ForwardBackward(images, labels, batch);
            model.ZeroGradients();
        }
        for (int i = 0; i < 40; i++) Step();
        Thread.Sleep(300); // let the background JIT install the optimized code
        Step();
        long before = Allocated();
        for (int i = 0; i < 3; i++) Step();
        long allocated = Allocated() - before;
        Assert.True(allocated == 0, $"3 steady-state Forward + ForwardBackward calls allocated {allocated} managed bytes");
    }


    private static long Allocated() => GC.GetAllocatedBytesForCurrentThread() + Vit.Backends.Cpu.WorkerPool.Shared.WorkerAllocatedBytes;
}
