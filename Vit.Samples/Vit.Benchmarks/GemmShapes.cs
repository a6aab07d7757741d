using Vit.Backends;
using Vit.Backends.Cpu;
using Vit.Memory;

namespace Vit.Benchmarks;

/// <summary>A product <c>C (m × n) (+)= op(A)·op(B)</c> in one of the three forms <see cref="Linear"/> uses.</summary>
public sealed unsafe class GemmShape : IDisposable
{
    /// <summary>The three forms: forward <c>x·wᵀ</c>, input gradient <c>dy·w</c>, weight gradient <c>dyᵀ·x</c>.</summary>
    public enum Form { ABt, AB, AtB }

    // NativeBuffer, as the model's parameters and activations use (2 MiB pages where granted).
    private readonly NativeBuffer _ab, _bb, _cb, _biasb;
    private readonly float* _a, _b, _c, _bias;
    private readonly int _ldb;

    /// <param name="name">The label printed with the results.</param>
    /// <param name="form">Which of the three products.</param>
    /// <param name="m">Rows of C.</param>
    /// <param name="n">Columns of C.</param>
    /// <param name="k">The inner dimension.</param>
    /// <param name="ldb">Row stride of B for <see cref="Form.AtB"/> (the layer input x); 0 for contiguous rows.</param>
    public GemmShape(string name, Form form, int m, int n, int k, int ldb = 0)
    {
        Name = name; Kind = form; M = m; N = n; K = k;
        _ldb = form == Form.AtB && ldb > 0 ? ldb : n;
        long bFloats = (long)k * _ldb;   // ABt: w (n, k); AB: w (k, n); AtB: x (k, n), rows _ldb apart
        _ab = new NativeBuffer((long)m * k); _bb = new NativeBuffer(bFloats); _cb = new NativeBuffer((long)m * n); _biasb = new NativeBuffer(n);
        _a = _ab.Start.Pointer; _b = _bb.Start.Pointer; _c = _cb.Start.Pointer; _bias = _biasb.Start.Pointer;
        var rng = new Vit.Numerics.Rng(7);
        for (long i = 0; i < (long)m * k; i++) _a[i] = (float)rng.NextNormal();
        for (long i = 0; i < bFloats; i++) _b[i] = (float)rng.NextNormal();
    }

    public string Name { get; }
    public Form Kind { get; }
    public int M { get; }
    public int N { get; }
    public int K { get; }
    public double Flops => 2.0 * M * N * K;

    public void Run()
    {
        switch (Kind)
        {
            case Form.ABt: Gemm.Multiply(_c, N, _a, K, 1, _b, 1, K, M, N, K, _bias, false); break;   // b is (n, k)
            case Form.AB: Gemm.Multiply(_c, N, _a, K, 1, _b, N, 1, M, N, K, null, false); break;     // b is (k, n)
            default: Gemm.Multiply(_c, N, _a, 1, M, _b, _ldb, 1, M, N, K, null, true); break;        // a is (k, m), b (k, n) with rows _ldb apart
        }
    }

    public override string ToString() => Name;

    public void Dispose()
    {
        _ab.Dispose(); _bb.Dispose(); _cb.Dispose(); _biasb.Dispose();
    }

    /// <summary>
    /// ViT-B/16 (batch 8, 1576 rows) and cifar (batch 64, 4160 rows) products, forward and backward,
    /// with the operands laid out as the generated model lays them out: fc2's weight gradient reads
    /// the saved MLP activation, whose rows the training layout pads to an odd number of cache
    /// lines (the generated <c>HiddenStride</c> of the b16 and cifar presets: 3088 floats for 3072, 784 for 768).
    /// </summary>
    public static IEnumerable<(string Name, Form Form, int M, int N, int K, int Ldb)> All()
    {
        foreach (var (model, rows, d, mlp, hiddenStride) in new[] { ("b16", 8 * 197, 768, 3072, Vit.Cli.VitB16.HiddenStride), ("cifar", 64 * 65, 192, 768, Vit.Cli.CifarVit.HiddenStride) })
        {
            yield return ($"{model} qkv x·wT {rows}x{d}x{3 * d}", Form.ABt, rows, 3 * d, d, 0);
            yield return ($"{model} fc1 x·wT {rows}x{d}x{mlp}", Form.ABt, rows, mlp, d, 0);
            yield return ($"{model} fc2 x·wT {rows}x{mlp}x{d}", Form.ABt, rows, d, mlp, 0);
            yield return ($"{model} proj x·wT {rows}x{d}x{d}", Form.ABt, rows, d, d, 0);
            yield return ($"{model} qkv dy·w {rows}x{3 * d}x{d}", Form.AB, rows, d, 3 * d, 0);
            yield return ($"{model} fc1 dy·w {rows}x{mlp}x{d}", Form.AB, rows, d, mlp, 0);
            yield return ($"{model} qkv dyT·x {3 * d}x{rows}x{d}", Form.AtB, 3 * d, d, rows, 0);
            yield return ($"{model} fc2 dyT·x {d}x{rows}x{mlp}", Form.AtB, d, mlp, rows, hiddenStride);
        }
        yield return ("b16 batch1 qkv x·wT 197x768x2304", Form.ABt, 197, 2304, 768, 0);
        yield return ("b16 batch1 fc1 x·wT 197x768x3072", Form.ABt, 197, 3072, 768, 0);
    }
}
