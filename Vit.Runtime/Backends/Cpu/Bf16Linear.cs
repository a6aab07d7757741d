using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>How a model's matrix products run in inference.</summary>
public enum Precision
{
    /// <summary>fp32 throughout (the default; switching bf16 on and off leaves it bit for bit as it was).</summary>
    Fp32,

    /// <summary>
    /// The Linear layers' products (qkv, proj, fc1, fc2, pre_logits, head), the patch embedding's and
    /// attention's two (q·kᵀ and probs·v) in bf16 with fp32 accumulation; LayerNorm, softmax, GELU and
    /// the residual stream stay fp32. In training (mixed precision) the backward products too: the
    /// Linear layers' dx = dy·W and dW = dyᵀ·x, the patch embedding's dW, and attention's dv, dP, dq
    /// and dk (its softmax backward stays fp32); the master weights, the gradients' accumulation, the
    /// bias gradients and the optimizer stay fp32.
    /// </summary>
    Bf16,
}

/// <summary>
/// The bf16 path of <see cref="CpuKernels"/>' Linear steps, on the units <see cref="Bf16Gemm.Units"/>
/// chose. With <see cref="Bf16Units.DotProduct"/>, each weight is packed to bf16 pairs once per
/// parameter version (W for the forward, Wᵀ for dx = dy·W) and the activations are rounded while
/// they are packed; with <see cref="Bf16Units.Fma"/>, each weight is rounded to bf16 once per
/// version and kept in fp32 (in inference, already packed into the fp32 GEMM's panels), the
/// activations are rounded into scratch, and the fp32 GEMM multiplies them: every product of two
/// bf16 values is exact in fp32, so the two differ only by the order of the fp32 sums. Accumulation,
/// the epilogues (bias, GELU, residual add) and the bias gradient stay fp32. After a parameter
/// change every weight is repacked into its own buffer: nothing is allocated in the steady state.
/// </summary>
internal sealed unsafe class Bf16Linear : IDisposable
{
    // DotProduct: W packed as the kernel's weights, Wᵀ packed the same way (for dx), xᵀ packed afresh for dW.
    private readonly Dictionary<nint, Entry<Bf16Weights>> _weights = new();
    private readonly Dictionary<nint, Entry<Bf16Weights>> _transposed = new();
    private Bf16Weights? _input;
    // Fma: W rounded to bf16 as fp32 (training: read in place by the forward and dx products), and
    // in inference W rounded and packed into the fp32 GEMM's panels.
    private readonly Dictionary<nint, Entry<NativeBuffer>> _rounded = new();
    private readonly Dictionary<nint, Entry<Gemm.PackedB>> _packed = new();
    private readonly NativeBuffer _rows = new(1);   // packed bf16 rows (DotProduct) or rounded rows (Fma)
    private readonly NativeBuffer _rows2 = new(1);  // Fma: the rounded x of dW = dyᵀ·x
    private readonly NativeBuffer _scratch = new(1); // Fma: a weight rounded on its way into its panels
    private Bf16Units? _units;

    /// <summary>Tests: run on these units instead of <see cref="Bf16Gemm.Units"/>.</summary>
    internal static Bf16Units? ForceUnits { get; set; }

    /// <summary>The units the products run on.</summary>
    public static Bf16Units Units => ForceUnits ?? Bf16Gemm.Units;

    /// <summary>
    /// y (rows × n, stride ldy) = x·wᵀ + b, or += with <paramref name="accumulate"/>; with
    /// <paramref name="gelu"/>, also gelu(y) into it (rows <paramref name="geluStride"/> apart).
    /// <paramref name="inference"/>: the weights may be kept packed for the fp32 GEMM.
    /// </summary>
    public void Forward(ModelMemory memory, TensorPtr yp, long ldy, TensorPtr xp, long ldx, TensorPtr wp, TensorPtr bp, int rows, int k, int n, bool accumulate,
        bool inference, TensorPtr gelu = default, long geluStride = 0)
    {
        float* y = yp.Pointer, x = xp.Pointer, w = wp.Pointer, b = bp.Pointer;
        if (Units == Bf16Units.Fma)
        {
            if (inference)
            {
                if (!Current(_packed, memory, w, out var panels)) Store(_packed, memory, w, panels = Bf16Gemm.PackRoundedWeights(w, n, k, _scratch, panels));
                Bf16Gemm.MultiplyRounded(y, ldy, x, ldx, panels, rows, b, accumulate, _rows, gelu.Pointer, geluStride);
                return;
            }
            float* r = Bf16Gemm.RoundRows(_rows, x, rows, k, ldx);
            float* rw = Rounded(memory, w, n, k);
            if (!gelu.IsNull) Gemm.MultiplyGelu(gelu.Pointer, geluStride, y, ldy, r, k, 1, rw, 1, k, rows, n, k, b);
            else Gemm.Multiply(y, ldy, r, k, 1, rw, 1, k, rows, n, k, b, accumulate);
            return;
        }
        if (!Current(_weights, memory, w, out var packed)) Store(_weights, memory, w, packed = Bf16Gemm.PackWeights(w, k, n, k, packed));
        // GELU (fp32) fused: each block of rows as the kernel finishes it.
        Bf16Gemm.Multiply(y, ldy, x, ldx, packed, rows, b, accumulate, _rows, gelu.Pointer, geluStride);
    }

    /// <summary>
    /// dx (rows × nIn) = dy (rows × nOut) · W (nOut × nIn), unless <paramref name="dx"/> is null, and
    /// dW (nOut × nIn) += dyᵀ · x, x (rows × nIn) with rows <paramref name="ldx"/> floats apart.
    /// </summary>
    public void Backward(ModelMemory memory, float* dx, float* dw, float* dy, float* x, long ldx, float* w, int rows, int nIn, int nOut)
    {
        if (rows <= 0) return;
        if (Units == Bf16Units.Fma)
        {
            float* rdy = Bf16Gemm.RoundRows(_rows, dy, rows, nOut, nOut); // once, for both products
            if (dx != null) Gemm.Multiply(dx, nIn, rdy, nOut, 1, Rounded(memory, w, nOut, nIn), nIn, 1, rows, nIn, nOut, null, accumulate: false);
            float* rx = Bf16Gemm.RoundRows(_rows2, x, rows, nIn, ldx);
            Gemm.Multiply(dw, nIn, rdy, 1, nOut, rx, nIn, 1, nOut, nIn, rows, null, accumulate: true);
            return;
        }
        if (dx != null)
        {
            if (!Current(_transposed, memory, w, out var wt)) Store(_transposed, memory, w, wt = Bf16Gemm.PackWeightsTransposed(w, nIn, nIn, nOut, wt));
            Bf16Gemm.Multiply(dx, nIn, dy, nOut, wt, rows, null, accumulate: false, _rows);
        }
        _input = Bf16Gemm.PackWeightsTransposed(x, ldx, nIn, rows, _input);
        Bf16Gemm.MultiplyTransposed(dw, nIn, dy, nOut, _input, nOut, accumulate: true, _rows);
    }

    // Whether w's entry is current for this parameter version. When it is not, value is the entry
    // to remake in place (stale) or null (none yet); the caller remakes it and stores it.
    private bool Current<T>(Dictionary<nint, Entry<T>> cache, ModelMemory memory, float* w, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out T? value) where T : class, IDisposable
    {
        if (_units != Units)
        {
            Clear(); // the tests switch units: each cache belongs to one
            _units = Units;
        }
        if (cache.TryGetValue((nint)w, out var entry))
        {
            value = entry.Value;
            return entry.Version == memory.ParameterVersion;
        }
        value = null;
        return false;
    }

    private static void Store<T>(Dictionary<nint, Entry<T>> cache, ModelMemory memory, float* w, T value) where T : class
        => cache[(nint)w] = new Entry<T>(value, memory.ParameterVersion);

    // W (n × k) rounded to bf16 as fp32, rounded again in place after a parameter change.
    private float* Rounded(ModelMemory memory, float* w, int n, int k)
    {
        if (!Current(_rounded, memory, w, out var rounded))
        {
            rounded ??= new NativeBuffer((long)n * k);
            Bf16Gemm.RoundRows(rounded, w, n, k, k);
            Store(_rounded, memory, w, rounded);
        }
        return rounded.Start.Pointer;
    }

    private void Clear()
    {
        foreach (var e in _weights.Values.Concat(_transposed.Values)) e.Value.Dispose();
        foreach (var e in _rounded.Values) e.Value.Dispose();
        foreach (var e in _packed.Values) e.Value.Dispose();
        _weights.Clear();
        _transposed.Clear();
        _rounded.Clear();
        _packed.Clear();
    }

    public void Dispose()
    {
        Clear();
        _rows.Dispose();
        _rows2.Dispose();
        _scratch.Dispose();
        _input?.Dispose();
    }

    private readonly record struct Entry<T>(T Value, long Version);
}
