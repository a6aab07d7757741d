using System.Globalization;
using System.Runtime.InteropServices;

namespace Vit.IO;

/// <summary>
/// Checks of paths given as inputs, so that a folder given for a file (or a file for a folder)
/// is reported as such, not as missing; so that a device, pipe or socket (<c>/dev/zero</c>,
/// <c>/dev/stdin</c>) is refused before it is read; and so that a file read whole is never larger
/// than a stated limit.
/// </summary>
public static unsafe partial class InputPath
{
    /// <summary>Throws unless <paramref name="path"/> is an existing regular file (a symbolic link to one is followed).</summary>
    /// <param name="path">The path given.</param>
    /// <param name="what">What was expected, for the message: <c>image file</c>, <c>weights file</c>.</param>
    /// <param name="missing">The message for a path that does not exist.</param>
    /// <exception cref="IOException">The path is a folder, or a device, pipe or socket.</exception>
    /// <exception cref="FileNotFoundException">Nothing is at the path.</exception>
    public static void RequireFile(string path, string what, string missing)
    {
        if (Directory.Exists(path)) throw new IOException($"{path}: expected {Article(what)} {what}, found a folder");
        if (!File.Exists(path)) throw new FileNotFoundException(missing, path);
        if (SpecialKind(path) is { } kind) throw new IOException($"{path}: expected {Article(what)} {what}, found {kind}; give a regular file");
    }

    /// <summary>Throws unless <paramref name="path"/> is an existing folder.</summary>
    /// <param name="path">The path given.</param>
    /// <param name="what">What the folder should hold, for the message: <c>CIFAR files</c>.</param>
    /// <param name="missing">The message for a path that does not exist.</param>
    /// <exception cref="IOException">The path is a file.</exception>
    /// <exception cref="DirectoryNotFoundException">Nothing is at the path.</exception>
    public static void RequireFolder(string path, string what, string missing)
    {
        if (File.Exists(path)) throw new IOException($"{path}: expected a folder of {what}, found a file");
        if (!Directory.Exists(path)) throw new DirectoryNotFoundException(missing);
    }

    /// <summary>
    /// Reads a whole regular file of at most <paramref name="maxBytes"/> bytes. The size is checked
    /// before anything is read, and the read stops at the size found then, so a file that grows
    /// while it is read cannot exhaust memory.
    /// </summary>
    /// <param name="path">The path given.</param>
    /// <param name="what">What was expected, for the messages: <c>image file</c>.</param>
    /// <param name="missing">The message for a path that does not exist.</param>
    /// <param name="maxBytes">The largest size accepted.</param>
    /// <exception cref="IOException">The path is not a regular file, is larger than <paramref name="maxBytes"/>, or changed size while it was read.</exception>
    /// <exception cref="FileNotFoundException">Nothing is at the path.</exception>
    public static byte[] ReadAllBytes(string path, string what, string missing, long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        RequireFile(path, what, missing);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        long length = stream.Length;
        if (length > maxBytes || length > Array.MaxLength)
        {
            string exact = length < 1L << 20 ? "" : string.Create(CultureInfo.InvariantCulture, $" ({length:N0} bytes)");
            throw new IOException($"{path}: the {what} is {Size(length)}{exact}; the limit for {Article(what)} {what} is {Size(Math.Min(maxBytes, Array.MaxLength))}");
        }
        var bytes = new byte[length];
        try
        {
            stream.ReadExactly(bytes);
        }
        catch (EndOfStreamException)
        {
            throw new IOException($"{path}: the {what} shrank while it was read (it was {Size(length)})");
        }
        if (stream.ReadByte() != -1) throw new IOException($"{path}: the {what} grew while it was read (it was {Size(length)})");
        return bytes;
    }

    /// <summary>A size as people read it: <c>3,072 bytes</c>, <c>1.5 GiB</c>.</summary>
    public static string Size(long bytes) => bytes switch
    {
        < 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes:N0} bytes"),
        < 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.#} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.##} GiB"),
    };

    /// <summary>
    /// What an existing path that is not a folder is, when it is not a regular file (<c>a character
    /// device</c>, <c>a pipe</c>, …); null for a regular file, or where the kind cannot be found out.
    /// </summary>
    private static string? SpecialKind(string path)
    {
        // .NET reports no file kind, so ask Linux: statx(2) has one layout on every architecture
        // (stx_mode is the 16-bit field at byte 28). Elsewhere the size limits still hold.
        if (!OperatingSystem.IsLinux()) return null;
        const int AtFdCwd = -100;
        const uint StatxType = 0x1;
        byte* buffer = stackalloc byte[256];
        int rc;
        try
        {
            rc = Statx(AtFdCwd, path, 0, StatxType, buffer);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        if (rc != 0) return null; // it vanished, or cannot be examined: opening it reports that
        int mode = *(ushort*)(buffer + 28) & 0xF000;
        return mode switch
        {
            0x8000 or 0x4000 => null, // a regular file; a folder is reported before
            0x2000 => "a character device",
            0x6000 => "a block device",
            0x1000 => "a pipe (FIFO)",
            0xC000 => "a socket",
            _ => "a special file",
        };
    }

    [LibraryImport("libc.so.6", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    private static string Article(string word) => "aeiou".Contains(char.ToLowerInvariant(word[0])) ? "an" : "a";
}
