using Vit.Imaging;

namespace Vit.Data;

/// <summary>
/// Labelled images for training and evaluation: CIFAR records (<see cref="CifarDataset"/>), an
/// <c>ImageFolder</c> tree of image files (<see cref="ImageFolderDataset"/>), or a view of either
/// (<see cref="Take"/>, <see cref="WithClasses"/>). A <see cref="ImageLoader"/> serves one as
/// normalized batches through a <see cref="SampleTransform"/>.
/// </summary>
/// <remarks>Implementations are immutable and safe to read from several threads at once (the loader decodes in parallel).</remarks>
public abstract class ImageDataset
{
    /// <summary>The number of images.</summary>
    public abstract int Count { get; }

    /// <summary>The class names, indexed by label; <see cref="ClassCount"/> of them.</summary>
    public abstract IReadOnlyList<string> ClassNames { get; }

    /// <summary>The number of classes.</summary>
    public int ClassCount => ClassNames.Count;

    /// <summary>Where the images came from, for messages and plot titles.</summary>
    public abstract string Source { get; }

    /// <summary>The label of image <paramref name="index"/>, in [0, <see cref="ClassCount"/>).</summary>
    public abstract int Label(int index);

    /// <summary>Decodes image <paramref name="index"/> (any size; 1–4 channels).</summary>
    /// <exception cref="InvalidDataException">The image cannot be decoded; the message names its file.</exception>
    public abstract Image Load(int index);

    /// <summary>
    /// The raw pixels of image <paramref name="index"/> when it is a CIFAR record (3072 bytes, planes
    /// R, G, B of 32 × 32), for the loader's fast path; empty for any other image.
    /// </summary>
    public virtual ReadOnlySpan<byte> CifarPixels(int index) => default;

    /// <summary>The normalization that suits these images when none is asked for: CIFAR's per-dataset statistics, or ImageNet's.</summary>
    public virtual Normalization DefaultNormalization => Normalization.ImageNet;

    /// <summary>How many images each class has (<see cref="ClassCount"/> entries).</summary>
    public int[] ClassHistogram()
    {
        var counts = new int[ClassCount];
        for (int i = 0; i < Count; i++) counts[Label(i)]++;
        return counts;
    }

    /// <summary>The first <paramref name="count"/> images, as a view.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative or more than <see cref="Count"/>.</exception>
    public virtual ImageDataset Take(int count)
    {
        if ((uint)count > (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"Take needs 0 to {Count} images ({Source} has {Count}).");
        return new ImageSubset(this, Enumerable.Range(0, count).ToArray(), null, $"the first {count} images of {Source}");
    }

    /// <summary>
    /// <paramref name="count"/> images drawn at random (seeded, without replacement), kept in their
    /// order, as a view: a small training set from a folder sorted by class still holds every class.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative or more than <see cref="Count"/>.</exception>
    public ImageDataset Sample(int count, ulong seed)
    {
        if ((uint)count > (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"Sample needs 0 to {Count} images ({Source} has {Count}).");
        var order = Enumerable.Range(0, Count).ToArray();
        ImageLoader.Shuffle(order, KeyHash.Of(seed, KeyHash.SampleStream, (ulong)count)); // its own stream, not epoch 0's order
        var kept = order.AsSpan(0, count).ToArray();
        Array.Sort(kept);
        return new ImageSubset(this, kept, null, $"{count} images drawn from {Source}");
    }

    /// <summary>
    /// Only the images of <paramref name="classes"/>, relabelled 0, 1, … in the order given (the
    /// class names follow), as a view: <c>WithClasses([5, 6, 7, 8, 9])</c> on CIFAR-10 is a
    /// five-class dataset of dog … truck.
    /// </summary>
    /// <exception cref="ArgumentException">No class, a class out of range, or one given twice.</exception>
    public ImageDataset WithClasses(IReadOnlyList<int> classes)
    {
        ArgumentNullException.ThrowIfNull(classes);
        if (classes.Count == 0) throw new ArgumentException("Name at least one class.", nameof(classes));
        var map = new int[ClassCount];
        Array.Fill(map, -1);
        for (int n = 0; n < classes.Count; n++)
        {
            int c = classes[n];
            if ((uint)c >= (uint)ClassCount)
                throw new ArgumentException($"{Source} has classes 0–{ClassCount - 1}, so class {c} does not exist.", nameof(classes));
            if (map[c] >= 0) throw new ArgumentException($"Class {c} ({ClassNames[c]}) is named twice.", nameof(classes));
            map[c] = n;
        }
        var kept = new List<int>();
        for (int i = 0; i < Count; i++)
            if (map[Label(i)] >= 0) kept.Add(i);
        var names = classes.Select(c => ClassNames[c]).ToArray();
        return new ImageSubset(this, kept.ToArray(), (map, names), $"{Source}, classes {string.Join(",", classes)}");
    }

    /// <summary>
    /// Reads a class selection: comma-separated class indices or names (<c>5,6,7,8,9</c> or
    /// <c>dog,frog,horse,ship,truck</c>), against <paramref name="names"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A token is neither an index in range nor a class name.</exception>
    public static int[] ParseClasses(string text, IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(names);
        var tokens = text.Split(',', StringSplitOptions.TrimEntries);
        var result = new int[tokens.Length];
        for (int t = 0; t < tokens.Length; t++)
        {
            string token = tokens[t];
            int byName = -1;
            for (int c = 0; c < names.Count && byName < 0; c++)
                if (string.Equals(names[c], token, StringComparison.Ordinal)) byName = c;
            if (byName >= 0) result[t] = byName;
            else if (int.TryParse(token, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int index) && index < names.Count)
                result[t] = index;
            else
                throw new ArgumentException(
                    $"'{token}' is neither a class index 0–{names.Count - 1} nor a class name ({string.Join(", ", names.Take(10))}{(names.Count > 10 ? ", …" : "")})", nameof(text));
        }
        return result;
    }
}

/// <summary>Some images of another dataset, optionally relabelled (see <see cref="ImageDataset.WithClasses"/>).</summary>
internal sealed class ImageSubset : ImageDataset
{
    private readonly ImageDataset _parent;
    private readonly int[] _indices;
    private readonly int[]? _labelMap;
    private readonly IReadOnlyList<string> _names;

    public ImageSubset(ImageDataset parent, int[] indices, (int[] Map, string[] Names)? relabel, string source)
    {
        _parent = parent;
        _indices = indices;
        _labelMap = relabel?.Map;
        _names = relabel is { } r ? Array.AsReadOnly(r.Names) : parent.ClassNames;
        Source = source;
    }

    public override int Count => _indices.Length;

    public override IReadOnlyList<string> ClassNames => _names;

    public override string Source { get; }

    public override int Label(int index)
    {
        int label = _parent.Label(Parent(index));
        return _labelMap is null ? label : _labelMap[label];
    }

    public override Image Load(int index) => _parent.Load(Parent(index));

    public override ReadOnlySpan<byte> CifarPixels(int index) => _parent.CifarPixels(Parent(index));

    public override Normalization DefaultNormalization => _parent.DefaultNormalization;

    private int Parent(int index)
    {
        if ((uint)index >= (uint)_indices.Length)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Source} has {Count} images.");
        return _indices[index];
    }
}
