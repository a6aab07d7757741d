using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace Vit.IO;

/// <summary>
/// Whole-file writes that never leave a half-written file in place of a good one: the content
/// goes to a temporary file in the same folder, is flushed to disk, and is renamed over the
/// target. On failure the temporary file is deleted and an existing target is left as it was.
/// Safetensors files, checkpoints, <c>metrics.csv</c> and the plots are all written this way.
/// </summary>
/// <remarks>
/// The temporary name does not contain the target's name: it is <c>.vit-PID-N.tmp</c> (PID and a
/// per-process attempt number N, in hex; at most <see cref="MaxTemporaryNameLength"/> characters),
/// so any name the file system allows for the target also works here. Errors name the target,
/// never the temporary file.
/// </remarks>
public static class AtomicFile
{
    /// <summary>The longest temporary file name: <c>.vit-</c>, 8 hex digits, <c>-</c>, 16 hex digits, <c>.tmp</c>.</summary>
    public const int MaxTemporaryNameLength = 5 + 8 + 1 + 16 + 4;

    private static long s_attempts;

    /// <summary>Replaces <paramref name="path"/> with what <paramref name="write"/> writes to the stream it is given.</summary>
    /// <exception cref="IOException">The file could not be written or renamed; the message names <paramref name="path"/>.</exception>
    /// <exception cref="UnauthorizedAccessException">The folder or the target is not writable; the message names <paramref name="path"/>.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string fullPath = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(fullPath)!;
        string? temp = null; // the name tried last, for the messages
        bool created = false;
        try
        {
            FileStream stream = CreateTemporary(folder, ref temp);
            created = true;
            using (stream)
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, fullPath, overwrite: true);
        }
        catch (Exception e) when (temp is not null || e is IOException or UnauthorizedAccessException)
        {
            if (created)
            {
                try { File.Delete(temp!); } // created: the name is set
                catch (IOException) { } // best effort: the original exception is the one that matters
                catch (UnauthorizedAccessException) { }
            }
            Exception named = NamingTheTarget(e, temp, fullPath);
            if (ReferenceEquals(named, e)) throw;
            throw named;
        }
    }

    /// <summary>Replaces <paramref name="path"/> with <paramref name="text"/> (UTF-8, no byte-order mark).</summary>
    /// <exception cref="IOException">The file could not be written or renamed.</exception>
    public static void WriteAllText(string path, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        byte[] bytes = new UTF8Encoding(false).GetBytes(text);
        Write(path, stream => stream.Write(bytes));
    }

    /// <summary>
    /// The temporary file's name for attempt <paramref name="attempt"/> of process <paramref name="processId"/>:
    /// hidden, short, and independent of the target's name.
    /// </summary>
    public static string TemporaryName(int processId, long attempt) =>
        string.Create(CultureInfo.InvariantCulture, $".vit-{processId:x}-{attempt:x}.tmp");

    /// <summary>
    /// Creates a new temporary file in <paramref name="folder"/>. A name that exists (left by a
    /// killed process whose id was reused) is skipped, never opened.
    /// </summary>
    private static FileStream CreateTemporary(string folder, [NotNull] ref string? temp)
    {
        for (int tries = 0; ; tries++)
        {
            temp = Path.Combine(folder, TemporaryName(Environment.ProcessId, Interlocked.Increment(ref s_attempts)));
            try
            {
                return new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16);
            }
            catch (IOException) when (tries < 100 && File.Exists(temp))
            {
            }
        }
    }

    /// <summary>
    /// <paramref name="e"/> with the temporary file's path in its message replaced by the target's
    /// (.NET names the file it was working on, which is the temporary one); other exceptions, such
    /// as those of the caller's write, as they are.
    /// </summary>
    private static Exception NamingTheTarget(Exception e, string? temp, string target)
    {
        if (temp is null || !e.Message.Contains(temp, StringComparison.Ordinal))
            return (e is IOException or UnauthorizedAccessException) && !e.Message.Contains(target, StringComparison.Ordinal)
                ? Rewrap(e, $"cannot write '{target}': {e.Message}")
                : e;
        return Rewrap(e, e.Message.Replace(temp, target, StringComparison.Ordinal));
    }

    private static Exception Rewrap(Exception e, string message) => e switch
    {
        UnauthorizedAccessException => new UnauthorizedAccessException(message, e),
        IOException => new IOException(message, e) { HResult = e.HResult },
        _ => e,
    };
}
