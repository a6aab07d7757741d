using System.Text.Json;
using Vit.Data;
using Vit.Imaging;
using Xunit;

namespace Vit.Tests.Data;

/// <summary>
/// Image folders (torchvision's ImageFolder layout, the documents' read_split_data split), class
/// selection, the sample transforms over them, and the loader's parallel workers: same batches
/// whatever the worker count, errors naming the file.
/// </summary>
public sealed class ImageFolderTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "vit-imagefolder-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    /// <summary>A w × h RGB image whose pixels encode (seed, x, y, channel).</summary>
    private static Image Synthetic(int seed, int w = 20, int h = 14)
    {
        var pixels = new byte[w * h * 3];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(seed * 37 + i * 11 + i / 3 % 7);
        return new Image(w, h, 3, pixels);
    }

    private string Write(string relative, Image image)
    {
        string path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, ImageEncoder.EncodePng(image));
        return path;
    }

    /// <summary>DIR/&lt;class&gt;/&lt;n&gt;.png with the given image counts per class.</summary>
    private void Tree(string under, params (string Class, int Count)[] classes)
    {
        int seed = 0;
        foreach (var (c, n) in classes)
            for (int i = 0; i < n; i++) Write(Path.Combine(under, c, $"{i:D3}.png"), Synthetic(seed++));
    }

    [Fact]
    public void Classes_are_the_sorted_folder_names_and_files_are_found_recursively_in_sorted_order()
    {
        Tree("", ("zebra", 2), ("Ant", 1), ("bee", 3));
        Write(Path.Combine("bee", "more", "x.PNG"), Synthetic(9)); // nested, upper-case extension
        File.WriteAllText(Path.Combine(_root, "bee", "notes.txt"), "not an image");
        Write(Path.Combine("bee", ".hidden.png"), Synthetic(10));
        Write(Path.Combine("zebra", ".cache", "y.png"), Synthetic(11));
        Directory.CreateDirectory(Path.Combine(_root, ".git"));

        var split = ImageFolderDataset.Open(_root, validationFraction: 0);
        var train = split.Train;
        Assert.Equal(["Ant", "bee", "zebra"], train.ClassNames); // ordinal, as Python's sorted()
        Assert.Equal(7, train.Count);
        Assert.Equal([1, 4, 2], train.ClassHistogram());
        Assert.Equal(Path.Combine(_root, "bee", "000.png"), train.Files[1]);
        Assert.Equal(Path.Combine(_root, "bee", "more", "x.PNG"), train.Files[4]);
        Assert.Equal(0, split.Validation.Count);
        Assert.Equal(Synthetic(0).Pixels, train.Load(5).Pixels); // zebra/000.png was written first
    }

    [Fact]
    public void The_split_holds_out_floor_n_times_fraction_of_each_class_seeded_and_disjoint()
    {
        Tree("", ("a", 10), ("b", 7), ("c", 1));
        var split = ImageFolderDataset.Open(_root, 0.2, seed: 3);
        Assert.Equal([2, 1, 0], split.Validation.ClassHistogram()); // ⌊10·0.2⌋, ⌊7·0.2⌋, ⌊1·0.2⌋
        Assert.Equal([8, 6, 1], split.Train.ClassHistogram());
        Assert.Empty(split.Train.Files.Intersect(split.Validation.Files));
        Assert.Equal(18, split.Train.Files.Union(split.Validation.Files).Count());

        var again = ImageFolderDataset.Open(_root, 0.2, seed: 3);
        Assert.Equal(split.Validation.Files, again.Validation.Files);
        var other = Enumerable.Range(4, 6).Select(s => ImageFolderDataset.Open(_root, 0.2, seed: (ulong)s).Validation.Files).ToList();
        Assert.Contains(other, f => !f.SequenceEqual(split.Validation.Files)); // the seed chooses the held-out images
        Assert.Contains("0.2 of each class held out (seed 3)", split.Layout);
    }

    [Fact]
    public void Train_and_val_folders_are_used_as_they_are_with_the_training_classes()
    {
        Tree("train", ("cat", 3), ("dog", 2));
        Tree("val", ("dog", 1)); // a class may have no validation images
        var split = ImageFolderDataset.Open(_root);
        Assert.Equal("train/ and val/", split.Layout);
        Assert.Equal(5, split.Train.Count);
        Assert.Equal(1, split.Validation.Count);
        Assert.Equal(["cat", "dog"], split.Validation.ClassNames);
        Assert.Equal(1, split.Validation.Label(0));

        Tree("val", ("cow", 1));
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Open(_root));
        Assert.Contains("the class 'cow' is not among the training classes (cat, dog)", e.Message);
    }

    [Fact]
    public void A_folder_without_classes_and_a_class_without_images_are_one_clear_error()
    {
        Directory.CreateDirectory(_root);
        Write("loose.png", Synthetic(0));
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Open(_root));
        Assert.Contains("no class folders; an image folder holds one folder per class, DIR/<class>/<image>", e.Message);
        Assert.Contains("but 1 images lie directly in it", e.Message);

        Tree("", ("cat", 2));
        Directory.CreateDirectory(Path.Combine(_root, "empty"));
        File.WriteAllText(Path.Combine(_root, "empty", "readme.txt"), "");
        e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Open(_root));
        Assert.Contains("the class 'empty' has no images (.jpg, .jpeg, .png", e.Message);
        Assert.DoesNotContain('\n', e.Message);

        Assert.Throws<DirectoryNotFoundException>(() => ImageFolderDataset.Open(Path.Combine(_root, "missing")));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageFolderDataset.Open(_root, validationFraction: 1));
    }

    [Fact]
    public void Class_indices_json_is_the_documents_format_and_reads_back()
    {
        string json = ImageFolderDataset.ClassIndicesJson(["daisy", "dandelion", "roses"]);
        Assert.Equal("{\n    \"0\": \"daisy\",\n    \"1\": \"dandelion\",\n    \"2\": \"roses\"\n}\n", json);
        string path = Path.Combine(Directory.CreateDirectory(_root).FullName, "class_indices.json");
        File.WriteAllText(path, json);
        Assert.Equal(["daisy", "dandelion", "roses"], Vit.Cli.WeightsInfo.ReadClassNames(path));
        using var doc = JsonDocument.Parse(ImageFolderDataset.ClassIndicesJson(["naïve \"quoted\""]));
        Assert.Equal("naïve \"quoted\"", doc.RootElement.GetProperty("0").GetString());
    }

    [Fact]
    public void With_classes_keeps_those_images_relabelled_in_the_order_given()
    {
        var data = CifarDataset.FromRecords(CifarDatasetTests.Records(CifarKind.Cifar10, 50, i => i % 10), CifarKind.Cifar10, "synthetic", null);
        var five = data.WithClasses([9, 5, 6]);
        Assert.Equal(15, five.Count);
        Assert.Equal(["truck", "dog", "frog"], five.ClassNames);
        Assert.Equal(1, five.Label(0)); // record 5 (dog) comes first, and dog is label 1
        Assert.Equal(0, five.Label(2)); // record 9: truck
        Assert.Equal(data.Image(5).ToArray(), five.CifarPixels(0).ToArray());
        Assert.Equal(Normalization.Cifar10, five.DefaultNormalization);
        Assert.Equal([9, 5, 6], ImageDataset.ParseClasses("truck, 5,frog", data.ClassNames));
        Assert.Contains("'7x' is neither a class index 0–9 nor a class name (airplane,", Assert.Throws<ArgumentException>(() => ImageDataset.ParseClasses("7x", data.ClassNames)).Message);
        Assert.Contains("class 10 does not exist", Assert.Throws<ArgumentException>(() => data.WithClasses([10])).Message);
        Assert.Contains("named twice", Assert.Throws<ArgumentException>(() => data.WithClasses([3, 3])).Message);
    }

    [Fact]
    public void Cifar_images_as_png_files_give_the_records_batches_with_the_same_augmentation()
    {
        // The same 24 CIFAR records, as a binary dataset and as an image folder of PNGs: the CIFAR recipe renders them alike.
        var records = CifarDataset.FromRecords(CifarDatasetTests.Records(CifarKind.Cifar10, 24, i => i % 3), CifarKind.Cifar10, "synthetic", null);
        for (int i = 0; i < records.Count; i++)
            Write(Path.Combine($"c{records.Label(i)}", $"{i:D3}.png"), Image.FromCifar(records.Image(i)));
        var folder = ImageFolderDataset.Open(_root, 0).Train;
        // The folder is ordered by class then file; map each record to its place there.
        var recordOrder = Enumerable.Range(0, 24).OrderBy(i => records.Label(i)).ThenBy(i => i).ToArray();
        var transform = new PadCropTransform(32, Normalization.Cifar10, augment: true);
        Assert.False(transform.IsCostly(records));
        Assert.True(transform.IsCostly(folder));
        var fromRecord = new float[3072];
        var fromFile = new float[3072];
        for (int j = 0; j < 24; j++)
        {
            transform.Apply(records, recordOrder[j], seed: 4, epoch: 1, position: j, fromRecord);
            transform.Apply(folder, j, seed: 4, epoch: 1, position: j, fromFile);
            Assert.Equal(fromRecord, fromFile);
        }
    }

    [Fact]
    public void Cifar_recipe_resizes_other_sizes_then_pads_crops_and_flips()
    {
        // A 40×30 image at S = 16: PIL's Resize(16) + CenterCrop(16) (the eval transform with resize 16), then the crop and flip.
        Write(Path.Combine("a", "0.png"), Synthetic(1, 40, 30));
        var data = ImageFolderDataset.Open(_root, 0).Train;
        var n = Normalization.ImageNet;
        var plain = new float[3 * 16 * 16];
        new EvalTransform(16, n, resizeSize: 16).Apply(data.Load(0), plain);
        var t = new PadCropTransform(16, n, augment: false);
        var rendered = new float[plain.Length];
        t.Apply(data, 0, 0, 0, 0, rendered);
        Assert.Equal(plain, rendered);

        var aug = new PadCropTransform(16, n, augment: true);
        for (long position = 0; position < 20; position++)
        {
            var a = Augmentation.For(7, 2, position);
            aug.Apply(data, 0, 7, 2, position, rendered);
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 16; y++)
                    for (int x = 0; x < 16; x++)
                    {
                        int sy = y + a.OffsetY, sx = (a.Flip ? 15 - x : x) + a.OffsetX;
                        float expected = (uint)sy < 16 && (uint)sx < 16 ? plain[c * 256 + sy * 16 + sx] : n.Apply(c, 0);
                        Assert.Equal(expected, rendered[c * 256 + y * 16 + x]);
                    }
        }
    }

    [Fact]
    public void Imagenet_recipe_is_the_torchvision_transforms_with_draws_of_seed_epoch_and_position()
    {
        Tree("", ("a", 2), ("b", 2));
        var data = ImageFolderDataset.Open(_root, 0).Train;
        var n = Normalization.Half;
        var train = (ResizedCropTransform)SampleTransform.ForTraining(TransformRecipe.ImageNet, 12, n);
        var eval = (CenterCropTransform)SampleTransform.ForEvaluation(TransformRecipe.ImageNet, 12, n);
        Assert.Equal(14, eval.Transform.ResizeSize); // round(12 · 256 / 224)
        var viaDataset = new float[3 * 144];
        var direct = new float[3 * 144];
        train.Apply(data, 2, seed: 5, epoch: 3, position: 9, viaDataset);
        train.Transform.Apply(data.Load(2), TrainTransform.Key(5, 3, 9), direct);
        Assert.Equal(direct, viaDataset);
        eval.Apply(data, 1, 0, 0, 0, viaDataset);
        eval.Transform.Apply(data.Load(1), direct);
        Assert.Equal(direct, viaDataset);
        Assert.IsType<CenterCropTransform>(SampleTransform.ForTraining(TransformRecipe.ImageNet, 12, n, augment: false));
        Assert.Equal(TransformRecipe.Cifar, SampleTransform.DefaultRecipe(32));
        Assert.Equal(TransformRecipe.ImageNet, SampleTransform.DefaultRecipe(224));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Batches_are_the_same_whatever_the_number_of_workers(int workers)
    {
        Tree("", ("a", 9), ("b", 8), ("c", 6));
        var data = ImageFolderDataset.Open(_root, 0).Train;
        var transform = SampleTransform.ForTraining(TransformRecipe.ImageNet, 8, Normalization.ImageNet);
        List<float[]> Epoch(int w)
        {
            using var loader = new ImageLoader(data, 4, new LoaderOptions(Shuffle: true, Seed: 11, DropLast: false, Workers: w), transform);
            Assert.Equal(w, loader.Workers);
            var batches = new List<float[]>();
            foreach (int epoch in new[] { 0, 1 })
            {
                loader.StartEpoch(epoch);
                int expected = 0;
                while (loader.Next(out var b))
                {
                    Assert.Equal(expected++, b.Index);
                    Assert.Equal(b.Count * 3 * 64, b.Images.Length);
                    batches.Add(b.Images.ToArray());
                }
                Assert.Equal(6, expected);
            }
            return batches;
        }
        var one = Epoch(1);
        var many = Epoch(workers);
        Assert.Equal(one.Count, many.Count);
        for (int i = 0; i < one.Count; i++) Assert.Equal(one[i], many[i]);
    }

    [Fact]
    public void A_bad_image_file_fails_its_batch_naming_the_file_after_the_batches_before_it()
    {
        Tree("", ("a", 8));
        string bad = Path.Combine(_root, "a", "003.png");
        File.WriteAllBytes(bad, [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]);
        var data = ImageFolderDataset.Open(_root, 0).Train;
        using var loader = new ImageLoader(data, 2, new LoaderOptions(Shuffle: false, Seed: 0, DropLast: false, Workers: 3),
            SampleTransform.ForEvaluation(TransformRecipe.ImageNet, 8, Normalization.ImageNet));
        loader.StartEpoch(0);
        Assert.True(loader.Next(out var first));
        Assert.Equal(0, first.Index);
        var e = Assert.Throws<InvalidDataException>(() => loader.Next(out _)); // images 2 and 3: 003.png is broken
        Assert.Contains(bad, e.Message);
        Assert.Throws<InvalidDataException>(() => loader.Next(out _));
        loader.StartEpoch(0); // a new epoch clears the error
        Assert.True(loader.Next(out _));
    }

    [Fact]
    public void A_decompression_bomb_is_refused_by_the_pixel_limit()
    {
        Write(Path.Combine("a", "big.png"), Synthetic(0, 300, 200));
        var data = ImageFolderDataset.Open(_root, 0, maxPixels: 50_000).Train;
        Assert.Equal(50_000, data.MaxPixels);
        var e = Assert.Throws<InvalidDataException>(() => data.Load(0));
        Assert.Contains("300×200", e.Message);
    }
}
