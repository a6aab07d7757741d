using System.Diagnostics;
using Vit.Data;

namespace Vit.Cli;

/// <summary>One loader measurement: the fields of <c>vit bench --mode load --json</c>.</summary>
/// <param name="Model">The preset whose input size and transforms are used.</param>
/// <param name="Data">Where the images came from.</param>
/// <param name="Recipe">The transform recipe (<c>cifar</c> or <c>imagenet</c>).</param>
/// <param name="Size">The output side S.</param>
/// <param name="Batch">Images per batch.</param>
/// <param name="Workers">The loader's worker threads.</param>
/// <param name="ImagesPerSecond">Images served per second of wall time.</param>
/// <param name="Images">Images served while timed.</param>
public sealed record LoaderBenchResult(string Model, string Data, string Recipe, int Size, int Batch, int Workers, double ImagesPerSecond, long Images);

/// <summary>
/// <c>vit bench --mode load</c>: the training loader alone (decode, augment, normalize, on its
/// workers, as <c>vit train</c> runs it), so that its rate can be set against a training step's.
/// </summary>
public static class LoaderBench
{
    /// <summary>Serves batches of <paramref name="data"/> for <paramref name="duration"/> after one warm-up batch.</summary>
    public static LoaderBenchResult Run(Preset preset, DataOptions data, TransformRecipe? recipe, int batch, int workers, TimeSpan duration)
    {
        var (train, _) = DataSource.Load(data);
        int size = preset.Config.ImageSize;
        var chosen = recipe ?? SampleTransform.DefaultRecipe(size);
        var transform = SampleTransform.ForTraining(chosen, size, train.DefaultNormalization);
        using var loader = new ImageLoader(train, batch, new LoaderOptions(Shuffle: true, Seed: 0, DropLast: true, Workers: workers), transform);
        int epoch = 0;
        loader.StartEpoch(epoch);
        bool Next(out LoaderBatch b)
        {
            if (loader.Next(out b)) return true;
            loader.StartEpoch(++epoch);
            return loader.Next(out b);
        }
        Next(out _); // warm-up: the workers are running and the first batch is decoded
        long images = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration || images == 0)
        {
            Next(out var b);
            images += b.Count;
        }
        double seconds = clock.Elapsed.TotalSeconds;
        return new LoaderBenchResult(preset.Name, train.Source, SampleTransform.Name(chosen), size, batch, loader.Workers, images / seconds, images);
    }
}
