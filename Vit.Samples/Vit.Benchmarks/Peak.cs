using System.Diagnostics;
using System.Runtime.Intrinsics;
using Vit.Backends;
using Vit.Backends.Cpu;

namespace Vit.Benchmarks;

/// <summary>
/// The machine's fp32 FMA peak as code can reach it: every pool thread runs 12 independent FMA
/// chains (enough to cover FMA latency on two pipes) on registers only, at the width the kernels
/// use: <see cref="Vector512"/> with AVX-512, else <see cref="Vector256"/>. (12 chains of a
/// software <see cref="Vector512"/> on AVX2 are 24 ymm registers, more than the 16 there are: the
/// spills read about half the real AVX2 peak on a Zen core.)
/// </summary>
public static unsafe class Peak
{
    private const int Iterations = 20_000_000;

    /// <summary>GFLOP/s over all threads of <see cref="WorkerPool.Shared"/> (best of five runs).</summary>
    public static double Measure()
    {
        int threads = WorkerPool.Shared.Threads;
        float sink = 0;
        double best = 0;
        for (int run = 0; run < 5; run++)
        {
            long t0 = Stopwatch.GetTimestamp();
            bool wide = Simd.Level == SimdLevel.Avx512;
            if (wide) WorkerPool.Shared.Run(&Body, &sink, threads);
            else WorkerPool.Shared.Run(&Body256, &sink, threads);
            double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            best = Math.Max(best, threads * (double)Iterations * 12 * (wide ? 16 : 8) * 2 / s / 1e9);
        }
        return best;
    }

    private static void Body(void* context, int begin, int end)
    {
        for (int t = begin; t < end; t++)
        {
            var m = Vector512.Create(0.999f);
            var add = Vector512.Create(1e-7f);
            Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
            Vector512<float> c6 = default, c7 = default, c8 = default, c9 = default, c10 = default, c11 = default;
            for (int i = 0; i < Iterations; i++)
            {
                c0 = Vector512.FusedMultiplyAdd(c0, m, add); c1 = Vector512.FusedMultiplyAdd(c1, m, add);
                c2 = Vector512.FusedMultiplyAdd(c2, m, add); c3 = Vector512.FusedMultiplyAdd(c3, m, add);
                c4 = Vector512.FusedMultiplyAdd(c4, m, add); c5 = Vector512.FusedMultiplyAdd(c5, m, add);
                c6 = Vector512.FusedMultiplyAdd(c6, m, add); c7 = Vector512.FusedMultiplyAdd(c7, m, add);
                c8 = Vector512.FusedMultiplyAdd(c8, m, add); c9 = Vector512.FusedMultiplyAdd(c9, m, add);
                c10 = Vector512.FusedMultiplyAdd(c10, m, add); c11 = Vector512.FusedMultiplyAdd(c11, m, add);
            }
            var sum = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
            Interlocked.Exchange(ref *(float*)context, Vector512.Sum(sum));
        }
    }

    private static void Body256(void* context, int begin, int end)
    {
        for (int t = begin; t < end; t++)
        {
            var m = Vector256.Create(0.999f);
            var add = Vector256.Create(1e-7f);
            Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
            Vector256<float> c6 = default, c7 = default, c8 = default, c9 = default, c10 = default, c11 = default;
            for (int i = 0; i < Iterations; i++)
            {
                c0 = Vector256.FusedMultiplyAdd(c0, m, add); c1 = Vector256.FusedMultiplyAdd(c1, m, add);
                c2 = Vector256.FusedMultiplyAdd(c2, m, add); c3 = Vector256.FusedMultiplyAdd(c3, m, add);
                c4 = Vector256.FusedMultiplyAdd(c4, m, add); c5 = Vector256.FusedMultiplyAdd(c5, m, add);
                c6 = Vector256.FusedMultiplyAdd(c6, m, add); c7 = Vector256.FusedMultiplyAdd(c7, m, add);
                c8 = Vector256.FusedMultiplyAdd(c8, m, add); c9 = Vector256.FusedMultiplyAdd(c9, m, add);
                c10 = Vector256.FusedMultiplyAdd(c10, m, add); c11 = Vector256.FusedMultiplyAdd(c11, m, add);
            }
            var sum = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
            Interlocked.Exchange(ref *(float*)context, Vector256.Sum(sum));
        }
    }
}
