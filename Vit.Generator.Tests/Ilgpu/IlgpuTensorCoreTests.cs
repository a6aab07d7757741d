using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using Vit.Backends.Ilgpu;
using Vit.Numerics;
using Xunit;

namespace Vit.Tests.Ilgpu;

/// <summary>
/// The tensor-core GEMM (inline PTX mma.sync, TF32 and BF16) on a CPU accelerator with 32-thread
/// warps, where each mma is emulated by warp shuffles over the PTX ISA's fragment layout: this
/// checks the kernel's tiling, fragments, rounding and epilogue against a reference that rounds
/// the operands the same way. Whether the hardware's fragment layout matches is for a GPU to
/// confirm (tools/gpu-check); until then the path is off by default.
/// </summary>
public sealed class IlgpuTensorCoreTests : IDisposable
{
    private readonly Context _context = Context.Create(b => b.CPU(new CPUDevice(32, 1, 1)).Optimize(OptimizationLevel.O2).EnableAlgorithms());
    private readonly CPUAccelerator _accelerator;

    public IlgpuTensorCoreTests() => _accelerator = _context.CreateCPUAccelerator(0);

    public void Dispose()
    {
        _accelerator.Dispose();
        _context.Dispose();
    }

    private static float Tf32(float x) => BitConverter.UInt32BitsToSingle((BitConverter.SingleToUInt32Bits(x) + 0x1000u) & 0xFFFFE000u);

    private static float Bf16(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        return BitConverter.UInt32BitsToSingle((bits + 0x7FFFu + (bits >> 16 & 1u)) & 0xFFFF0000u);
    }

    // C (m×n) = A·B (+ bias) (+ C), then act = gelu(C), with A(i, k) = a[i·sai + k·sak], B(k, j) = b[k·sbk + j·sbj].
    private void Check(bool bf16, int m, int n, int k, bool transposedA, bool epilogue)
    {
        var rng = new Rng(7);
        float[] Random(int count)
        {
            var x = new float[count];
            for (int i = 0; i < count; i++) x[i] = (float)rng.NextNormal();
            return x;
        }
        var a = Random(m * k);
        var b = Random(k * n);
        var bias = Random(n);
        var c0 = Random(m * n);
        long sai = transposedA ? 1 : k, sak = transposedA ? m : 1; // dyᵀ·x reads A down its columns
        long sbk = 1, sbj = k;                                      // B = Wᵀ: W (n × k) row-major
        Func<float, float> round = bf16 ? Bf16 : Tf32;
        var expected = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int q = 0; q < k; q++) s += (double)round(a[i * sai + q * sak]) * round(b[q * sbk + j * sbj]);
                if (epilogue) s += bias[j] + c0[i * n + j];
                expected[i * n + j] = s;
            }

        using var da = _accelerator.Allocate1D(a);
        using var db = _accelerator.Allocate1D(b);
        using var dbias = _accelerator.Allocate1D(bias);
        using var dc = _accelerator.Allocate1D(c0);
        using var dact = _accelerator.Allocate1D<float>(m * n);
        var kernel = _accelerator.LoadKernel<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>>(
            typeof(IlgpuTensorCoreGemm).GetMethod(nameof(IlgpuTensorCoreGemm.Gemm))!.MakeGenericMethod(bf16 ? typeof(MmaBf16) : typeof(MmaTf32), typeof(Warps1)));
        var args = new GemmArgs
        {
            CStride = n, ActStride = n, Sai = sai, Sak = sak, Sbk = sbk, Sbj = sbj, M = m, N = n, K = k,
            Flags = epilogue ? IlgpuKernelCode.GemmBias | IlgpuKernelCode.GemmAccumulate | IlgpuKernelCode.GemmAct : 0,
        };
        kernel(_accelerator.DefaultStream, new KernelConfig(new Index2D((n + 15) / 16, (m + 31) / 32), new Index2D(32, 1)), dc.View, da.View, db.View, dbias.View, dact.View, args);
        _accelerator.Synchronize();
        var c = dc.GetAsArray1D();
        var act = dact.GetAsArray1D();
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < m * n; i++)
        {
            // Products of rounded operands are exact in fp32; only the fp32 sum of k of them rounds.
            double tol = 1e-6 * scale * Math.Sqrt(k) + 1e-6 * Math.Abs(expected[i]);
            Assert.True(Math.Abs(c[i] - expected[i]) <= tol, $"C[{i / n}, {i % n}] = {c[i]:R}, expected {expected[i]:R} ({(bf16 ? "bf16" : "tf32")})");
            if (epilogue)
                Assert.Equal(IlgpuKernelCode.Gelu(c[i]), act[i]);
        }
        // The rounding matters: the same products in fp32 differ from the rounded ones.
        double unrounded = 0;
        for (int q = 0; q < k; q++) unrounded += (double)a[q * sak] * b[q * sbk];
        Assert.NotEqual(unrounded + (epilogue ? bias[0] + c0[0] : 0), expected[0]);
    }

    [Fact]
    public void Tf32_matches_the_rounded_reference_on_ragged_sizes() => Check(bf16: false, m: 37, n: 21, k: 19, transposedA: false, epilogue: false);

    [Fact]
    public void Tf32_with_a_transposed_a_and_the_fused_epilogue() => Check(bf16: false, m: 40, n: 24, k: 35, transposedA: true, epilogue: true);

    [Fact]
    public void Bf16_matches_the_rounded_reference_on_ragged_sizes() => Check(bf16: true, m: 33, n: 17, k: 40, transposedA: false, epilogue: false);

    [Fact]
    public void Bf16_with_a_transposed_a_and_the_fused_epilogue() => Check(bf16: true, m: 64, n: 32, k: 48, transposedA: true, epilogue: true);
}

/// <summary>
/// On a CUDA GPU of sm_80 or newer (tools/gpu-check sets VIT_ILGPU_DEVICE=cuda): the model's
/// forward pass and training gradients with the tensor-core GEMM against the SIMT GEMM, the check
/// that can make the tensor-core path verified. Skipped, saying so, everywhere else.
/// </summary>
public sealed class IlgpuTensorCoreGpuTests
{
    private static IlgpuBackend Gpu()
    {
        var want = Environment.GetEnvironmentVariable("VIT_ILGPU_DEVICE");
        Skip.If(want is null || !want.StartsWith("cuda", StringComparison.OrdinalIgnoreCase),
            "needs a CUDA GPU: tools/gpu-check runs this with VIT_ILGPU_DEVICE=cuda");
        var backend = (IlgpuBackend)Vit.Backends.Backend.Ilgpu(want);
        Skip.IfNot(backend.TensorCoreCapable, $"{backend.Description} has no TF32/BF16 mma.sync (needs sm_80 or newer)");
        return backend;
    }

    [SkippableTheory]
    [InlineData(IlgpuTensorCores.Tf32, 5e-3)]
    [InlineData(IlgpuTensorCores.Bf16, 3e-2)]
    public void Tensor_cores_match_the_simt_gemm(IlgpuTensorCores kind, double rtol)
    {
        var backend = Gpu();
        const int batch = 8;
        float[] Run(IlgpuTensorCores tc, out float[] grad)
        {
            backend.UnverifiedTensorCores = tc;
            try
            {
                using var model = new Vit.Tests.Model.CifarVit(3, batch, backend);
                var rng = new Rng(5);
                var images = new float[batch * 3 * 32 * 32];
                for (int i = 0; i < images.Length; i++) images[i] = (float)rng.NextNormal();
                var output = new float[batch * 10];
                model.Forward(images, batch, output);
                model.ForwardBackward(images, Enumerable.Range(0, batch).Select(i => i % 10).ToArray(), batch);
                grad = model.Gradient("blocks.0.mlp.fc1.weight").ToArray();
                return output;
            }
            finally
            {
                backend.UnverifiedTensorCores = IlgpuTensorCores.Off;
            }
        }
        var simt = Run(IlgpuTensorCores.Off, out var gSimt);
        var tc = Run(kind, out var gTc);
        double scale = simt.Max(Math.Abs), gScale = gSimt.Max(Math.Abs);
        for (int i = 0; i < simt.Length; i++)
            Assert.True(Math.Abs(tc[i] - simt[i]) <= rtol * scale, $"output[{i}]: {kind} {tc[i]} vs SIMT {simt[i]}");
        for (int i = 0; i < gSimt.Length; i++)
            Assert.True(Math.Abs(gTc[i] - gSimt[i]) <= rtol * gScale, $"fc1.weight.grad[{i}]: {kind} {gTc[i]} vs SIMT {gSimt[i]}");
    }
}
