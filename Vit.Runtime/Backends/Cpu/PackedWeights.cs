using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>
/// The fp32 Linear weights of inference packed once (<see cref="Gemm.PackB"/>) and kept while the
/// parameters stay as they are (<see cref="ModelMemory.ParameterVersion"/>), when
/// <see cref="ModelMemory.KeepPackedWeights"/> is on: every <c>Forward</c> after the first skips
/// the per-call transpose of each weight into the GEMM's panels, which at ViT-B/16 batch 1 is 86 M
/// floats read and written per image. The products are bit for bit those of the unpacked path
/// (same panels, same blocks). When the version changes, each weight is repacked into its own
/// buffer on its next use: nothing is allocated after the first pass.
/// </summary>
internal sealed unsafe class PackedWeights : IDisposable
{
    private readonly Dictionary<nint, (Gemm.PackedB Packed, long Version)> _packed = new();

    /// <summary>Tests: every inference product packs its weight afresh, as before the cache.</summary>
    internal static bool Disabled { get; set; }

    /// <summary>Floats held by the packed copies.</summary>
    public long Floats { get; private set; }

    /// <summary>Weights packed so far (first packs and repacks after a parameter change).</summary>
    public long Packs { get; private set; }

    /// <summary>W (nOut × nIn, row-major) as the packed B of x·Wᵀ, packed (or repacked in place) when this parameter version has not packed it yet.</summary>
    public Gemm.PackedB For(ModelMemory memory, float* w, int nIn, int nOut)
    {
        long version = memory.ParameterVersion;
        if (_packed.TryGetValue((nint)w, out var entry))
        {
            if (entry.Version != version)
            {
                Gemm.PackBInto(entry.Packed, w, 1, nIn);
                _packed[(nint)w] = (entry.Packed, version);
                Packs++;
            }
            return entry.Packed;
        }
        var packed = Gemm.PackB(w, 1, nIn, nOut, nIn);
        _packed[(nint)w] = (packed, version);
        Floats += packed.Floats;
        Packs++;
        return packed;
    }

    /// <summary>Frees every packed copy.</summary>
    public void Clear()
    {
        foreach (var e in _packed.Values) e.Packed.Dispose();
        _packed.Clear();
        Floats = 0;
    }

    public void Dispose() => Clear();
}
