namespace Vit.Backends.OpenCL;

/// <summary>
/// The kernel objects of one kernel name, so that no kernel object has its arguments set again
/// while an earlier launch of it may still be queued. The OpenCL specification says arguments are
/// captured at enqueue time; PoCL 3.1's CPU driver corrupted the host heap here when a kernel's
/// arguments were reset before its queued launch ran (gone with a <c>clFinish</c> after each
/// launch). So each launch between two synchronization points takes its own object, and the ring
/// rewinds when the queue has drained (<see cref="Rewind"/>, after every blocking transfer).
/// </summary>
/// <remarks>
/// A step launches the same kernels in the same order every time, so after the first step the
/// ring holds enough objects and a steady-state step creates none.
/// </remarks>
internal sealed class KernelRing : IDisposable
{
    private readonly ClProgram _program;
    private readonly List<ClKernel> _kernels = [];
    private int _next;

    public KernelRing(ClProgram program, string name)
    {
        _program = program;
        Name = name;
        _kernels.Add(program.CreateKernel(name));
    }

    /// <summary>The kernel's name in vit.cl.</summary>
    public string Name { get; }

    /// <summary>CL_KERNEL_WORK_GROUP_SIZE on this device.</summary>
    public long MaxWorkGroupSize => _kernels[0].MaxWorkGroupSize;

    /// <summary>Kernel objects created so far (a steady state adds none).</summary>
    public int Count => _kernels.Count;

    /// <summary>A kernel object no queued launch is using.</summary>
    public ClKernel Take()
    {
        if (_next == _kernels.Count) _kernels.Add(_program.CreateKernel(Name));
        return _kernels[_next++];
    }

    /// <summary>Every earlier launch has completed: the objects can be reused.</summary>
    public void Rewind() => _next = 0;

    public void Dispose()
    {
        foreach (var k in _kernels) k.Dispose();
    }
}
