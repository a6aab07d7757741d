namespace Vit;

/// <summary>How the token sequence becomes one feature vector per image (timm's <c>global_pool</c>).</summary>
public enum Pooling
{
    /// <summary>timm <c>'token'</c>: <c>norm</c> over the tokens, then the class token <c>x[:, 0]</c>.</summary>
    Token = 0,

    /// <summary>timm <c>'avg'</c>: the mean of the patch tokens (class token excluded), then <c>fc_norm</c>.</summary>
    Mean = 1,
}
