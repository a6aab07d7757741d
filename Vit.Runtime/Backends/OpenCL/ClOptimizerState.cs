using Vit.Backends.Device;
using Vit.Memory;

namespace Vit.Backends.OpenCL;

/// <summary>The optimizer's three launches on OpenCL (<c>sum_squares</c>, <c>adamw_update</c>, <c>sgd_update</c>); the rest is <see cref="DeviceOptimizer"/>.</summary>
internal sealed class ClOptimizerState : DeviceOptimizer
{
    private readonly ClModel _model;

    public ClOptimizerState(ClModel model, IReadOnlyList<ParameterInfo> trained, int stateBuffers)
        : base(model.Api, model.DeviceBuffer(ModelBuffer.Parameters), trained, stateBuffers, model.Allocate) => _model = model;

    protected override void LaunchSumOfSquares()
    {
        _model.Upload(ModelBuffer.Gradients, write: false);
        var k = _model.SumSquaresKernel.Take();
        k.SetArg(0, (ClBuffer)Partials);
        k.SetArg(1, (ClBuffer)_model.DeviceBuffer(ModelBuffer.Gradients));
        k.SetArg(2, (ClBuffer)Offsets);
        k.SetArg(3, (ClBuffer)Lengths);
        k.SetArg(4, Chunks);
        _model.Launch(k, (long)Chunks * ClModel.OptimizerLocal, ClModel.OptimizerLocal);
    }

    public override void AdamW(float learningRate, float decayFactor, float beta1, float oneMinusBeta1, float beta2, float oneMinusBeta2,
        float epsilon, float stepSize, float invSqrtBias2, float gradientScale)
    {
        var k = _model.AdamWKernel.Take();
        int i = Common(k, stateBuffers: 2);
        k.SetArg(i++, learningRate);
        k.SetArg(i++, decayFactor);
        k.SetArg(i++, beta1);
        k.SetArg(i++, oneMinusBeta1);
        k.SetArg(i++, beta2);
        k.SetArg(i++, oneMinusBeta2);
        k.SetArg(i++, epsilon);
        k.SetArg(i++, stepSize);
        k.SetArg(i++, invSqrtBias2);
        k.SetArg(i, gradientScale);
        _model.Launch(k, (long)Chunks * ClModel.OptimizerLocal, ClModel.OptimizerLocal);
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
        _model.Launch(k, (long)Chunks * ClModel.OptimizerLocal, ClModel.OptimizerLocal);
    }

    // param, grad, the state buffers, the chunk tables, then where the state starts: the arguments both updates share.
    private int Common(ClKernel k, int stateBuffers)
    {
        CheckStateBuffers(k.Name, stateBuffers, State.Length);
        _model.Upload(ModelBuffer.Gradients, write: false);
        _model.Upload(ModelBuffer.Parameters, write: true);
        int i = 0;
        k.SetArg(i++, (ClBuffer)_model.DeviceBuffer(ModelBuffer.Parameters));
        k.SetArg(i++, (ClBuffer)_model.DeviceBuffer(ModelBuffer.Gradients));
        foreach (var s in State) k.SetArg(i++, (ClBuffer)s);
        k.SetArg(i++, (ClBuffer)Offsets);
        k.SetArg(i++, (ClBuffer)Lengths);
        k.SetArg(i++, (ClBuffer)Decayed);
        k.SetArg(i++, Chunks);
        k.SetArg(i++, StateOffset);
        return i;
    }
}
