using Vit.Backends;
using Vit.Backends.Cpu;
using Xunit;

namespace Vit.Tests.Kernels;

public unsafe class WorkerPoolTests
{
    private static void Mark(void* context, int begin, int end)
    {
        int* visits = (int*)context;
        for (int i = begin; i < end; i++) Interlocked.Increment(ref visits[i]);
    }

    private static void Throw(void* context, int begin, int end)
    {
        if (begin <= 5 && 5 < end) throw new InvalidOperationException("item 5 failed");
    }

    private static void Nested(void* context, int begin, int end)
    {
        var pool = WorkerPool.Shared;
        int* visits = (int*)context;
        for (int i = begin; i < end; i++) pool.Run(&Mark, visits + i * 10, 10);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void VisitsEveryIndexOnce(int threads)
    {
        using var pool = new WorkerPool(threads);
        Assert.Equal(threads, pool.Threads);
        foreach (int count in new[] { 0, 1, 2, 3, 7, 64, 1000, 4099 })
            for (int rep = 0; rep < 3; rep++)
            {
                var visits = new int[Math.Max(count, 1)];
                fixed (int* v = visits) pool.Run(&Mark, v, count);
                for (int i = 0; i < count; i++)
                    Assert.True(visits[i] == 1, $"threads {threads}, count {count}: index {i} visited {visits[i]} times");
            }
    }

    [Fact]
    public void PropagatesExceptions()
    {
        using var pool = new WorkerPool(3);
        for (int rep = 0; rep < 5; rep++)
        {
            var e = Assert.Throws<InvalidOperationException>(() => pool.Run(&Throw, null, 12));
            Assert.Equal("item 5 failed", e.Message);
        }
        // Still usable afterwards.
        var visits = new int[100];
        fixed (int* v = visits) pool.Run(&Mark, v, 100);
        Assert.All(visits, x => Assert.Equal(1, x));
    }

    [Fact]
    public void NestedRunsInline()
    {
        var visits = new int[40];
        fixed (int* v = visits) WorkerPool.Shared.Run(&Nested, v, 4);
        Assert.All(visits, x => Assert.Equal(1, x));
    }

    [Fact]
    public void TwoPoolsConcurrently()
    {
        using var a = new WorkerPool(2);
        using var b = new WorkerPool(2);
        var va = new int[5000];
        var vb = new int[5000];
        var t = new Thread(() => { for (int i = 0; i < 200; i++) fixed (int* v = va) a.Run(&Mark, v, va.Length); });
        t.Start();
        for (int i = 0; i < 200; i++) fixed (int* v = vb) b.Run(&Mark, v, vb.Length);
        t.Join();
        Assert.All(va, x => Assert.Equal(200, x));
        Assert.All(vb, x => Assert.Equal(200, x));
    }

    [Fact]
    public void RunAllocatesNothing()
    {
        using var pool = new WorkerPool(3);
        var visits = new int[256];
        int runs = 0;
        fixed (int* p = visits)
        {
            nint v = (nint)p; // a lambda cannot capture the pointer itself
            // Until tiered compilation has settled, instrumented code can allocate on this thread; wait
            // for it by running (SteadyState), then 1000 runs must allocate nothing. Counted on this
            // thread and the pool's workers only: the test host's threads allocate meanwhile.
            var result = SteadyState.Allocation(() => { pool.Run(&Mark, (int*)v, visits.Length); runs++; },
                () => GC.GetAllocatedBytesForCurrentThread() + pool.WorkerAllocatedBytes, window: 100, confirm: 1000, maxWindows: 10_000);
            Assert.True(result.Quiet && result.ConfirmedBytes == 0, $"WorkerPool.Run allocates: {result}");
        }
        Assert.All(visits, x => Assert.Equal(runs, x));
    }

    private static void Allocate(void* context, int begin, int end)
    {
        for (int i = begin; i < end; i++) GC.KeepAlive(new byte[1000]);
    }

    [Fact]
    public void WorkerAllocatedBytes_counts_what_the_workers_allocate()
    {
        using var pool = new WorkerPool(3);
        long before = pool.WorkerAllocatedBytes;
        pool.Run(&Allocate, null, 30); // 10 arrays on each of the two workers
        Assert.True(pool.WorkerAllocatedBytes - before >= 20 * 1000, $"workers allocated {pool.WorkerAllocatedBytes - before} bytes by the pool's count");
    }
}
