using System.Diagnostics;
using BenchmarkDotNet.Running;
using Vit.Benchmarks;
using Vit.Cli;
using Vit.Backends;
using Vit.Backends.Cpu;

// Usage:
//   dotnet run -c Release --project Vit.Samples/Vit.Benchmarks -- [BenchmarkDotNet arguments, e.g. --filter '*Gemm*']
//   dotnet run -c Release --project Vit.Samples/Vit.Benchmarks -- quick peak [threads]
//   dotnet run -c Release --project Vit.Samples/Vit.Benchmarks -- quick gemm [threads] [name filter, e.g. dyT]
//   dotnet run -c Release --project Vit.Samples/Vit.Benchmarks -- quick bf16 [threads] [name filter, e.g. b1]
//   dotnet run -c Release --project Vit.Samples/Vit.Benchmarks -- quick packed [threads] [name filter, e.g. b1] [weights in turn, default 12]
//   dotnet run -c Release --project Vit.Samples/Vit.Benchmarks -- quick bf16pack [threads]
//   dotnet run -c Release --project Vit.Samples/Vit.Benchmarks -- quick kernels cifar|b16 BATCH [threads]
//   dotnet run -c Release --project Vit.Samples/Vit.Benchmarks -- quick model PRESET forward|train BATCH [threads] [seconds]
//   dotnet run -c Release --project Vit.Samples/Vit.Benchmarks -- quick dims [rounds] [seconds per sample] [case filter]
// `quick` prints a one-line figure per case without BenchmarkDotNet's statistics (for fast iteration).
if (args.Length >= 2 && args[0] == "quick")
{
    int threads = args[1] is "kernels" ? (args.Length > 4 ? int.Parse(args[4]) : 0) : args[1] is "gemm" or "peak" or "bf16" or "bf16pack" or "packed" ? (args.Length > 2 ? int.Parse(args[2]) : 0) : (args.Length > 5 ? int.Parse(args[5]) : 0);
    if (threads > 0) WorkerPool.Configure(threads);
    Console.WriteLine($"threads {WorkerPool.Shared.Threads}, SIMD {Simd.Level}");
    if (args[1] == "peak")
    {
        Console.WriteLine($"fp32 FMA peak: {Peak.Measure():F1} GFLOP/s");
    }
    else if (args[1] == "gemm")
    {
        foreach (var (name, form, m, n, k, ldb) in GemmShape.All())
        {
            if (args.Length > 3 && !name.Contains(args[3], StringComparison.OrdinalIgnoreCase)) continue;
            using var g = new GemmShape(name, form, m, n, k, ldb);
            for (int i = 0; i < 3; i++) g.Run();
            var times = new List<double>();
            var total = Stopwatch.StartNew();
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            while (times.Count < 5 || total.Elapsed.TotalSeconds < 1)
            {
                long t0 = Stopwatch.GetTimestamp();
                g.Run();
                times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
            // FLOPs per CPU-second of this process: what one core does while it runs, whatever else
            // shares the machine (spin-waits count against it).
            double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            times.Sort();
            double med = times[times.Count / 2], best = times[0];
            Console.WriteLine($"{name,-40} median {med * 1e3,8:F2} ms {g.Flops / med / 1e9,6:F1} GFLOP/s, best {g.Flops / best / 1e9,6:F1}, per CPU-second {g.Flops * times.Count / cpu / 1e9,6:F1}, huge pages {HugePagesInUse()}");
        }
    }
    else if (args[1] == "bf16")
    {
        Bf16Shape.Quick(args.Length > 3 ? args[3] : null);
    }
    else if (args[1] == "bf16pack")
    {
        Bf16Shape.QuickPack();
    }
    else if (args[1] == "packed")
    {
        PackedCases.Quick(args.Length > 3 ? args[3] : null, args.Length > 4 ? int.Parse(args[4]) : 12);
    }
    else if (args[1] == "kernels")
    {
        using var cases = new KernelCases(args[2], int.Parse(args[3]));
        foreach (var (name, run) in cases.All())
        {
            for (int i = 0; i < 3; i++) run();
            var times = new List<double>();
            var total = Stopwatch.StartNew();
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            while (times.Count < 5 || total.Elapsed.TotalSeconds < 0.5)
            {
                long t0 = Stopwatch.GetTimestamp();
                run();
                times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
            double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            times.Sort();
            Console.WriteLine($"{name,-24} median {times[times.Count / 2] * 1e3,9:F3} ms, best {times[0] * 1e3,9:F3} ms, CPU {cpu / times.Count * 1e3,9:F3} ms");
        }
    }
    else if (args[1] == "dims")
    {
        DimSpecializationRunner.Run(args.Length > 2 ? int.Parse(args[2]) : 7, args.Length > 3 ? double.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 0.3, args.Length > 4 ? args[4] : null);
    }
    else
    {
        var r = BenchRunner.Run(Preset.Find(args[2]), Vit.Backends.Backend.Cpu, args[3], int.Parse(args[4]), threads, TimeSpan.FromSeconds(args.Length > 6 ? double.Parse(args[6]) : 5), null);
        Console.WriteLine($"{r.Model} {r.Mode} batch {r.Batch} threads {r.Threads}: {r.ImagesPerSecond:F2} images/s, {r.MsPerBatch:F1} ms/batch, {r.GflopsPerSecond:F1} GFLOP/s ({r.Runs} runs)");
    }
    return 0;
}
BenchmarkSwitcher.FromAssembly(typeof(GemmShape).Assembly).Run(args);
return 0;

// The process's memory on transparent huge pages (AnonHugePages in /proc/self/smaps_rollup), or "n/a".
static string HugePagesInUse()
{
    try
    {
        foreach (var line in File.ReadLines("/proc/self/smaps_rollup"))
            if (line.StartsWith("AnonHugePages:", StringComparison.Ordinal))
                return $"{long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024} MiB";
    }
    catch (IOException) { }
    catch (UnauthorizedAccessException) { }
    return "n/a";
}
