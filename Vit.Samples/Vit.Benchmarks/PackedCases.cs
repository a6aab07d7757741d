using System.Diagnostics;
using Vit.Backends.Cpu;
using Vit.Memory;

namespace Vit.Benchmarks;

/// <summary>
/// Inference's fp32 products as the model runs them: <c>x·Wᵀ + b</c> with W packed once
/// (<see cref="Gemm.MultiplyPacked"/>, what <c>ModelMemory.KeepPackedWeights</c> gives), either with
/// one weight, which stays in L3 between calls, or cycling through <c>copies</c> distinct weights, as
/// the model's twelve blocks do, so each call streams its weight from DRAM.
/// </summary>
public static unsafe class PackedCases
{
    /// <summary>ViT-B/16's four Linear shapes at batch 1 (197 rows) and batch 8 (1576).</summary>
    public static IEnumerable<(string Name, int M, int N, int K)> All()
    {
        foreach (var (b, rows) in new[] { ("b1", 197), ("b8", 1576) })
        {
            yield return ($"{b} qkv {rows}x768x2304", rows, 2304, 768);
            yield return ($"{b} proj {rows}x768x768", rows, 768, 768);
            yield return ($"{b} fc1 {rows}x768x3072", rows, 3072, 768);
            yield return ($"{b} fc2 {rows}x3072x768", rows, 768, 3072);
        }
    }

    /// <summary>Prints median GFLOP/s of each shape with 1 weight (cache-hot) and with <paramref name="copies"/> (streamed).</summary>
    public static void Quick(string? filter, int copies)
    {
        foreach (var (name, m, n, k) in All())
        {
            if (filter != null && !name.Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
            using var a = new NativeBuffer((long)m * k);
            using var c = new NativeBuffer((long)m * n);
            using var bias = new NativeBuffer(n);
            using var w = new NativeBuffer((long)n * k);
            var rng = new Vit.Numerics.Rng(7);
            for (long i = 0; i < (long)m * k; i++) a.Start.Pointer[i] = (float)rng.NextNormal();
            for (long i = 0; i < (long)n * k; i++) w.Start.Pointer[i] = (float)rng.NextNormal();
            var packed = new Gemm.PackedB[copies];
            for (int i = 0; i < copies; i++) packed[i] = Gemm.PackB(w.Start.Pointer, 1, k, n, k);   // W (n, k) read as Wᵀ
            try
            {
                double flops = 2.0 * m * n * k;
                string hot = Measure(a.Start.Pointer, c.Start.Pointer, bias.Start.Pointer, m, k, n, packed, 1, flops);
                string cold = Measure(a.Start.Pointer, c.Start.Pointer, bias.Start.Pointer, m, k, n, packed, copies, flops);
                Console.WriteLine($"{name,-24} one weight {hot}   {copies} weights in turn {cold}");
            }
            finally
            {
                foreach (var p in packed) p.Dispose();
            }
        }
    }

    private static string Measure(float* a, float* c, float* bias, int m, int k, int n, Gemm.PackedB[] packed, int use, double flops)
    {
        for (int i = 0; i < 2 * use; i++) Gemm.MultiplyPacked(c, n, a, k, 1, packed[i % use], m, bias, false);
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        for (int i = 0; times.Count < 5 * use || total.Elapsed.TotalSeconds < 1.5; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Gemm.MultiplyPacked(c, n, a, k, 1, packed[i % use], m, bias, false);
            times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        times.Sort();
        return $"median {flops / times[times.Count / 2] / 1e9,6:F1} GFLOP/s, best {flops / times[0] / 1e9,6:F1}";
    }
}
