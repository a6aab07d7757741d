using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using Vit.Cli;
using Vit.Backends;
using Vit.Backends.Cpu;

namespace Vit.Benchmarks;

/// <summary>
/// Out-of-process runs (BenchmarkDotNet's default toolchain: 0.15.8 knows the net10.0 moniker, so
/// it generates and builds a project for the host runtime and measures in a child process),
/// 3 warm-up and 10 measured iterations, memory diagnoser.
/// </summary>
public sealed class SuiteConfig : ManualConfig
{
    public SuiteConfig()
    {
        AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(10));
        AddDiagnoser(MemoryDiagnoser.Default);
    }
}

/// <summary>The GEMM at the ViT-B/16 (batch 8) and cifar (batch 64) shapes, forward and backward forms.</summary>
[MemoryDiagnoser]
[Config(typeof(SuiteConfig))]
public class GemmBenchmarks
{
    private GemmShape _shape = null!;

    public static IEnumerable<string> Shapes() => GemmShape.All().Select(s => s.Name);

    [ParamsSource(nameof(Shapes))]
    public string Shape { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var s = GemmShape.All().First(x => x.Name == Shape);
        _shape = new GemmShape(s.Name, s.Form, s.M, s.N, s.K, s.Ldb);
    }

    [GlobalCleanup]
    public void Cleanup() => _shape.Dispose();

    /// <summary>One product; FLOPs = 2·m·n·k (see the shape's name).</summary>
    [Benchmark]
    public void Multiply() => _shape.Run();
}

/// <summary>Every non-GEMM kernel of a block at cifar (batch 64) and ViT-B/16 (batch 8) shapes.</summary>
[MemoryDiagnoser]
[Config(typeof(SuiteConfig))]
public class KernelBenchmarks
{
    private KernelCases _cases = null!;

    [Params("cifar", "b16")]
    public string Model { get; set; } = "";

    [GlobalSetup]
    public void Setup() => _cases = new KernelCases(Model, Model == "b16" ? 8 : 64);

    [GlobalCleanup]
    public void Cleanup() => _cases.Dispose();

    [Benchmark] public void LayerNormForward() => _cases.LayerNormForward();
    [Benchmark] public void LayerNormBackward() => _cases.LayerNormBackward();
    [Benchmark] public void GeluForward() => _cases.GeluForward();
    [Benchmark] public void GeluBackward() => _cases.GeluBackward();
    [Benchmark] public void AttentionForward() => _cases.AttentionForward();
    [Benchmark] public void AttentionBackward() => _cases.AttentionBackward();
    [Benchmark] public void ResidualForward() => _cases.ResidualForward();
    [Benchmark] public void ResidualBackward() => _cases.ResidualBackward();
}

/// <summary>
/// Whole steps: forward (inference), training (ForwardBackward + ZeroGradients) and training on a
/// frozen backbone (<c>--freeze</c>: ForwardBackwardFrozen + ZeroGradients) of b16 and cifar.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(SuiteConfig))]
public class ModelBenchmarks
{
    private IVisionTransformer _model = null!;
    private float[] _images = [];
    private int[] _labels = [];
    private float[] _output = [];

    [Params("b16 forward 1", "b16 forward 8", "b16 train 8", "b16 frozen 8", "cifar forward 64", "cifar train 64", "cifar frozen 64")]
    public string Case { get; set; } = "";

    private int Batch => int.Parse(Case.Split(' ')[2]);

    [GlobalSetup]
    public void Setup()
    {
        var preset = Preset.Find(Case.Split(' ')[0]);
        var c = preset.Config;
        _model = preset.Create(0, Batch, Vit.Backends.Backend.Cpu);
        var rng = new Vit.Numerics.Rng(1);
        _images = new float[Batch * c.Channels * c.ImageSize * c.ImageSize];
        for (int i = 0; i < _images.Length; i++) _images[i] = (float)rng.NextNormal();
        _labels = Enumerable.Range(0, Batch).Select(i => i % c.Classes).ToArray();
        _output = new float[Batch * _model.OutputWidth];
    }

    [GlobalCleanup]
    public void Cleanup() => _model.Dispose();

    [Benchmark]
    public float Step()
    {
        if (Case.Contains("forward")) { _model.Forward(_images, Batch, _output); return _output[0]; }
        float loss = Case.Contains("frozen") ? _model.ForwardBackwardFrozen(_images, _labels, Batch) : _model.ForwardBackward(_images, _labels, Batch);
        _model.ZeroGradients();
        return loss;
    }
}
