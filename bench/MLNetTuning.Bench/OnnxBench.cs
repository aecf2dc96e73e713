using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace MLNetTuning.Bench;

/// <summary>
/// The exported graph in float32 and int8 on ONNX Runtime against the TorchSharp stage in fp32 and bf16: one model
/// fine-tuned by the main job's recipe (all-MiniLM-L6-v2, 600 e-mails, 1 epoch, 128 tokens), then
/// (1) accuracy of each on the whole SpamAssassin test split through ML.NET (the ONNX ones through MLNetTuning.Onnx's scorer),
/// (2) inference time per batch at 16×128, 32×64 and 1×128, interleaved round by round so that the shared machine's
/// slow phases hit every engine alike, and (3) file sizes.
/// </summary>
internal static class OnnxBench
{
    private static readonly (int Batch, int Length)[] Shapes = [(16, 128), (32, 64), (1, 128)];

    public static int Run(int rows, int threads, int rounds)
    {
        var ml = new MLContext(seed: 1);
        var (train, test) = SpamSample.Load(ml, rows);
        var options = new BertFineTuneOptions
        {
            Task = BertTask.BinaryClassification, LabelColumnName = "IsSpam", MaxSequenceLength = 128, BatchSize = 8, Epochs = 1,
            LearningRate = 2e-4f, Seed = 1, NumberOfThreads = threads,
        };
        var clock = Stopwatch.StartNew();
        using var model = new BertFineTuneEstimator(ml, options).Fit(train);
        Console.WriteLine($"## ONNX export: float32 and int8 on ONNX Runtime {typeof(InferenceSession).Assembly.GetName().Version} against TorchSharp, {threads} threads\n");
        Console.WriteLine($"Model: all-MiniLM-L6-v2 fine-tuned on {rows} SpamAssassin e-mails (1 epoch, 128 tokens, fp32; Fit {clock.Elapsed.TotalSeconds:F0} s).\n");

        string folder = Directory.CreateTempSubdirectory("mlnt-onnx-bench-").FullName;
        string fp32Path = Path.Combine(folder, "fp32", "model.onnx"), int8Path = Path.Combine(folder, "int8", "model.onnx");
        model.ExportOnnx(fp32Path);
        model.ExportOnnx(int8Path, OnnxQuantization.Int8);
        string zip = Path.Combine(folder, "model.zip");
        ml.Model.Save(model, train.Schema, zip);

        Console.WriteLine("### Size\n\n| file | MB |\n|---|---|");
        Console.WriteLine($"| ML.NET zip (TorchSharp stage, weights inside) | {new FileInfo(zip).Length / 1e6:F1} |");
        Console.WriteLine($"| model.onnx float32 | {new FileInfo(fp32Path).Length / 1e6:F1} |");
        Console.WriteLine($"| model.onnx int8 | {new FileInfo(int8Path).Length / 1e6:F1} |\n");

        Console.WriteLine("### Accuracy on the whole test split (1,174 e-mails)\n\n| engine | accuracy | AUC | F1 | scoring s |\n|---|---|---|---|---|");
        var accuracy = new Dictionary<string, double>();
        void Evaluate(string name, ITransformer scorer)
        {
            var watch = Stopwatch.StartNew();
            var metrics = ml.BinaryClassification.Evaluate(scorer.Transform(test), "IsSpam");
            accuracy[name] = metrics.Accuracy;
            Console.WriteLine($"| {name} | {metrics.Accuracy:F4} | {metrics.AreaUnderRocCurve:F4} | {metrics.F1Score:F4} | {watch.Elapsed.TotalSeconds:F0} |");
        }
        Evaluate("TorchSharp fp32", model);
        using (var onnxFp32 = ml.Transforms.Text.BertOnnxScorer(fp32Path, "Text").Fit(test)) Evaluate("ONNX Runtime fp32", onnxFp32);
        using (var onnxInt8 = ml.Transforms.Text.BertOnnxScorer(int8Path, "Text").Fit(test)) Evaluate("ONNX Runtime int8", onnxInt8);
        Console.WriteLine($"\nint8 − fp32 (ONNX Runtime) accuracy: **{100 * (accuracy["ONNX Runtime int8"] - accuracy["ONNX Runtime fp32"]):+0.00;-0.00} points** (target: loss ≤ 1 point).\n");

        Speed(model, fp32Path, int8Path, threads, rounds);
        Directory.Delete(folder, recursive: true);
        return 0;
    }

    private static void Speed(BertFineTuneTransformer model, string fp32Path, string int8Path, int threads, int rounds)
    {
        set_num_threads(threads);
        var sessionOptions = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var fp32 = new InferenceSession(fp32Path, sessionOptions);
        using var int8 = new InferenceSession(int8Path, sessionOptions);
        var torchModel = model.FineTuned.Model;
        var engines = new (string Name, Func<(int, int), Action> Prepare)[]
        {
            ("ORT fp32", shape => Ort(fp32, shape)),
            ("ORT int8", shape => Ort(int8, shape)),
            ("TorchSharp fp32", shape => Torch(torchModel, NumericPrecision.Fp32, shape)),
            ("TorchSharp bf16", shape => Torch(torchModel, NumericPrecision.Bf16, shape)),
        };
        var times = new Dictionary<(string, (int, int)), List<double>>();
        for (int round = 0; round < rounds; round++)
        {
            var order = round % 2 == 0 ? engines : engines.Reverse().ToArray();
            foreach (var shape in Shapes)
                foreach (var (name, prepare) in order)
                {
                    var run = prepare(shape);
                    run();   // warm-up: first-call allocations and, for ORT, kernel selection
                    int iterations = shape.Batch == 1 ? 20 : 5;
                    var watch = Stopwatch.StartNew();
                    for (int i = 0; i < iterations; i++) run();
                    (times.TryGetValue((name, shape), out var list) ? list : times[(name, shape)] = []).Add(watch.Elapsed.TotalMilliseconds / iterations);
                }
        }
        torchModel.Precision = NumericPrecision.Fp32;

        Console.WriteLine($"### Inference, ms per batch (median of {rounds} interleaved rounds; in brackets min–max)\n");
        Console.WriteLine("| batch × length | " + string.Join(" | ", engines.Select(e => e.Name)) + " | int8 speed-up over ORT fp32 |");
        Console.WriteLine("|---|" + string.Concat(Enumerable.Repeat("---|", engines.Length + 1)));
        foreach (var shape in Shapes)
        {
            double Median(string name) { var l = times[(name, shape)].Order().ToList(); return l[l.Count / 2]; }
            string Cell(string name) => $"{Median(name):F1} ({times[(name, shape)].Min():F1}–{times[(name, shape)].Max():F1})";
            Console.WriteLine($"| {shape.Batch}×{shape.Length} | " + string.Join(" | ", engines.Select(e => Cell(e.Name))) + $" | **{Median("ORT fp32") / Median("ORT int8"):F2}×** |");
        }
    }

    private static (long[] Ids, long[] Mask, long[] Types) Inputs((int Batch, int Length) shape)
    {
        var random = new Random(shape.Batch * 1000 + shape.Length);
        int size = shape.Batch * shape.Length;
        var ids = new long[size];
        for (int i = 0; i < size; i++) ids[i] = i % shape.Length == 0 ? 101 : random.Next(1000, 30000);   // [CLS] then word pieces
        return (ids, Enumerable.Repeat(1L, size).ToArray(), new long[size]);
    }

    private static Action Ort(InferenceSession session, (int Batch, int Length) shape)
    {
        var (ids, mask, types) = Inputs(shape);
        long[] dims = [shape.Batch, shape.Length];
        return () =>
        {
            using var idValue = OrtValue.CreateTensorValueFromMemory(ids, dims);
            using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, dims);
            using var typeValue = OrtValue.CreateTensorValueFromMemory(types, dims);
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, new Dictionary<string, OrtValue> { ["input_ids"] = idValue, ["attention_mask"] = maskValue, ["token_type_ids"] = typeValue }, ["logits"]);
        };
    }

    private static Action Torch(Models.BertTaskModel model, NumericPrecision precision, (int Batch, int Length) shape)
    {
        var (ids, mask, types) = Inputs(shape);
        long[] dims = [shape.Batch, shape.Length];
        return () =>
        {
            model.Precision = precision;
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            model.Forward(tensor(ids, dims), tensor(mask, dims), tensor(types, dims));
        };
    }
}
