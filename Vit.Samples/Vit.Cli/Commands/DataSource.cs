using System.CommandLine;
using System.Globalization;
using System.Reflection;
using Vit.Data;
using Vit.Imaging;

namespace Vit.Cli;

/// <summary>Where the images come from, as <c>train</c> and <c>eval</c> take it.</summary>
/// <param name="Folder">A CIFAR binary folder, an image folder, or null for the embedded subset.</param>
/// <param name="LimitTrain">Keep only N training images (0 = all): CIFAR's first N, or N drawn (seeded) from an image folder.</param>
/// <param name="ValidationFraction">An image folder without val/: the fraction of each class held out.</param>
/// <param name="SplitSeed">Seeds that split.</param>
/// <param name="Classes">Only these classes (indices or names, comma-separated), relabelled 0, 1, … in that order; null for all.</param>
/// <param name="MaxPixels">The most pixels an image file may have.</param>
public sealed record DataOptions(string? Folder, int LimitTrain = 0, double ValidationFraction = DataSource.DefaultValidationFraction, ulong SplitSeed = 0,
    string? Classes = null, long MaxPixels = ImageDecoder.DefaultMaxPixels);

/// <summary>Training and test data: a CIFAR folder or an image folder the user names, or the subset embedded in vit.</summary>
public static class DataSource
{
    /// <summary>What the embedded subset is, for messages and docs.</summary>
    public const string EmbeddedDescription = "the embedded CIFAR-10 subset (2,000 train, 500 test images)";

    /// <summary>The share of each class an image folder without val/ holds out (the documents' <c>val_rate</c>).</summary>
    public const double DefaultValidationFraction = 0.2;

    /// <summary>The metadata keys a run saves so that eval and resume read the same data.</summary>
    public const string DataKey = "data", LimitKey = "limit_train", ValidationFractionKey = "val_fraction", SplitSeedKey = "split_seed", ClassesKey = "classes";

    /// <summary>The <c>--data</c> option's description.</summary>
    public const string DataDescription = "CIFAR-10/100 binary folder, or an image folder: DIR/<class>/<image> (split by --val-fraction), or DIR/train/<class>/… "
        + "with DIR/val/<class>/… (default: the embedded 2,000/500-image CIFAR-10 subset)";

    /// <summary>The options that say which images, shared by train and eval.</summary>
    public sealed class OptionSet
    {
        public Option<string?> Data { get; } = new("--data") { Description = DataDescription, HelpName = "DIR" };

        public Option<double> ValidationFraction { get; } = Cli.Double("--val-fraction", "An image folder without val/: the fraction of each class held out for validation (seeded by --seed)",
            DefaultValidationFraction, v => v >= 0 && v < 1, "in [0, 1)");

        public Option<string?> Classes { get; } = new("--classes") { Description = "Only these classes, by index or name (\"5,6,7,8,9\" or \"dog,frog\"), relabelled 0, 1, … in that order", HelpName = "LIST" };

        public Option<int> MaxMegapixels { get; } = MaxMegapixelsOption();

        public IEnumerable<Option> All => [Data, ValidationFraction, Classes, MaxMegapixels];

        public long MaxPixels(ParseResult r) => (long)r.GetValue(MaxMegapixels) << 20;
    }

    /// <summary><c>--max-megapixels</c>: image files with more pixels (Mi, 2^20) are refused from their header, before decoding.</summary>
    public static Option<int> MaxMegapixelsOption() =>
        Cli.Int("--max-megapixels", "Refuse image files with more pixels than this (in 2^20), from their header, before decoding", (int)(ImageDecoder.DefaultMaxPixels >> 20),
            max: (int)(ImageDecoder.MaxPixels >> 20));

    /// <summary>The training and test sets (the test set is null when an image folder's split holds none out).</summary>
    public static (ImageDataset Train, ImageDataset? Test) Load(DataOptions options)
    {
        ImageDataset train;
        ImageDataset? test;
        string? folder = options.Folder;
        if (folder is null)
        {
            var names = EmbeddedNames();
            train = CifarDataset.FromRecords(Resource("cifar10-subset-train.bin"), CifarKind.Cifar10, "embedded CIFAR-10 subset (train)", names);
            test = EmbeddedTest();
        }
        else if (IsImageFolder(folder))
        {
            var split = ImageFolderDataset.Open(folder, options.ValidationFraction, options.SplitSeed, options.MaxPixels);
            train = split.Train;
            test = split.Validation.Count > 0 ? split.Validation : null;
        }
        else
        {
            train = CifarDataset.ReadFolder(folder, CifarSplit.Train);
            test = CifarDataset.ReadFolder(folder, CifarSplit.Test);
        }
        if (options.Classes is { } classes)
        {
            var selected = ParseClasses(classes, train.ClassNames);
            train = train.WithClasses(selected);
            test = test?.WithClasses(selected);
        }
        // CIFAR records come shuffled, so their first N hold every class; an image folder is sorted by class, so N are drawn from it.
        if (options.LimitTrain > 0 && options.LimitTrain < train.Count)
            train = train is CifarDataset ? train.Take(options.LimitTrain) : train.Sample(options.LimitTrain, options.SplitSeed);
        return (train, test);
    }

    /// <summary>Only the test set (for <c>vit eval</c>): CIFAR's test split, an image folder's validation images, or the embedded test subset.</summary>
    /// <exception cref="InvalidDataException">An image folder's split holds no image out.</exception>
    public static ImageDataset LoadTest(DataOptions options)
    {
        if (options.Folder is { } folder && IsImageFolder(folder))
        {
            var (_, test) = Load(options);
            return test ?? throw new InvalidDataException(
                $"{folder}: no validation images: it has no val/ folder and --val-fraction {options.ValidationFraction.ToString(CultureInfo.InvariantCulture)} holds none out");
        }
        ImageDataset data = options.Folder is null ? EmbeddedTest() : CifarDataset.ReadFolder(options.Folder, CifarSplit.Test);
        return options.Classes is { } classes ? data.WithClasses(ParseClasses(classes, data.ClassNames)) : data;
    }

    /// <summary>The metadata that names this data, saved with weights so that eval and --resume read the same images.</summary>
    public static void Describe(DataOptions options, IDictionary<string, string> metadata)
    {
        var c = CultureInfo.InvariantCulture;
        metadata[DataKey] = options.Folder is null ? "embedded" : Path.GetFullPath(options.Folder);
        metadata[LimitKey] = options.LimitTrain.ToString(c);
        metadata[ValidationFractionKey] = options.ValidationFraction.ToString("R", c);
        metadata[SplitSeedKey] = options.SplitSeed.ToString(c);
        if (options.Classes is not null) metadata[ClassesKey] = options.Classes;
    }

    /// <summary>
    /// The data options of a command line, with what <paramref name="saved"/> metadata says where
    /// an option was not given (a resumed run; eval of trained weights).
    /// </summary>
    public static DataOptions FromCommandLine(ParseResult r, OptionSet set, IReadOnlyDictionary<string, string>? saved, int limitTrain, ulong? seed, bool folderFromSaved)
    {
        bool Given(Option o) => r.GetResult(o) is { Implicit: false };
        string? Saved(string key) => saved is not null && saved.TryGetValue(key, out var v) ? v : null;
        var c = CultureInfo.InvariantCulture;
        string? folder = r.GetValue(set.Data);
        if (!Given(set.Data) && folderFromSaved && Saved(DataKey) is { } d) folder = d == "embedded" ? null : d;
        double fraction = r.GetValue(set.ValidationFraction);
        if (!Given(set.ValidationFraction) && Saved(ValidationFractionKey) is { } f && double.TryParse(f, NumberStyles.Float, c, out double vf)) fraction = vf;
        ulong splitSeed = seed ?? (Saved(SplitSeedKey) is { } s && ulong.TryParse(s, NumberStyles.None, c, out ulong ss) ? ss : 0);
        string? classes = Given(set.Classes) ? r.GetValue(set.Classes) : Saved(ClassesKey) ?? r.GetValue(set.Classes);
        return new DataOptions(folder, limitTrain, fraction, splitSeed, classes, set.MaxPixels(r));
    }

    /// <summary>
    /// Whether <paramref name="folder"/> is meant as an image folder rather than CIFAR binaries: it has
    /// no CIFAR files, and has sub-folders or image files (loose images get the image folder's message).
    /// </summary>
    public static bool IsImageFolder(string folder) =>
        !CifarDataset.IsCifarFolder(folder) && (ImageFolderDataset.HasSubfolders(folder) || ImageFolderDataset.HasImages(folder));

    /// <summary>The CIFAR-10 class names (the official batches.meta.txt).</summary>
    public static IReadOnlyList<string> EmbeddedNames() =>
        System.Text.Encoding.ASCII.GetString(Resource("batches.meta.txt")).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static CifarDataset EmbeddedTest() =>
        CifarDataset.FromRecords(Resource("cifar10-subset-test.bin"), CifarKind.Cifar10, "embedded CIFAR-10 subset (test)", EmbeddedNames());

    private static int[] ParseClasses(string text, IReadOnlyList<string> names)
    {
        try
        {
            return ImageDataset.ParseClasses(text, names);
        }
        catch (ArgumentException e)
        {
            throw new UsageException("--classes: " + Cli.Message(e));
        }
    }

    private static byte[] Resource(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"vit was built without its embedded resource '{name}'.");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }
}
