using System.Globalization;
using System.Runtime.CompilerServices;
using Vit;
using Vit.Training;

// Annotate a class, publish AOT, run. The generator writes TinyVit's forward and backward passes
// at build time, so the native executable needs no JIT and no reflection. The program fits a
// fixed batch of random images to random labels with AdamW and prints the loss as it falls.
const int Batch = 16, Steps = 20;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

using var model = new TinyVit(seed: 0, maxBatch: Batch);
var random = new Random(0);
var images = new float[Batch * TinyVit.Channels * TinyVit.ImageSize * TinyVit.ImageSize];
var labels = new int[Batch];
for (int i = 0; i < images.Length; i++) images[i] = (float)(random.NextDouble() * 2 - 1);
for (int i = 0; i < Batch; i++) labels[i] = random.Next(TinyVit.Classes);

Console.WriteLine($"TinyVit: {TinyVit.ParameterCount:N0} parameters, {(RuntimeFeature.IsDynamicCodeCompiled ? "JIT" : "native AOT")}");
using var adamw = new AdamW(model.Memory, new OptimizerOptions { WeightDecay = 0 });
float first = 0, loss = 0;
for (int step = 1; step <= Steps; step++)
{
    model.ZeroGradients();
    loss = model.ForwardBackward(images, labels, Batch);
    adamw.Step(learningRate: 1e-3);
    if (step == 1) first = loss;
    if (step == 1 || step % 5 == 0) Console.WriteLine($"step {step,2}  loss {loss:F4}");
}

var logits = new float[Batch * TinyVit.OutputSize];
model.Forward(images, Batch, logits);
int correct = 0;
for (int i = 0; i < Batch; i++)
{
    var row = logits.AsSpan(i * TinyVit.Classes, TinyVit.Classes);
    if (row.IndexOf(System.Numerics.Tensors.TensorPrimitives.Max(row)) == labels[i]) correct++;
}
Console.WriteLine($"loss {first:F4} -> {loss:F4}, {correct}/{Batch} training images right");
return loss < first ? 0 : 1;

[VisionTransformer(ImageSize = 32, Patch = 4, Dim = 64, Depth = 2, Heads = 4, Classes = 10)]
public partial class TinyVit;
