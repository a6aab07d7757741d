using System.Globalization;
using System.IO.Compression;
using System.Text.RegularExpressions;

namespace Vit.IO;

/// <summary>
/// Google's original ViT checkpoints (<c>.npz</c>: a zip of NumPy <c>.npy</c> arrays, the JAX/Flax
/// names and layouts that timm's <c>_load_weights</c> reads, e.g. <c>ViT-B_16.npz</c>, the ImageNet-21k
/// weights the documents start from) mapped onto timm's names and layouts: Dense kernels are
/// (in, out) and become (out, in); the patch kernel is HWIO and becomes (out, in, h, w); the
/// attention's query, key and value kernels (D, heads, head_dim) are flattened, transposed and
/// stacked into <c>qkv</c>, its output kernel (heads, head_dim, D) flattened and transposed.
/// </summary>
public static partial class NpzWeights
{
    /// <summary>Whether <paramref name="path"/> is a zip whose entries are <c>.npy</c> arrays.</summary>
    public static bool IsNpz(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            Span<byte> head = stackalloc byte[4];
            if (stream.Read(head) < 4 || !head.SequenceEqual("PK\u0003\u0004"u8)) return false;
            stream.Position = 0;
            using var zip = new ZipArchive(stream, ZipArchiveMode.Read);
            return zip.Entries.Count > 0 && zip.Entries.All(e => e.FullName.EndsWith(".npy", StringComparison.Ordinal));
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Writes the checkpoint's weights under timm's names as F32 safetensors (atomically).</summary>
    /// <exception cref="InvalidDataException">An array is not little-endian float, or a name is unknown, or query, key or value is missing.</exception>
    public static void ToSafeTensors(string npzPath, string outPath)
    {
        var arrays = Read(npzPath);
        var writer = new SafeTensorsWriter();
        writer.Metadata["converted_from"] = "GoogleNpz";
        var unknown = new List<string>();
        var blocks = new SortedSet<int>();
        foreach (var (name, (shape, data)) in arrays)
        {
            var m = Block().Match(name);
            if (m.Success)
            {
                blocks.Add(int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
                continue;
            }
            switch (name)
            {
                case "cls": writer.Add("cls_token", shape, data); break;
                case "Transformer/posembed_input/pos_embedding": writer.Add("pos_embed", shape, data); break;
                case "embedding/kernel": writer.Add("patch_embed.proj.weight", [shape[3], shape[2], shape[0], shape[1]], Permute(data, shape, [3, 2, 0, 1])); break;
                case "embedding/bias": writer.Add("patch_embed.proj.bias", shape, data); break;
                case "Transformer/encoder_norm/scale": writer.Add("norm.weight", shape, data); break;
                case "Transformer/encoder_norm/bias": writer.Add("norm.bias", shape, data); break;
                case "head/kernel": writer.Add("head.weight", [shape[1], shape[0]], Transpose(data, shape[0], shape[1])); break;
                case "head/bias": writer.Add("head.bias", shape, data); break;
                case "pre_logits/kernel": writer.Add("pre_logits.fc.weight", [shape[1], shape[0]], Transpose(data, shape[0], shape[1])); break;
                case "pre_logits/bias": writer.Add("pre_logits.fc.bias", shape, data); break;
                default: unknown.Add(name); break;
            }
        }
        foreach (int i in blocks)
        {
            string b = $"Transformer/encoderblock_{i.ToString(CultureInfo.InvariantCulture)}/", t = $"blocks.{i.ToString(CultureInfo.InvariantCulture)}.";
            (long[] Shape, float[] Data) Get(string n) => arrays.TryGetValue(b + n, out var a) ? a
                : throw new InvalidDataException($"'{npzPath}' has {b}* arrays but not {b}{n}.");
            writer.Add(t + "norm1.weight", Get("LayerNorm_0/scale").Shape, Get("LayerNorm_0/scale").Data);
            writer.Add(t + "norm1.bias", Get("LayerNorm_0/bias").Shape, Get("LayerNorm_0/bias").Data);
            writer.Add(t + "norm2.weight", Get("LayerNorm_2/scale").Shape, Get("LayerNorm_2/scale").Data);
            writer.Add(t + "norm2.bias", Get("LayerNorm_2/bias").Shape, Get("LayerNorm_2/bias").Data);
            // query, key, value: kernel (D, heads, head_dim) → (D, D) → transposed (out, in), stacked; bias (heads, head_dim) flattened.
            var qkv = new List<float>();
            var qkvBias = new List<float>();
            long dim = 0;
            foreach (string part in new[] { "query", "key", "value" })
            {
                var (shape, data) = Get($"MultiHeadDotProductAttention_1/{part}/kernel");
                dim = shape[0];
                qkv.AddRange(Transpose(data, shape[0], data.Length / shape[0]));
                qkvBias.AddRange(Get($"MultiHeadDotProductAttention_1/{part}/bias").Data);
            }
            writer.Add(t + "attn.qkv.weight", [qkv.Count / dim, dim], qkv.ToArray());
            writer.Add(t + "attn.qkv.bias", [qkvBias.Count], qkvBias.ToArray());
            var (outShape, outData) = Get("MultiHeadDotProductAttention_1/out/kernel"); // (heads, head_dim, D)
            long inner = outData.Length / outShape[^1];
            writer.Add(t + "attn.proj.weight", [outShape[^1], inner], Transpose(outData, inner, outShape[^1]));
            writer.Add(t + "attn.proj.bias", Get("MultiHeadDotProductAttention_1/out/bias").Shape, Get("MultiHeadDotProductAttention_1/out/bias").Data);
            foreach (var (dense, fc) in new[] { ("Dense_0", "fc1"), ("Dense_1", "fc2") })
            {
                var (ks, kd) = Get($"MlpBlock_3/{dense}/kernel");
                writer.Add(t + $"mlp.{fc}.weight", [ks[1], ks[0]], Transpose(kd, ks[0], ks[1]));
                writer.Add(t + $"mlp.{fc}.bias", Get($"MlpBlock_3/{dense}/bias").Shape, Get($"MlpBlock_3/{dense}/bias").Data);
            }
        }
        if (unknown.Count > 0)
            throw new InvalidDataException($"'{npzPath}' holds arrays that are not ViT weights as Google's checkpoints name them: {string.Join(", ", unknown.Take(6))}{(unknown.Count > 6 ? $" and {unknown.Count - 6} more" : "")}.");
        writer.Write(outPath);
    }

    /// <summary>
    /// Runs <paramref name="load"/> on a timm-named safetensors copy of the checkpoint in the
    /// temporary folder (removed afterwards); messages name the checkpoint, not the copy.
    /// </summary>
    public static T WithSafeTensors<T>(string npzPath, Func<string, T> load)
    {
        ArgumentNullException.ThrowIfNull(load);
        string temp = Path.Combine(Path.GetTempPath(), $"vit-npz-{Environment.ProcessId}-{Guid.NewGuid():N}.safetensors");
        try
        {
            ToSafeTensors(npzPath, temp);
            return load(temp);
        }
        catch (InvalidDataException e) when (e.Message.Contains(temp, StringComparison.Ordinal))
        {
            throw new InvalidDataException(e.Message.Replace(temp, npzPath, StringComparison.Ordinal) + " (read as a Google .npz checkpoint)");
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private static Dictionary<string, (long[] Shape, float[] Data)> Read(string path)
    {
        var result = new Dictionary<string, (long[], float[])>(StringComparer.Ordinal);
        using var zip = ZipFile.OpenRead(path);
        foreach (var entry in zip.Entries)
        {
            string name = entry.FullName[..^4];
            using var stream = entry.Open();
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            result[name] = ParseNpy(memory.ToArray(), $"{path}:{entry.FullName}");
        }
        return result;
    }

    /// <summary>A NumPy <c>.npy</c> array (format 1.0–3.0) of little-endian float32 or float64, C order.</summary>
    private static (long[] Shape, float[] Data) ParseNpy(byte[] bytes, string name)
    {
        if (bytes.Length < 10 || bytes[0] != 0x93 || !bytes.AsSpan(1, 5).SequenceEqual("NUMPY"u8))
            throw new InvalidDataException($"'{name}' is not a NumPy .npy array (no \\x93NUMPY magic).");
        int major = bytes[6];
        int headerLength = major == 1 ? BitConverter.ToUInt16(bytes, 8) : BitConverter.ToInt32(bytes, 8);
        int start = major == 1 ? 10 : 12;
        string header = System.Text.Encoding.Latin1.GetString(bytes, start, headerLength);
        var descr = Regex.Match(header, @"'descr':\s*'([^']*)'").Groups[1].Value;
        if (Regex.IsMatch(header, @"'fortran_order':\s*True"))
            throw new InvalidDataException($"'{name}' is stored in Fortran order; expected C order.");
        var shape = Regex.Match(header, @"'shape':\s*\(([^)]*)\)").Groups[1].Value
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => long.Parse(d, CultureInfo.InvariantCulture)).ToArray();
        long count = shape.Aggregate(1L, (a, b) => a * b);
        int offset = start + headerLength;
        var data = new float[count];
        switch (descr)
        {
            case "<f4":
                if (bytes.Length - offset < count * 4) throw new InvalidDataException($"'{name}' is truncated.");
                Buffer.BlockCopy(bytes, offset, data, 0, (int)(count * 4));
                break;
            case "<f8":
                if (bytes.Length - offset < count * 8) throw new InvalidDataException($"'{name}' is truncated.");
                for (long i = 0; i < count; i++) data[i] = (float)BitConverter.ToDouble(bytes, offset + (int)(i * 8));
                break;
            default:
                throw new InvalidDataException($"'{name}' has dtype {descr}; expected little-endian float32 (<f4) or float64 (<f8).");
        }
        return (shape, data);
    }

    private static float[] Transpose(float[] data, long rows, long cols)
    {
        var t = new float[data.Length];
        for (long r = 0; r < rows; r++)
            for (long c = 0; c < cols; c++)
                t[c * rows + r] = data[r * cols + c];
        return t;
    }

    /// <summary>A 4-d array permuted: output axis k is input axis <paramref name="order"/>[k].</summary>
    private static float[] Permute(float[] data, long[] shape, int[] order)
    {
        var result = new float[data.Length];
        long[] outShape = order.Select(o => shape[o]).ToArray();
        long[] stride = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1];
        long n = 0;
        for (long a = 0; a < outShape[0]; a++)
            for (long b = 0; b < outShape[1]; b++)
                for (long c = 0; c < outShape[2]; c++)
                    for (long d = 0; d < outShape[3]; d++)
                    {
                        long[] idx = [a, b, c, d];
                        long src = 0;
                        for (int k = 0; k < 4; k++) src += idx[k] * stride[order[k]];
                        result[n++] = data[src];
                    }
        return result;
    }

    [GeneratedRegex(@"^Transformer/encoderblock_(\d+)/")]
    private static partial Regex Block();
}
