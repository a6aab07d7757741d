using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Memory;

namespace Vit.Benchmarks;

public struct T65 : IDim { public static int Value => 65; }
public struct T197 : IDim { public static int Value => 197; }
public struct H3 : IDim { public static int Value => 3; }
public struct H12 : IDim { public static int Value => 12; }
public struct Hd64 : IDim { public static int Value => 64; }
public struct D192 : IDim { public static int Value => 192; }
public struct D768 : IDim { public static int Value => 768; }

/// <summary>
/// Every non-GEMM kernel of a block at one model's shapes (cifar at batch 64: 4160 rows of 192,
/// or b16 at batch 8: 1576 rows of 768), on buffers filled with seeded random values.
/// </summary>
public sealed class KernelCases : IDisposable
{
    private readonly NativeBuffer _x, _y, _mean, _rstd, _w, _b, _dw, _db, _qkv, _probs, _attn, _dqkv, _dprobs, _wide, _wide2, _labels;
    private readonly bool _b16;
    private readonly int[] _labelsArray;

    public KernelCases(string model, int batch)
    {
        _b16 = model == "b16";
        Batch = batch;
        int t = _b16 ? 197 : 65, d = _b16 ? 768 : 192, h = _b16 ? 12 : 3;
        Rows = batch * t;
        NativeBuffer Buf(long n)
        {
            var buf = new NativeBuffer(n);
            var rng = new Vit.Numerics.Rng((ulong)n);
            foreach (ref float v in buf.Slice(0, (int)n)) v = (float)rng.NextNormal();
            return buf;
        }
        _x = Buf((long)Rows * d); _y = Buf((long)Rows * d); _mean = Buf(Rows); _rstd = Buf(Rows);
        _w = Buf(d); _b = Buf(d); _dw = Buf(d); _db = Buf(d);
        _qkv = Buf((long)Rows * 3 * d); _dqkv = Buf((long)Rows * 3 * d); _attn = Buf((long)Rows * d);
        _probs = Buf((long)batch * h * t * t); _dprobs = Buf((long)batch * h * t * t);
        _wide = Buf((long)Rows * 4 * d); _wide2 = Buf((long)Rows * 4 * d);
        _labels = Buf(batch);
        _labelsArray = new int[batch];
        D = d;
    }

    public int Batch { get; }
    public int Rows { get; }
    public int D { get; }

    public void LayerNormForward()
    {
        if (_b16) LayerNorm.Forward<D768>(_y.Start, _mean.Start, _rstd.Start, _x.Start, _w.Start, _b.Start, Rows, 1e-6f);
        else LayerNorm.Forward<D192>(_y.Start, _mean.Start, _rstd.Start, _x.Start, _w.Start, _b.Start, Rows, 1e-6f);
    }

    public void LayerNormBackward()
    {
        if (_b16) LayerNorm.Backward<D768>(_attn.Start, _dw.Start, _db.Start, _y.Start, _x.Start, _mean.Start, _rstd.Start, _w.Start, Rows);
        else LayerNorm.Backward<D192>(_attn.Start, _dw.Start, _db.Start, _y.Start, _x.Start, _mean.Start, _rstd.Start, _w.Start, Rows);
    }

    public void GeluForward() => Gelu.Forward(_wide2.Start, _wide.Start, (long)Rows * 4 * D);

    public void GeluBackward() => Gelu.Backward(_wide2.Start, _wide2.Start, _wide.Start, (long)Rows * 4 * D);

    public void AttentionForward()
    {
        if (_b16) Attention.Forward<T197, H12, Hd64>(_attn.Start, _probs.Start, TensorPtr.Null, _qkv.Start, Batch);
        else Attention.Forward<T65, H3, Hd64>(_attn.Start, _probs.Start, TensorPtr.Null, _qkv.Start, Batch);
    }

    public void AttentionForwardBf16()
    {
        if (_b16) Attention.Forward<T197, H12, Hd64>(_attn.Start, _probs.Start, TensorPtr.Null, _qkv.Start, Batch, Precision.Bf16);
        else Attention.Forward<T65, H3, Hd64>(_attn.Start, _probs.Start, TensorPtr.Null, _qkv.Start, Batch, Precision.Bf16);
    }

    public void AttentionBackward()
    {
        if (_b16) Attention.Backward<T197, H12, Hd64>(_dqkv.Start, _dprobs.Start, _attn.Start, _probs.Start, TensorPtr.Null, _qkv.Start, Batch);
        else Attention.Backward<T65, H3, Hd64>(_dqkv.Start, _dprobs.Start, _attn.Start, _probs.Start, TensorPtr.Null, _qkv.Start, Batch);
    }

    public void ResidualForward() => Residual.Forward(_y.Start, _y.Start, _x.Start, TensorPtr.Null, Batch, (long)(Rows / Batch) * D);

    public void ResidualBackward() => Residual.Backward(_attn.Start, _y.Start, TensorPtr.Null, Batch, (long)(Rows / Batch) * D);

    /// <summary>The cases by name, for the quick timer.</summary>
    public IEnumerable<(string Name, Action Run)> All() =>
    [
        ("LayerNorm.Forward", LayerNormForward), ("LayerNorm.Backward", LayerNormBackward),
        ("Gelu.Forward", GeluForward), ("Gelu.Backward", GeluBackward),
        ("Attention.Forward", AttentionForward), ("Attention.Forward bf16", AttentionForwardBf16), ("Attention.Backward", AttentionBackward),
        ("Residual.Forward", ResidualForward), ("Residual.Backward", ResidualBackward),
        ("100 WorkerPool.Run", Dispatch), ("100 WorkerPool.Run, gaps", DispatchWithGaps),
    ];

    private static unsafe void NoWork(void* context, int begin, int end) { }

    // A hundred dispatches of empty tasks (one per thread): the pool's own cost per Run, which a
    // ViT-B/16 forward pays about a hundred times whatever its batch.
    public unsafe void Dispatch()
    {
        for (int i = 0; i < 100; i++) WorkerPool.Shared.Run(&NoWork, null, WorkerPool.Shared.Threads);
    }

    // The same with 50 µs of the calling thread's own work between dispatches, as between the
    // model's kernels (the workers have gone back to waiting when the next Run comes).
    public unsafe void DispatchWithGaps()
    {
        for (int i = 0; i < 100; i++)
        {
            WorkerPool.Shared.Run(&NoWork, null, WorkerPool.Shared.Threads);
            long until = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency / 20000;
            while (System.Diagnostics.Stopwatch.GetTimestamp() < until) Thread.SpinWait(10);
        }
    }

    public void Dispose()
    {
        foreach (var b in new[] { _x, _y, _mean, _rstd, _w, _b, _dw, _db, _qkv, _probs, _attn, _dqkv, _dprobs, _wide, _wide2, _labels }) b.Dispose();
    }
}
