using System.Globalization;

namespace Vit.Data;

/// <summary>Which CIFAR set a file holds, which fixes its record layout.</summary>
public enum CifarKind
{
    /// <summary>CIFAR-10: 3073-byte records (1 label byte, 0–9, then 3072 pixel bytes).</summary>
    Cifar10,

    /// <summary>CIFAR-100: 3074-byte records (coarse label 0–19, fine label 0–99, then 3072 pixel bytes); the fine label is used.</summary>
    Cifar100,
}

/// <summary>The training or the test part of a CIFAR set.</summary>
public enum CifarSplit
{
    /// <summary><c>data_batch_1.bin</c> … <c>data_batch_5.bin</c> (CIFAR-10) or <c>train.bin</c> (CIFAR-100).</summary>
    Train,

    /// <summary><c>test_batch.bin</c> (CIFAR-10) or <c>test.bin</c> (CIFAR-100).</summary>
    Test,
}

/// <summary>
/// CIFAR-10 or CIFAR-100 images and labels from the official binary files, held in memory.
/// Each image is 3072 bytes: three 32×32 row-major planes, red, green, blue (CHW).
/// </summary>
/// <remarks>
/// The record count is always taken from the file size (size / 3073 for CIFAR-10, size / 3074 for
/// CIFAR-100), never assumed to be 10,000. Files whose size is not a whole number of records,
/// empty files and labels out of range raise <see cref="InvalidDataException"/> with a message
/// that names the file and says what was expected and what was found. Instances are immutable
/// and safe to read from several threads.
/// </remarks>
public sealed class CifarDataset : ImageDataset
{
    /// <summary>Image width and height in pixels.</summary>
    public const int Side = 32;

    /// <summary>Colour channels per image (R, G, B).</summary>
    public const int Channels = 3;

    /// <summary>Bytes of pixel data per image: 3 × 32 × 32.</summary>
    public const int ImageBytes = Channels * Side * Side;

    private static readonly string[] Cifar10Names =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    private static readonly string[] Cifar100Names =
    [
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
        "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
        "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
        "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
        "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
        "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
        "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
        "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    ];

    private readonly byte[] _images; // Count × 3072, CHW per image
    private readonly byte[] _labels; // Count

    private CifarDataset(CifarKind kind, byte[] images, byte[] labels, IReadOnlyList<string> classNames, string source)
    {
        Kind = kind;
        _images = images;
        _labels = labels;
        ClassNames = classNames;
        Source = source;
    }

    /// <summary>CIFAR-10 or CIFAR-100.</summary>
    public CifarKind Kind { get; }

    /// <summary>The number of images.</summary>
    public override int Count => _labels.Length;

    /// <summary>The class names, indexed by label: 10 for CIFAR-10, 100 for CIFAR-100 (fine labels).</summary>
    public override IReadOnlyList<string> ClassNames { get; }

    /// <summary>Where the records came from (file names or a description), for messages.</summary>
    public override string Source { get; }

    /// <summary>The CIFAR statistics of <see cref="Kind"/> (<see cref="Normalization.For(CifarKind)"/>).</summary>
    public override Normalization DefaultNormalization => Normalization.For(Kind);

    /// <summary>The bytes of one record for <paramref name="kind"/>: 3073 (CIFAR-10) or 3074 (CIFAR-100).</summary>
    public static int RecordBytes(CifarKind kind) => kind == CifarKind.Cifar10 ? 1 + ImageBytes : 2 + ImageBytes;

    /// <summary>The number of classes of <paramref name="kind"/>: 10 or 100.</summary>
    public static int ClassCountOf(CifarKind kind) => kind == CifarKind.Cifar10 ? 10 : 100;

    /// <summary>The standard class names of <paramref name="kind"/> (the official meta files' contents).</summary>
    public static IReadOnlyList<string> DefaultClassNames(CifarKind kind) =>
        Array.AsReadOnly(kind == CifarKind.Cifar10 ? Cifar10Names : Cifar100Names);

    /// <summary>The pixels of image <paramref name="index"/>: 3072 bytes, planes R, G, B of 32×32, row-major.</summary>
    public ReadOnlySpan<byte> Image(int index)
    {
        CheckIndex(index);
        return new ReadOnlySpan<byte>(_images, index * ImageBytes, ImageBytes);
    }

    /// <inheritdoc/>
    public override ReadOnlySpan<byte> CifarPixels(int index) => Image(index);

    /// <summary>Image <paramref name="index"/> as a 32 × 32 RGB <see cref="Imaging.Image"/> (a copy, HWC).</summary>
    public override Imaging.Image Load(int index) => Imaging.Image.FromCifar(Image(index));

    /// <summary>The label of image <paramref name="index"/>, in [0, <see cref="ImageDataset.ClassCount"/>).</summary>
    public override int Label(int index)
    {
        CheckIndex(index);
        return _labels[index];
    }

    /// <summary>The first <paramref name="count"/> images, as a new dataset (the pixels are copied).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative or more than <see cref="Count"/>.</exception>
    public override CifarDataset Take(int count)
    {
        if ((uint)count > (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"Take needs 0 to {Count} images ({Source} has {Count}).");
        return new CifarDataset(Kind, _images.AsSpan(0, count * ImageBytes).ToArray(), _labels.AsSpan(0, count).ToArray(),
            ClassNames, $"the first {count} images of {Source}");
    }

    /// <summary>
    /// Reads records from <paramref name="records"/> (whole CIFAR records back to back, no header).
    /// </summary>
    /// <param name="records">The file contents.</param>
    /// <param name="kind">The record layout.</param>
    /// <param name="source">Names the data in messages (usually the file's path).</param>
    /// <param name="classNames">The class names, or null for the standard ones.</param>
    /// <exception cref="InvalidDataException">The bytes are empty, not a whole number of records, or hold a label out of range.</exception>
    /// <exception cref="ArgumentException"><paramref name="classNames"/> does not have one name per class.</exception>
    public static CifarDataset FromRecords(byte[] records, CifarKind kind, string source, IReadOnlyList<string>? classNames)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(source);
        int count = CountRecords(records.LongLength, kind, source);
        var images = new byte[(long)count * ImageBytes];
        var labels = new byte[count];
        Decode(records, kind, source, images, labels, 0, count);
        return new CifarDataset(kind, images, labels, CheckNames(classNames, kind, source), source);
    }

    /// <summary>Reads and concatenates the records of <paramref name="files"/>, in order.</summary>
    /// <param name="files">One or more CIFAR binary files of the same kind.</param>
    /// <param name="kind">The record layout.</param>
    /// <param name="classNames">The class names, or null for the standard ones.</param>
    /// <exception cref="FileNotFoundException">A file does not exist.</exception>
    /// <exception cref="InvalidDataException">A file is empty, not a whole number of records, or holds a label out of range.</exception>
    public static CifarDataset ReadFiles(IReadOnlyList<string> files, CifarKind kind, IReadOnlyList<string>? classNames = null)
    {
        ArgumentNullException.ThrowIfNull(files);
        if (files.Count == 0) throw new ArgumentException("At least one CIFAR file is needed.", nameof(files));
        var counts = new int[files.Count];
        long total = 0;
        for (int f = 0; f < files.Count; f++)
        {
            string path = files[f];
            Vit.IO.InputPath.RequireFile(path, "CIFAR file", $"{path}: the CIFAR file does not exist.");
            counts[f] = CountRecords(new FileInfo(path).Length, kind, path);
            total += counts[f];
        }
        if (total * ImageBytes > Array.MaxLength)
            throw new InvalidDataException($"{string.Join(", ", files)}: {total} records are more than one dataset can hold in memory.");

        var images = new byte[total * ImageBytes];
        var labels = new byte[total];
        int first = 0;
        for (int f = 0; f < files.Count; f++)
        {
            byte[] bytes = Vit.IO.InputPath.ReadAllBytes(files[f], "CIFAR file", $"{files[f]}: the CIFAR file does not exist.", (long)counts[f] * RecordBytes(kind));
            // The file may have changed between the size check and the read.
            if (CountRecords(bytes.LongLength, kind, files[f]) != counts[f])
                throw new InvalidDataException($"{files[f]}: the file changed size while it was read.");
            Decode(bytes, kind, files[f], images, labels, first, counts[f]);
            first += counts[f];
        }
        string source = files.Count == 1 ? files[0] : string.Join(", ", files);
        return new CifarDataset(kind, images, labels, CheckNames(classNames, kind, source), source);
    }

    /// <summary>
    /// Reads one split of the CIFAR set in <paramref name="folder"/>: CIFAR-10 when it holds
    /// <c>data_batch_1.bin</c> … <c>data_batch_5.bin</c> / <c>test_batch.bin</c> (names from
    /// <c>batches.meta.txt</c>), CIFAR-100 when it holds <c>train.bin</c> / <c>test.bin</c>
    /// (fine labels; names from <c>fine_label_names.txt</c>). A folder that contains
    /// <c>cifar-10-batches-bin</c> or <c>cifar-100-binary</c> is accepted too. When the names file
    /// is missing the standard names are used.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException"><paramref name="folder"/> does not exist.</exception>
    /// <exception cref="FileNotFoundException">The folder has no CIFAR files, or lacks a file of the split.</exception>
    /// <exception cref="InvalidDataException">A file is malformed; the message names it.</exception>
    public static CifarDataset ReadFolder(string folder, CifarSplit split)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        Vit.IO.InputPath.RequireFolder(folder, "CIFAR files", $"{folder}: the CIFAR folder does not exist.");

        string dir = folder;
        CifarKind? kind = Detect(dir);
        if (kind is null)
        {
            foreach (string sub in new[] { "cifar-10-batches-bin", "cifar-100-binary" })
            {
                string candidate = Path.Combine(folder, sub);
                if (Directory.Exists(candidate) && Detect(candidate) is { } k)
                {
                    dir = candidate;
                    kind = k;
                    break;
                }
            }
        }
        if (kind is null)
        {
            string[] found = Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).Take(8).ToArray()!;
            string listing = found.Length == 0 ? "the folder is empty" : "it holds " + string.Join(", ", found) + (Directory.GetFileSystemEntries(folder).Length > 8 ? ", …" : "");
            throw new FileNotFoundException(
                $"{folder}: no CIFAR files found; expected data_batch_1.bin … data_batch_5.bin and test_batch.bin (CIFAR-10), " +
                $"train.bin and test.bin (CIFAR-100), or a folder cifar-10-batches-bin or cifar-100-binary inside it (or, for an image folder, DIR/<class>/<image>), but {listing}.");
        }

        string[] names = (kind, split) switch
        {
            (CifarKind.Cifar10, CifarSplit.Train) => ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"],
            (CifarKind.Cifar10, _) => ["test_batch.bin"],
            (_, CifarSplit.Train) => ["train.bin"],
            _ => ["test.bin"],
        };
        string[] paths = names.Select(n => Path.Combine(dir, n)).ToArray();
        string[] missing = names.Where((n, i) => !File.Exists(paths[i])).ToArray();
        if (missing.Length > 0)
            throw new FileNotFoundException(
                $"{dir}: the {(kind == CifarKind.Cifar10 ? "CIFAR-10" : "CIFAR-100")} {(split == CifarSplit.Train ? "train" : "test")} split needs " +
                $"{string.Join(", ", names)}, but {string.Join(", ", missing)} {(missing.Length == 1 ? "is" : "are")} missing.",
                Path.Combine(dir, missing[0]));

        string namesFile = Path.Combine(dir, kind == CifarKind.Cifar10 ? "batches.meta.txt" : "fine_label_names.txt");
        IReadOnlyList<string>? classNames = File.Exists(namesFile) ? ReadClassNames(namesFile, kind.Value) : null;
        var data = ReadFiles(paths, kind.Value, classNames);
        // Name the folder and the split rather than listing five paths (messages, plot titles).
        string where = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)));
        return new CifarDataset(data.Kind, data._images, data._labels, data.ClassNames, $"{where} ({(split == CifarSplit.Train ? "train" : "test")})");
    }

    /// <summary>The largest class-names file read (100 names of a few bytes each are far below it).</summary>
    private const long MaxClassNamesBytes = 1L << 20;

    /// <summary>
    /// Reads a class-names file (one name per line, label = line index; blank lines ignored),
    /// as <c>batches.meta.txt</c> and <c>fine_label_names.txt</c> are.
    /// </summary>
    /// <exception cref="InvalidDataException">The file does not have one name per class.</exception>
    public static IReadOnlyList<string> ReadClassNames(string path, CifarKind kind)
    {
        byte[] bytes = Vit.IO.InputPath.ReadAllBytes(path, "class-names file", $"{path}: the class-names file does not exist.", MaxClassNamesBytes);
        string[] names = System.Text.Encoding.UTF8.GetString(bytes).TrimStart('\uFEFF').Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        int expected = ClassCountOf(kind);
        if (names.Length != expected)
            throw new InvalidDataException(
                $"{path}: expected {expected} class names (one per line) but found {names.Length}.");
        return Array.AsReadOnly(names);
    }

    /// <summary>Whether <paramref name="folder"/> holds CIFAR binaries, itself or in a cifar-10-batches-bin or cifar-100-binary folder.</summary>
    public static bool IsCifarFolder(string folder) =>
        Directory.Exists(folder) && (Detect(folder) is not null
            || new[] { "cifar-10-batches-bin", "cifar-100-binary" }.Any(sub => Directory.Exists(Path.Combine(folder, sub)) && Detect(Path.Combine(folder, sub)) is not null));

    private static CifarKind? Detect(string dir)
    {
        if (File.Exists(Path.Combine(dir, "data_batch_1.bin")) || File.Exists(Path.Combine(dir, "test_batch.bin")))
            return CifarKind.Cifar10;
        if (File.Exists(Path.Combine(dir, "train.bin")) || File.Exists(Path.Combine(dir, "test.bin")))
            return CifarKind.Cifar100;
        return null;
    }

    private static int CountRecords(long length, CifarKind kind, string source)
    {
        int record = RecordBytes(kind);
        string what = kind == CifarKind.Cifar10 ? "CIFAR-10" : "CIFAR-100";
        if (length == 0)
            throw new InvalidDataException($"{source}: the file is empty; expected whole {record}-byte {what} records.");
        long count = length / record, rest = length % record;
        if (rest != 0)
        {
            string hint = count == 0 ? "the file is shorter than one record"
                : rest == record - 1 && kind == CifarKind.Cifar100 ? "the file looks like CIFAR-10 (3073-byte records)"
                : "the file looks truncated";
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{source}: {length} bytes is not a whole number of {record}-byte {what} records ({count} records and {rest:N0} bytes left over); {hint}."));
        }
        if (count > int.MaxValue / ImageBytes)
            throw new InvalidDataException($"{source}: {count} records are more than one dataset can hold in memory.");
        return (int)count;
    }

    private static void Decode(byte[] records, CifarKind kind, string source, byte[] images, byte[] labels, int first, int count)
    {
        int record = RecordBytes(kind), header = record - ImageBytes, classes = ClassCountOf(kind);
        for (int i = 0; i < count; i++)
        {
            int at = i * record;
            if (kind == CifarKind.Cifar100 && records[at] >= 20)
                throw new InvalidDataException(
                    $"{source}: record {i} (byte offset {at}) has coarse label {records[at]}; CIFAR-100 coarse labels are 0–19.");
            byte label = records[at + header - 1];
            if (label >= classes)
                throw new InvalidDataException(
                    $"{source}: record {i} (byte offset {at + header - 1}) has label {label}; {(kind == CifarKind.Cifar10 ? "CIFAR-10" : "CIFAR-100 fine")} labels are 0–{classes - 1}" +
                    (kind == CifarKind.Cifar10 && records.Length % RecordBytes(CifarKind.Cifar100) == 0 ? " (is this a CIFAR-100 file?)" : "") + ".");
            labels[first + i] = label;
            Buffer.BlockCopy(records, at + header, images, (first + i) * ImageBytes, ImageBytes);
        }
    }

    private static IReadOnlyList<string> CheckNames(IReadOnlyList<string>? names, CifarKind kind, string source)
    {
        if (names is null) return DefaultClassNames(kind);
        if (names.Count != ClassCountOf(kind))
            throw new ArgumentException(
                $"{source}: {ClassCountOf(kind)} class names are needed for {kind}, but {names.Count} were given.", nameof(names));
        return Array.AsReadOnly(names.ToArray());
    }

    private void CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Source} has {Count} images.");
    }
}
