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
    /// stay fp32. In training (mixed precision) the backward products too, dx = dy·W and dW = dyᵀ·x;
    /// the master weights, the gradients' accumulation, the bias gradients and the optimizer stay fp32.
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
    private readonly Dictionary<nint, Packed> _transposed = new(); // Wᵀ, for dx = dy·W
    private Bf16Weights? _input;                                    // xᵀ of the current dW = dyᵀ·x, packed afresh
    private readonly NativeBuffer _rounded = new(1);                // the fallback's rounded second operand
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
        float* r = RoundInto(_rows, x, rows, k, ldx);
        Gemm.Multiply(y, ldy, r, k, 1, packed.Rounded!.Start.Pointer, 1, k, rows, n, k, b, accumulate);
    }

    /// <summary>dx (rows × nIn) = dy (rows × nOut) · W (nOut × nIn): Wᵀ packed once per parameter version.</summary>
    public void BackwardInput(ModelMemory memory, float* dx, float* dy, float* w, int rows, int nIn, int nOut)
    {
        if (rows <= 0) return;
        if (_version != memory.ParameterVersion)
        {
            Clear();
            _version = memory.ParameterVersion;
        }
        if (!_transposed.TryGetValue((nint)w, out var packed))
        {
            packed = Native ? new Packed(Bf16Gemm.PackWeightsTransposed(w, nIn, nIn, nOut), null) : new Packed(null, RoundedCopy(w, (long)nOut * nIn));
            _transposed[(nint)w] = packed;
        }
        if (packed.Native is { } native)
        {
            Bf16Gemm.Multiply(dx, nIn, dy, nOut, native, rows, null, accumulate: false, _rows);
            return;
        }
        float* r = RoundInto(_rows, dy, rows, nOut, nOut);
        Gemm.Multiply(dx, nIn, r, nOut, 1, packed.Rounded!.Start.Pointer, nIn, 1, rows, nIn, nOut, null, accumulate: false);
    }

    /// <summary>dW (nOut × nIn) += dyᵀ · x, x (rows × nIn) with rows <paramref name="ldx"/> floats apart: both operands packed afresh.</summary>
    public void BackwardWeight(float* dw, float* dy, float* x, long ldx, int rows, int nIn, int nOut)
    {
        if (rows <= 0) return;
        if (Native)
        {
            _input = Bf16Gemm.PackWeightsTransposed(x, ldx, nIn, rows, _input);
            Bf16Gemm.MultiplyTransposed(dw, nIn, dy, nOut, _input, nOut, accumulate: true, _rows);
            return;
        }
        float* a = RoundInto(_rows, dy, rows, nOut, nOut);
        float* b = RoundInto(_rounded, x, rows, nIn, ldx);
        Gemm.Multiply(dw, nIn, a, 1, nOut, b, nIn, 1, nOut, nIn, rows, null, accumulate: true);
    }

    // rows × cols of src (rows ld apart) rounded to bf16, contiguous, in buffer.
    private static float* RoundInto(NativeBuffer buffer, float* src, int rows, int cols, long ld)
    {
        buffer.EnsureLength((long)rows * cols);
        float* r = buffer.Start.Pointer;
        for (long i = 0; i < rows; i++)
            for (int t = 0; t < cols; t++) r[i * cols + t] = Bf16Gemm.Round(src[i * ld + t]);
        return r;
    }

    private static NativeBuffer RoundedCopy(float* w, long count)
    {
        var rounded = new NativeBuffer(count);
        for (long i = 0; i < count; i++) rounded.Start.Pointer[i] = Bf16Gemm.Round(w[i]);
        return rounded;
    }

    private static Packed Pack(float* w, int n, int k)
    {
        if (Native) return new Packed(Bf16Gemm.PackWeights(w, k, n, k), null);
        return new Packed(null, RoundedCopy(w, (long)n * k));
    }

    private void Clear()
    {
        foreach (var p in _weights.Values.Concat(_transposed.Values))
        {
            p.Native?.Dispose();
            p.Rounded?.Dispose();
        }
        _weights.Clear();
        _transposed.Clear();
    }

    public void Dispose()
    {
        Clear();
        _rows.Dispose();
        _rounded.Dispose();
        _input?.Dispose();
    }

    private sealed record Packed(Bf16Weights? Native, NativeBuffer? Rounded);
}
