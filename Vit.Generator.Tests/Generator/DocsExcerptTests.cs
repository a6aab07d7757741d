using Xunit;

namespace Vit.Tests.Generator;

/// <summary>
/// The C# excerpts of <c>docs/generated-code.md</c> are copied from the snapshots, and must stay so:
/// every line of every <c>```csharp</c> block, trimmed, is a trimmed line of one of the committed
/// <c>Snapshots/*.verified.cs</c> files. Blank lines and ellipsis markers (<see cref="EllipsisMarkers"/>)
/// are skipped. When the generator's output changes, the first excerpt line it no longer
/// produces is named, with its line number in the document.
/// </summary>
public sealed class DocsExcerptTests
{
    /// <summary>
    /// Lines that stand for lines left out of an excerpt: a line that is only <c>…</c> or only
    /// <c>// …</c> (after trimming). They are the only lines of a <c>csharp</c> block that need
    /// not appear in a snapshot.
    /// </summary>
    public static readonly IReadOnlyList<string> EllipsisMarkers = ["…", "// …"];

    private static string DocumentPath => Path.GetFullPath(Path.Combine(Snapshot.Directory(), "..", "..", "docs", "generated-code.md"));

    [Fact]
    public void Generated_code_excerpts_are_lines_of_the_snapshots()
    {
        var markdown = File.ReadAllText(DocumentPath);
        var (blocks, checkedLines, missing) = Check(markdown, SnapshotLines());
        if (missing is { } m)
            Assert.Fail($"{DocumentPath}:{m.Line}: this excerpt line is in no snapshot (Snapshots/*.verified.cs); copy the current text from the snapshot:\n{m.Text}");
        // The walkthrough quotes the three files at length: a format change that hid its blocks from this check would fail here.
        Assert.True(blocks >= 10, $"expected the walkthrough's csharp excerpts in {DocumentPath}, found {blocks} csharp blocks");
        Assert.True(checkedLines >= 200, $"expected at least 200 excerpt lines in {DocumentPath}, found {checkedLines}");
    }

    [Fact]
    public void An_altered_excerpt_line_is_reported()
    {
        var markdown = File.ReadAllText(DocumentPath).Replace("\r\n", "\n");
        const string original = "TPtr At(long offset) => a + offset * batch;";
        Assert.Contains(original, markdown);
        int at = markdown.IndexOf(original, StringComparison.Ordinal);
        var altered = markdown.Remove(at, original.Length).Insert(at, "TPtr At(long offset) => a + offset * rows;");
        int expectedLine = markdown.Take(at).Count(c => c == '\n') + 1;

        var (_, _, missing) = Check(altered, SnapshotLines());

        Assert.NotNull(missing);
        Assert.Equal(expectedLine, missing.Value.Line);
        Assert.Equal("TPtr At(long offset) => a + offset * rows;", missing.Value.Text);
    }

    /// <summary>Every trimmed line of every committed snapshot.</summary>
    private static HashSet<string> SnapshotLines()
    {
        var lines = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in Directory.GetFiles(Snapshot.Directory(), "*.verified.cs"))
            foreach (var line in File.ReadAllLines(path))
                lines.Add(line.Trim());
        Assert.True(lines.Count > 100, $"no snapshots found in {Snapshot.Directory()}");
        return lines;
    }

    /// <summary>
    /// Walks the <c>```csharp</c> blocks of <paramref name="markdown"/>: how many there are, how many
    /// of their lines were compared, and the first line (1-based line number, trimmed text) that is
    /// not in <paramref name="snapshotLines"/>.
    /// </summary>
    private static (int Blocks, int CheckedLines, (int Line, string Text)? Missing) Check(string markdown, HashSet<string> snapshotLines)
    {
        var lines = markdown.Replace("\r\n", "\n").Split('\n');
        int blocks = 0, checkedLines = 0;
        bool inCSharp = false, inOther = false;
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim();
            if (!inCSharp && !inOther && line.StartsWith("```", StringComparison.Ordinal))
            {
                if (line == "```csharp")
                {
                    inCSharp = true;
                    blocks++;
                }
                else inOther = true;
                continue;
            }
            if ((inCSharp || inOther) && line == "```")
            {
                inCSharp = inOther = false;
                continue;
            }
            if (!inCSharp || line.Length == 0 || EllipsisMarkers.Contains(line)) continue;
            checkedLines++;
            if (!snapshotLines.Contains(line)) return (blocks, checkedLines, (i + 1, line));
        }
        Assert.False(inCSharp, "a csharp block is not closed");
        return (blocks, checkedLines, null);
    }
}
