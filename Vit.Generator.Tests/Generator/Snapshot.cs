using System.Runtime.CompilerServices;
using System.Text;

namespace Vit.Tests.Generator;

/// <summary>
/// Snapshot testing without Verify (it does not restore here): each generated file is compared
/// with a committed <c>Snapshots/{name}.verified.cs</c>. On a mismatch the new output is written
/// next to it as <c>.received.cs</c> and the test fails with a line diff. Set
/// <c>VIT_ACCEPT_SNAPSHOTS=1</c> to accept the new output instead.
/// </summary>
internal static class Snapshot
{
    public const string AcceptVariable = "VIT_ACCEPT_SNAPSHOTS";

    private static bool Accepting => Environment.GetEnvironmentVariable(AcceptVariable) is "1" or "true";

    public static string Directory([CallerFilePath] string thisFile = "") =>
        Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(thisFile)!)!, "Snapshots");

    /// <summary>
    /// Verifies a set of files produced under one snapshot prefix: every file matches its snapshot,
    /// and no snapshot with that prefix is left without a file.
    /// </summary>
    public static void VerifyAll(string prefix, IReadOnlyList<(string Name, string Content)> files)
    {
        var failures = new List<string>();
        foreach (var (name, content) in files)
        {
            var failure = Compare(prefix + "." + name, content);
            if (failure is not null) failures.Add(failure);
        }
        var expected = files.Select(f => prefix + "." + f.Name + ".verified.cs").ToHashSet(StringComparer.Ordinal);
        foreach (var path in System.IO.Directory.GetFiles(Directory(), prefix + ".*.verified.cs"))
        {
            var file = Path.GetFileName(path);
            if (expected.Contains(file)) continue;
            if (Accepting) File.Delete(path);
            else failures.Add($"{file}: a snapshot exists but the generator no longer produces this file (delete it or set {AcceptVariable}=1).");
        }
        if (failures.Count > 0)
            throw new Xunit.Sdk.XunitException(string.Join("\n\n", failures));
    }

    private static string? Compare(string name, string actual)
    {
        var verified = Path.Combine(Directory(), name + ".verified.cs");
        var received = Path.Combine(Directory(), name + ".received.cs");
        actual = actual.Replace("\r\n", "\n");
        if (File.Exists(verified) && File.ReadAllText(verified).Replace("\r\n", "\n") == actual)
        {
            if (File.Exists(received)) File.Delete(received);
            return null;
        }
        if (Accepting)
        {
            File.WriteAllText(verified, actual);
            if (File.Exists(received)) File.Delete(received);
            return null;
        }
        File.WriteAllText(received, actual);
        if (!File.Exists(verified))
            return $"{name}: no snapshot yet. Wrote {received}; review it and rerun with {AcceptVariable}=1 to accept.";
        return $"{name}: the generated code differs from the snapshot (wrote {received}; rerun with {AcceptVariable}=1 to accept):\n"
            + Diff(File.ReadAllText(verified).Replace("\r\n", "\n"), actual);
    }

    /// <summary>A short unified-style diff: the first differing region of each side, with context.</summary>
    public static string Diff(string expected, string actual, int maxLines = 30)
    {
        var a = expected.Split('\n');
        var b = actual.Split('\n');
        int start = 0;
        while (start < a.Length && start < b.Length && a[start] == b[start]) start++;
        int endA = a.Length - 1, endB = b.Length - 1;
        while (endA >= start && endB >= start && a[endA] == b[endB]) { endA--; endB--; }
        var sb = new StringBuilder();
        sb.Append($"@@ line {start + 1} @@\n");
        for (int i = Math.Max(0, start - 2); i < start; i++) sb.Append("  ").Append(a[i]).Append('\n');
        int shown = 0;
        for (int i = start; i <= endA && shown < maxLines; i++, shown++) sb.Append("- ").Append(a[i]).Append('\n');
        shown = 0;
        for (int i = start; i <= endB && shown < maxLines; i++, shown++) sb.Append("+ ").Append(b[i]).Append('\n');
        return sb.ToString();
    }
}
