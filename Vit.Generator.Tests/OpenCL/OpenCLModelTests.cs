using Vit.Backends;
using Vit.Backends.OpenCL;
using Vit.Numerics;
using Vit.Tests.Device;
using Vit.Tests.Model;
using Vit.Tests.Training;
using Vit.Training;
using Xunit;

namespace Vit.Tests.OpenCL;

/// <summary>
/// The default OpenCL backend for the model tests, or the reason there is none (no loader, no
/// platform), in which case every test is skipped with that reason.
/// </summary>
public sealed class OpenCLBackendFixture
{
    public OpenCLBackendFixture()
    {
        try
        {
            Backend = (OpenCLBackend)Vit.Backends.Backend.OpenCL();
        }
        catch (ClUnavailableException e)
        {
            SkipReason = "no OpenCL platform (install pocl-opencl-icd and ocl-icd-libopencl1): " + e.Message;
        }
    }

    public OpenCLBackend? Backend { get; }

    public string? SkipReason { get; }
}

/// <summary>
/// The device parity tests (<see cref="DeviceParityTests"/>) on OpenCL, and what only OpenCL has:
/// programs per shape, device names.
/// </summary>
public sealed class OpenCLModelTests(OpenCLBackendFixture fixture) : DeviceParityTests, IClassFixture<OpenCLBackendFixture>
{
    private OpenCLBackend OpenCL
    {
        get
        {
            Skip.If(fixture.SkipReason is not null, fixture.SkipReason);
            return fixture.Backend!;
        }
    }

    /// <inheritdoc/>
    protected override Backend Device => OpenCL;

    /// <inheritdoc/>
    protected override (int Allocations, int Kernels) SteadyStateCounters(IVisionTransformer model)
    {
        var cl = (ClModel)model.Memory.Device!;
        return (cl.Allocations, cl.KernelObjects);
    }

    [SkippableFact]
    public void Programs_are_compiled_once_per_model_shape()
    {
        var backend = OpenCL;
        using var first = new TinyToken(1, 1, backend);
        int programs = backend.ProgramCount;
        using var second = new TinyToken(2, 1, backend);
        Assert.Equal(programs, backend.ProgramCount);
        Assert.Contains("-D TOKENS=5", OpenCLBackend.BuildOptions(TinyToken.Config));
        Assert.Contains("-D HEAD_DIM=8", OpenCLBackend.BuildOptions(TinyToken.Config));
    }

    [SkippableFact]
    public void An_unknown_device_name_lists_the_devices()
    {
        _ = OpenCL;
        var e = Assert.Throws<ArgumentException>(() => Backend.OpenCL("no-such-gpu-0xyz"));
        Assert.Contains("no-such-gpu-0xyz", e.Message);
        Assert.Contains(ClDevices.List()[0].Name, e.Message);
    }

    [Fact]
    public void Backend_names_parse_and_bad_ones_are_reported()
    {
        Assert.Same(Backend.Cpu, Backend.Parse("cpu"));
        Assert.Contains("Unknown backend 'cuda'", Assert.Throws<ArgumentException>(() => Backend.Parse("cuda")).Message);
        Assert.Contains("--device applies to --backend opencl", Assert.Throws<ArgumentException>(() => Backend.Parse("cpu", "0:0")).Message);
    }
}
