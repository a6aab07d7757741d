namespace Vit.Backends;

/// <summary>
/// A dimension known at compile time. Generated models declare one struct per distinct size
/// (for example <c>D768 : IDim</c>) and pass them as generic arguments, so the JIT and
/// NativeAOT compile one specialized kernel per shape with the size as a constant, and all
/// blocks of a model share it.
/// </summary>
public interface IDim
{
    /// <summary>The size.</summary>
    static abstract int Value { get; }
}
