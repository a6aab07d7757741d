using System.Globalization;

namespace Vit.IO;

/// <summary>
/// An exclusive lock on a training run's folder, held for the whole run, so that two runs never
/// share (and overwrite) one folder. The lock is an advisory lock on <see cref="LockFile"/>
/// (.NET takes <c>flock</c> for <see cref="FileShare.None"/>), which the system releases when its
/// process ends, however it ends: a lock left by a process that is gone is simply taken over.
/// The holder is named in <see cref="OwnerFile"/> (the locked file itself cannot be read by others).
/// </summary>
public sealed class RunFolderLock : IDisposable
{
    /// <summary>The locked file in the run folder.</summary>
    public const string LockFile = ".vit-train.lock";

    /// <summary>Who holds the lock: process id, machine and start time, one line.</summary>
    public const string OwnerFile = ".vit-train.owner";

    private readonly FileStream _stream;
    private readonly string _owner;

    private RunFolderLock(FileStream stream, string owner)
    {
        _stream = stream;
        _owner = owner;
    }

    /// <summary>Takes the lock on <paramref name="folder"/> (which must exist).</summary>
    /// <exception cref="RunFolderInUseException">Another process holds it; the message names it.</exception>
    public static RunFolderLock Acquire(string folder)
    {
        string path = Path.Combine(folder, LockFile), owner = Path.Combine(folder, OwnerFile);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException) when (File.Exists(path))
        {
            string holder = File.Exists(owner) ? File.ReadAllText(owner).Trim() : "a process that has not named itself yet";
            throw new RunFolderInUseException($"'{folder}' is in use by another training run ({holder}); wait for it to end, or choose another --out");
        }
        var me = System.Diagnostics.Process.GetCurrentProcess();
        string text = string.Create(CultureInfo.InvariantCulture,
            $"process {Environment.ProcessId} on {Environment.MachineName}, started {me.StartTime.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC");
        stream.SetLength(0);
        var bytes = System.Text.Encoding.UTF8.GetBytes(text + "\n");
        stream.Write(bytes);
        stream.Flush();
        AtomicFile.WriteAllText(owner, text + "\n");
        return new RunFolderLock(stream, owner);
    }

    /// <summary>Releases the lock and removes the owner file.</summary>
    public void Dispose()
    {
        try
        {
            File.Delete(_owner);
        }
        catch (IOException)
        {
        }
        _stream.Dispose();
    }
}

/// <summary>The run folder is locked by another training run.</summary>
public sealed class RunFolderInUseException(string message) : IOException(message);
