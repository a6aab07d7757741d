using Vit.IO;
using Xunit;

namespace Vit.Tests.IO;

/// <summary>A run folder is held by one training run at a time; a lock whose holder is gone is taken over.</summary>
public sealed class RunFolderLockTests
{
    [Fact]
    public void A_second_holder_is_refused_with_the_first_named()
    {
        using var folder = new TemporaryFolder();
        using (var first = RunFolderLock.Acquire(folder.FullPath))
        {
            var e = Assert.Throws<RunFolderInUseException>(() => RunFolderLock.Acquire(folder.FullPath));
            Assert.Contains($"is in use by another training run (process {Environment.ProcessId} on ", e.Message);
            Assert.Contains("choose another --out", e.Message);
        }
        // Released: the next run takes it, and the owner file went with the first holder.
        Assert.False(File.Exists(Path.Combine(folder.FullPath, RunFolderLock.OwnerFile)));
        using var again = RunFolderLock.Acquire(folder.FullPath);
        Assert.True(File.Exists(Path.Combine(folder.FullPath, RunFolderLock.OwnerFile)));
    }

    [Fact]
    public void A_lock_left_by_a_process_that_is_gone_is_taken_over()
    {
        using var folder = new TemporaryFolder();
        // What a killed run leaves: both files, and no process holding the lock.
        File.WriteAllText(Path.Combine(folder.FullPath, RunFolderLock.LockFile), "process 999999 on elsewhere\n");
        File.WriteAllText(Path.Combine(folder.FullPath, RunFolderLock.OwnerFile), "process 999999 on elsewhere\n");
        using var taken = RunFolderLock.Acquire(folder.FullPath);
        Assert.Contains($"process {Environment.ProcessId} ", File.ReadAllText(Path.Combine(folder.FullPath, RunFolderLock.OwnerFile)));
    }
}
