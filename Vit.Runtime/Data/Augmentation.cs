namespace Vit.Data;

/// <summary>
/// The random draw for one training sample: a 32×32 crop of the image padded with 4 zero pixels
/// on every side, then an optional horizontal flip (torchvision's <c>RandomCrop(32, padding=4)</c>
/// followed by <c>RandomHorizontalFlip(0.5)</c>). The output pixel (y, x) is the source pixel
/// (y + <see cref="OffsetY"/>, x' + <see cref="OffsetX"/>) with x' = 31 − x when flipped and
/// x' = x otherwise; a source pixel outside the image is 0 (before normalization).
/// </summary>
/// <param name="OffsetX">Horizontal crop offset in [-4, 4] (torchvision's crop left minus the padding).</param>
/// <param name="OffsetY">Vertical crop offset in [-4, 4] (torchvision's crop top minus the padding).</param>
/// <param name="Flip">Whether the crop is mirrored left to right.</param>
public readonly record struct Augmentation(int OffsetX, int OffsetY, bool Flip)
{
    /// <summary>The zero padding on each side, in pixels; offsets lie in [-Padding, Padding].</summary>
    public const int Padding = 4;

    /// <summary>The identity: no shift, no flip.</summary>
    public static Augmentation None => default;

    /// <summary>
    /// The draw for sample position <paramref name="position"/> (its place in the epoch's order) of
    /// epoch <paramref name="epoch"/>: a pure function of (seed, epoch, position), computed with a
    /// counter-based hash (SplitMix64 of the combined key), so it does not depend on threading, on
    /// batch size or on where a run was resumed.
    /// </summary>
    public static Augmentation For(ulong seed, int epoch, long position)
    {
        ulong h = KeyHash.Of(seed, KeyHash.AugmentationStream, (ulong)epoch, (ulong)position);
        const int span = 2 * Padding + 1; // 9 offsets
        // Multiply-shift maps 32 uniform bits onto [0, 9) with negligible bias.
        int ox = (int)(((h & 0xFFFFFFFFUL) * span) >> 32) - Padding;
        int oy = (int)((((h >> 32) & 0x7FFFFFFFUL) * span) >> 31) - Padding;
        bool flip = (h >> 63) != 0;
        return new Augmentation(ox, oy, flip);
    }
}

/// <summary>Counter-based hashing of (seed, stream, values…) keys with the SplitMix64 finalizer.</summary>
internal static class KeyHash
{
    public const ulong AugmentationStream = 0x6175676D656E7400UL; // "augment"
    public const ulong ShuffleStream = 0x73687566666C6500UL;      // "shuffle"
    public const ulong SampleStream = 0x73616D706C650000UL;       // "sample": ImageDataset.Sample's draw
    public const ulong DropoutRankStream = 0x64726F7072616E6BUL;  // "droprank": the dropout stream of data-parallel rank r > 0

    public static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public static ulong Of(ulong seed, ulong stream, ulong a) => Mix(Mix(Mix(seed) ^ stream) ^ a);

    public static ulong Of(ulong seed, ulong stream, ulong a, ulong b) => Mix(Of(seed, stream, a) ^ b);
}
