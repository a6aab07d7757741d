using System.Text;
using System.Text.Json;
using Vit.Imaging;

namespace Vit.Data;

/// <summary>A training set and its validation set, read from one image folder.</summary>
/// <param name="Train">The training images.</param>
/// <param name="Validation">The validation images (empty when the split keeps none).</param>
/// <param name="Layout">How the folder was read, for messages: "train/ and val/", or the split made.</param>
public sealed record ImageFolderSplit(ImageFolderDataset Train, ImageFolderDataset Validation, string Layout);

/// <summary>
/// torchvision's <c>ImageFolder</c>: images in one folder per class, <c>DIR/&lt;class&gt;/…/&lt;image&gt;</c>.
/// Class names are the sorted folder names (ordinal order, as Python's <c>sorted</c>), label = index;
/// files are found recursively, sorted, and kept when their extension is an image's
/// (<see cref="Extensions"/>, any case); names starting with '.' are skipped. Images are decoded
/// when loaded, with the pixel limit given (a decompression bomb is refused from its header).
/// </summary>
public sealed class ImageFolderDataset : ImageDataset
{
    /// <summary>The file extensions read as images (torchvision's <c>IMG_EXTENSIONS</c> that a decoder here reads).</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".ppm", ".pgm"];

    /// <summary>The seed stream of the per-class validation split.</summary>
    private const ulong SplitStream = 0x73706C69745F7661UL; // "split_va"

    private readonly string[] _files;
    private readonly int[] _labels;

    private ImageFolderDataset(string root, string[] files, int[] labels, IReadOnlyList<string> classNames, string source, long maxPixels)
    {
        Root = root;
        _files = files;
        _labels = labels;
        ClassNames = classNames;
        Source = source;
        MaxPixels = maxPixels;
    }

    /// <summary>The folder that holds the class folders.</summary>
    public string Root { get; }

    /// <summary>The image files, in label-then-path order.</summary>
    public IReadOnlyList<string> Files => _files;

    /// <summary>The most pixels an image may have (width × height); a larger one is refused before it is decoded.</summary>
    public long MaxPixels { get; }

    /// <inheritdoc/>
    public override int Count => _files.Length;

    /// <inheritdoc/>
    public override IReadOnlyList<string> ClassNames { get; }

    /// <inheritdoc/>
    public override string Source { get; }

    /// <inheritdoc/>
    public override int Label(int index) => _labels[CheckIndex(index)];

    /// <summary>Decodes the file of image <paramref name="index"/> (<see cref="ImageDecoder.Load"/>).</summary>
    public override Image Load(int index) => ImageDecoder.Load(_files[CheckIndex(index)], MaxPixels);

    /// <summary>Whether <paramref name="folder"/> looks like an image folder: it has a sub-folder (a class, or train/).</summary>
    public static bool HasSubfolders(string folder) =>
        Directory.Exists(folder) && Directory.EnumerateDirectories(folder).Any(d => !Path.GetFileName(d).StartsWith('.'));

    /// <summary>Whether <paramref name="folder"/> holds image files directly (not in class folders).</summary>
    public static bool HasImages(string folder) => Directory.Exists(folder) && Directory.EnumerateFiles(folder).Any(IsImage);

    /// <summary>
    /// Reads an image folder: <c>DIR/train/&lt;class&gt;/…</c> with <c>DIR/val/&lt;class&gt;/…</c>, or one
    /// <c>DIR/&lt;class&gt;/…</c> tree (or <c>DIR/train</c> alone) split per class: of a class's n images
    /// (sorted), ⌊n × <paramref name="validationFraction"/>⌋ drawn at random (seeded) go to validation,
    /// as the documents' <c>read_split_data</c> does.
    /// </summary>
    /// <param name="folder">The image folder.</param>
    /// <param name="validationFraction">The fraction of each class held out when there is no val/ folder, in [0, 1).</param>
    /// <param name="seed">Seeds the split.</param>
    /// <param name="maxPixels">The most pixels an image may have.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">There are no class folders, a class has no images, or val/ has a class train/ lacks.</exception>
    public static ImageFolderSplit Open(string folder, double validationFraction = 0.2, ulong seed = 0, long maxPixels = ImageDecoder.DefaultMaxPixels)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!(validationFraction >= 0 && validationFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(validationFraction), validationFraction, "The validation fraction must lie in [0, 1).");
        Vit.IO.InputPath.RequireFolder(folder, "image folder", $"{folder}: the image folder does not exist.");
        string trainDir = Path.Combine(folder, "train"), valDir = Path.Combine(folder, "val");
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)));
        if (Directory.Exists(trainDir) && Directory.Exists(valDir))
        {
            var (trainFiles, trainLabels, classes) = Scan(trainDir, null);
            var (valFiles, valLabels, _) = Scan(valDir, classes);
            return new ImageFolderSplit(
                new ImageFolderDataset(trainDir, trainFiles, trainLabels, classes, $"{name} (train)", maxPixels),
                new ImageFolderDataset(valDir, valFiles, valLabels, classes, $"{name} (val)", maxPixels),
                "train/ and val/");
        }
        string root = Directory.Exists(trainDir) ? trainDir : folder;
        var (files, labels, names) = Scan(root, null);
        var isValidation = new bool[files.Length];
        int start = 0;
        for (int c = 0; c < names.Count; c++)
        {
            int end = start;
            while (end < labels.Length && labels[end] == c) end++;
            int n = end - start, held = (int)Math.Floor(n * validationFraction);
            // A seeded Fisher–Yates over the class's files; the first `held` of the shuffled order are validation.
            var order = Enumerable.Range(start, n).ToArray();
            ImageLoader.Shuffle(order, KeyHash.Of(seed, SplitStream, (ulong)c));
            for (int i = 0; i < held; i++) isValidation[order[i]] = true;
            start = end;
        }
        ImageFolderDataset Part(bool validation, string what) => new(root,
            files.Where((_, i) => isValidation[i] == validation).ToArray(), labels.Where((_, i) => isValidation[i] == validation).ToArray(),
            names, $"{name} ({what})", maxPixels);
        string split = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{validationFraction:0.###} of each class held out (seed {seed})");
        return new ImageFolderSplit(Part(false, "train"), Part(true, "val"), split);
    }

    /// <summary>
    /// The documents' <c>class_indices.json</c>: <c>{"0": "daisy", "1": "dandelion", …}</c>, indented by
    /// 4 as their <c>json.dumps(…, indent=4)</c> writes it.
    /// </summary>
    public static string ClassIndicesJson(IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, IndentSize = 4, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            for (int i = 0; i < names.Count; i++) w.WriteString(i.ToString(System.Globalization.CultureInfo.InvariantCulture), names[i]);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    /// <summary>The class folders of <paramref name="root"/> and their image files; with <paramref name="classes"/>, a val/ tree labelled by train/'s classes.</summary>
    private static (string[] Files, int[] Labels, IReadOnlyList<string> Classes) Scan(string root, IReadOnlyList<string>? classes)
    {
        string[] folders = Directory.GetDirectories(root).Where(d => !Path.GetFileName(d).StartsWith('.')).Order(StringComparer.Ordinal).ToArray();
        if (folders.Length == 0)
        {
            int stray = Directory.EnumerateFiles(root).Count(IsImage);
            throw new InvalidDataException(
                $"{root}: no class folders; an image folder holds one folder per class, DIR/<class>/<image> (or DIR/train/<class>/… and DIR/val/<class>/…)"
                + (stray > 0 ? $", but {stray} images lie directly in it" : ""));
        }
        var names = folders.Select(f => Path.GetFileName(f)).ToArray();
        var files = new List<string>();
        var labels = new List<int>();
        for (int f = 0; f < folders.Length; f++)
        {
            int label = f;
            if (classes is not null)
            {
                label = IndexOf(classes, names[f]);
                if (label < 0)
                    throw new InvalidDataException($"{folders[f]}: the class '{names[f]}' is not among the training classes ({string.Join(", ", classes.Take(10))}{(classes.Count > 10 ? ", …" : "")})");
            }
            var images = Directory.EnumerateFiles(folders[f], "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.Hidden })
                .Where(p => IsImage(p) && !HiddenBelow(folders[f], p)).Order(StringComparer.Ordinal).ToArray();
            if (images.Length == 0 && classes is null)
                throw new InvalidDataException($"{folders[f]}: the class '{names[f]}' has no images ({string.Join(", ", Extensions)}); add some or remove the folder");
            files.AddRange(images);
            labels.AddRange(Enumerable.Repeat(label, images.Length));
        }
        if (classes is not null)
        {
            // val/ labelled by train/'s classes: order by label, then path.
            var order = Enumerable.Range(0, files.Count).OrderBy(i => labels[i]).ThenBy(i => files[i], StringComparer.Ordinal).ToArray();
            return (order.Select(i => files[i]).ToArray(), order.Select(i => labels[i]).ToArray(), classes);
        }
        return (files.ToArray(), labels.ToArray(), Array.AsReadOnly(names));
    }

    private static bool IsImage(string path)
    {
        string name = Path.GetFileName(path);
        if (name.StartsWith('.')) return false;
        string ext = Path.GetExtension(name);
        foreach (string e in Extensions)
            if (string.Equals(e, ext, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    /// <summary>Whether a folder between <paramref name="root"/> and <paramref name="path"/> starts with '.'.</summary>
    private static bool HiddenBelow(string root, string path) =>
        Path.GetRelativePath(root, Path.GetDirectoryName(path)!).Split(Path.DirectorySeparatorChar).Any(p => p.StartsWith('.') && p != ".");

    private static int IndexOf(IReadOnlyList<string> names, string name)
    {
        for (int i = 0; i < names.Count; i++)
            if (string.Equals(names[i], name, StringComparison.Ordinal)) return i;
        return -1;
    }

    private int CheckIndex(int index)
    {
        if ((uint)index >= (uint)_files.Length)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Source} has {Count} images.");
        return index;
    }
}
