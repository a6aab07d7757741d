using System.Text.RegularExpressions;
using Vit.Training;
using Xunit;

namespace Vit.Tests.Training;

/// <summary>Plain progress lines for logs, round plot ticks with accuracy in percent, and the recipe's seed as a number.</summary>
public sealed class ProgressAndPlotTests
{
    private static BatchProgress Batch(int epoch, int batch) => new(epoch, batch, 10, 2.0 - batch * 0.1, 0.1 * batch, 123.4, 1e-3);

    [Fact]
    public void Progress_lines_come_every_interval_and_once_per_epoch_without_terminal_codes()
    {
        var output = new StringWriter();
        var now = TimeSpan.Zero;
        var lines = new ProgressLines(output, epochs: 2, TimeSpan.FromSeconds(5), () => now);
        for (int b = 1; b <= 10; b++)
        {
            now += TimeSpan.FromSeconds(2); // a batch every 2 s, timed from the first: lines at batches 4 and 7; none for the last
            lines.Batch(Batch(1, b));
        }
        lines.Epoch(new EpochMetrics(1, 1.5, 0.4, 1.4, 0.45, 1e-3, 123.4, 20, 10));
        string[] written = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, written.Length);
        Assert.Equal("  epoch 1/2 batch 4/10  loss 1.6000 acc 40.0%  123.4 img/s  lr 1.00e-3  epoch ends in 12 s", written[0]);
        Assert.Equal("  epoch 1/2 batch 7/10  loss 1.3000 acc 70.0%  123.4 img/s  lr 1.00e-3  epoch ends in 6 s", written[1]);
        Assert.Equal("epoch 1/2  train loss 1.5000 acc 40.0%  test loss 1.4000 acc 45.0%  lr 1.00e-3  123.4 img/s  0.3 min", written[2]);
        Assert.DoesNotContain('\u001b', output.ToString());
        Assert.DoesNotContain('\r', output.ToString());

        // A new epoch restarts the interval and the remaining-time estimate.
        output.GetStringBuilder().Clear();
        lines.Batch(Batch(2, 1));
        now += TimeSpan.FromSeconds(6);
        lines.Batch(Batch(2, 2));
        Assert.Equal("  epoch 2/2 batch 2/10  loss 1.8000 acc 20.0%  123.4 img/s  lr 1.00e-3  epoch ends in 48 s", output.ToString().TrimEnd());
    }

    [Theory]
    [InlineData(0.0, 87.5, 5, "0 25 50 75 100")]
    [InlineData(1.234, 2.301, 5, "1 1.5 2 2.5")]
    [InlineData(0.3, 0.3, 5, "-0.25 0 0.25 0.5 0.75 1")]
    [InlineData(0.0132, 0.0191, 5, "0.012 0.014 0.016 0.018 0.02")]
    [InlineData(1, 8, 10, "1 2 3 4 5 6 7 8")]
    [InlineData(1, 1, 10, "0 1 2")]
    [InlineData(0.0, 0.61, 5, "0 0.2 0.4 0.6 0.8")]
    public void Axis_ticks_are_round_values_that_cover_the_data(double low, double high, int count, string expected)
    {
        double[] ticks = SvgPlot.Ticks(low, high, count, minStep: count == 10 ? 1 : 0);
        Assert.Equal(expected, string.Join(' ', ticks.Select(t => t.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        Assert.True(ticks[0] <= low && ticks[^1] >= high);
    }

    [Fact]
    public void The_training_plot_shows_accuracy_in_percent_on_round_ticks()
    {
        var rows = new[]
        {
            new EpochMetrics(1, 2.1, 0.213, 1.93, 0.301, 1e-3, 100, 10, 10),
            new EpochMetrics(2, 1.71, 0.372, 1.64, 0.418, 1e-3, 100, 20, 20),
            new EpochMetrics(3, 1.52, 0.455, 1.49, 0.477, 1e-3, 100, 30, 30),
        };
        string svg = SvgPlot.TrainingCurves(rows, "run");
        Assert.Contains(">accuracy (%)</text>", svg);
        var labels = Regex.Matches(svg, "text-anchor=\"end\">([^<]*)</text>").Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(["1.4", "1.6", "1.8", "2", "2.2", "0", "20", "40", "60"], labels);
    }

    [Fact]
    public void The_recipe_seed_is_a_number_and_old_string_seeds_still_read()
    {
        string json = new TrainOptions { Seed = 7 }.ToJson();
        Assert.Contains("\"seed\": 7", json);
        Assert.Equal(7UL, TrainOptionsJson.Parse(json, "recipe.json").Seed);
        Assert.Equal(3UL, TrainOptionsJson.Parse("{\"seed\": \"3\"}", "old.json").Seed);
        Assert.Throws<InvalidDataException>(() => TrainOptionsJson.Parse("{\"seed\": -1}", "bad.json"));
    }
}
