using System.Numerics;
using Vit.Memory;

namespace Vit.Backends.Cpu;

/// <summary>
/// The optimizer updates on the CPU: SIMD loops over each trained parameter's range of the flat
/// parameter, gradient and state buffers (the state buffers are the optimizer's host buffers, which
/// start at <c>stateOffset</c> in the parameter layout: see <see cref="OptimizerKernels.StateRange"/>).
/// </summary>
internal sealed unsafe class CpuOptimizerKernels : OptimizerKernels
{
    private readonly ModelMemory _memory;
    private readonly ParameterInfo[] _trained; // an array: foreach over it allocates no enumerator
    private readonly NativeBuffer[] _state;
    private readonly long _stateOffset;

    public CpuOptimizerKernels(ModelMemory memory, IReadOnlyList<ParameterInfo> trained, NativeBuffer[] state, long stateOffset)
    {
        _memory = memory;
        _trained = [.. trained];
        _state = state;
        _stateOffset = stateOffset;
    }

    public override double GradientSumOfSquares()
    {
        float* g = _memory.Gradients.Start.Pointer;
        double sum = 0;
        foreach (var p in _trained) sum += SumOfSquares(g + p.Offset, p.Length);
        return sum;
    }

    public override void AdamW(float learningRate, float decayFactor, float beta1, float oneMinusBeta1, float beta2, float oneMinusBeta2,
        float epsilon, float stepSize, float invSqrtBias2, float gradientScale)
    {
        CheckStateBuffers("AdamW", 2, _state.Length);
        float* param = _memory.Parameters.Start.Pointer, grad = _memory.Gradients.Start.Pointer;
        float c1 = oneMinusBeta1, c2 = oneMinusBeta2, step = learningRate * stepSize;
        foreach (var p in _trained)
        {
            float decay = p.WeightDecay ? decayFactor : 1f;
            float* x = param + p.Offset, gr = grad + p.Offset;
            float* m = _state[0].Start.Pointer + (p.Offset - _stateOffset), v = _state[1].Start.Pointer + (p.Offset - _stateOffset);
            long length = p.Length, i = 0;
            int w = Vector<float>.Count;
            for (; i + w <= length; i += w)
            {
                var g = *(Vector<float>*)(gr + i) * gradientScale;
                var mi = *(Vector<float>*)(m + i) * beta1 + g * c1;
                var vi = *(Vector<float>*)(v + i) * beta2 + g * g * c2;
                *(Vector<float>*)(m + i) = mi;
                *(Vector<float>*)(v + i) = vi;
                var denom = Vector.SquareRoot(vi) * invSqrtBias2 + new Vector<float>(epsilon);
                *(Vector<float>*)(x + i) = *(Vector<float>*)(x + i) * decay - mi / denom * step;
            }
            for (; i < length; i++)
            {
                float g = gr[i] * gradientScale;
                m[i] = m[i] * beta1 + g * c1;
                v[i] = v[i] * beta2 + g * g * c2;
                x[i] = x[i] * decay - m[i] / (MathF.Sqrt(v[i]) * invSqrtBias2 + epsilon) * step;
            }
        }
    }

    public override void Sgd(float learningRate, float decayFactor, float momentum, bool nesterov, float gradientScale)
    {
        CheckStateBuffers("SGD", 1, _state.Length);
        float* param = _memory.Parameters.Start.Pointer, grad = _memory.Gradients.Start.Pointer;
        foreach (var p in _trained)
        {
            float decay = p.WeightDecay ? decayFactor : 1f;
            float* x = param + p.Offset, gr = grad + p.Offset, b = _state[0].Start.Pointer + (p.Offset - _stateOffset);
            long length = p.Length, i = 0;
            int w = Vector<float>.Count;
            for (; i + w <= length; i += w)
            {
                var g = *(Vector<float>*)(gr + i) * gradientScale;
                var bi = *(Vector<float>*)(b + i) * momentum + g;
                *(Vector<float>*)(b + i) = bi;
                var d = nesterov ? g + bi * momentum : bi;
                *(Vector<float>*)(x + i) = *(Vector<float>*)(x + i) * decay - d * learningRate;
            }
            for (; i < length; i++)
            {
                float g = gr[i] * gradientScale;
                b[i] = b[i] * momentum + g;
                float d = nesterov ? g + b[i] * momentum : b[i];
                x[i] = x[i] * decay - d * learningRate;
            }
        }
    }

    // The state is the optimizer's host buffers themselves: nothing to copy.
    public override void Download(int index, NativeBuffer host)
    {
    }

    public override void Upload(int index, NativeBuffer host)
    {
    }

    protected override void Dispose(bool disposing)
    {
    }

    private static double SumOfSquares(float* x, long n)
    {
        double total = 0;
        long i = 0;
        int w = Vector<float>.Count;
        // Blocks of 1024 are summed in float vectors, then added in double: fast and still accurate.
        while (i < n)
        {
            long end = Math.Min(n, i + 1024);
            var acc = Vector<float>.Zero;
            for (; i + w <= end; i += w)
            {
                var v = *(Vector<float>*)(x + i);
                acc += v * v;
            }
            double part = Vector.Sum(acc);
            for (; i < end; i++) part += (double)x[i] * x[i];
            total += part;
        }
        return total;
    }
}
