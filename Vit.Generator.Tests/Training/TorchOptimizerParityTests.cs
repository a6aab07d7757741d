using System.Globalization;
using Vit.IO;
using Vit.Tests.Model;
using Vit.Training;
using Xunit;
using static Vit.Tests.Kernels.KernelTestSupport;

namespace Vit.Tests.Training;

/// <summary>
/// Our AdamW and SGD against torch.optim step by step (tools/make_optimizer_reference.py): six
/// parameters of <see cref="TinyToken"/> (decayed and not), fixed float32 gradients, varying learning
/// rates, gradient scale and clipping; torch computed in float64 from the same float32 inputs.
/// </summary>
/// <remarks>
/// <para>
/// Tolerance: |ours − torch| ≤ 5e-8 + 1e-6·|torch| per element after every step: float32 rounding
/// and nothing more. Our update runs in float32 and rounds each value a few times per step at
/// 2^-24 ≈ 6e-8 relative; the parameters are O(0.01–1), so after six steps the error is a few ulps
/// of the largest value a parameter passed through (measured: at most 2.6e-8 absolute, on values
/// that moved towards zero; hence the atol of 5e-8, about one ulp at 0.5). Every case moves its
/// parameters by at least 1e-2 (asserted), so a wrong bias correction, decay factor, clip or
/// momentum rule shows by orders of magnitude.
/// </para>
/// <para>
/// The complements 1 − β are rounded from double, as torch computes them: from the rounded β in
/// float, (float)0.999 = 0.99900001287 would make 1 − β₂ 1.29e-5 too small and the parameters drift by
/// up to 8.7e-8 in six steps of the default-β case, which the strict <c>adamw</c> rows would catch.
/// </para>
/// </remarks>
public sealed class TorchOptimizerParityTests
{
    private const double Rtol = 1e-6, Atol = 5e-8;

    private static string FixturePath => Path.Combine(AppContext.BaseDirectory, "Fixtures", "optimizer.reference.safetensors");

    private sealed class Fixture : IDisposable
    {
        public Fixture()
        {
            File = SafeTensorsFile.Open(FixturePath);
            Steps = int.Parse(File.Metadata["Steps"], CultureInfo.InvariantCulture);
            Names = File.Metadata["Parameters"].Split(',');
            Decayed = File.Metadata["Decayed"].Split(',').ToHashSet(StringComparer.Ordinal);
        }

        public SafeTensorsFile File { get; }

        public int Steps { get; }

        public string[] Names { get; }

        public HashSet<string> Decayed { get; }

        public string Text(string key) => File.Metadata[key];

        public double Number(string key) => double.Parse(File.Metadata[key], CultureInfo.InvariantCulture);

        public OptimizerOptions Options(string @case)
        {
            var kind = Enum.Parse<OptimizerKind>(Text(@case + ".Kind"));
            var options = new OptimizerOptions
            {
                Kind = kind,
                WeightDecay = Number(@case + ".WeightDecay"),
                ClipNorm = Number(@case + ".ClipNorm"),
            };
            return kind == OptimizerKind.AdamW
                ? options with { Beta1 = Number(@case + ".Beta1"), Beta2 = Number(@case + ".Beta2"), Epsilon = Number(@case + ".Epsilon") }
                : options with { Momentum = Number(@case + ".Momentum"), Nesterov = Text(@case + ".Nesterov") == "true" };
        }

        public void Dispose() => File.Dispose();
    }

    /// <summary>A TinyToken whose fixture parameters hold the fixture's initial values.</summary>
    private static TinyToken Model(Fixture fixture)
    {
        var model = new TinyToken(seed: 11, maxBatch: 1);
        foreach (string name in fixture.Names)
        {
            var info = model.Memory.Table.Parameters.Single(p => p.Name == name);
            var stored = fixture.File.Tensors.Single(t => t.Name == "param." + name);
            Assert.Equal(info.Shape.Select(d => (long)d), stored.Shape);
            // The fixture decays exactly the parameters our table decays (timm's no-decay rule).
            Assert.True(info.WeightDecay == fixture.Decayed.Contains(name), $"{name}: our WeightDecay is {info.WeightDecay}");
            fixture.File.ReadSingles("param." + name).CopyTo(model.Parameter(name));
        }
        return model;
    }

    private static double[] Doubles(ReadOnlySpan<float> values)
    {
        var d = new double[values.Length];
        for (int i = 0; i < d.Length; i++) d[i] = values[i];
        return d;
    }

    /// <summary>Our optimizer for <paramref name="case"/>, training only the fixture's parameters.</summary>
    private static Optimizer CreateOptimizer(Fixture fixture, string @case, TinyToken model)
    {
        var trained = fixture.Names.ToHashSet(StringComparer.Ordinal);
        return Optimizer.Create(model.Memory, fixture.Options(@case), p => trained.Contains(p.Name));
    }

    /// <summary>Runs <paramref name="case"/>'s steps on our optimizer; checks the norms, and the parameters after every step.</summary>
    /// <param name="rtol">With <paramref name="atol"/>, the tolerance of the per-step parameter check; NaN skips that check.</param>
    private static void Replay(Fixture fixture, string @case, TinyToken model, Optimizer optimizer, double rtol = double.NaN, double atol = double.NaN)
    {
        double[] lrs = fixture.File.ReadDoubles(@case + ".lr"), norms = fixture.File.ReadDoubles(@case + ".grad_norm");
        float scale = (float)fixture.Number(@case + ".GradientScale");
        for (int t = 1; t <= fixture.Steps; t++)
        {
            model.ZeroGradients();
            foreach (string name in fixture.Names) fixture.File.ReadSingles($"grad.{t}.{name}").CopyTo(model.Gradient(name));
            double norm = optimizer.Step(lrs[t - 1], scale);
            // The norm is summed in double from float squares: agreement to a few float ulps.
            AssertClose([norms[t - 1]], [norm], 1e-6, 0, $"{@case} step {t}: gradient norm before clipping");
            if (double.IsNaN(rtol)) continue;
            foreach (string name in fixture.Names)
                AssertClose(fixture.File.ReadDoubles($"{@case}.{t}.{name}"), Doubles(model.Parameter(name)), rtol, atol, $"{@case} step {t}: {name}");
        }
        Assert.Equal(fixture.Steps, optimizer.Steps);
    }

    // The cases whose semantics are ours (decoupled decay); sgd_coupled is torch.optim.SGD's L2 decay.
    [Theory]
    [InlineData("adamw")]
    [InlineData("adamw_clip")]
    [InlineData("sgd_nesterov")]
    [InlineData("sgd")]
    [InlineData("sgd_clip")]
    public void Every_step_matches_torch_optim(string @case)
    {
        using var fixture = new Fixture();
        using var untouched = new TinyToken(seed: 11, maxBatch: 1);
        using var model = Model(fixture);
        using var optimizer = CreateOptimizer(fixture, @case, model);
        Replay(fixture, @case, model, optimizer, Rtol, Atol);
        // The check has teeth: every case moves its parameters far more than the tolerance.
        double moved = fixture.Names.Max(n =>
            fixture.File.ReadDoubles($"{@case}.{fixture.Steps}.{n}").Zip(fixture.File.ReadSingles("param." + n), (a, b) => Math.Abs(a - b)).Max());
        Assert.True(moved > 1e-2, $"{@case}: the parameters moved only {moved}");
        // Parameters outside the trained set are neither decayed nor updated.
        foreach (var p in model.Memory.Table.Parameters.Where(p => !fixture.Names.Contains(p.Name)))
            Assert.True(model.Parameter(p.Name).SequenceEqual(untouched.Parameter(p.Name)), $"{p.Name} changed but is not trained");
    }

    [Theory]
    [InlineData("adamw")]
    [InlineData("adamw_clip")]
    [InlineData("sgd_nesterov")]
    [InlineData("sgd")]
    [InlineData("sgd_clip")]
    public void The_state_buffers_match_torch_optim_state(string @case)
    {
        using var fixture = new Fixture();
        using var model = Model(fixture);
        using var optimizer = CreateOptimizer(fixture, @case, model);
        Replay(fixture, @case, model, optimizer);
        string[] expectedNames = optimizer is AdamW ? ["exp_avg", "exp_avg_sq"] : ["momentum_buffer"];
        Assert.Equal(expectedNames, optimizer.StateNames);
        Assert.Equal(fixture.Names, optimizer.Trained.Select(p => p.Name));
        for (int s = 0; s < optimizer.StateNames.Count; s++)
        {
            foreach (var p in optimizer.Trained)
            {
                double[] expected = fixture.File.ReadDoubles($"{@case}.state.{optimizer.StateNames[s]}.{p.Name}");
                // exp_avg_sq is O(g²) (down to ~1e-6 here): its atol scales with the tensor's largest value.
                double atol = 1e-7 * Math.Max(MaxAbs(expected), 1e-30);
                AssertClose(expected, Doubles(optimizer.StateOf(s, p).AsSpan((int)p.Length)), Rtol, atol, $"{@case}: {optimizer.StateNames[s]} of {p.Name}");
            }
        }
    }

    /// <summary>
    /// Our SGD decays weights decoupled (p ← p·(1 − lr·λ), as AdamW does), which is not
    /// torch.optim.SGD's weight_decay: that one adds λ·p to the gradient, so the decay also enters
    /// the momentum buffer. The fixture holds both; ours matches the first (above) and is measurably
    /// away from the second on the decayed tensors.
    /// </summary>
    [Fact]
    public void Sgd_weight_decay_is_decoupled_not_torch_sgds_l2_term()
    {
        using var fixture = new Fixture();
        Assert.Equal("coupled", fixture.Text("sgd_coupled.WeightDecayMode"));
        Assert.Equal("decoupled", fixture.Text("sgd.WeightDecayMode"));
        foreach (string key in new[] { "Kind", "WeightDecay", "Momentum", "Nesterov", "ClipNorm", "GradientScale" })
            Assert.Equal(fixture.Text("sgd." + key), fixture.Text("sgd_coupled." + key));
        using var model = Model(fixture);
        using var optimizer = CreateOptimizer(fixture, "sgd", model);
        Replay(fixture, "sgd", model, optimizer);
        int t = fixture.Steps;
        double gap = 0;
        foreach (string name in fixture.Decayed)
        {
            double[] coupled = fixture.File.ReadDoubles($"sgd_coupled.{t}.{name}");
            double[] ours = Doubles(model.Parameter(name));
            for (int i = 0; i < ours.Length; i++) gap = Math.Max(gap, Math.Abs(ours[i] - coupled[i]) / (Atol + Rtol * Math.Abs(coupled[i])));
        }
        Assert.True(gap > 100, $"our SGD is within {gap:G3} tolerances of torch.optim.SGD's coupled weight decay; expected it to differ");
        // The non-decayed tensors see no decay in either formulation: the same values.
        foreach (string name in fixture.Names.Where(n => !fixture.Decayed.Contains(n)))
            AssertClose(fixture.File.ReadDoubles($"sgd_coupled.{t}.{name}"), Doubles(model.Parameter(name)), Rtol, Atol, $"sgd_coupled step {t}: {name}");
    }

    /// <summary>Warmup + cosine against torch's LinearLR / ConstantLR + CosineAnnealingLR (SequentialLR).</summary>
    [Fact]
    public void The_learning_rate_schedule_matches_torchs_schedulers()
    {
        using var fixture = new Fixture();
        int count = int.Parse(fixture.Text("Schedules"), CultureInfo.InvariantCulture);
        Assert.True(count >= 3);
        for (int i = 0; i < count; i++)
        {
            string k = $"schedule.{i}.";
            var schedule = new LearningRateSchedule(fixture.Number(k + "Peak"), long.Parse(fixture.Text(k + "WarmupSteps"), CultureInfo.InvariantCulture),
                long.Parse(fixture.Text(k + "TotalSteps"), CultureInfo.InvariantCulture), fixture.Number(k + "FinalFraction"));
            double[] torch = fixture.File.ReadDoubles(k + "lr");
            Assert.Equal(schedule.TotalSteps, torch.Length);
            double[] ours = Enumerable.Range(0, torch.Length).Select(s => schedule.At(s)).ToArray();
            // torch's cosine is recursive (each value from the previous one): rounding of ~1e-15 relative.
            AssertClose(torch, ours, 1e-12, 1e-15 * schedule.Peak, $"schedule {i} (peak {schedule.Peak}, warmup {schedule.WarmupSteps}, total {schedule.TotalSteps}, lrf {schedule.FinalFraction})");
        }
    }
}
