using System.Text;
using System.Text.Json;
using Vit.Data;
using Vit.Imaging;
using Vit.IO;
using Vit.Numerics;
using Xunit;

namespace Vit.Tests.Imaging;

/// <summary>
/// Vit.Imaging's transforms against PIL 9.4 and torchvision 0.14 (Debian's python3-pil and
/// python3-torchvision) on the committed fixture of tools/make_transform_fixtures.py: every 8-bit
/// output byte for byte, the float outputs within 1e-6 (far below one 8-bit step after
/// normalization, about 0.008), the RandomResizedCrop fallback exactly, and the random draw by
/// its properties (torch's generator is not reproduced).
/// </summary>
public sealed class TransformTests
{
    private static readonly Lazy<Fixture> Data = new(() => new Fixture(Path.Combine(AppContext.BaseDirectory, "Fixtures", "transforms", "transforms.safetensors")));

    private sealed class Fixture
    {
        public readonly Dictionary<string, Image> Sources = [];
        public readonly List<JsonElement> Cases = [];
        public readonly List<JsonElement> Fallbacks = [];
        public readonly List<JsonElement> Statistics = [];
        private readonly Dictionary<string, byte[]> _bytes = [];
        private readonly Dictionary<string, float[]> _floats = [];
        private readonly Dictionary<string, IReadOnlyList<long>> _shapes = [];

        public Fixture(string path)
        {
            using var file = SafeTensorsFile.Open(path);
            foreach (var info in file.Tensors)
            {
                _shapes[info.Name] = info.Shape;
                if (info.DType == SafeTensorDType.U8)
                    _bytes[info.Name] = Array.ConvertAll(file.ReadInt64s(info.Name), v => (byte)v);
                else
                    _floats[info.Name] = file.ReadSingles(info.Name);
            }
            foreach (var (name, _) in _bytes.Where(kv => kv.Key.StartsWith("source/", StringComparison.Ordinal)).ToList())
                Sources[name["source/".Length..]] = ImageOf(name);
            Cases.AddRange(JsonDocument.Parse(file.Metadata["cases"]).RootElement.EnumerateArray());
            Fallbacks.AddRange(JsonDocument.Parse(file.Metadata["fallbacks"]).RootElement.EnumerateArray());
            Statistics.AddRange(JsonDocument.Parse(file.Metadata["statistics"]).RootElement.EnumerateArray());
        }

        public Image ImageOf(string tensor)
        {
            var s = _shapes[tensor];
            return new Image((int)s[1], (int)s[0], (int)s[2], _bytes[tensor]);
        }

        public float[] FloatsOf(string tensor) => _floats[tensor];

        public IEnumerable<JsonElement> OfKind(string kind) => Cases.Where(c => c.GetProperty("kind").GetString() == kind);
    }

    private static int Int(JsonElement c, string name) => c.GetProperty(name).GetInt32();

    private static Image Source(JsonElement c) => Data.Value.Sources[c.GetProperty("source").GetString()!];

    private static Normalization Norm(JsonElement c) => Normalization.Parse(c.GetProperty("norm").GetString()!);

    /// <summary>Runs <paramref name="actual"/> on every case of <paramref name="kind"/> and requires PIL's bytes exactly.</summary>
    private static void AllEqualPil(string kind, Func<JsonElement, Image> actual)
    {
        var failures = new StringBuilder();
        int cases = 0;
        foreach (var c in Data.Value.OfKind(kind))
        {
            cases++;
            var expected = Data.Value.ImageOf(c.GetProperty("tensor").GetString()!);
            var got = actual(c);
            if (got.Width != expected.Width || got.Height != expected.Height || got.Channels != expected.Channels)
            {
                failures.AppendLine($"{c}: {got.Width}×{got.Height}×{got.Channels}, PIL {expected.Width}×{expected.Height}×{expected.Channels}");
                continue;
            }
            int differing = 0, worst = 0, at = -1;
            for (int i = 0; i < got.Pixels.Length; i++)
            {
                int d = Math.Abs(got.Pixels[i] - expected.Pixels[i]);
                if (d == 0) continue;
                differing++;
                if (d > worst) (worst, at) = (d, i);
            }
            if (differing > 0)
                failures.AppendLine($"{c}: {differing} of {got.Pixels.Length} bytes differ, worst {worst} at byte {at} ({got.Pixels[at]} vs PIL {expected.Pixels[at]})");
        }
        Assert.True(cases > 0, $"The fixture has no '{kind}' case.");
        Assert.True(failures.Length == 0, failures.ToString());
    }

    /// <summary>Requires |actual − expected| ≤ 1e-6 on every case of <paramref name="kind"/>, printing the worst element.</summary>
    private static void AllCloseTorch(string kind, Func<JsonElement, float[]> actual)
    {
        const float atol = 1e-6f;
        var failures = new StringBuilder();
        int cases = 0;
        foreach (var c in Data.Value.OfKind(kind))
        {
            cases++;
            float[] expected = Data.Value.FloatsOf(c.GetProperty("tensor").GetString()!);
            float[] got = actual(c);
            Assert.Equal(expected.Length, got.Length);
            float worst = 0;
            int at = 0;
            for (int i = 0; i < got.Length; i++)
            {
                float d = Math.Abs(got[i] - expected[i]);
                if (d > worst) (worst, at) = (d, i);
            }
            if (!(worst <= atol))
                failures.AppendLine($"{c}: worst |difference| {worst} at element {at} ({got[at]} vs torchvision {expected[at]})");
        }
        Assert.True(cases > 0, $"The fixture has no '{kind}' case.");
        Assert.True(failures.Length == 0, failures.ToString());
    }

    [Fact]
    public void Fixture_was_made_with_the_documented_versions()
    {
        using var file = SafeTensorsFile.Open(Path.Combine(AppContext.BaseDirectory, "Fixtures", "transforms", "transforms.safetensors"));
        Assert.StartsWith("PIL 9.4.0, torchvision 0.14.", file.Metadata["versions"]);
        Assert.Equal(6, Data.Value.Sources.Count);
        Assert.Contains(Data.Value.Sources.Values, s => s.Channels == 1);
    }

    [Fact]
    public void Resize_to_width_and_height_equals_PIL_bilinear() =>
        AllEqualPil("resize", c => Transforms.Resize(Source(c), Int(c, "width"), Int(c, "height")));

    [Fact]
    public void Resize_shorter_side_equals_torchvision_Resize_int() =>
        AllEqualPil("resize_shorter", c => Transforms.ResizeShorterSide(Source(c), Int(c, "size")));

    [Fact]
    public void Resize_then_center_crop_equals_torchvision() =>
        AllEqualPil("resize_center_crop", c => Transforms.CenterCrop(Transforms.ResizeShorterSide(Source(c), Int(c, "size")), Int(c, "crop")));

    [Fact]
    public void Center_crop_equals_torchvision_including_zero_padding() =>
        AllEqualPil("center_crop", c => Transforms.CenterCrop(Source(c), Int(c, "crop")));

    [Fact]
    public void Resized_crop_on_given_boxes_equals_torchvision() =>
        AllEqualPil("resized_crop", c => Transforms.ResizedCrop(Source(c),
            new CropBox(Int(c, "left"), Int(c, "top"), Int(c, "width"), Int(c, "height")), Int(c, "size")));

    [Fact]
    public void Eval_transform_equals_torchvision_Resize_CenterCrop_ToTensor_Normalize() =>
        AllCloseTorch("eval", c =>
        {
            var t = new EvalTransform(Int(c, "size"), Norm(c));
            var chw = new float[t.OutputLength];
            t.Apply(Source(c), chw);
            return chw;
        });

    [Fact]
    public void Train_transform_on_a_given_box_and_flip_equals_torchvision() =>
        AllCloseTorch("train", c =>
        {
            var t = new TrainTransform(Int(c, "size"), Norm(c));
            var chw = new float[t.OutputLength];
            t.Apply(Source(c), new CropBox(Int(c, "left"), Int(c, "top"), Int(c, "width"), Int(c, "height")), c.GetProperty("flip").GetBoolean(), chw);
            return chw;
        });

    [Fact]
    public void ToTensor_of_the_8_bit_pipeline_equals_the_eval_transform()
    {
        // The standalone functions composed by hand give the fused pipeline's floats exactly.
        foreach (var c in Data.Value.OfKind("eval"))
        {
            var image = Source(c);
            int size = Int(c, "size");
            var t = new EvalTransform(size, Norm(c));
            var fused = new float[t.OutputLength];
            t.Apply(image, fused);
            var composed = new float[t.OutputLength];
            Transforms.ToTensor(Transforms.CenterCrop(Transforms.ResizeShorterSide(image, t.ResizeSize), size), Norm(c), composed);
            Assert.Equal(fused, composed);
        }
    }

    [Fact]
    public void Fallback_equals_torchvision_get_params_when_every_attempt_fails()
    {
        foreach (var f in Data.Value.Fallbacks)
        {
            int w = Int(f, "width"), h = Int(f, "height");
            double[] scale = [.. f.GetProperty("scale").EnumerateArray().Select(e => e.GetDouble())];
            double[] ratio = [.. f.GetProperty("ratio").EnumerateArray().Select(e => e.GetDouble())];
            var expected = new CropBox(Int(f, "left"), Int(f, "top"), Int(f, "crop_width"), Int(f, "crop_height"));
            Assert.True(expected == Transforms.FallbackCropBox(w, h, ratio[0], ratio[1]), $"{f}: FallbackCropBox {Transforms.FallbackCropBox(w, h, ratio[0], ratio[1])}");
            // Every attempt fails for these sizes and ranges, whatever the random numbers: the draw is the fallback.
            for (ulong seed = 0; seed < 50; seed++)
            {
                var rng = new Rng(seed);
                var box = Transforms.RandomResizedCropBox(w, h, ref rng, scale[0], scale[1], ratio[0], ratio[1]);
                Assert.True(expected == box, $"{f}, seed {seed}: drew {box}");
            }
        }
    }

    [Fact]
    public void Random_resized_crop_draws_have_torchvisions_distribution()
    {
        // Moments of 20000 draws of ours (Rng) against those of 20000 draws of torchvision's get_params
        // (torch's generator) on the same image sizes: each within 5 standard errors of the difference.
        var failures = new StringBuilder();
        foreach (var st in Data.Value.Statistics)
        {
            int width = Int(st, "width"), height = Int(st, "height"), draws = Int(st, "draws");
            double area = (double)width * height;
            var central = Transforms.FallbackCropBox(width, height);
            double sumFraction = 0, sumLogRatio = 0, sumLeft = 0;
            int lefts = 0, centrals = 0;
            for (int n = 0; n < draws; n++)
            {
                var rng = new Rng(TrainTransform.Key(7, 3, n));
                var b = Transforms.RandomResizedCropBox(width, height, ref rng);
                Assert.True(b.IsInside(width, height), $"{b} is not inside {width}×{height}");
                if (b == central) { centrals++; continue; }
                // w = round(√(area·r)), h = round(√(area/r)) with the fraction in [0.08, 1] and r in [3/4, 4/3]:
                // the drawn sides are within half a pixel of these.
                Assert.True((b.Width + 0.5) * (b.Height + 0.5) >= 0.08 * area && (b.Width - 0.5) * (b.Height - 0.5) <= area,
                    $"{b} in {width}×{height}: area fraction {b.Width * b.Height / area}");
                Assert.True((b.Width + 0.5) / (b.Height - 0.5) >= 0.75 && (b.Width - 0.5) / (b.Height + 0.5) <= 4.0 / 3.0,
                    $"{b} in {width}×{height}: ratio {(double)b.Width / b.Height}");
                sumFraction += b.Width * b.Height / area;
                sumLogRatio += Math.Log((double)b.Width / b.Height);
                if (b.Width < width) { sumLeft += (double)b.Left / (width - b.Width); lefts++; }
            }
            // torchvision's moments include the central crops; add them back the same way.
            sumFraction += centrals * central.Width * central.Height / area;
            sumLogRatio += centrals * Math.Log((double)central.Width / central.Height);
            if (central.Width < width) { sumLeft += centrals * (double)central.Left / (width - central.Width); lefts += centrals; }
            void Compare(string what, double ours, double theirs, double sd, int count, int theirCount)
            {
                double tolerance = 5 * sd * Math.Sqrt(1.0 / count + 1.0 / theirCount);
                if (!(Math.Abs(ours - theirs) <= tolerance))
                    failures.AppendLine($"{width}×{height}: {what} {ours:G5}, torchvision {theirs:G5} (tolerance {tolerance:G3})");
            }
            Compare("mean area fraction", sumFraction / draws, st.GetProperty("fraction_mean").GetDouble(), st.GetProperty("fraction_sd").GetDouble(), draws, draws);
            Compare("mean log ratio", sumLogRatio / draws, st.GetProperty("log_ratio_mean").GetDouble(), st.GetProperty("log_ratio_sd").GetDouble(), draws, draws);
            Compare("mean relative left offset", sumLeft / lefts, st.GetProperty("left_mean").GetDouble(), st.GetProperty("left_sd").GetDouble(), lefts, Int(st, "left_count"));
            double rate = st.GetProperty("central_rate").GetDouble();
            Compare("central-crop rate", (double)centrals / draws, rate, Math.Sqrt(Math.Max(rate * (1 - rate), 1.0 / draws)), draws, draws);
        }
        Assert.True(Data.Value.Statistics.Count >= 5, "The fixture has no draw statistics.");
        Assert.True(failures.Length == 0, failures.ToString());
    }

    [Fact]
    public void Train_draws_are_a_function_of_seed_epoch_and_position()
    {
        var t = new TrainTransform(224, Normalization.Half);
        int distinct = 0, flips = 0;
        for (int p = 0; p < 1000; p++)
        {
            var a = new Rng(TrainTransform.Key(1, 2, p));
            var b = new Rng(TrainTransform.Key(1, 2, p));
            var c = new Rng(TrainTransform.Key(1, 3, p));
            var da = t.Draw(500, 375, ref a);
            Assert.Equal(da, t.Draw(500, 375, ref b));
            if (da != t.Draw(500, 375, ref c)) distinct++;
            if (da.Flip) flips++;
        }
        Assert.True(distinct > 990, $"only {distinct} of 1000 draws changed with the epoch");
        Assert.True(flips is > 440 and < 560, $"{flips} flips in 1000 draws at p = 0.5");
        Assert.NotEqual(TrainTransform.Key(1, 2, 3), TrainTransform.Key(2, 2, 3));
        var never = new TrainTransform(8, Normalization.Half, flipProbability: 0);
        var rng = new Rng(5);
        for (int i = 0; i < 100; i++) Assert.False(never.Draw(10, 10, ref rng).Flip);
    }

    [Fact]
    public void Train_transform_by_key_equals_the_explicit_draw()
    {
        var image = Data.Value.Sources["noise173x97"];
        var t = new TrainTransform(32, Normalization.ImageNet);
        var byKey = new float[t.OutputLength];
        var explicitDraw = new float[t.OutputLength];
        for (int p = 0; p < 20; p++)
        {
            ulong key = TrainTransform.Key(11, 0, p);
            t.Apply(image, key, byKey);
            var rng = new Rng(key);
            var (box, flip) = t.Draw(image.Width, image.Height, ref rng);
            var expected = Transforms.ResizedCrop(image, box, 32);
            if (flip) expected = Transforms.HorizontalFlip(expected);
            Transforms.ToTensor(expected, Normalization.ImageNet, explicitDraw);
            Assert.Equal(explicitDraw, byKey);
        }
    }

    [Fact]
    public void Pipelines_drop_alpha_and_expand_gray_as_convert_RGB()
    {
        var rgb = Data.Value.Sources["noise173x97"];
        var rgba = new byte[rgb.Width * rgb.Height * 4];
        var gray = new byte[rgb.Width * rgb.Height];
        var grayRgb = new byte[rgb.Width * rgb.Height * 3];
        var la = new byte[rgb.Width * rgb.Height * 2];
        for (int i = 0; i < rgb.Width * rgb.Height; i++)
        {
            for (int c = 0; c < 3; c++) rgba[4 * i + c] = rgb.Pixels[3 * i + c];
            rgba[4 * i + 3] = (byte)(i * 37);
            gray[i] = rgb.Pixels[3 * i + 1];
            grayRgb[3 * i] = grayRgb[3 * i + 1] = grayRgb[3 * i + 2] = gray[i];
            la[2 * i] = gray[i];
            la[2 * i + 1] = (byte)(i * 11);
        }
        var eval = new EvalTransform(24, Normalization.Cifar10);
        var train = new TrainTransform(24, Normalization.Cifar10);
        float[] Run(Image image, bool training)
        {
            var chw = new float[eval.OutputLength];
            if (training) train.Apply(image, 99UL, chw); else eval.Apply(image, chw);
            return chw;
        }
        foreach (bool training in new[] { false, true })
        {
            Assert.Equal(Run(rgb, training), Run(new Image(rgb.Width, rgb.Height, 4, rgba), training));
            var expandedGray = Run(new Image(rgb.Width, rgb.Height, 3, grayRgb), training);
            Assert.Equal(expandedGray, Run(new Image(rgb.Width, rgb.Height, 1, gray), training));
            Assert.Equal(expandedGray, Run(new Image(rgb.Width, rgb.Height, 2, la), training));
        }
    }

    [Fact]
    public void Steady_state_pipeline_calls_allocate_nothing()
    {
        var image = Data.Value.Sources["noise173x97"];
        var gray = Data.Value.Sources["gray61x89"];
        var eval = new EvalTransform(32, Normalization.Half);
        var train = new TrainTransform(32, Normalization.Half);
        var chw = new float[eval.OutputLength];
        long position = 0;
        void Step()
        {
            eval.Apply(image, chw);
            eval.Apply(gray, chw);
            train.Apply(image, TrainTransform.Key(3, 0, position), chw);
            train.Apply(gray, TrainTransform.Key(3, 0, position), chw);
            position++;
        }
        var result = SteadyState.Allocation(Step, GC.GetAllocatedBytesForCurrentThread, window: 5, confirm: 200, maxWindows: 100);
        Assert.True(result.Quiet && result.ConfirmedBytes == 0, result.ToString());
    }

    [Theory]
    [InlineData(224, 256)]
    [InlineData(384, 439)]
    [InlineData(32, 37)]
    [InlineData(8, 9)]
    public void Eval_resize_is_round_of_size_times_256_over_224(int size, int resize)
    {
        Assert.Equal(resize, Transforms.EvalResizeSize(size));
        Assert.Equal(resize, new EvalTransform(size, Normalization.Half).ResizeSize);
    }

    [Fact]
    public void Shorter_side_size_truncates_as_torchvision()
    {
        Assert.Equal((37, 65), Transforms.ShorterSideSize(97, 173, 37));   // 37 · 173 / 97 = 65.99
        Assert.Equal((65, 37), Transforms.ShorterSideSize(173, 97, 37));
        Assert.Equal((256, 256), Transforms.ShorterSideSize(32, 32, 256));
        Assert.Equal((341, 256), Transforms.ShorterSideSize(640, 480, 256)); // 341.33
    }

    [Fact]
    public void Errors_name_what_was_expected()
    {
        var image = new Image(10, 8, 3, new byte[240]);
        var box = Assert.Throws<ArgumentOutOfRangeException>(() => Transforms.ResizedCrop(image, new CropBox(5, 0, 6, 8), 4));
        Assert.Contains("inside the 10×8 image", box.Message);
        var length = Assert.Throws<ArgumentException>(() => new EvalTransform(4, Normalization.Half).Apply(image, new float[47]));
        Assert.Contains("needs 48 floats, not 47", length.Message);
        var range = Assert.Throws<ArgumentOutOfRangeException>(() => new TrainTransform(4, Normalization.Half, minScale: 0.5, maxScale: 0.1));
        Assert.Contains("scale range", range.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new EvalTransform(32, Normalization.Half, resizeSize: 31));
    }

    [Fact]
    public void Normalization_parses_presets_and_explicit_values()
    {
        Assert.Equal(Normalization.ImageNet, Normalization.Parse("imagenet"));
        Assert.Equal(Normalization.Half, Normalization.Parse("HALF"));
        Assert.Equal(new Normalization(0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f), Normalization.Half);
        Assert.Equal(Normalization.Cifar10, Normalization.Parse("cifar10"));
        Assert.Equal(Normalization.Cifar100, Normalization.Parse(" cifar100 "));
        Assert.Equal(new Normalization(0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f), Normalization.Parse("0.1,0.2,0.3:0.4,0.5,0.6"));
        Assert.Equal(new Normalization(0, 0, 0, 1, 1, 1), Normalization.Parse("0,0,0:1e0,1,1"));
        foreach (var bad in new[] { "imagenet21k", "", "0.5:0.5", "0.5,0.5,0.5:0.5,0.5", "0.5,0.5,0.5:0.5,0,0.5", "0,5,0,5,0,5:0,5,0,5,0,5", "a,b,c:d,e,f", "0,0,0:1,1,1:2" })
        {
            var e = Assert.Throws<FormatException>(() => Normalization.Parse(bad));
            Assert.Contains($"\"{bad}\"", e.Message);
            Assert.Contains("imagenet, half, cifar10, cifar100", e.Message);
            Assert.Contains("m1,m2,m3:s1,s2,s3", e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
    }
}
