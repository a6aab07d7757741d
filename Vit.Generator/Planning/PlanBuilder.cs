using System;
using System.Collections.Generic;
using System.Linq;
using Vit.Generator.Model;

namespace Vit.Generator.Planning;

/// <summary>
/// Collects what the ops of <see cref="Architecture"/> declare, in forward order: parameters (in
/// timm <c>state_dict</c> order), tensors (their training slots), backward scratch and steps.
/// The plan's layouts, sizes and FLOPs are then derived from what was collected.
/// </summary>
internal sealed class PlanBuilder
{
    /// <summary>Offsets are rounded up to 16 floats: 64 bytes, one cache line and one AVX-512 vector.</summary>
    public const int AlignFloats = 16;

    private readonly List<ParameterSpec> _parameters = new();
    private readonly List<TensorRef> _saved = new();
    private readonly List<(string Name, double Length, string Description)> _scratch = new();
    private readonly List<StepSpec> _steps = new();
    private long _parameterOffset;

    public PlanBuilder(ModelSpec spec) => Spec = spec;

    public ModelSpec Spec { get; }

    public IReadOnlyList<ParameterSpec> ParameterList => _parameters;

    public IReadOnlyList<StepSpec> Steps => _steps;

    /// <summary>Parameters as timm counts them (no padding), in double: also an estimate for sizes that overflow.</summary>
    public double ParameterCount { get; private set; }

    /// <summary>The parameter buffer's length, alignment padding included, in double.</summary>
    public double ParameterFloats { get; private set; }

    /// <summary>The training layout's saved tensors so far, floats per image with alignment, in double.</summary>
    public double SavedFloats => _saved.Sum(t => AlignUp(t.LengthEstimate()));

    /// <summary>The training layout's scratch slots so far, floats per image with alignment, in double.</summary>
    public double ScratchFloats => _scratch.Sum(s => AlignUp(s.Length));

    /// <summary>Declares a parameter; returns the name of its offset constant in <c>Params</c>.</summary>
    public string Parameter(string name, long[] shape, string init, bool decay, int fanIn = 0, double value = 0)
    {
        double count = shape.Aggregate(1.0, (a, d) => a * d);
        long length = count < long.MaxValue / 2 ? shape.Aggregate(1L, (a, d) => a * d) : 0;
        string constant = ConstantName(name);
        _parameters.Add(new ParameterSpec(name, constant, new EquatableArray<int>(shape.Select(d => (int)d).ToArray()), _parameterOffset, length, init, fanIn, decay, value));
        _parameterOffset += Align(length);
        ParameterCount += count;
        ParameterFloats += AlignUp(count);
        return constant;
    }

    /// <summary>A tensor with its own slot in the training layout.</summary>
    public TensorRef Saved(string name, string buffer, string grad, long[] shape, string description, long rowStride = 0)
    {
        var t = new TensorRef(name, buffer, grad, new EquatableArray<long>(shape), rowStride, description);
        _saved.Add(t);
        return t;
    }

    /// <summary>A forward tensor that the backward pass does not read: it lives in a scratch slot shared by every block.</summary>
    public TensorRef Transient(string name, string buffer, string grad, long[] shape, string description)
    {
        var t = new TensorRef(name, buffer, grad, new EquatableArray<long>(shape), 0, description);
        Scratch(name, t.LengthEstimate(), description);
        return t;
    }

    /// <summary>A scratch slot of the training layout (backward gradients, forward scratch): the largest request wins.</summary>
    public string Scratch(string name, double length, string description)
    {
        int i = _scratch.FindIndex(s => s.Name == name);
        if (i < 0) _scratch.Add((name, length, description));
        else if (length > _scratch[i].Length) _scratch[i] = (name, length, description);
        return name;
    }

    public void Step(OpKind op, string module, int block, TensorRef[] inputs, TensorRef[] outputs, TensorRef[] saved,
        string[] parameters, int[] sizes, double rate = 0, string variant = "")
    {
        _steps.Add(new StepSpec(op, module, block, new EquatableArray<TensorRef>(inputs), new EquatableArray<TensorRef>(outputs),
            new EquatableArray<TensorRef>(saved), new EquatableArray<string>(parameters), new EquatableArray<int>(sizes), rate, variant));
    }

    /// <summary>The training layout: every saved tensor in forward order, then the scratch slots.</summary>
    public (EquatableArray<TensorSpec> Tensors, long FloatsPerImage) TrainingLayout()
    {
        var list = new List<TensorSpec>();
        long offset = 0;
        foreach (var t in _saved)
        {
            list.Add(new TensorSpec(t.Name, offset, t.Length, t.Description));
            offset += Align(t.Length);
        }
        foreach (var s in _scratch)
        {
            long length = (long)s.Length;
            list.Add(new TensorSpec(s.Name, offset, length, s.Description));
            offset += Align(length);
        }
        return (new EquatableArray<TensorSpec>(list.ToArray()), offset);
    }

    public long ParameterBufferFloats => _parameterOffset;

    public static long Align(long length) => (length + AlignFloats - 1) / AlignFloats * AlignFloats;

    private static double AlignUp(double length) => Math.Ceiling(length / AlignFloats) * AlignFloats;

    /// <summary><c>blocks.0.attn.qkv.weight</c> → <c>Blocks0AttnQkvWeight</c>.</summary>
    public static string ConstantName(string timmName)
    {
        var sb = new System.Text.StringBuilder();
        bool upper = true;
        foreach (char c in timmName)
        {
            if (c == '.' || c == '_') { upper = true; continue; }
            sb.Append(upper ? char.ToUpperInvariant(c) : c);
            upper = false;
        }
        return sb.ToString();
    }
}

internal static class TensorRefExtensions
{
    /// <summary>Floats per image in double (no overflow), row padding included.</summary>
    public static double LengthEstimate(this TensorRef t)
    {
        double n = 1;
        for (int i = 0; i < t.Shape.Count - 1; i++) n *= t.Shape[i];
        return n * (t.RowStride > 0 ? t.RowStride : t.Shape.Count > 0 ? t.Shape[t.Shape.Count - 1] : 1);
    }
}
