using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using MLNetTuning.Tagging;
using MLNetTuning.Training;

namespace MLNetTuning.Bench;

/// <summary>
/// What int8 costs token classification: one model fine-tuned on the NER-EWT sample, exported in float32 and int8, each
/// graph run by ONNX Runtime and read through the task's own word windows and tag choice, against the TorchSharp stage;
/// entity precision, recall and F1 (seqeval's strict spans) on the sample's test split.
/// </summary>
internal static class OnnxTokenBench
{
    public static int Run(int rows, int threads)
    {
        var ml = new MLContext(seed: 1);
        var train = TokenBench.Read(rows);
        var test = TokenBench.Read(int.MaxValue, "test.conll");
        var data = ml.Data.Cache(ml.Transforms.Conversion.MapValueToKey(nameof(TokenBench.Sentence.Tags)).Fit(ml.Data.LoadFromEnumerable(train))
            .Transform(ml.Data.LoadFromEnumerable(train)));
        var options = new BertFineTuneOptions
        {
            Task = BertTask.TokenClassification, TextColumnName = nameof(TokenBench.Sentence.Words), LabelColumnName = nameof(TokenBench.Sentence.Tags),
            MaxSequenceLength = 128, BatchSize = 16, Epochs = 1, LearningRate = 1e-4f, Seed = 1, NumberOfThreads = threads,
        };
        var clock = Stopwatch.StartNew();
        using var model = new BertFineTuneEstimator(ml, options).Fit(data);
        Console.WriteLine($"## int8 and token classification: NER-EWT sample, {train.Count} training sentences (1 epoch, 128 tokens; Fit {clock.Elapsed.TotalSeconds:F0} s), {test.Count} test sentences\n");
        string folder = Directory.CreateTempSubdirectory("mlnt-onnx-token-").FullName;
        string fp32Path = Path.Combine(folder, "fp32", "model.onnx"), int8Path = Path.Combine(folder, "int8", "model.onnx");
        model.ExportOnnx(fp32Path);
        model.ExportOnnx(int8Path, OnnxQuantization.Int8);

        var fine = model.FineTuned;
        var task = (TokenClassificationTask)fine.Task;
        var sentences = test.Select(s => s.Words).ToList();
        Console.WriteLine("| engine | entity precision | entity recall | entity F1 | token accuracy | scoring s |\n|---|---|---|---|---|---|");
        var f1 = new Dictionary<string, double>();
        void Score(string name, Func<IReadOnlyList<TokenizedExample>, float[]> logits)
        {
            var watch = Stopwatch.StartNew();
            var predicted = task.Predict(fine.Tokenizer, fine.MaxSequenceLength, logits, sentences);
            var counter = new EntityCounter();
            for (int i = 0; i < test.Count; i++)
                counter.Add(test[i].Tags.Select(t => counter.Tag(t)!.Value).ToArray(), predicted[i].Tags.Select(t => counter.Tag(task.HeadLabels[t])!.Value).ToArray());
            var metrics = counter.ToMetrics();
            f1[name] = metrics.F1;
            Console.WriteLine($"| {name} | {metrics.Precision:F4} | {metrics.Recall:F4} | {metrics.F1:F4} | {metrics.TokenAccuracy:F4} | {watch.Elapsed.TotalSeconds:F0} |");
        }
        Score("TorchSharp fp32", fine.Logits);
        var sessionOptions = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1 };
        using (var fp32 = new InferenceSession(fp32Path, sessionOptions)) Score("ONNX Runtime fp32", examples => OrtLogits(fp32, examples, fine.Tokenizer.PadId));
        using (var int8 = new InferenceSession(int8Path, sessionOptions)) Score("ONNX Runtime int8", examples => OrtLogits(int8, examples, fine.Tokenizer.PadId));
        Console.WriteLine($"\nint8 − fp32 (ONNX Runtime) entity F1: **{100 * (f1["ONNX Runtime int8"] - f1["ONNX Runtime fp32"]):+0.00;-0.00} points** (target: loss ≤ 1 point).");
        Directory.Delete(folder, recursive: true);
        return 0;
    }

    /// <summary>Per-token logits of each example's real tokens, concatenated in order, as <c>FineTunedBert.Logits</c> gives them; 32 examples per run.</summary>
    private static float[] OrtLogits(InferenceSession session, IReadOnlyList<TokenizedExample> examples, int padId)
    {
        var result = new List<float>();
        foreach (var chunk in examples.Chunk(32))
        {
            int batch = chunk.Length, length = chunk.Max(e => e.Ids.Length);
            var (ids, mask, types) = (new long[batch * length], new long[batch * length], new long[batch * length]);
            Array.Fill(ids, padId);
            for (int b = 0; b < batch; b++)
                for (int t = 0; t < chunk[b].Ids.Length; t++)
                    (ids[b * length + t], mask[b * length + t], types[b * length + t]) = (chunk[b].Ids[t], 1, chunk[b].TypeIds[t]);
            long[] dims = [batch, length];
            using var idValue = OrtValue.CreateTensorValueFromMemory(ids, dims);
            using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, dims);
            using var typeValue = OrtValue.CreateTensorValueFromMemory(types, dims);
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, new Dictionary<string, OrtValue> { ["input_ids"] = idValue, ["attention_mask"] = maskValue, ["token_type_ids"] = typeValue }, ["logits"]);
            var logits = outputs[0].GetTensorDataAsSpan<float>();
            int k = logits.Length / (batch * length);
            for (int b = 0; b < batch; b++) result.AddRange(logits.Slice(b * length * k, chunk[b].Ids.Length * k).ToArray());
        }
        return [.. result];
    }
}
