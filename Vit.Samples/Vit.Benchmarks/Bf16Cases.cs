using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Vit.Backends.Cpu;
using Vit.Memory;

namespace Vit.Benchmarks;

/// <summary>
/// The bf16 products on both units (<see cref="Bf16Units"/>: the VDPBF16PS kernel, and bf16-rounded
/// operands through the fp32 GEMM) against the fp32 GEMM on ViT-B/16's forward products (x·Wᵀ),
/// weights packed once as inference keeps them; A is rounded to bf16 inside every call.
/// </summary>
public sealed unsafe class Bf16Shape : IDisposable
{
    private readonly NativeBuffer _a, _w, _c, _bias, _scratch;
    private readonly Bf16Weights _packed;
    private readonly Gemm.PackedB _rounded, _fp32;

    public Bf16Shape(string name, int m, int n, int k)
    {
        Name = name; M = m; N = n; K = k;
        _a = new NativeBuffer((long)m * k); _w = new NativeBuffer((long)n * k); _c = new NativeBuffer((long)m * n); _bias = new NativeBuffer(n); _scratch = new NativeBuffer(1);
        var rng = new Vit.Numerics.Rng(7);
        for (long i = 0; i < (long)m * k; i++) _a.Start.Pointer[i] = (float)rng.NextNormal();
        for (long i = 0; i < (long)n * k; i++) _w.Start.Pointer[i] = (float)rng.NextNormal();
        _packed = Bf16Gemm.PackWeights(_w.Start.Pointer, k, n, k);
        _rounded = Bf16Gemm.PackRoundedWeights(_w.Start.Pointer, n, k, _scratch);
        _fp32 = Gemm.PackB(_w.Start.Pointer, 1, k, n, k);
    }

    public string Name { get; }
    public int M { get; }
    public int N { get; }
    public int K { get; }
    public double Flops => 2.0 * M * N * K;

    public void RunBf16() => Bf16Gemm.Multiply(_c.Start.Pointer, N, _a.Start.Pointer, K, _packed, M, _bias.Start.Pointer, false, _scratch);

    public void RunBf16Fma() => Bf16Gemm.MultiplyRounded(_c.Start.Pointer, N, _a.Start.Pointer, K, _rounded, M, _bias.Start.Pointer, false, _scratch);

    public void RunFp32() => Gemm.MultiplyPacked(_c.Start.Pointer, N, _a.Start.Pointer, K, 1, _fp32, M, _bias.Start.Pointer, false);

    public override string ToString() => Name;

    public void Dispose()
    {
        _packed.Dispose(); _rounded.Dispose(); _fp32.Dispose(); _a.Dispose(); _w.Dispose(); _c.Dispose(); _bias.Dispose(); _scratch.Dispose();
    }

    /// <summary>ViT-B/16's forward products at batch 8 (1576 rows) and batch 1 (197).</summary>
    public static IEnumerable<(string Name, int M, int N, int K)> All()
    {
        foreach (int batch in new[] { 8, 1 })
        {
            int rows = batch * 197;
            yield return ($"b16 b{batch} qkv {rows}x768x2304", rows, 2304, 768);
            yield return ($"b16 b{batch} proj {rows}x768x768", rows, 768, 768);
            yield return ($"b16 b{batch} fc1 {rows}x768x3072", rows, 3072, 768);
            yield return ($"b16 b{batch} fc2 {rows}x3072x768", rows, 768, 3072);
        }
    }

    /// <summary>
    /// <c>quick bf16pack</c>: the transposed packer on the weight gradients' xᵀ of a <c>cifar</c> training
    /// step at batch 64 (dW = dyᵀ·x with x 4160 rows × 192, 576 or 768), the median of each and the GB/s of
    /// fp32 read; on one thread (<c>quick bf16pack 1</c>), the native packer alone.
    /// </summary>
    public static void QuickPack()
    {
        if (!Bf16Gemm.IsSupported)
        {
            Console.WriteLine($"bf16 GEMM: not available: {Bf16Gemm.Unavailable}");
            return;
        }
        const int rows = 4160;
        foreach (int n in new[] { 192, 576, 768 })
        {
            using var x = new NativeBuffer((long)rows * n);
            var rng = new Random(n);
            float* px = x.Start.Pointer;
            for (long i = 0; i < (long)rows * n; i++) px[i] = (float)rng.NextDouble() - 0.5f;
            Bf16Weights? packed = null;
            var (med, best) = Time(() => packed = Bf16Gemm.PackWeightsTransposed(px, n, n, rows, packed), minRuns: 20);
            packed!.Dispose();
            Console.WriteLine($"cifar dW xT {rows}x{n,-4} median {med * 1e3,7:F3} ms, best {best * 1e3,7:F3} ms, {(double)rows * n * 4 / med / 1e9,5:F1} GB/s read");
        }
    }

    // Three warm-up runs, then at least minRuns timed ones and at least a second: their median and best, in seconds.
    private static (double Median, double Best) Time(Action run, int minRuns = 5)
    {
        for (int i = 0; i < 3; i++) run();
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < minRuns || total.Elapsed.TotalSeconds < 1)
        {
            long t0 = Stopwatch.GetTimestamp();
            run();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        times.Sort();
        return (times[times.Count / 2], times[0]);
    }

    /// <summary><c>quick bf16</c>: the median of each case on VDPBF16PS, on the FMAs and in fp32, both peak probes, and the units this machine picks.</summary>
    public static void Quick(string? filter)
    {
        if (!Bf16Gemm.IsSupported)
        {
            Console.WriteLine($"bf16 GEMM: not available: {Bf16Gemm.Unavailable}");
            return;
        }
        Console.WriteLine($"fp32 FMA peak {Peak.Measure():F1} GFLOP/s, bf16 VDPBF16PS peak {Bf16Gemm.PeakGflops():F1} GFLOP/s; Precision.Bf16 runs on {Bf16Gemm.Units} ({Bf16Gemm.UnitsReason})");
        foreach (var (name, m, n, k) in All())
        {
            if (filter is not null && !name.Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
            using var s = new Bf16Shape(name, m, n, k);
            double bf = Time(s.RunBf16).Median, fma = Time(s.RunBf16Fma).Median, fp = Time(s.RunFp32).Median;
            Console.WriteLine($"{name,-28} VDPBF16PS {bf * 1e3,8:F2} ms {s.Flops / bf / 1e9,6:F1} GFLOP/s   bf16 on FMAs {fma * 1e3,8:F2} ms {s.Flops / fma / 1e9,6:F1} GFLOP/s   fp32 {fp * 1e3,8:F2} ms {s.Flops / fp / 1e9,6:F1} GFLOP/s   {fp / bf,5:F2}x {fp / fma,5:F2}x");
        }
    }
}

/// <summary>BenchmarkDotNet: the bf16 products on both units beside the fp32 one on ViT-B/16's forward products.</summary>
[MemoryDiagnoser]
public class Bf16GemmBenchmarks
{
    private Bf16Shape? _shape;

    public static IEnumerable<string> Cases() => Bf16Shape.All().Select(c => c.Name);

    [ParamsSource(nameof(Cases))]
    public string Case { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        if (!Bf16Gemm.IsSupported) throw new PlatformNotSupportedException(Bf16Gemm.Unavailable);
        var (name, m, n, k) = Bf16Shape.All().First(c => c.Name == Case);
        _shape = new Bf16Shape(name, m, n, k);
    }

    [Benchmark]
    public void Bf16() => _shape!.RunBf16();

    [Benchmark]
    public void Bf16OnFmas() => _shape!.RunBf16Fma();

    [Benchmark(Baseline = true)]
    public void Fp32() => _shape!.RunFp32();

    [GlobalCleanup]
    public void Cleanup() => _shape?.Dispose();
}
