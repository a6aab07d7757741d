using Xunit;
using Xunit.Abstractions;

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
public sealed class AllocationTests(ITestOutputHelper log)
{
    /// <summary>
    /// Forward and ForwardBackward allocate no managed memory on any thread once warm:
    /// <see cref="SteadyState.Allocation"/> runs windows of three steps (no sleeping) until one
    /// allocates nothing, then 40 more steps (CifarVit, ~0.1 s each before tier-up) or 100
    /// (TinyRegularized, ~8 ms) must allocate nothing. That takes every method past the JIT's
    /// tier-up threshold (30 calls) and, at these step times, past the background tier-up (100 ms
    /// later) too, so both the first and the optimized code are measured. (Measured: the first
    /// window allocates, the second is already quiet.)
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
        var result = SteadyState.Allocation(Step, Allocated, window: 3, confirm: regularized ? 100 : 40, maxWindows: regularized ? 300 : 30);
        log.WriteLine(result.ToString());
        Assert.True(result.Quiet && result.ConfirmedBytes == 0, $"steady-state Forward + ForwardBackward calls allocate: {result}");
    }


    private static long Allocated() => GC.GetAllocatedBytesForCurrentThread() + Vit.Backends.Cpu.WorkerPool.Shared.WorkerAllocatedBytes;
}
