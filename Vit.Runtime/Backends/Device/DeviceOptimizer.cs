using Vit.Memory;

namespace Vit.Backends.Device;

/// <summary>
/// An optimizer's state on a device, device-neutral: the trained parameters cut once into chunks
/// of at most <see cref="ChunkFloats"/> values (offset, length, weight-decay flag, in three small
/// device tables), the state buffers laid out like the parameters from <see cref="StateOffset"/> on
/// (the trained parameters' range only: see <see cref="OptimizerKernels.StateRange"/>), and the
/// per-chunk partial sums of the gradient norm. A backend implements the three launches, each one
/// work-group per chunk.
/// </summary>
public abstract unsafe class DeviceOptimizer : OptimizerKernels
{
    /// <summary>The most values one chunk (one work-group) updates.</summary>
    public const int ChunkFloats = 1 << 16;

    private readonly float[] _partialHost;

    /// <summary>Builds the chunk tables for <paramref name="trained"/> and zeroes <paramref name="stateBuffers"/> state buffers.</summary>
    protected DeviceOptimizer(DeviceApi api, DeviceBuffer parameters, IReadOnlyList<ParameterInfo> trained, int stateBuffers,
        Func<long, DeviceBuffer> allocate)
    {
        ArgumentNullException.ThrowIfNull(trained);
        Api = api;
        var offsets = new List<long>();
        var lengths = new List<int>();
        var decayed = new List<int>();
        foreach (var p in trained)
            for (long at = 0; at < p.Length; at += ChunkFloats)
            {
                offsets.Add(p.Offset + at);
                lengths.Add((int)Math.Min(ChunkFloats, p.Length - at));
                decayed.Add(p.WeightDecay ? 1 : 0);
            }
        Chunks = offsets.Count;
        Offsets = Table(allocate, offsets.ToArray());
        Lengths = Table(allocate, lengths.ToArray());
        Decayed = Table(allocate, decayed.ToArray());
        Partials = allocate((long)Chunks * sizeof(float));
        _partialHost = new float[Chunks];
        (StateOffset, long stateFloats) = StateRange(trained, parameters.Bytes / sizeof(float));
        State = new DeviceBuffer[stateBuffers];
        for (int i = 0; i < stateBuffers; i++)
        {
            State[i] = allocate(stateFloats * sizeof(float));
            api.Zero(new DevicePtr(State[i], 0), stateFloats);
        }
    }

    /// <summary>The parameter offset (floats) at which the state buffers start: a parameter at offset o has its state at o − StateOffset.</summary>
    protected long StateOffset { get; }

    /// <summary>The device.</summary>
    protected DeviceApi Api { get; }

    /// <summary>Number of chunks.</summary>
    protected int Chunks { get; }

    /// <summary>Per chunk: the first parameter offset (longs), the length (ints), 1 when weight-decayed (ints).</summary>
    protected DeviceBuffer Offsets { get; }

    /// <inheritdoc cref="Offsets"/>
    protected DeviceBuffer Lengths { get; }

    /// <inheritdoc cref="Offsets"/>
    protected DeviceBuffer Decayed { get; }

    /// <summary>Per chunk: Σ g² of its gradients (floats), written by <see cref="LaunchSumOfSquares"/>.</summary>
    protected DeviceBuffer Partials { get; }

    /// <summary>The state buffers (AdamW: exp_avg, exp_avg_sq; SGD: momentum_buffer).</summary>
    protected DeviceBuffer[] State { get; }

    /// <summary>Queues Σ g² per chunk into <see cref="Partials"/>.</summary>
    protected abstract void LaunchSumOfSquares();

    /// <inheritdoc/>
    public override double GradientSumOfSquares()
    {
        LaunchSumOfSquares();
        fixed (float* h = _partialHost)
            Api.Read(Partials, 0, h, (long)Chunks * sizeof(float));
        double total = 0;
        foreach (float v in _partialHost) total += v;
        return total;
    }

    /// <inheritdoc/>
    public override void Download(int index, NativeBuffer host) =>
        Api.Read(State[index], 0, host.Start.Pointer, Math.Min(State[index].Bytes, host.Length * sizeof(float)));

    /// <inheritdoc/>
    public override void Upload(int index, NativeBuffer host) =>
        Api.Write(State[index], 0, host.Start.Pointer, Math.Min(State[index].Bytes, host.Length * sizeof(float)));

    private DeviceBuffer Table<T>(Func<long, DeviceBuffer> allocate, T[] values) where T : unmanaged
    {
        var buffer = allocate(Math.Max(1, values.Length) * sizeof(T));
        fixed (T* v = values)
            Api.Write(buffer, 0, v, (long)values.Length * sizeof(T));
        return buffer;
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        foreach (var s in State) s.Dispose();
        Offsets.Dispose();
        Lengths.Dispose();
        Decayed.Dispose();
        Partials.Dispose();
    }
}
