using System.Diagnostics.CodeAnalysis;
using ILGPU;
using ILGPU.Runtime;
using Vit.Backends.Device;
using Vit.Memory;
using C = ILGPU.KernelConfig;
using S = ILGPU.Runtime.AcceleratorStream;
using V = ILGPU.ArrayView<float>;

namespace Vit.Backends.Ilgpu;

/// <summary>The optimizer's three launches on ILGPU (<c>SumSquares</c>, <c>AdamWUpdate</c>, <c>SgdUpdate</c>), one group per chunk; the rest is <see cref="DeviceOptimizer"/>.</summary>
internal sealed class IlgpuOptimizerState : DeviceOptimizer
{
    private readonly IlgpuModel _model;

    public IlgpuOptimizerState(IlgpuModel model, IReadOnlyList<ParameterInfo> trained, int stateBuffers)
        : base(model.Api, model.DeviceBuffer(ModelBuffer.Parameters), trained, stateBuffers, model.Allocate) => _model = model;

    private C Chunked => new(Chunks, _model.OptimizerGroup);

    protected override void LaunchSumOfSquares()
    {
        _model.Upload(ModelBuffer.Gradients, write: false);
        var k = _model.Kernel<Action<S, C, V, V, ArrayView<long>, ArrayView<int>>>(nameof(IlgpuKernelCode.SumSquares));
        if (k is null || Chunks == 0) return;
        k(_model.Stream, Chunked, IlgpuModel.Floats(Partials), IlgpuModel.Floats(_model.DeviceBuffer(ModelBuffer.Gradients)),
            IlgpuModel.Longs(Offsets), IlgpuModel.Ints(Lengths));
    }

    public override void AdamW(float learningRate, float decayFactor, float beta1, float oneMinusBeta1, float beta2, float oneMinusBeta2,
        float epsilon, float stepSize, float invSqrtBias2, float gradientScale)
    {
        CheckStateBuffers(nameof(IlgpuKernelCode.AdamWUpdate), 2, State.Length);
        Prepare();
        var k = _model.Kernel<Action<S, C, V, V, V, V, ArrayView<long>, ArrayView<int>, ArrayView<int>, AdamWArgs>>(nameof(IlgpuKernelCode.AdamWUpdate));
        if (k is null || Chunks == 0) return;
        var args = new AdamWArgs
        {
            StateBase = StateOffset, LearningRate = learningRate, DecayFactor = decayFactor, Beta1 = beta1, OneMinusBeta1 = oneMinusBeta1,
            Beta2 = beta2, OneMinusBeta2 = oneMinusBeta2, Epsilon = epsilon, StepSize = stepSize, InvSqrtBias2 = invSqrtBias2, Scale = gradientScale,
        };
        k(_model.Stream, Chunked, Parameters, Gradients, IlgpuModel.Floats(State[0]), IlgpuModel.Floats(State[1]),
            IlgpuModel.Longs(Offsets), IlgpuModel.Ints(Lengths), IlgpuModel.Ints(Decayed), args);
    }

    public override void Sgd(float learningRate, float decayFactor, float momentum, bool nesterov, float gradientScale)
    {
        CheckStateBuffers(nameof(IlgpuKernelCode.SgdUpdate), 1, State.Length);
        Prepare();
        var k = _model.Kernel<Action<S, C, V, V, V, ArrayView<long>, ArrayView<int>, ArrayView<int>, SgdArgs>>(nameof(IlgpuKernelCode.SgdUpdate));
        if (k is null || Chunks == 0) return;
        var args = new SgdArgs
        {
            StateBase = StateOffset, LearningRate = learningRate, DecayFactor = decayFactor, Momentum = momentum, Nesterov = nesterov ? 1 : 0,
            Scale = gradientScale,
        };
        k(_model.Stream, Chunked, Parameters, Gradients, IlgpuModel.Floats(State[0]), IlgpuModel.Longs(Offsets), IlgpuModel.Ints(Lengths),
            IlgpuModel.Ints(Decayed), args);
    }

    // The update reads the device gradients and changes the device parameters.
    private void Prepare()
    {
        _model.Upload(ModelBuffer.Gradients, write: false);
        _model.Upload(ModelBuffer.Parameters, write: true);
    }

    private V Parameters => IlgpuModel.Floats(_model.DeviceBuffer(ModelBuffer.Parameters));

    private V Gradients => IlgpuModel.Floats(_model.DeviceBuffer(ModelBuffer.Gradients));
}
