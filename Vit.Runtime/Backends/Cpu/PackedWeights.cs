using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>
/// The fp32 Linear weights of inference packed once (<see cref="Gemm.PackB"/>) and kept while the
/// parameters stay as they are (<see cref="ModelMemory.ParameterVersion"/>): every <c>Forward</c>
/// after the first skips the per-call transpose of each weight into the GEMM's panels, which at
/// ViT-B/16 batch 1 is 86 M floats read and written per image. The products are bit for bit those
/// of the unpacked path (same panels, same blocks). A training step drops the cache, so training
/// holds no second copy of the weights.
/// </summary>
internal sealed unsafe class PackedWeights : IDisposable
{
    private readonly Dictionary<nint, Gemm.PackedB> _packed = new();

    /// <summary>Tests: every inference product packs its weight afresh, as before the cache.</summary>
    internal static bool Disabled { get; set; }
    private long _version = -1;

    /// <summary>Floats held by the packed copies.</summary>
    public long Floats { get; private set; }

    /// <summary>W (nOut × nIn, row-major) as the packed B of x·Wᵀ, packed on first use in this parameter version.</summary>
    public Gemm.PackedB For(ModelMemory memory, float* w, int nIn, int nOut)
    {
        if (_version != memory.ParameterVersion)
        {
            Clear();
            _version = memory.ParameterVersion;
        }
        if (!_packed.TryGetValue((nint)w, out var packed))
        {
            packed = Gemm.PackB(w, 1, nIn, nOut, nIn);
            _packed[(nint)w] = packed;
            Floats += packed.Floats;
        }
        return packed;
    }

    /// <summary>Frees every packed copy.</summary>
    public void Clear()
    {
        foreach (var p in _packed.Values) p.Dispose();
        _packed.Clear();
        Floats = 0;
        _version = -1;
    }

    public void Dispose() => Clear();
}
