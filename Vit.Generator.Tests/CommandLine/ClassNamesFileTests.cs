using Vit.Cli;
using Xunit;

namespace Vit.Tests.CommandLine;

/// <summary><c>vit predict --classes</c>: the documents' class_indices.json, a JSON array, or one name per line.</summary>
public sealed class ClassNamesFileTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("vit-classes-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Write(string text)
    {
        string path = Path.Combine(_folder, $"classes-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, text);
        return path;
    }

    [Theory]
    [InlineData("{\n    \"0\": \"daisy\",\n    \"1\": \"dandelion\",\n    \"2\": \"roses\"\n}")] // json.dumps(..., indent=4), as predict.py reads it
    [InlineData("{\"2\": \"roses\", \"0\": \"daisy\", \"1\": \"dandelion\"}")] // any key order
    [InlineData("[\"daisy\", \"dandelion\", \"roses\"]")]
    [InlineData("daisy\ndandelion\nroses\n")]
    public void EveryFormatGivesTheNamesInIndexOrder(string text) =>
        Assert.Equal(["daisy", "dandelion", "roses"], WeightsInfo.ReadClassNames(Write(text)));

    [Theory]
    [InlineData("{\"0\": \"daisy\", \"2\": \"roses\"}", "class indices must run from 0 to 1, but 1 is missing")]
    [InlineData("{\"zero\": \"daisy\"}", "the key \"zero\" is not a class index")]
    [InlineData("{\"0\": 5}", "class 0 must be a JSON string, found Number")]
    [InlineData("{\"0\": \"daisy\"", "is not valid JSON")]
    public void BadClassIndicesSayWhatIsWrong(string text, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => WeightsInfo.ReadClassNames(Write(text)));
        Assert.Contains(expected, e.Message);
    }
}
