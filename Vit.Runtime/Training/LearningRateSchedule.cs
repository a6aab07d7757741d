namespace Vit.Training;

/// <summary>
/// Linear warmup, then cosine decay from the peak to a final fraction of it, per optimizer step
/// (the seeds' train.py: <c>lf = ((1 + cos(π·x)) / 2)·(1 − lrf) + lrf</c> after warmup).
/// </summary>
public sealed record LearningRateSchedule
{
    /// <summary>Creates a schedule.</summary>
    /// <param name="peak">The learning rate at the end of warmup.</param>
    /// <param name="warmupSteps">Steps of linear warmup, from peak/warmupSteps up to peak.</param>
    /// <param name="totalSteps">Steps in the whole run; the last one ends at <c>peak·finalFraction</c>.</param>
    /// <param name="finalFraction">The seeds' <c>lrf</c>: the final learning rate as a fraction of the peak.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public LearningRateSchedule(double peak, long warmupSteps, long totalSteps, double finalFraction)
    {
        if (!(peak > 0 && double.IsFinite(peak)))
            throw new ArgumentOutOfRangeException(nameof(peak), peak, $"The learning rate must be finite and > 0, found {peak}.");
        if (totalSteps < 1)
            throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, $"A run needs at least one step, found {totalSteps}.");
        if (warmupSteps < 0 || warmupSteps > totalSteps)
            throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, $"Warmup must be between 0 and the {totalSteps} steps of the run, found {warmupSteps}.");
        if (!(finalFraction >= 0 && finalFraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(finalFraction), finalFraction, $"The final fraction lrf must be in [0, 1], found {finalFraction}.");
        Peak = peak;
        WarmupSteps = warmupSteps;
        TotalSteps = totalSteps;
        FinalFraction = finalFraction;
    }

    /// <summary>The learning rate at the end of warmup.</summary>
    public double Peak { get; }

    /// <summary>Warmup steps.</summary>
    public long WarmupSteps { get; }

    /// <summary>Steps in the run.</summary>
    public long TotalSteps { get; }

    /// <summary>Final learning rate as a fraction of <see cref="Peak"/>.</summary>
    public double FinalFraction { get; }

    /// <summary>The learning rate of 0-based step <paramref name="step"/>.</summary>
    public double At(long step)
    {
        if (step < WarmupSteps) return Peak * (step + 1) / WarmupSteps;
        long decaySteps = TotalSteps - WarmupSteps;
        double x = decaySteps <= 1 ? 1 : Math.Clamp((double)(step - WarmupSteps) / (decaySteps - 1), 0, 1);
        return Peak * (((1 + Math.Cos(Math.PI * x)) / 2) * (1 - FinalFraction) + FinalFraction);
    }
}
