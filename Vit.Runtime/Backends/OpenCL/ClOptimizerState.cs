using Vit.Memory;

namespace Vit.Backends.OpenCL;

/// <summary>
/// An optimizer's state buffers on the device and its update kernels. The trained parameters are
/// cut once into chunks of at most <see cref="ChunkFloats"/> values (offset, length, weight-decay
/// flag, in three small device tables), so each update, and the gradient norm, is one launch with
/// one work-group per chunk.
/// </summary>
internal sealed unsafe class ClOptimizerState : DeviceOptimizerState
{
    internal const int ChunkFloats = 1 << 16;

    private readonly ClModel _model;
    private readonly ClBuffer[] _state;
    private readonly ClBuffer _offsets, _lengths, _decayed, _partials;
    private readonly float[] _partialHost;
    private readonly int _chunks;

    public ClOptimizerState(ClModel model, IReadOnlyList<ParameterInfo> trained, int stateBuffers)
    {
        _model = model;
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
        _chunks = offsets.Count;
        _offsets = Table(offsets.ToArray());
        _lengths = Table(lengths.ToArray());
        _decayed = Table(decayed.ToArray());
        _partials = model.Allocate((long)_chunks * sizeof(float));
        _partialHost = new float[_chunks];
        long bytes = model.DeviceBuffer(ModelBuffer.Parameters).Bytes;
        _state = new ClBuffer[stateBuffers];
        for (int i = 0; i < stateBuffers; i++)
        {
            _state[i] = model.Allocate(bytes);
            model.Zero(new DevicePtr(_state[i], 0), bytes / sizeof(float));
        }
    }

    public override double GradientSumOfSquares()
    {
        _model.Upload(ModelBuffer.Gradients, write: false);
        var k = _model.SumSquaresKernel.Take();
        k.SetArg(0, _partials);
        k.SetArg(1, _model.DeviceBuffer(ModelBuffer.Gradients));
        k.SetArg(2, _offsets);
        k.SetArg(3, _lengths);
        k.SetArg(4, _chunks);
        _model.Launch(k, (long)_chunks * ClModel.OptimizerLocal, ClModel.OptimizerLocal);
        fixed (float* h = _partialHost)
            _model.Context.Read(_partials, 0, h, (long)_chunks * sizeof(float), blocking: true);
        _model.Drained();
        double total = 0;
        foreach (float v in _partialHost) total += v;
        return total;
    }

    public override void AdamW(float learningRate, float decayFactor, float beta1, float beta2, float epsilon, float stepSize, float invSqrtBias2, float gradientScale)
    {
        var k = _model.AdamWKernel.Take();
        int i = Common(k, stateBuffers: 2);
        k.SetArg(i++, learningRate);
        k.SetArg(i++, decayFactor);
        k.SetArg(i++, beta1);
        k.SetArg(i++, beta2);
        k.SetArg(i++, epsilon);
        k.SetArg(i++, stepSize);
        k.SetArg(i++, invSqrtBias2);
        k.SetArg(i, gradientScale);
        _model.Launch(k, (long)_chunks * ClModel.OptimizerLocal, ClModel.OptimizerLocal);
    }

    public override void Sgd(float learningRate, float decayFactor, float momentum, bool nesterov, float gradientScale)
    {
        var k = _model.SgdKernel.Take();
        int i = Common(k, stateBuffers: 1);
        k.SetArg(i++, learningRate);
        k.SetArg(i++, decayFactor);
        k.SetArg(i++, momentum);
        k.SetArg(i++, nesterov ? 1 : 0);
        k.SetArg(i, gradientScale);
        _model.Launch(k, (long)_chunks * ClModel.OptimizerLocal, ClModel.OptimizerLocal);
    }

    // param, grad, the state buffers, then the chunk tables: the arguments both updates share.
    private int Common(ClKernel k, int stateBuffers)
    {
        if (_state.Length != stateBuffers)
            throw new InvalidOperationException($"{k.Name} needs {stateBuffers} state buffers; this state has {_state.Length}.");
        _model.Upload(ModelBuffer.Gradients, write: false);
        _model.Upload(ModelBuffer.Parameters, write: true);
        int i = 0;
        k.SetArg(i++, _model.DeviceBuffer(ModelBuffer.Parameters));
        k.SetArg(i++, _model.DeviceBuffer(ModelBuffer.Gradients));
        foreach (var s in _state) k.SetArg(i++, s);
        k.SetArg(i++, _offsets);
        k.SetArg(i++, _lengths);
        k.SetArg(i++, _decayed);
        k.SetArg(i++, _chunks);
        return i;
    }

    public override void Download(int index, NativeBuffer host) =>
        _model.Context.Read(_state[index], 0, host.Start.Pointer, Math.Min(_state[index].Bytes, host.Length * sizeof(float)), blocking: true);

    public override void Upload(int index, NativeBuffer host) =>
        _model.Context.Write(_state[index], 0, host.Start.Pointer, Math.Min(_state[index].Bytes, host.Length * sizeof(float)), blocking: true);

    private ClBuffer Table<T>(T[] values) where T : unmanaged
    {
        var buffer = _model.Allocate(Math.Max(1, values.Length) * sizeof(T));
        fixed (T* v = values)
            _model.Context.Write(buffer, 0, v, (long)values.Length * sizeof(T), blocking: true);
        return buffer;
    }

    protected override void Dispose(bool disposing)
    {
        foreach (var s in _state) s.Dispose();
        _offsets.Dispose();
        _lengths.Dispose();
        _decayed.Dispose();
        _partials.Dispose();
    }
}
