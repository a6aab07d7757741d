using Vit.Cli;
using Vit.Tests.IO;
using Xunit;

namespace Vit.Tests.CommandLine;

/// <summary>
/// <c>vit eval</c>'s confusion-matrix plot: a plot that cannot be written is one line after the
/// results, a warning (exit 0) in the default place and an error (exit 1) where <c>--plot</c> named it.
/// </summary>
public sealed class EvalPlotTests : IDisposable
{
    private readonly TemporaryFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void A_written_plot_is_reported_as_written()
    {
        string path = _folder.File("confusion.svg");
        var outcome = EvalCommand.WritePlot(path, chosen: false, () => "<svg/>");
        Assert.Equal(new EvalCommand.PlotOutcome(true, null, 0), outcome);
        Assert.Equal("<svg/>", File.ReadAllText(path));
    }

    [Fact]
    public void The_default_place_failing_is_a_warning_naming_the_plot_and_exit_code_0()
    {
        string path = Path.Combine(_folder.FullPath, "read-only", "confusion.svg"); // a folder that is not there: unwritable even as root
        var outcome = EvalCommand.WritePlot(path, chosen: false, () => "<svg/>");
        Assert.False(outcome.Written);
        Assert.Equal(0, outcome.ExitCode);
        Assert.StartsWith($"warning: cannot write the confusion matrix to '{path}' (", outcome.Problem);
        Assert.EndsWith("; the results above are complete; choose another place with --plot", outcome.Problem);
        Assert.DoesNotContain(".tmp", outcome.Problem);
        Assert.DoesNotContain('\n', outcome.Problem!);
    }

    [Fact]
    public void A_chosen_plot_failing_is_an_error_and_exit_code_1()
    {
        string path = _folder.File("taken.svg");
        Directory.CreateDirectory(path); // the rename over it fails
        var outcome = EvalCommand.WritePlot(path, chosen: true, () => "<svg/>");
        Assert.False(outcome.Written);
        Assert.Equal(1, outcome.ExitCode);
        Assert.StartsWith($"cannot write the confusion matrix to '{path}' (", outcome.Problem);
        Assert.DoesNotContain("warning", outcome.Problem);
        Assert.DoesNotContain(".tmp", outcome.Problem);
        Assert.Equal(["taken.svg"], Directory.GetFileSystemEntries(_folder.FullPath).Select(Path.GetFileName)); // no temporary file left
    }
}
