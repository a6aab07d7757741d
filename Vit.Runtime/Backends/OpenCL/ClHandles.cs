using System.Runtime.InteropServices;

namespace Vit.Backends.OpenCL;

/// <summary>
/// Owns one reference to an OpenCL object and releases it exactly once: on <c>Dispose</c>, or
/// from the finalizer when the owner was never disposed. A null handle is invalid and never
/// released, so a failed create needs no special case.
/// </summary>
/// <remarks>
/// OpenCL objects are reference counted and hold references to what they depend on (a buffer
/// or queue keeps its context alive, a kernel its program), so handles may be released in any
/// order. P/Invoke signatures stay blittable: calls take <see cref="Value"/>, not the SafeHandle.
/// </remarks>
internal abstract class ClHandle : SafeHandle
{
    /// <summary>Takes ownership of <paramref name="handle"/> (one reference, as returned by a <c>clCreate*</c> call).</summary>
    protected ClHandle(nint handle) : base(invalidHandleValue: 0, ownsHandle: true) => SetHandle(handle);

    /// <inheritdoc/>
    public override bool IsInvalid => handle == 0;

    /// <summary>The raw handle for a native call. The caller checks <see cref="SafeHandle.IsClosed"/> first.</summary>
    public nint Value => handle;
}

/// <summary>A <c>cl_context</c>, released with <c>clReleaseContext</c>.</summary>
internal sealed class ClContextHandle(nint value) : ClHandle(value)
{
    /// <inheritdoc/>
    protected override bool ReleaseHandle() => ClNative.clReleaseContext(handle) == 0;
}

/// <summary>A <c>cl_command_queue</c>, released with <c>clReleaseCommandQueue</c> (which flushes what is queued).</summary>
internal sealed class ClQueueHandle(nint value) : ClHandle(value)
{
    /// <inheritdoc/>
    protected override bool ReleaseHandle() => ClNative.clReleaseCommandQueue(handle) == 0;
}

/// <summary>A <c>cl_mem</c> buffer, released with <c>clReleaseMemObject</c>.</summary>
internal sealed class ClMemHandle(nint value) : ClHandle(value)
{
    /// <inheritdoc/>
    protected override bool ReleaseHandle() => ClNative.clReleaseMemObject(handle) == 0;
}

/// <summary>A <c>cl_program</c>, released with <c>clReleaseProgram</c>.</summary>
internal sealed class ClProgramHandle(nint value) : ClHandle(value)
{
    /// <inheritdoc/>
    protected override bool ReleaseHandle() => ClNative.clReleaseProgram(handle) == 0;
}

/// <summary>A <c>cl_kernel</c>, released with <c>clReleaseKernel</c>.</summary>
internal sealed class ClKernelHandle(nint value) : ClHandle(value)
{
    /// <inheritdoc/>
    protected override bool ReleaseHandle() => ClNative.clReleaseKernel(handle) == 0;
}
