using System.Diagnostics;
using System.Text.Json;
using Vit.IO;
using Xunit;

namespace Vit.Tests.Distributed;

/// <summary>
/// Data-parallel training through the real launcher: <c>mpirun -np 2 dotnet vit.dll train …</c>
/// against one process with the same global batch, on the embedded CIFAR-10 subset. Skipped, with
/// the reason, when Open MPI's <c>mpirun</c> or the built <c>vit.dll</c> is missing (.ci/run
/// installs Open MPI and builds vit first).
/// </summary>
public class MpiTrainingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly string? Repo = FindRepo();
    private static readonly string? Vit = Repo is null ? null : Path.Combine(Repo, "Vit.Samples", "Vit.Cli", "bin", "Release", "net10.0", "vit.dll");
    private static readonly string? Mpirun = new[] { "/usr/bin/mpirun", "/usr/local/bin/mpirun" }.FirstOrDefault(File.Exists);

    private static string? FindRepo()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Vit.Compiler.sln"))) return d.FullName;
        return null;
    }

    private static void SkipUnlessReady()
    {
        Skip.If(Mpirun is null, "Open MPI's mpirun is not installed (apt-get install openmpi-bin); .ci/run installs it");
        Skip.If(Vit is null || !File.Exists(Vit), $"vit.dll is not built at {Vit} (dotnet build Vit.Compiler.sln -c Release)");
    }

    private sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public List<JsonElement> Epochs => Stdout.Split('\n').Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).ToList();
    }

    // Small and quick: 128 training images, 4 global batches of 32 per epoch; 2 epochs.
    private static readonly string[] Recipe = ["train", "--epochs", "2", "--limit-train", "128", "--json", "--lr", "2e-3", "--warmup-epochs", "0.5"];

    private static Result Run(int ranks, string outFolder, IEnumerable<string> args, IDictionary<string, string>? env = null, int timeoutSeconds = 300)
    {
        var psi = new ProcessStartInfo(ranks == 0 ? "dotnet" : Mpirun!) { RedirectStandardOutput = true, RedirectStandardError = true };
        // --oversubscribe: two ranks even where Open MPI counts fewer than two slots.
        if (ranks > 0) foreach (var a in new[] { "-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), "--oversubscribe", "dotnet" }) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add(Vit!);
        foreach (var a in args.Concat(["--out", outFolder])) psi.ArgumentList.Add(a);
        // Open MPI refuses to run as root without these (CI runs as root).
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        psi.Environment["OMPI_MCA_btl_tcp_if_include"] = "lo"; // loopback only
        psi.Environment["OMPI_MCA_oob_tcp_if_include"] = "lo";
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{psi.FileName} {string.Join(' ', psi.ArgumentList)} ran past {timeoutSeconds} s");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    private static float[] Parameters(string file)
    {
        using var f = SafeTensorsFile.Open(file);
        return f.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal).SelectMany(t => f.ReadSingles(t.Name)).ToArray();
    }

    /// <summary>‖a − b‖₂ / ‖a‖₂ in double.</summary>
    private static double RelativeDifference(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double d = 0, n = 0;
        for (int i = 0; i < a.Length; i++)
        {
            d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
            n += (double)a[i] * a[i];
        }
        return Math.Sqrt(d / n);
    }

    /// <summary>The largest relative difference of the per-epoch losses, and that of the final parameters.</summary>
    private static (double Losses, double Parameters) Difference(Result one, string oneFolder, Result two, string twoFolder)
    {
        Assert.True(one.ExitCode == 0, one.Stderr);
        Assert.True(two.ExitCode == 0, two.Stderr);
        var a = one.Epochs;
        var b = two.Epochs;
        Assert.Equal(2, a.Count);
        Assert.Equal(2, b.Count);
        double worst = 0;
        for (int e = 0; e < 2; e++)
            foreach (var key in new[] { "train_loss", "test_loss" })
            {
                double x = a[e].GetProperty(key).GetDouble(), y = b[e].GetProperty(key).GetDouble();
                worst = Math.Max(worst, Math.Abs(x - y) / Math.Abs(x));
            }
        return (worst, RelativeDifference(Parameters(Path.Combine(oneFolder, "model.safetensors")), Parameters(Path.Combine(twoFolder, "model.safetensors"))));
    }

    [SkippableTheory]
    [InlineData("adamw")]
    [InlineData("sgd")]
    public void TwoRanksGiveTheLossesAndParametersOfOneProcessWithTheSameGlobalBatch(string optimizer)
    {
        SkipUnlessReady();
        using var dir = new TempFolder();
        string one = dir.Path("one"), two = dir.Path("two");
        var single = Run(0, one, [.. Recipe, "--batch", "32", "--optimizer", optimizer]);
        var parallel = Run(2, two, [.. Recipe, "--batch", "16", "--optimizer", optimizer, "--check-replicas", "1"]);
        var (losses, parameters) = Difference(single, one, parallel, two);
        output.WriteLine($"{optimizer}: 2 ranks against 1 process: losses {losses:E2}, parameters {parameters:E2} (relative)");
        // The gradients differ from one process's only in summation order (two half-batch sums
        // added, not one sum), about 1e-7 relative. SGD carries that into the parameters as it is;
        // AdamW divides by √v and so magnifies it on gradients that are sums of cancelling terms:
        // measured 1.9e-6 after these 8 steps. A lost or doubled shard is 1e-2 or more in both.
        double parameterTolerance = optimizer == "sgd" ? 1e-6 : 1e-5;
        Assert.True(losses <= 1e-6 && parameters <= parameterTolerance,
            $"2 ranks differ from 1 process by {losses:E2} in the losses and {parameters:E2} in the parameters (relative; allowed 1e-6 and {parameterTolerance:E0})");
        Assert.Equal(2, parallel.Epochs[0].GetProperty("ranks").GetInt32());
        Assert.DoesNotContain('\u001b', parallel.Stdout); // no terminal escapes from the pseudo-terminal mpirun gives rank 0
        Assert.Single(parallel.Stdout.Split('\n'), l => l.Contains("\"epoch\":1,", StringComparison.Ordinal)); // rank 0 alone prints
        using var checkpoint = SafeTensorsFile.Open(Path.Combine(two, "checkpoint.safetensors"));
        Assert.Equal("2", checkpoint.Metadata["ranks"]);
        Assert.True(checkpoint.Metadata.ContainsKey("dropout_rng.1"));

        // The mutation: rank 1's gradients lost. The same comparison must fail, far beyond its tolerance.
        string dropped = dir.Path("dropped");
        var broken = Run(2, dropped, [.. Recipe, "--batch", "16", "--optimizer", optimizer], new Dictionary<string, string> { ["VIT_FAULT_DROP_GRADIENTS_RANK"] = "1" });
        var mutated = Difference(single, one, broken, dropped);
        output.WriteLine($"{optimizer}: rank 1's gradients dropped: losses {mutated.Losses:E2}, parameters {mutated.Parameters:E2} (relative)");
        Assert.True(mutated.Losses > 1e-4 && mutated.Parameters > 1e-4,
            $"dropping a rank's gradients changed the losses by only {mutated.Losses:E2} and the parameters by {mutated.Parameters:E2}: the comparison would not catch a lost shard");
    }

    [SkippableFact]
    public void AResumedTwoRankRunGivesTheUninterruptedRunsLossesAndAnotherRankCountIsRefused()
    {
        SkipUnlessReady();
        using var dir = new TempFolder();
        string straight = dir.Path("straight"), resumed = dir.Path("resumed");
        string[] args = [.. Recipe, "--batch", "16", "--optimizer", "adamw"];
        var whole = Run(2, straight, args);
        Assert.True(whole.ExitCode == 0, whole.Stderr);

        var first = Run(2, resumed, [.. args, "--stop-at-step", "6"]); // epoch 2, batch 2 of 4
        Assert.True(first.ExitCode == 0, first.Stderr);
        Assert.Contains("stopped after step 6", first.Stderr, StringComparison.Ordinal);
        using (var c = SafeTensorsFile.Open(Path.Combine(resumed, "checkpoint.safetensors")))
            Assert.Equal(("1", "2"), (c.Metadata["epoch"], c.Metadata["next_batch"]));

        // One process cannot continue a two-rank run: one line, exit 1, nothing changed.
        string before = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(resumed, "checkpoint.safetensors"))));
        var refused = Run(0, resumed, ["train", "--resume", "--json"]);
        Assert.Equal(1, refused.ExitCode);
        Assert.Single(refused.Stderr.Trim().Split('\n'));
        Assert.Contains("was trained on 2 ranks, this run has 1; resume with mpirun -np 2", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(before, Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(resumed, "checkpoint.safetensors")))));

        var rest = Run(2, resumed, ["train", "--resume", "--json"]);
        Assert.True(rest.ExitCode == 0, rest.Stderr);
        var a = whole.Epochs[^1];
        var b = rest.Epochs.Single();
        Assert.Equal(a.GetProperty("train_loss").GetDouble(), b.GetProperty("train_loss").GetDouble(), 12);
        Assert.Equal(a.GetProperty("test_loss").GetDouble(), b.GetProperty("test_loss").GetDouble(), 12);
        Assert.Equal(a.GetProperty("parameter_checksum").GetString(), b.GetProperty("parameter_checksum").GetString());
    }

    [SkippableFact]
    public void WhenARankIsKilledTheOthersStopWithinSecondsAndTheLastCheckpointIsKept()
    {
        SkipUnlessReady();
        using var dir = new TempFolder();
        string run = dir.Path("run");
        var psi = new ProcessStartInfo(Mpirun!) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-np", "2", "--oversubscribe", "dotnet", Vit!, "train", "--epochs", "200", "--limit-train", "64", "--batch", "16", "--json", "--out", run })
            psi.ArgumentList.Add(a);
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        psi.Environment["OMPI_MCA_btl_tcp_if_include"] = "lo";
        psi.Environment["OMPI_MCA_oob_tcp_if_include"] = "lo";
        using var mpirun = Process.Start(psi)!;
        var stdout = mpirun.StandardOutput.ReadToEndAsync();
        var stderr = mpirun.StandardError.ReadToEndAsync();
        string checkpoint = Path.Combine(run, "checkpoint.safetensors");
        var clock = Stopwatch.StartNew();
        while (!File.Exists(checkpoint) && clock.Elapsed.TotalSeconds < 240 && !mpirun.HasExited) Thread.Sleep(100);
        Assert.True(File.Exists(checkpoint), "no checkpoint after the first epoch");

        // Rank 1: the child of mpirun whose environment says so.
        int rank1 = Directory.GetDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out int pid) ? pid : 0).Where(pid => pid > 0)
            .First(pid => ParentOf(pid) == mpirun.Id && EnvironmentOf(pid).Contains("OMPI_COMM_WORLD_RANK=1"));
        Process.GetProcessById(rank1).Kill(); // SIGKILL
        var stopClock = Stopwatch.StartNew();
        Assert.True(mpirun.WaitForExit(20_000), "mpirun and the other rank did not stop within 20 s of the kill");
        double seconds = stopClock.Elapsed.TotalSeconds;
        Assert.NotEqual(0, mpirun.ExitCode);
        string err = stderr.Result;
        Assert.Single(err.Split('\n'), l => l.StartsWith("vit: rank 0 of 2: SIGTERM from mpirun", StringComparison.Ordinal));
        Assert.True(seconds < 10, $"took {seconds:F1} s");
        // Whatever was written last is a whole checkpoint (written through a temporary file and a rename).
        using var c = SafeTensorsFile.Open(checkpoint);
        Assert.Equal("vit-checkpoint/1", c.Metadata["format"]);
        _ = stdout.Result;
    }

    private static int ParentOf(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return -1;
        }
    }

    private static string EnvironmentOf(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/environ").Replace('\0', '\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    private sealed class TempFolder : IDisposable
    {
        private readonly string _root = Directory.CreateTempSubdirectory("vit-mpi-").FullName;

        public string Path(string name) => System.IO.Path.Combine(_root, name);

        public void Dispose() => Directory.Delete(_root, recursive: true);
    }
}
