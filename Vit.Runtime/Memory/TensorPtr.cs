using System.Runtime.CompilerServices;

namespace Vit.Memory;

/// <summary>
/// A typed pointer to <see cref="float"/> data in native memory owned by the runtime
/// (a <see cref="NativeBuffer"/>). Generated models pass these to kernels so that the
/// generated code itself needs no <c>unsafe</c> context, and so that buffers larger than
/// <see cref="int.MaxValue"/> elements (ViT-B at large batch) can be addressed.
/// </summary>
/// <remarks>
/// A <see cref="TensorPtr"/> carries no length and no ownership: it is exactly as safe as
/// the plan that computed its offset. The generator computes every offset at build time.
/// </remarks>
public readonly unsafe struct TensorPtr : IEquatable<TensorPtr>, Vit.Backends.ITensorPointer<TensorPtr>
{
    private readonly float* _pointer;

    /// <summary>Wraps a raw pointer (for kernels and tests; the memory must stay pinned).</summary>
    public TensorPtr(float* pointer) => _pointer = pointer;

    /// <summary>The null pointer: "this optional tensor is absent" (no bias, no dropout mask).</summary>
    public static TensorPtr Null => default;

    /// <summary>An absent optional tensor (the null pointer), as the backend contract names it.</summary>
    public static TensorPtr None => default;

    /// <summary>True when this is <see cref="Null"/>.</summary>
    public bool IsNull => _pointer == null;

    /// <summary>The raw pointer.</summary>
    public float* Pointer
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _pointer;
    }

    /// <summary>The pointer <paramref name="elements"/> floats further on.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TensorPtr operator +(TensorPtr p, long elements) => new(p._pointer + elements);

    /// <summary>A span over <paramref name="length"/> floats from this pointer.</summary>
    public Span<float> AsSpan(int length) => new(_pointer, length);

    /// <inheritdoc/>
    public bool Equals(TensorPtr other) => _pointer == other._pointer;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is TensorPtr p && Equals(p);

    /// <inheritdoc/>
    public override int GetHashCode() => ((nint)_pointer).GetHashCode();

    /// <summary>Pointer equality.</summary>
    public static bool operator ==(TensorPtr a, TensorPtr b) => a.Equals(b);

    /// <summary>Pointer inequality.</summary>
    public static bool operator !=(TensorPtr a, TensorPtr b) => !a.Equals(b);

    /// <inheritdoc/>
    public override string ToString() => $"0x{(nint)_pointer:x}";
}
