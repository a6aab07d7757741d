using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace Vit.Tests.Generator;

/// <summary>
/// Every <c>```csharp</c> block of README.md compiles as written: each block alone is the
/// Program.cs of a new console project (net10.0, implicit usings, nullable on, no unsafe) that
/// references Vit.Runtime and runs Vit.Generator, as "Use it in your own project" describes.
/// A failure names the block's first line in README.md and the first error.
/// </summary>
public sealed class ReadmeSnippetTests
{
    private static string ReadmePath => Path.GetFullPath(Path.Combine(Snapshot.Directory(), "..", "..", "README.md"));

    /// <summary>The usings a console project's <c>ImplicitUsings</c> adds.</summary>
    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    /// <summary>The csharp blocks of a Markdown text, each with the line its code starts on.</summary>
    public static IReadOnlyList<(int Line, string Code)> CSharpBlocks(string markdown)
    {
        var blocks = new List<(int, string)>();
        foreach (Match m in Regex.Matches(markdown.Replace("\r\n", "\n"), @"^```csharp\n(.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline))
            blocks.Add((markdown[..m.Index].Count(c => c == '\n') + 2, m.Groups[1].Value));
        return blocks;
    }

    /// <summary>The errors and warnings of compiling <paramref name="code"/> as a console program with the generator.</summary>
    public static IReadOnlyList<Diagnostic> Compile(string code)
    {
        var compilation = CSharpCompilation.Create("ReadmeSnippet",
            [CSharpSyntaxTree.ParseText(code, GeneratorHarness.ParseOptions, path: "Program.cs"), CSharpSyntaxTree.ParseText(ImplicitUsings, GeneratorHarness.ParseOptions, path: "GlobalUsings.cs")],
            GeneratorHarness.References.Value,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: false));
        GeneratorHarness.Driver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        return [.. generatorDiagnostics.Concat(output.GetDiagnostics()).Where(d => d.Severity >= DiagnosticSeverity.Warning)];
    }

    [Fact]
    public void Every_csharp_block_of_the_readme_compiles_as_written()
    {
        var blocks = CSharpBlocks(File.ReadAllText(ReadmePath));
        Assert.True(blocks.Count >= 3, $"expected the README's C# blocks (intro, your own project, training), found {blocks.Count} in {ReadmePath}");
        foreach (var (line, code) in blocks)
        {
            var problems = Compile(code);
            if (problems.Count > 0)
                Assert.Fail($"{ReadmePath}:{line}: this csharp block does not compile as a Program.cs of its own ({problems.Count} problems); the first: {problems[0]}");
        }
    }

    [Fact]
    public void A_block_that_does_not_compile_is_reported()
    {
        // The README's old OpenCL line: Backend lives in Vit.Backends, which the block did not import.
        const string markdown = "text\n\n```csharp\nusing Vit;\n\nusing var onGpu = new TinyVit(Backend.OpenCL());\n\n[VisionTransformer(ImageSize = 32, Patch = 4, Dim = 64, Depth = 2, Heads = 4, Classes = 10)]\npublic partial class TinyVit;\n```\n";
        var (line, code) = Assert.Single(CSharpBlocks(markdown));
        Assert.Equal(4, line);
        Assert.Contains(Compile(code), d => d.Id == "CS0103" && d.GetMessage().Contains("'Backend'"));
        Assert.Empty(Compile("using Vit.Backends;\n" + code));
    }
}
