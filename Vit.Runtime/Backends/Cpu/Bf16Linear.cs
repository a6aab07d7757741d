using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>How a model's matrix products run in inference.</summary>
public enum Precision
{
    /// <summary>fp32 throughout (the default; bit for bit what it always was).</summary>
    Fp32,

    /// <summary>
    /// The Linear layers' products (qkv, proj, fc1, fc2, pre_logits, head) in bf16 with fp32
    /// accumulation; the patch embedding, attention, LayerNorm, softmax, GELU and the residual stream
    /// stay fp32. Inference only.
    /// </summary>
    Bf16,
}

/// <summary>
/// The bf16 inference path of <see cref="CpuKernels"/>' Linear forward steps: each weight packed to
/// bf16 once (<see cref="Bf16Gemm.PackWeights"/>) and kept until the parameters change, the
/// activations rounded while they are packed, fp32 accumulation, the epilogues (bias, GELU,
/// residual add) in fp32. On a CPU without AVX512-BF16 (or with <see cref="ForceFallback"/>), the
/// same bf16-rounded operands go through the fp32 GEMM: every product of two bf16 values is exact in
/// fp32, so the results differ from the native kernel's only by the order of the fp32 sums.
/// </summary>
internal sealed unsafe class Bf16Linear : IDisposable
{
    private readonly Dictionary<nint, Packed> _weights = new();
    private readonly NativeBuffer _rows = new(1); // packed bf16 rows (native) or rounded rows (fallback)
    private long _version = -1;

    /// <summary>Tests: take the fallback even where the native kernel runs.</summary>
    internal static bool ForceFallback { get; set; }

    /// <summary>Whether the native AVX512-BF16 kernel runs (else the fallback).</summary>
    public static bool Native => Bf16Gemm.IsSupported && !ForceFallback;

    /// <summary>y (rows × n, stride ldy) = x·wᵀ + b, or += with <paramref name="accumulate"/>.</summary>
    public void Forward(ModelMemory memory, TensorPtr yp, long ldy, TensorPtr xp, long ldx, TensorPtr wp, TensorPtr bp, int rows, int k, int n, bool accumulate)
    {
        float* y = yp.Pointer, x = xp.Pointer, w = wp.Pointer, b = bp.Pointer;
        if (_version != memory.ParameterVersion)
        {
            Clear();
            _version = memory.ParameterVersion;
        }
        if (!_weights.TryGetValue((nint)w, out var packed))
        {
            packed = Pack(w, n, k);
            _weights[(nint)w] = packed;
        }
        if (packed.Native is { } native)
        {
            Bf16Gemm.Multiply(y, ldy, x, ldx, native, rows, b, accumulate, _rows);
            return;
        }
        // Fallback: the rows rounded to bf16 (as floats), then the fp32 GEMM against the rounded weights.
        _rows.EnsureLength((long)rows * k);
        float* r = _rows.Start.Pointer;
        for (long i = 0; i < rows; i++)
            for (int t = 0; t < k; t++) r[i * k + t] = Bf16Gemm.Round(x[i * ldx + t]);
        Gemm.Multiply(y, ldy, r, k, 1, packed.Rounded!.Start.Pointer, 1, k, rows, n, k, b, accumulate);
    }

    private static Packed Pack(float* w, int n, int k)
    {
        if (Native) return new Packed(Bf16Gemm.PackWeights(w, k, n, k), null);
        var rounded = new NativeBuffer((long)n * k);
        for (long i = 0; i < (long)n * k; i++) rounded.Start.Pointer[i] = Bf16Gemm.Round(w[i]);
        return new Packed(null, rounded);
    }

    private void Clear()
    {
        foreach (var p in _weights.Values)
        {
            p.Native?.Dispose();
            p.Rounded?.Dispose();
        }
        _weights.Clear();
    }

    public void Dispose()
    {
        Clear();
        _rows.Dispose();
    }

    private sealed record Packed(Bf16Weights? Native, NativeBuffer? Rounded);
}
