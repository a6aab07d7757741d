using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Tests.Model;
using Xunit;

namespace Vit.Tests.Kernels;

/// <summary>The shared pool's thread count: physical cores by default, settable. Replaces the shared pool, so it runs alone.</summary>
[Collection(nameof(RunsAlone))]
public sealed unsafe class WorkerPoolConfigurationTests
{
    private static void Count(void* context, int begin, int end) => Interlocked.Add(ref *(int*)context, end - begin);

    [Fact]
    public void Physical_core_count_is_between_one_and_the_processor_count()
    {
        Assert.InRange(WorkerPool.PhysicalCoreCount, 1, Environment.ProcessorCount);
    }

    [Fact]
    public void Configure_replaces_the_shared_pool_and_the_kernels_use_it()
    {
        int original = WorkerPool.Shared.Threads;
        try
        {
            WorkerPool.Configure(1);
            Assert.Equal(1, WorkerPool.Shared.Threads);
            WorkerPool.Configure(3);
            var pool = WorkerPool.Shared;
            Assert.Equal(3, pool.Threads);
            WorkerPool.Configure(3); // same count: the same pool
            Assert.Same(pool, WorkerPool.Shared);
            int visited = 0;
            WorkerPool.Shared.Run(&Count, &visited, 100);
            Assert.Equal(100, visited);
            Assert.Throws<ArgumentOutOfRangeException>(() => WorkerPool.Configure(0));
        }
        finally { WorkerPool.Configure(original); }
    }
}
