using Vit.Backends.Device;
using Vit.Memory;

namespace Vit.Backends.OpenCL;

/// <summary>
/// The device API on OpenCL, for one model: buffers from the device's context, blocking copies
/// on its in-order queue, the <c>fill</c> kernel, <c>clFinish</c>. After every blocking copy the
/// queue has drained, so the model's kernel objects (<see cref="KernelRing"/>) can be reused.
/// </summary>
internal sealed unsafe class ClDeviceApi : DeviceApi
{
    private ClDeviceApi(ClContext context, ClProgram program)
    {
        Context = context;
        Program = program;
        FillKernel = new KernelRing(program, "fill");
    }

    /// <summary>The API for a model of <paramref name="memory"/>'s shape on <paramref name="backend"/>: compiles (or reuses) its program.</summary>
    public static ClDeviceApi For(OpenCLBackend backend, ModelMemory memory)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(memory);
        return new ClDeviceApi(backend.Context, backend.Program(memory.Layout.Config));
    }

    public ClContext Context { get; }

    /// <summary>The model's program (the kernels built for its shape).</summary>
    public ClProgram Program { get; }

    public KernelRing FillKernel { get; }

    /// <summary>Every kernel ring of the model, rewound when the queue drains.</summary>
    public KernelRing[] Rings { get; set; } = [];

    public override DeviceBuffer Allocate(long bytes) => Context.CreateBuffer(bytes);

    public override void Write(DeviceBuffer buffer, long byteOffset, void* source, long bytes)
    {
        Context.Write((ClBuffer)buffer, byteOffset, source, bytes, blocking: true);
        Drained();
    }

    public override void Read(DeviceBuffer buffer, long byteOffset, void* destination, long bytes)
    {
        Context.Read((ClBuffer)buffer, byteOffset, destination, bytes, blocking: true);
        Drained();
    }

    public override void Zero(DevicePtr x, long count)
    {
        if (count <= 0) return;
        var k = FillKernel.Take();
        k.SetArg(0, (ClBuffer?)x.Buffer);
        k.SetArg(1, x.Offset);
        k.SetArg(2, 0f);
        k.SetArg(3, count);
        Context.Launch1D(k, ClModel.RoundUp(count, ClModel.ElementLocal), ClModel.ElementLocal);
    }

    public override void Synchronize()
    {
        Context.Finish();
        Drained();
    }

    private void Drained()
    {
        FillKernel.Rewind();
        foreach (var ring in Rings) ring.Rewind();
    }
}
