using System.Linq;
using Vit.Generator.Model;
using static Vit.Generator.SourceWriter;

namespace Vit.Generator;

public sealed partial class VisionTransformerGenerator
{
    internal static partial class Emitter
    {
        private static string EmitModel(ModelPlan plan)
        {
            var s = plan.Spec;
            var w = new SourceWriter();
            OpenType(w, plan, "constants, parameter table, memory layout, construction and weights I/O.");

            WriteExplanation(w, plan);
            w.Line($"[global::System.CodeDom.Compiler.GeneratedCode(\"Vit.Generator\", \"{GeneratorVersion}\")]");
            w.Open(TypeDeclaration(plan, withInterface: true));

            string output = s.Classes > 0 ? "the logits (Classes)" : s.RepresentationSize > 0 ? "the pre-logits features (RepresentationSize)" : "the pooled features (Dim)";
            foreach (var (name, value, doc) in new[]
            {
                ("ImageSize", s.ImageSize, "Input height and width in pixels."),
                ("Patch", s.Patch, "Patch size in pixels (the stride and kernel of <c>patch_embed.proj</c>)."),
                ("Channels", s.Channels, "Input channels."),
                ("Dim", s.Dim, "Embedding width."),
                ("Depth", s.Depth, "Number of transformer blocks."),
                ("Heads", s.Heads, "Attention heads per block."),
                ("HeadDim", plan.HeadDim, s.HeadDim > 0 ? "Channels per head (the attribute's HeadDim); the attention's inner width is Heads·HeadDim." : "Channels per head: Dim / Heads."),
                ("MlpDim", s.MlpDim, "Hidden width of each MLP."),
                ("Tokens", plan.Tokens, "Patch tokens ((ImageSize / Patch)²) plus the class token."),
                ("Classes", s.Classes, "Classes of <c>head</c>; 0 means no head."),
                ("OutputSize", plan.OutputSize, $"Floats per output row: {output}."),
                ("HiddenStride", plan.HiddenStride, "Row stride in floats of the MLP activation saved for training (<c>Block{i}Gelu</c>): MlpDim padded to an odd number of cache lines, so fc2's weight gradient reads it in place."),
            })
            {
                w.Line($"/// <summary>{doc}</summary>");
                w.Line($"public const int {name} = {N(value)};");
            }
            w.Line("/// <summary>Number of parameters, as timm counts them.</summary>");
            w.Line($"public const long ParameterCount = {N(plan.ParameterCount)}; // {Grouped(plan.ParameterCount)}");
            w.Line();
            w.Line("/// <summary>LayerNorm epsilon.</summary>");
            w.Line($"private const float Epsilon = {F(s.LayerNormEpsilon)};");
            if (s.Dropout > 0) w.Line($"private const float DropoutRate = {F(s.Dropout)}; // pos_drop, attn.proj_drop, mlp.drop1, mlp.drop2");
            if (s.AttentionDropout > 0) w.Line($"private const float AttentionDropoutRate = {F(s.AttentionDropout)}; // attn.attn_drop");
            w.Line();

            WriteConfig(w, plan);
            WriteParameterTable(w, plan);
            WriteOffsets(w, plan);
            WriteDimensions(w, plan);
            WriteLifecycle(w, plan);

            w.Close();
            CloseType(w, plan);
            return w.ToString();
        }

        private static void WriteExplanation(SourceWriter w, ModelPlan plan)
        {
            var s = plan.Spec;
            int T = plan.Tokens, D = s.Dim;
            w.Line("/// <summary>");
            w.Line($"/// A compiled Vision Transformer (timm <c>VisionTransformer</c>): {N(s.ImageSize)}×{N(s.ImageSize)}×{N(s.Channels)} images,");
            w.Line($"/// {N(s.Patch)}×{N(s.Patch)} patches, width {N(D)}, {N(s.Depth)} blocks of {N(s.Heads)} heads, {Grouped(plan.ParameterCount)} parameters.");
            w.Line("/// </summary>");
            w.Line("/// <remarks>");
            w.Line("/// <para>Architecture, with timm names and shapes per image (B images per call):</para>");
            w.Line("/// <code>");
            w.Line($"/// images                  ({N(s.Channels)}, {N(s.ImageSize)}, {N(s.ImageSize)})");
            w.Line($"/// patch_embed.proj        Conv2d({N(s.Channels)}→{N(D)}, kernel {N(s.Patch)}, stride {N(s.Patch)})   → ({N(plan.Patches)}, {N(D)}) patch tokens in raster order");
            w.Line($"/// cls_token, pos_embed    prepend the class token, add positions → x ({N(T)}, {N(D)})");
            w.Line($"/// blocks.0 … blocks.{N(s.Depth - 1)}     x = x + attn(norm1(x));  x = x + mlp(norm2(x))");
            int inner = s.Heads * plan.HeadDim;
            w.Line($"///   attn                  qkv Linear({N(D)}→{N(3 * inner)}{(s.QkvBias ? "" : ", no bias")}); {N(s.Heads)} heads × {N(plan.HeadDim)}: softmax(q·kᵀ/√{N(plan.HeadDim)})·v; proj Linear({N(inner)}→{N(D)})");
            w.Line($"///   mlp                   fc1 Linear({N(D)}→{N(s.MlpDim)}), GELU (erf), fc2 Linear({N(s.MlpDim)}→{N(D)})");
            if (s.LayerScale > 0)
                w.Line($"///   ls1, ls2              LayerScale: each branch times a per-channel gamma ({N(D)}), initialized to {Real(s.LayerScale)}");
            if (s.Pooling == 0)
                w.Line($"/// norm → x[:, 0]          LayerNorm of the class token → ({N(D)})");
            else
                w.Line($"/// mean → fc_norm         mean of the {N(plan.Patches)} patch tokens, LayerNorm → ({N(D)})");
            if (s.RepresentationSize > 0)
                w.Line($"/// pre_logits.fc, tanh     Linear({N(D)}→{N(s.RepresentationSize)}) + Tanh → ({N(s.RepresentationSize)})");
            if (s.Classes > 0)
                w.Line($"/// head                    Linear({N(plan.FeatureWidth)}→{N(s.Classes)}) → logits ({N(s.Classes)})");
            else
                w.Line($"/// (no head: the output is the {N(plan.FeatureWidth)} features)");
            w.Line("/// </code>");
            w.Line("/// <para>");
            w.Line("/// <see cref=\"Forward\"/> runs inference (no dropout) over buffers shared by liveness;");
            w.Line("/// <see cref=\"ForwardBackward\"/> runs the training forward pass, saving every tensor the backward");
            w.Line("/// pass reads, then the backward pass in reverse order, adding gradients into the gradient buffer.");
            if (s.Classes > 0)
            {
                w.Line("/// <see cref=\"ForwardBackwardFrozen\"/> trains the head alone on a frozen backbone: the backbone as inference,");
                w.Line("/// then the head's forward and backward passes, which compute no gradient for the backbone.");
            }
            w.Line("/// Each pass is written once against the backend contract (<c>Vit.Backends.IKernels</c>): each step is one");
            w.Line("/// kernel call, specialized by the dimension structs below, on the CPU or a device backend.");
            w.Line($"/// LayerNorm epsilon {Real(s.LayerNormEpsilon)}; dropout {Real(s.Dropout)}, attention dropout {Real(s.AttentionDropout)}, drop path {Real(s.DropPath)}.");
            w.Line("/// </para>");
            w.Line("/// </remarks>");
        }

        private static void WriteConfig(SourceWriter w, ModelPlan plan)
        {
            var s = plan.Spec;
            w.Line("/// <summary>The attribute values, at run time.</summary>");
            w.Line($"public static global::Vit.VisionTransformerConfig Config {{ get; }} = new(");
            w.Line($"    Name: {S(s.TypeName)}, ImageSize: {N(s.ImageSize)}, Patch: {N(s.Patch)}, Channels: {N(s.Channels)}, Dim: {N(s.Dim)}, Depth: {N(s.Depth)}, Heads: {N(s.Heads)},");
            w.Line($"    MlpDim: {N(s.MlpDim)}, Classes: {N(s.Classes)}, QkvBias: {(s.QkvBias ? "true" : "false")}, Pooling: global::Vit.Pooling.{Pooling(s)}, RepresentationSize: {N(s.RepresentationSize)},");
            w.Line($"    LayerNormEpsilon: {Real(s.LayerNormEpsilon)}, Dropout: {Real(s.Dropout)}, AttentionDropout: {Real(s.AttentionDropout)}, DropPath: {Real(s.DropPath)}{Options(s)});");
            w.Line();
            w.Line("/// <summary>Parameter count, FLOPs per image (2 per multiply-add, matrix products only) and activation floats per image.</summary>");
            w.Line("public static global::Vit.ModelSummary Summary { get; } = new(");
            w.Line($"    Parameters: ParameterCount, ForwardFlopsPerImage: {N(plan.ForwardFlopsPerImage)}, TrainingFlopsPerImage: {N(plan.TrainingFlopsPerImage)},");
            w.Line($"    InferenceFloatsPerImage: Inference.FloatsPerImage, TrainingFloatsPerImage: Training.FloatsPerImage{(s.Classes > 0 ? "," : ");")}");
            if (s.Classes > 0)
                w.Line($"    FrozenTrainingFlopsPerImage: {N(plan.FrozenTrainingFlopsPerImage)}, FrozenFloatsPerImage: Frozen.FloatsPerImage);");
            w.Line();
        }

        /// <summary>The optional config values, only when set (so models without them read as before).</summary>
        private static string Options(ModelSpec s) =>
            (s.LayerScale > 0 ? $", LayerScale: {Real(s.LayerScale)}" : "") + (s.HeadDim > 0 ? $", AttentionHeadDim: {N(s.HeadDim)}" : "");

        /// <summary>The generator's assembly version, as <c>[GeneratedCode]</c> reports it.</summary>
        private static readonly string GeneratorVersion =
            typeof(VisionTransformerGenerator).Assembly.GetName().Version?.ToString() ?? "0.0.0.0";

        private static void WriteParameterTable(SourceWriter w, ModelPlan plan)
        {
            w.Line("/// <summary>Every parameter in timm <c>state_dict</c> order: name, shape, offset into the flat buffer, initialization.</summary>");
            w.Line("public static global::System.Collections.Generic.IReadOnlyList<global::Vit.ParameterInfo> Parameters { get; } = new global::Vit.ParameterInfo[]");
            w.Line("{");
            foreach (var p in plan.Parameters)
            {
                string shape = string.Join(", ", p.Shape.Select(d => N(d)));
                w.Line($"    new({S(p.Name)}, new int[] {{ {shape} }}, Params.{p.ConstantName}, global::Vit.ParameterInit.{p.Init}, fanIn: {N(p.FanIn)}, weightDecay: {(p.WeightDecay ? "true" : "false")}{(p.Init == "Constant" ? $", value: {Real(p.InitValue)}" : "")}),");
            }
            w.Line("};");
            w.Line();
            w.Line(plan.Spec.Classes > 0
                ? "private static readonly global::Vit.Memory.ModelLayout Layout = new(Config, Parameters, Params.Floats, OutputSize, Inference.FloatsPerImage, Training.FloatsPerImage, Frozen.FloatsPerImage);"
                : "private static readonly global::Vit.Memory.ModelLayout Layout = new(Config, Parameters, Params.Floats, OutputSize, Inference.FloatsPerImage, Training.FloatsPerImage);");
            w.Line();
        }

        private static void WriteOffsets(SourceWriter w, ModelPlan plan)
        {
            w.Line("/// <summary>Offsets (in floats) of each parameter in the flat parameter and gradient buffers, 64-byte aligned.</summary>");
            w.Open("private static class Params");
            foreach (var p in plan.Parameters)
                w.Line($"public const long {p.ConstantName} = {N(p.Offset)}; // {p.Name} ({string.Join(", ", p.Shape.Select(d => N(d)))})");
            w.Line($"public const long Floats = {N(plan.ParameterFloats)}; // buffer length, alignment padding included");
            w.Close();
            w.Line();
            w.Line("/// <summary>");
            w.Line("/// Training activations: offsets per image into the training buffer. Tensor t of a batch of B");
            w.Line("/// starts at <c>t * B</c>: every tensor is stored for the whole batch, one after another.");
            w.Line("/// </summary>");
            w.Open("private static class Training");
            foreach (var t in plan.Training)
                w.Line($"public const long {t.ConstantName} = {N(t.Offset)}; // {t.Description}");
            w.Line($"public const long FloatsPerImage = {N(plan.TrainingFloatsPerImage)};");
            w.Close();
            w.Line();
            w.Line("/// <summary>");
            w.Line("/// Inference activations, laid out the same way. Buffers whose live ranges do not overlap share");
            w.Line("/// memory, and every block reuses the same buffers.");
            w.Line("/// </summary>");
            w.Open("private static class Inference");
            foreach (var t in plan.Inference)
                w.Line($"public const long {t.ConstantName} = {N(t.Offset)}; // {t.Description}");
            w.Line($"public const long FloatsPerImage = {N(plan.InferenceFloatsPerImage)};");
            w.Close();
            w.Line();
            if (plan.Frozen.Count == 0) return;
            w.Line("/// <summary>");
            w.Line("/// The frozen-backbone step (<see cref=\"ForwardBackwardFrozen\"/>) runs the backbone over the inference");
            w.Line("/// layout above and keeps the head's tensors after it, in the same buffer: offsets per image, from");
            w.Line("/// Inference.FloatsPerImage on. The backbone saves nothing; only these are kept for the head's backward pass.");
            w.Line("/// </summary>");
            w.Open("private static class Frozen");
            foreach (var t in plan.Frozen)
                w.Line($"public const long {t.ConstantName} = {N(t.Offset)}; // {t.Description}");
            w.Line($"public const long FloatsPerImage = {N(plan.FrozenFloatsPerImage)};");
            w.Close();
            w.Line();
        }

        private static void WriteDimensions(SourceWriter w, ModelPlan plan)
        {
            w.Line("// Compile-time dimensions: kernels are generic over these, so each shape is compiled once,");
            w.Line("// with its sizes as constants, and shared by every block. Internal, not private: the ILGPU");
            w.Line("// backend's CPU accelerator emits launchers that name them (VitIlgpuAccess.g.cs).");
            foreach (var d in plan.Dims)
                w.Line($"internal readonly struct {Ops.PassWriter.Dim(d)} : global::Vit.Backends.IDim {{ public static int Value => {N(d)}; }}");
            w.Line();
        }

        private static void WriteLifecycle(SourceWriter w, ModelPlan plan)
        {
            var s = plan.Spec;
            w.Line("private readonly global::Vit.Memory.ModelMemory _memory;");
            w.Line("private global::Vit.Numerics.Rng _rng;");
            w.Line("private readonly global::Vit.Backends.ModelRunner _runner; // runs the passes on the backend's kernels");
            w.Line();
            w.Line("/// <summary>Creates the model on the CPU, timm-style initialized from seed 0, with room for one image (buffers grow with the batch).</summary>");
            w.Line($"public {s.TypeName}() : this(seed: 0, maxBatch: 1)");
            w.Line("{");
            w.Line("}");
            w.Line();
            w.Line("/// <summary>Creates the model on the CPU, timm-style initialized from <paramref name=\"seed\"/>.</summary>");
            w.Line("/// <param name=\"seed\">Seeds the initialization and the dropout masks.</param>");
            w.Line("/// <param name=\"maxBatch\">The batch size to allocate activations for; a larger batch grows them once.</param>");
            w.Line($"public {s.TypeName}(int seed, int maxBatch) : this(seed, maxBatch, global::Vit.Backends.Backend.Cpu)");
            w.Line("{");
            w.Line("}");
            w.Line();
            w.Line("/// <summary>Creates the model on <paramref name=\"backend\"/> (for example <c>Backend.OpenCL()</c>), timm-style initialized from seed 0.</summary>");
            w.Line($"public {s.TypeName}(global::Vit.Backends.Backend backend) : this(seed: 0, maxBatch: 1, backend)");
            w.Line("{");
            w.Line("}");
            w.Line();
            w.Line("/// <summary>Creates the model on <paramref name=\"backend\"/>, timm-style initialized from <paramref name=\"seed\"/>.</summary>");
            w.Line("/// <param name=\"seed\">Seeds the initialization and the dropout masks.</param>");
            w.Line("/// <param name=\"maxBatch\">The batch size to allocate activations for; a larger batch grows them once.</param>");
            w.Line("/// <param name=\"backend\"><see cref=\"global::Vit.Backends.Backend.Cpu\"/>, or an OpenCL device: parameters, gradients, optimizer state and activations then live on the device.</param>");
            w.Open($"public {s.TypeName}(int seed, int maxBatch, global::Vit.Backends.Backend backend)");
            w.Line("global::System.ArgumentNullException.ThrowIfNull(backend);");
            w.Line("_memory = new global::Vit.Memory.ModelMemory(Layout, maxBatch);");
            w.Line("global::Vit.ParameterInitializer.Initialize(_memory.Parameters, Parameters, seed);");
            w.Line("_rng = new global::Vit.Numerics.Rng(unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + 1));");
            w.Line("_runner = backend.CreateRunner(_memory);");
            w.Line("Backend = backend;");
            w.Close();
            w.Line();
            w.Line("/// <summary>Where the model runs: the CPU (the default) or an OpenCL device.</summary>");
            w.Line("public global::Vit.Backends.Backend Backend { get; }");
            w.Line();
            w.Line("/// <summary>The values of the parameter <paramref name=\"timmName\"/> (for example <c>blocks.0.attn.qkv.weight</c>).</summary>");
            w.Line("/// <exception cref=\"global::System.Collections.Generic.KeyNotFoundException\">No parameter has that name.</exception>");
            w.Line("public global::System.Span<float> Parameter(string timmName) => _memory.Parameter(timmName);");
            w.Line();
            w.Line("/// <summary>The gradient of the parameter <paramref name=\"timmName\"/>, accumulated by <see cref=\"ForwardBackward\"/>.</summary>");
            w.Line("/// <exception cref=\"global::System.Collections.Generic.KeyNotFoundException\">No parameter has that name.</exception>");
            w.Line("public global::System.Span<float> Gradient(string timmName) => _memory.Gradient(timmName);");
            w.Line();
            w.Line("/// <summary>Sets every gradient to zero; <see cref=\"ForwardBackward\"/> adds into them.</summary>");
            w.Line("public void ZeroGradients() => _memory.ZeroGradients();");
            w.Line();
            w.Line("/// <summary>Loads every parameter from a safetensors file with timm names (F32, F64, F16 or BF16). A missing, extra or mis-shaped tensor is an error that names it.</summary>");
            w.Line("public void LoadWeights(string path) => _memory.LoadWeights(path);");
            w.Line();
            w.Line("/// <summary>Saves every parameter to a safetensors file (F32, timm names, the attribute values as metadata), through a temporary file and a rename.</summary>");
            w.Line("public void SaveWeights(string path) => _memory.SaveWeights(path);");
            w.Line();
            w.Line("/// <summary>The model's memory: parameter, gradient and activation buffers.</summary>");
            w.Line("public global::Vit.Memory.ModelMemory Memory => _memory;");
            w.Line();
            w.Line("/// <summary>The random stream that draws the dropout and drop-path masks; save and restore it to resume training exactly.</summary>");
            w.Line("public global::Vit.Numerics.Rng DropoutRng { get => _rng; set => _rng = value; }");
            w.Line();
            w.Line("/// <summary>Frees the model's native and device memory.</summary>");
            w.Open("public void Dispose()");
            w.Line("_runner.Dispose();");
            w.Line("_memory.Dispose();");
            w.Close();
            w.Line();
            w.Line("global::Vit.VisionTransformerConfig global::Vit.IVisionTransformer.Config => Config;");
            w.Line("global::Vit.ModelSummary global::Vit.IVisionTransformer.Summary => Summary;");
            w.Line("global::System.Collections.Generic.IReadOnlyList<global::Vit.ParameterInfo> global::Vit.IVisionTransformer.ParameterList => Parameters;");
            w.Line("int global::Vit.IVisionTransformer.OutputWidth => OutputSize;");
        }
    }
}
