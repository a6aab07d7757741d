using System.Numerics;

namespace Vit.Backends;

/// <summary>
/// A pointer to floats in one backend's memory: <see cref="Vit.Memory.TensorPtr"/> on the CPU,
/// <see cref="Vit.Backends.Device.DevicePtr"/> (a buffer and an offset) on a device. The generated
/// passes only add offsets to it and pass it on, so they are written once for every backend.
/// </summary>
/// <typeparam name="TSelf">The pointer type itself.</typeparam>
public interface ITensorPointer<TSelf> : IAdditionOperators<TSelf, long, TSelf>, IEqualityOperators<TSelf, TSelf, bool>
    where TSelf : struct, ITensorPointer<TSelf>
{
    /// <summary>An absent optional tensor: no bias, no dropout mask, no saved statistics.</summary>
    static abstract TSelf None { get; }

    /// <summary>True for <see cref="None"/>.</summary>
    bool IsNull { get; }
}
