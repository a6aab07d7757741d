using System.Runtime.InteropServices;

namespace Vit.Memory;

/// <summary>
/// Native allocations for large tensors, on 2 MiB transparent huge pages where Linux grants them.
/// </summary>
/// <remarks>
/// With 4 KiB pages the physical address bits above 12 pick the L2 set of each line, so where a
/// strided operand (rows 3 or 12 KiB apart) lands in L2 changes from run to run, and a K block of
/// such rows spans hundreds of pages. A block of 2 MiB or more is therefore aligned to 2 MiB and
/// marked <c>MADV_HUGEPAGE</c> before its first touch (which works with the kernel's default
/// <c>transparent_hugepage=madvise</c>). It is only advice: where the kernel says no, or on other
/// systems, the memory is ordinary pages and everything works the same.
/// </remarks>
internal static unsafe partial class HugePages
{
    private const nuint HugePage = 2 * 1024 * 1024;
    private const int MadvHugePage = 14;
    private static bool s_unavailable = !OperatingSystem.IsLinux();

    /// <summary>Allocates <paramref name="bytes"/> (uninitialized), 64-byte aligned, and 2 MiB aligned with huge-page advice when 2 MiB or more.</summary>
    public static void* Allocate(nuint bytes)
    {
        if (bytes < HugePage || s_unavailable) return NativeMemory.AlignedAlloc(bytes, 64);
        nuint rounded = (bytes + HugePage - 1) & ~(HugePage - 1);
        void* p = NativeMemory.AlignedAlloc(rounded, HugePage);
        try { _ = Madvise(p, rounded, MadvHugePage); }
        catch (DllNotFoundException) { s_unavailable = true; }
        catch (EntryPointNotFoundException) { s_unavailable = true; }
        return p;
    }

    /// <summary>Frees what <see cref="Allocate"/> returned.</summary>
    public static void Free(void* p) => NativeMemory.AlignedFree(p);

    [LibraryImport("libc.so.6", EntryPoint = "madvise")]
    private static partial int Madvise(void* address, nuint length, int advice);
}
