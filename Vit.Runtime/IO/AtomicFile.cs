using System.Text;

namespace Vit.IO;

/// <summary>
/// Whole-file writes that never leave a half-written file in place of a good one: the content
/// goes to a temporary file in the same folder, is flushed to disk, and is renamed over the
/// target. On failure the temporary file is deleted and an existing target is left as it was.
/// Safetensors files, checkpoints, <c>metrics.csv</c> and the plots are all written this way.
/// </summary>
public static class AtomicFile
{
    /// <summary>Replaces <paramref name="path"/> with what <paramref name="write"/> writes to the stream it is given.</summary>
    /// <exception cref="IOException">The file could not be written or renamed.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string fullPath = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(fullPath)!, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, fullPath, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); }
            catch (IOException) { } // best effort: the original exception is the one that matters
            catch (UnauthorizedAccessException) { }
            throw;
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
}
