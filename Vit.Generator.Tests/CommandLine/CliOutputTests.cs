using System.Text;
using Vit.Cli;
using Xunit;

namespace Vit.Tests.CommandLine;

/// <summary>
/// The command line's output rules: JSON is all or nothing (no serializer error after partial
/// output), a non-finite result is one error line, invalid class names in the metadata are a
/// warning, and the small words are right ("1 epoch", the file list).
/// </summary>
public sealed class CliOutputTests
{
    [Fact]
    public void Json_with_a_non_finite_number_writes_nothing_and_says_why()
    {
        var output = new MemoryStream();
        var e = Assert.Throws<InvalidDataException>(() => Vit.Cli.Cli.WriteJson(output, w =>
        {
            w.WriteString("model", "cifar");
            w.WriteNumber("probability", double.NaN);
        }));
        Assert.Empty(output.ToArray());
        Assert.StartsWith("a result is not a finite number, so nothing was printed (", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Json_is_one_object_on_one_line()
    {
        var output = new MemoryStream();
        Vit.Cli.Cli.WriteJson(output, w => w.WriteNumber("epoch", 1));
        Assert.Equal("{\"epoch\":1}\n", Encoding.UTF8.GetString(output.ToArray()));
    }

    [Fact]
    public void A_non_finite_result_is_one_error_line_naming_the_first_value()
    {
        Vit.Cli.Cli.RequireFinite([1f, -2f, 3e38f], "the outputs");
        var e = Assert.Throws<InvalidDataException>(() => Vit.Cli.Cli.RequireFinite([1f, float.NaN, float.PositiveInfinity], "the model's outputs for 'a.png'"));
        Assert.Equal("the model's outputs for 'a.png' are not finite (value 1 of 3 is NaN); no result is printed", e.Message);
        Assert.Equal(0.5, Vit.Cli.Cli.RequireFinite(0.5, "the test loss"));
        e = Assert.Throws<InvalidDataException>(() => Vit.Cli.Cli.RequireFinite(double.PositiveInfinity, "the test loss"));
        Assert.Equal("the test loss is not finite (Infinity); no result is printed", e.Message);
    }

    [Theory]
    [InlineData("[\"a\",\"b\",\"c\"]", null)]
    [InlineData("not json", "metadata class_names is not valid JSON (not json)")]
    [InlineData("{\"0\":\"a\"}", "metadata class_names must be a JSON array of 3 names, found a object ({\"0\":\"a\"})")]
    [InlineData("[\"a\",\"b\"]", "metadata class_names holds 2 names, but the model has 3 classes")]
    [InlineData("[\"a\",5,\"c\"]", "metadata class_names entry 1 is a number; every name must be a non-empty string")]
    [InlineData("[\"a\",\"b\",\" \"]", "metadata class_names entry 2 is blank; every name must be a non-empty string")]
    public void Class_names_in_the_metadata_are_used_or_the_problem_named(string json, string? problem)
    {
        var names = WeightsInfo.ClassNamesFromMetadata(new Dictionary<string, string> { ["class_names"] = json }, 3, out string? found);
        Assert.Equal(problem, found);
        if (problem is null) Assert.Equal(["a", "b", "c"], names!);
        else Assert.Null(names);
        Assert.Null(WeightsInfo.ClassNamesFromMetadata(new Dictionary<string, string>(), 3, out found));
        Assert.Null(found);
    }

    [Fact]
    public void Counts_are_pluralized_and_the_file_list_is_complete()
    {
        Assert.Equal("1 epoch", TrainCommand.Plural(1, "epoch"));
        Assert.Equal("8 epochs", TrainCommand.Plural(8, "epoch"));
        Assert.Equal("1 batch", TrainCommand.Plural(1, "batch", "batches"));
        Assert.Equal("31 batches", TrainCommand.Plural(31, "batch", "batches"));
        Assert.Equal("1,000 images", TrainCommand.Plural(1000, "image"));
        Assert.Equal(["model.safetensors", "checkpoint.safetensors", "metrics.csv", "training.svg", "recipe.json"], TrainCommand.OutputFiles);
    }
}
