using Vit.Generator.Model;

namespace Vit.Generator;

public sealed partial class VisionTransformerGenerator
{
    internal static partial class Emitter
    {
        /// <summary>
        /// The OpenCL launch sequence: the inference pass, the training step and the backward pass,
        /// step for step the CPU passes (emitted by the same code with <see cref="Target.OpenCL"/>),
        /// each step one or a few kernel launches on the model's device buffers.
        /// </summary>
        private static string EmitOpenCL(ModelPlan plan)
        {
            var s = plan.Spec;
            var w = new SourceWriter();
            OpenType(w, plan, "the OpenCL launch sequence of the forward pass, the training step and the backward pass.");
            w.Open(TypeDeclaration(plan, withInterface: false));
            EmitInference(w, plan, Target.OpenCL);
            if (s.Classes > 0)
            {
                w.Line();
                w.Line("/// <summary>One training step on the OpenCL device; only the images and labels go up, and the per-image losses come down.</summary>");
                w.Open("private float ForwardBackwardOpenCL(global::System.ReadOnlySpan<float> images, global::System.ReadOnlySpan<int> labels, int batch)");
                w.Line("var k = _cl!;");
                w.Line("var a = k.BeginTraining(images, labels, batch); // validates, uploads images and labels, sizes the device buffers");
                w.Line("ForwardTrainingOpenCL(k, a, labels, batch);");
                w.Line("BackwardOpenCL(k, a, labels, batch);");
                w.Line("return k.EndTraining(batch); // waits for the queue; the mean of the per-image losses");
                w.Close();
                w.Line();
                EmitTrainingForward(w, plan, Target.OpenCL);
                w.Line();
                EmitBackwardPass(w, plan, Target.OpenCL);
            }
            w.Close();
            CloseType(w, plan);
            return w.ToString();
        }
    }
}
