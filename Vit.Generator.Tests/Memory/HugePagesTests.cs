using Vit.Memory;
using Xunit;

namespace Vit.Tests.Memory;

/// <summary>
/// <see cref="HugePages"/>: large blocks are 2 MiB aligned on Linux (where the huge-page advice
/// applies), small ones 64-byte aligned, and both hold what is written to them. Whether the kernel
/// grants huge pages is up to its settings, so that is not asserted.
/// </summary>
public sealed unsafe class HugePagesTests
{
    [Theory]
    [InlineData(1000L)]
    [InlineData(2L * 1024 * 1024 - 4)]
    [InlineData(2L * 1024 * 1024)]
    [InlineData(5L * 1024 * 1024 + 12)]
    public void Blocks_are_aligned_and_usable(long bytes)
    {
        var p = (float*)HugePages.Allocate((nuint)bytes);
        try
        {
            Assert.True(p != null);
            long alignment = OperatingSystem.IsLinux() && bytes >= 2 * 1024 * 1024 ? 2 * 1024 * 1024 : 64;
            Assert.Equal(0, (long)p % alignment);
            long floats = bytes / sizeof(float);
            for (long i = 0; i < floats; i += 997) p[i] = i;
            p[floats - 1] = -1;
            for (long i = 0; i < floats - 1; i += 997) Assert.Equal((float)i, p[i]);
            Assert.Equal(-1f, p[floats - 1]);
        }
        finally { HugePages.Free(p); }
    }

    [Fact]
    public void A_native_buffer_of_many_floats_starts_zeroed_on_a_2_MiB_boundary_on_Linux()
    {
        using var buffer = new NativeBuffer(3 * 1024 * 1024);
        if (OperatingSystem.IsLinux()) Assert.Equal(0, (long)buffer.Start.Pointer % (2 * 1024 * 1024));
        var span = buffer.Slice(buffer.Length - 1000, 1000);
        Assert.True(span.IndexOfAnyExcept(0f) < 0);
    }
}
