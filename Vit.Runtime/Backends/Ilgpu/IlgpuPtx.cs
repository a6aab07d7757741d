using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Text;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Vit.Backends.Ilgpu;

/// <summary>One kernel as PTX: its file name (kernel and shape arguments) and the PTX text.</summary>
/// <param name="Name">The kernel and its type arguments, for example <c>LayerNormForward_D768</c>.</param>
/// <param name="Ptx">The PTX assembly ILGPU wrote.</param>
public sealed record PtxKernel(string Name, string Ptx);

/// <summary>
/// ILGPU's PTX backend without a GPU: compiles the kernels a model uses (recorded by running its
/// passes on <see cref="IlgpuBackend.Planning"/>) to PTX for a CUDA architecture, which
/// <c>ptxas</c> then assembles offline (<c>vit kernels</c>, <c>tools/check-ptx</c>).
/// </summary>
public static class IlgpuPtx
{
    /// <summary>The architectures <c>--arch</c> accepts.</summary>
    public static IReadOnlyList<string> Architectures { get; } = ["sm_80", "sm_86", "sm_89", "sm_90"];

    /// <summary>
    /// PTX for each of <paramref name="kernels"/> for <paramref name="arch"/> (ILGPU caps the
    /// <c>.target</c> at the lowest architecture the kernel's features need, sm_80 at most, and
    /// writes PTX ISA 7.8, which ptxas 11.8 reads).
    /// </summary>
    /// <exception cref="ArgumentException">An architecture not in <see cref="Architectures"/>.</exception>
    [RequiresDynamicCode("ILGPU compiles its kernels at run time with Reflection.Emit.")]
    public static IReadOnlyList<PtxKernel> Compile(IEnumerable<MethodInfo> kernels, string arch)
    {
        ArgumentNullException.ThrowIfNull(kernels);
        var architecture = arch switch
        {
            "sm_80" => CudaArchitecture.SM_80,
            "sm_86" => CudaArchitecture.SM_86,
            "sm_89" => CudaArchitecture.SM_89,
            "sm_90" => CudaArchitecture.SM_90,
            _ => throw new ArgumentException($"Unknown CUDA architecture '{arch}': expected one of {string.Join(", ", Architectures)}.", nameof(arch)),
        };
        using var context = Context.Create(builder => builder.Optimize(OptimizationLevel.O2).EnableAlgorithms());
        using var backend = new PTXBackend(context, architecture, CudaInstructionSet.ISA_78, null!);
        var result = new List<PtxKernel>();
        foreach (var method in kernels.Distinct())
        {
            var compiled = (PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty);
            result.Add(new PtxKernel(FileName(method), compiled.PTXAssembly));
        }
        return result;
    }

    /// <summary><c>Gemm_GemmTile16</c>, <c>PatchScatter_PatchCount_D224_D16_D768</c>: the kernel and its shape arguments.</summary>
    public static string FileName(MethodInfo method)
    {
        ArgumentNullException.ThrowIfNull(method);
        var name = new StringBuilder(method.Name);
        foreach (var t in method.GetGenericArguments()) Append(name, t);
        return name.ToString();
    }

    private static void Append(StringBuilder name, Type t)
    {
        string n = t.Name;
        int tick = n.IndexOf('`');
        name.Append('_').Append(tick < 0 ? n : n[..tick]);
        foreach (var a in t.GetGenericArguments()) Append(name, a);
    }
}
