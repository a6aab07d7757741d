using System.Reflection;
using Vit.Data;

namespace Vit.Cli;

/// <summary>Training and test data: a CIFAR folder the user names, or the subset embedded in vit.</summary>
public static class DataSource
{
    /// <summary>What the embedded subset is, for messages and docs.</summary>
    public const string EmbeddedDescription = "the embedded CIFAR-10 subset (2,000 train, 500 test images)";

    /// <summary>The training and test sets: from <paramref name="folder"/>, or embedded when it is null.</summary>
    /// <param name="folder">A CIFAR-10 or CIFAR-100 binary folder, or null.</param>
    /// <param name="limitTrain">Keep only the first N training images (0 = all).</param>
    public static (CifarDataset Train, CifarDataset Test) Load(string? folder, int limitTrain)
    {
        CifarDataset train, test;
        if (folder is null)
        {
            var names = EmbeddedNames();
            train = CifarDataset.FromRecords(Resource("cifar10-subset-train.bin"), CifarKind.Cifar10, "embedded CIFAR-10 subset (train)", names);
            test = CifarDataset.FromRecords(Resource("cifar10-subset-test.bin"), CifarKind.Cifar10, "embedded CIFAR-10 subset (test)", names);
        }
        else
        {
            train = CifarDataset.ReadFolder(folder, CifarSplit.Train);
            test = CifarDataset.ReadFolder(folder, CifarSplit.Test);
        }
        if (limitTrain > 0 && limitTrain < train.Count) train = train.Take(limitTrain);
        return (train, test);
    }

    /// <summary>Only the test set (for <c>vit eval</c>).</summary>
    public static CifarDataset LoadTest(string? folder) =>
        folder is null
            ? CifarDataset.FromRecords(Resource("cifar10-subset-test.bin"), CifarKind.Cifar10, "embedded CIFAR-10 subset (test)", EmbeddedNames())
            : CifarDataset.ReadFolder(folder, CifarSplit.Test);

    /// <summary>The CIFAR-10 class names (the official batches.meta.txt).</summary>
    public static IReadOnlyList<string> EmbeddedNames() =>
        System.Text.Encoding.ASCII.GetString(Resource("batches.meta.txt")).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static byte[] Resource(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"vit was built without its embedded resource '{name}'.");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }
}
