using Vit.Backends.OpenCL;
using Xunit;

namespace Vit.Tests.OpenCL;

/// <summary>
/// One OpenCL context for the whole test class, on the device <see cref="ClDevices.Select(string?)"/>
/// picks by default. When the machine has no OpenCL loader or no platform, <see cref="SkipReason"/>
/// says so and every test is skipped rather than failed.
/// </summary>
public sealed class ClFixture : IDisposable
{
    public ClFixture()
    {
        try
        {
            Devices = ClDevices.List();
            if (Devices.Count == 0)
            {
                SkipReason = "no OpenCL platform: install pocl-opencl-icd (sudo apt-get install pocl-opencl-icd ocl-icd-libopencl1) or a GPU driver";
                return;
            }
            Context = ClContext.Create(ClDevices.Select(null));
        }
        catch (ClUnavailableException e)
        {
            Devices = [];
            SkipReason = "no OpenCL platform: install pocl-opencl-icd. " + e.Message;
        }
    }

    /// <summary>Every device found; empty when OpenCL is unavailable.</summary>
    public IReadOnlyList<ClDeviceInfo> Devices { get; }

    /// <summary>The shared context; null exactly when <see cref="SkipReason"/> is set.</summary>
    public ClContext? Context { get; }

    /// <summary>Why the tests cannot run here, or null.</summary>
    public string? SkipReason { get; }

    public void Dispose() => Context?.Dispose();
}

/// <summary>
/// The OpenCL layer against the real driver (PoCL on the CPU in CI): device listing and
/// selection, buffer transfers, program builds and their errors, kernel arguments and launches.
/// </summary>
public sealed unsafe class ClBindingTests(ClFixture fixture) : IClassFixture<ClFixture>
{
    private const string Source = """
        __kernel void axpy(__global float* y, __global const float* x, float a, int n)
        {
            int i = get_global_id(0);
            if (i < n) y[i] += a * x[i];
        }

        // Writes 1 when `p` is NULL, else 2 (and p[0] = 7).
        __kernel void null_check(__global float* p, __global int* result)
        {
            if (p == 0) result[0] = 1;
            else { p[0] = 7.0f; result[0] = 2; }
        }

        // out[row * width + col] = row * 1000 + col, for the rows and columns inside the matrix.
        __kernel void index2d(__global float* out, int width, int height)
        {
            int col = get_global_id(0), row = get_global_id(1);
            if (col < width && row < height) out[row * width + col] = row * 1000 + col;
        }

        // One sum per work-group of `x`, through local memory.
        __kernel void group_sum(__global float* sums, __global const float* x, __local float* scratch)
        {
            int l = get_local_id(0), size = get_local_size(0);
            scratch[l] = x[get_global_id(0)];
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int stride = size / 2; stride > 0; stride /= 2)
            {
                if (l < stride) scratch[l] += scratch[l + stride];
                barrier(CLK_LOCAL_MEM_FENCE);
            }
            if (l == 0) sums[get_group_id(0)] = scratch[0];
        }

        // Writes a * 2^k where k comes from a long argument.
        __kernel void scale_long(__global float* out, float a, long k)
        {
            out[0] = a * (float)(1L << k);
        }
        """;

    private ClContext Context
    {
        get
        {
            Skip.If(fixture.SkipReason is not null, fixture.SkipReason);
            return fixture.Context!;
        }
    }

    private ClProgram Build() => Context.BuildProgram(Source, "-cl-std=CL1.2");

    [Fact]
    public void ErrorNames_come_from_cl_h_and_unknown_codes_are_spelled_out()
    {
        Assert.Equal("CL_OUT_OF_RESOURCES", ClException.ErrorName(-5));
        Assert.Equal("CL_INVALID_KERNEL_ARGS", ClException.ErrorName(-52));
        Assert.Equal("CL_PLATFORM_NOT_FOUND_KHR", ClException.ErrorName(-1001));
        Assert.Equal("CL error -1234", ClException.ErrorName(-1234));
        var e = Assert.Throws<ClException>(() => ClException.Check(-30, "clDoSomething"));
        Assert.StartsWith("clDoSomething failed: CL_INVALID_VALUE (-30)", e.Message);
        Assert.Equal(-30, e.ErrorCode);
        ClException.Check(0, "clDoSomething");
    }

    [SkippableFact]
    public void List_finds_devices_with_names()
    {
        _ = Context;
        Assert.NotEmpty(fixture.Devices);
        foreach (var d in fixture.Devices)
        {
            Assert.False(string.IsNullOrWhiteSpace(d.Name));
            Assert.False(string.IsNullOrWhiteSpace(d.PlatformName));
            Assert.StartsWith("OpenCL ", d.Version);
            Assert.True(d.ComputeUnits > 0 && d.GlobalMemoryBytes > 0 && d.MaxAllocationBytes > 0 && d.MaxWorkGroupSize > 0);
            Assert.Equal($"{d.PlatformIndex}:{d.DeviceIndex}", d.Id);
        }
    }

    [SkippableFact]
    public void Select_null_returns_a_listed_available_device()
    {
        _ = Context;
        var d = ClDevices.Select(null);
        Assert.Contains(fixture.Devices, x => x.Id == d.Id && x.Name == d.Name);
        Assert.True(d.Available);
    }

    [SkippableFact]
    public void Select_by_id_and_by_part_of_the_name()
    {
        _ = Context;
        var first = fixture.Devices[0];
        Assert.Equal(first.Id, ClDevices.Select(first.Id).Id);
        if (first.Id == "0:0") Assert.Equal(first.Name, ClDevices.Select("0:0").Name); // platform 0 has a device (always, unless it has none)
        string part = first.Name.Length > 4 ? first.Name[1..^1].ToUpperInvariant() : first.Name;
        Assert.Contains(part, ClDevices.Select(part).Name, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(first.PlatformName, ClDevices.Select(first.PlatformName.ToLowerInvariant()).PlatformName);
    }

    [SkippableFact]
    public void Select_null_follows_the_environment_variable_when_it_is_set()
    {
        _ = Context;
        var last = fixture.Devices[^1];
        Assert.Equal(last.Id, ClDevices.Select(null, last.Id).Id);
        Assert.Equal(ClDevices.Select(null, null).Id, ClDevices.Select(null, " ").Id);
        Assert.Equal(fixture.Devices[0].Id, ClDevices.Select(fixture.Devices[0].Id, last.Id).Id); // a name given wins over the variable
        var e = Assert.Throws<ArgumentException>(() => ClDevices.Select(null, "no-such-device-xyz"));
        Assert.Contains(ClDevices.EnvironmentVariable, e.Message);
        Assert.Contains(last.Describe(), e.Message);
        Assert.Contains("no-such-device-xyz", e.Message);
    }

    [SkippableFact]
    public void Select_unknown_name_throws_with_the_name_and_every_device()
    {
        _ = Context;
        var e = Assert.Throws<ArgumentException>(() => ClDevices.Select("no-such-device-xyz"));
        Assert.Contains("no-such-device-xyz", e.Message);
        foreach (var d in fixture.Devices)
        {
            Assert.Contains(d.Id, e.Message);
            Assert.Contains(d.Name, e.Message);
        }
    }

    [SkippableFact]
    public void Write_then_read_round_trips_including_an_offset()
    {
        using var buffer = Context.CreateBuffer(64 * sizeof(float));
        Assert.Equal(64 * sizeof(float), buffer.Bytes);
        var data = Enumerable.Range(0, 64).Select(i => i * 0.5f).ToArray();
        var part = new[] { -1f, -2f, -3f };
        var back = new float[64];
        fixed (float* d = data) Context.Write(buffer, 0, d, data.Length * sizeof(float));
        fixed (float* p = part) Context.Write(buffer, 10 * sizeof(float), p, part.Length * sizeof(float));
        fixed (float* b = back) Context.Read(buffer, 0, b, back.Length * sizeof(float));
        data[10] = -1f; data[11] = -2f; data[12] = -3f;
        Assert.Equal(data, back);

        var tail = new float[4];
        fixed (float* t = tail) Context.Read(buffer, 60 * sizeof(float), t, tail.Length * sizeof(float));
        Assert.Equal(data[60..], tail);

        Assert.Throws<ArgumentOutOfRangeException>(() =>
        {
            fixed (float* t = tail) Context.Read(buffer, 61 * sizeof(float), t, tail.Length * sizeof(float));
        });
    }

    [SkippableFact]
    public void Fill_sets_a_float_range()
    {
        using var buffer = Context.CreateBuffer(32 * sizeof(float));
        Context.Fill(buffer, 0, buffer.Bytes, 0f);
        Context.Fill(buffer, 4 * sizeof(float), 8 * sizeof(float), 2.5f);
        var back = new float[32];
        fixed (float* b = back) Context.Read(buffer, 0, b, buffer.Bytes);
        for (int i = 0; i < back.Length; i++) Assert.Equal(i is >= 4 and < 12 ? 2.5f : 0f, back[i]);
        Assert.Throws<ArgumentException>(() => Context.Fill(buffer, 2, 8, 1f));
    }

    [SkippableFact]
    public void Copy_moves_a_range_between_buffers()
    {
        using var source = Context.CreateBuffer(16 * sizeof(float));
        using var destination = Context.CreateBuffer(16 * sizeof(float));
        var data = Enumerable.Range(1, 16).Select(i => (float)i).ToArray();
        fixed (float* d = data) Context.Write(source, 0, d, source.Bytes);
        Context.Fill(destination, 0, destination.Bytes, -1f);
        Context.Copy(source, 2 * sizeof(float), destination, 8 * sizeof(float), 4 * sizeof(float));
        var back = new float[16];
        fixed (float* b = back) Context.Read(destination, 0, b, destination.Bytes);
        for (int i = 0; i < 16; i++) Assert.Equal(i is >= 8 and < 12 ? data[i - 6] : -1f, back[i]);
    }

    [SkippableFact]
    public void Empty_buffers_are_allowed_and_double_dispose_is_safe()
    {
        using (var empty = Context.CreateBuffer(0))
        {
            Assert.Equal(0, empty.Bytes);
            Context.Fill(empty, 0, 0, 1f);
        }
        var buffer = Context.CreateBuffer(16);
        buffer.Dispose();
        buffer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => Context.Fill(buffer, 0, 16, 1f));
    }

    [SkippableFact]
    public void Axpy_runs_with_the_global_size_rounded_up_to_the_local_size()
    {
        const int n = 1000, local = 64;
        long global = (n + local - 1) / local * local;
        using var program = Build();
        Assert.Equal("-cl-std=CL1.2", program.Options);
        using var kernel = program.CreateKernel("axpy");
        Assert.Equal("axpy", kernel.Name);
        Assert.True(kernel.MaxWorkGroupSize >= local, $"max work-group size {kernel.MaxWorkGroupSize}");
        using var y = Context.CreateBuffer(n * sizeof(float));
        using var x = Context.CreateBuffer(n * sizeof(float));
        var xs = Enumerable.Range(0, n).Select(i => (float)i).ToArray();
        var ys = Enumerable.Range(0, n).Select(i => 1f - i).ToArray();
        fixed (float* p = xs) Context.Write(x, 0, p, x.Bytes);
        fixed (float* p = ys) Context.Write(y, 0, p, y.Bytes);
        kernel.SetArg(0, y);
        kernel.SetArg(1, x);
        kernel.SetArg(2, 3f);
        kernel.SetArg(3, n);
        Context.Launch1D(kernel, global, local);
        Context.Finish();
        var back = new float[n];
        fixed (float* p = back) Context.Read(y, 0, p, y.Bytes);
        for (int i = 0; i < n; i++) Assert.Equal(1f - i + 3f * i, back[i]);

        var e = Assert.Throws<ArgumentException>(() => Context.Launch1D(kernel, n, local));
        Assert.Contains("axpy", e.Message);
    }

    [SkippableFact]
    public void Setting_arguments_and_launching_allocate_no_managed_memory()
    {
        const int n = 256;
        using var program = Build();
        using var kernel = program.CreateKernel("axpy");
        using var y = Context.CreateBuffer(n * sizeof(float));
        using var x = Context.CreateBuffer(n * sizeof(float));
        Context.Fill(x, 0, x.Bytes, 1f);
        Context.Fill(y, 0, y.Bytes, 0f);
        void Step()
        {
            kernel.SetArg(0, y);
            kernel.SetArg(1, x);
            kernel.SetArg(2, 0.5f);
            kernel.SetArg(3, n);
            Context.Launch1D(kernel, n, 64);
            nuint* global = stackalloc nuint[] { n };
            nuint* local = stackalloc nuint[] { 32 };
            Context.Launch(kernel, new ReadOnlySpan<nuint>(global, 1), new ReadOnlySpan<nuint>(local, 1));
        }
        Step(); // warm-up: first calls resolve the native entry points
        Context.Finish();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) Step();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Context.Finish();
        Assert.Equal(0, allocated);
        float first;
        Context.Read(y, 0, &first, sizeof(float));
        Assert.Equal(11f, first); // 22 launches of += 0.5
    }

    [SkippableFact]
    public void Launch2D_covers_rows_and_columns()
    {
        const int width = 13, height = 7;
        using var program = Build();
        using var kernel = program.CreateKernel("index2d");
        using var output = Context.CreateBuffer(width * height * sizeof(float));
        kernel.SetArg(0, output);
        kernel.SetArg(1, width);
        kernel.SetArg(2, height);
        Context.Launch2D(kernel, 16, 8, 8, 4);
        var back = new float[width * height];
        fixed (float* p = back) Context.Read(output, 0, p, output.Bytes);
        for (int row = 0; row < height; row++)
            for (int col = 0; col < width; col++)
                Assert.Equal(row * 1000 + col, back[row * width + col]);
    }

    [SkippableFact]
    public void Local_memory_and_long_arguments_reach_the_kernel()
    {
        const int local = 16, groups = 4;
        using var program = Build();
        using var sum = program.CreateKernel("group_sum");
        using var x = Context.CreateBuffer(local * groups * sizeof(float));
        using var sums = Context.CreateBuffer(groups * sizeof(float));
        Context.Fill(x, 0, x.Bytes, 0.5f);
        sum.SetArg(0, sums);
        sum.SetArg(1, x);
        sum.SetLocal(2, local * sizeof(float));
        Context.Launch(sum, [local * groups], [local]);
        var back = new float[groups];
        fixed (float* p = back) Context.Read(sums, 0, p, sums.Bytes);
        Assert.All(back, s => Assert.Equal(local * 0.5f, s));

        using var scale = program.CreateKernel("scale_long");
        scale.SetArg(0, sums);
        scale.SetArg(1, 1.5f);
        scale.SetArg(2, 3L);
        Context.Launch1D(scale, 1, 1);
        float result;
        Context.Read(sums, 0, &result, sizeof(float));
        Assert.Equal(12f, result);
    }

    [SkippableFact]
    public void A_null_buffer_argument_is_a_null_pointer_in_the_kernel()
    {
        using var program = Build();
        using var kernel = program.CreateKernel("null_check");
        using var result = Context.CreateBuffer(sizeof(int));
        using var p = Context.CreateBuffer(sizeof(float));
        kernel.SetArg(0, (ClBuffer?)null);
        kernel.SetArg(1, result);
        Context.Launch1D(kernel, 1, 1);
        int flag;
        Context.Read(result, 0, &flag, sizeof(int));
        Assert.Equal(1, flag);

        kernel.SetArg(0, p);
        Context.Launch1D(kernel, 1, 1);
        float value;
        Context.Read(result, 0, &flag, sizeof(int));
        Context.Read(p, 0, &value, sizeof(float));
        Assert.Equal(2, flag);
        Assert.Equal(7f, value);
    }

    [SkippableFact]
    public void A_syntax_error_throws_ClBuildException_with_the_build_log()
    {
        const string broken = "__kernel void broken(__global float* p) { p[0] = undefined_thing + ; }";
        var e = Assert.Throws<ClBuildException>(() => Context.BuildProgram(broken, "-cl-std=CL1.2 -D TOKENS=197"));
        Assert.Equal(-11, e.ErrorCode);
        Assert.Contains("undefined_thing", e.BuildLog);
        Assert.Contains("undefined_thing", e.Message);
        Assert.Contains("-D TOKENS=197", e.Message);
        Assert.Contains("CL_BUILD_PROGRAM_FAILURE", e.Message);
    }

    [SkippableFact]
    public void CreateKernel_of_a_missing_name_throws_naming_it()
    {
        using var program = Build();
        var e = Assert.Throws<ClException>(() => program.CreateKernel("missing"));
        Assert.Contains("\"missing\"", e.Message);
        Assert.Contains("CL_INVALID_KERNEL_NAME", e.Message);
        Assert.Contains("axpy", e.Message); // the kernels there are
    }

    [SkippableFact]
    public void A_bad_argument_names_the_kernel_and_the_index()
    {
        using var program = Build();
        using var kernel = program.CreateKernel("axpy");
        var e = Assert.Throws<ClException>(() => kernel.SetArg(7, 1));
        Assert.Contains("kernel 'axpy', argument 7", e.Message);
        Assert.Equal(-49, e.ErrorCode); // CL_INVALID_ARG_INDEX
    }
}
