using System.Diagnostics;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;

namespace MLNetTuning.Bench;

/// <summary>
/// Scoring many texts end to end, as a .NET user scores a table: ours is a fitted MiniLM classifier through
/// <c>model.Transform</c> and a cursor reading <c>Score</c> (tokenization, batching, the forward pass and ML.NET's row
/// plumbing included), in fp32 and bf16; the peer is what a .NET user would build by hand: FastBertTokenizer 1.2.6 with
/// the model's vocab, then ONNX Runtime on the same fine-tuned model exported with <c>ExportOnnx</c> (fp32), with the same
/// batch and maximum length. Texts per second, interleaved round by round; the argmax of every text is compared so that
/// both are known to do the same work.
/// </summary>
internal static class TransformPeerBench
{
    private const int MaxLength = 128, BatchSize = 32, TrainRows = 256;

    private sealed class TextRow
    {
        public string Text { get; set; } = "";
    }

    public static int Run(int textCount, int rounds, int threads)
    {
        if (textCount < BatchSize) throw new ArgumentOutOfRangeException(nameof(textCount), $"--texts is {textCount}; give at least one batch ({BatchSize}).");
        if (rounds < 1) throw new ArgumentOutOfRangeException(nameof(rounds), $"--rounds is {rounds}; it must be at least 1.");
        string loadAtStart = EpochPeerBench.LoadAverage();
        var ml = new MLContext(seed: 1);
        var (train, test) = SpamSample.Load(ml, int.MaxValue);
        // Every bundled e-mail (training split, shuffled, then the test split), cycled to the count asked for.
        string[] distinct = [.. train.GetColumn<string>("Text"), .. test.GetColumn<string>("Text")];
        string[] texts = Enumerable.Range(0, textCount).Select(i => distinct[i % distinct.Length]).ToArray();
        var data = ml.Data.LoadFromEnumerable(texts.Select(t => new TextRow { Text = t }));

        // A short Fit: scoring speed does not depend on the weights, but 16 steps make a classifier whose predictions vary from
        // text to text, so that agreeing on every text's class says something.
        var options = new BertFineTuneOptions
        {
            Task = BertTask.BinaryClassification, LabelColumnName = "IsSpam", MaxSequenceLength = MaxLength, BatchSize = 16, Epochs = 1,
            LearningRate = 2e-4f, Seed = 1, NumberOfThreads = threads, ScoringBatchSize = BatchSize,
        };
        using var model = new BertFineTuneEstimator(ml, options).Fit(ml.Data.TakeRows(train, TrainRows));
        string folder = Directory.CreateTempSubdirectory("mlnt-transform-peer-").FullName;
        string onnxPath = Path.Combine(folder, "model.onnx");
        model.ExportOnnx(onnxPath);

        var tokenizer = new FastBertTokenizer.BertTokenizer();
        using (var vocab = File.OpenText(Path.Combine(folder, "vocab.txt")))
            tokenizer.LoadVocabulary(vocab, convertInputToLowercase: true);
        var sessionOptions = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(onnxPath, sessionOptions);
        bool hasTokenTypes = session.InputMetadata.ContainsKey("token_type_ids");

        var engines = new (string Name, Func<string[], IDataView, float[]> Score)[]
        {
            ("ours fp32, model.Transform", (_, view) => Ours(model, view, NumericPrecision.Fp32)),
            ("ours bf16, model.Transform", (_, view) => Ours(model, view, NumericPrecision.Bf16)),
            ("FastBertTokenizer + ONNX Runtime fp32", (all, _) => Peer(session, tokenizer, all, hasTokenTypes)),
        };
        var seconds = engines.ToDictionary(e => e.Name, _ => new List<double>());
        var scores = new Dictionary<string, float[]>();
        string[] warmTexts = texts[..(2 * BatchSize)];
        var warmData = ml.Data.LoadFromEnumerable(warmTexts.Select(t => new TextRow { Text = t }));
        for (int round = 0; round < rounds; round++)
        {
            foreach (var (name, score) in round % 2 == 0 ? engines : engines.Reverse())
            {
                score(warmTexts, warmData);   // warm-up: first-call allocations, oneDNN's and ORT's kernel choices
                var clock = Stopwatch.StartNew();
                scores[name] = score(texts, data);
                seconds[name].Add(clock.Elapsed.TotalSeconds);
                Console.Error.WriteLine($"round {round + 1}/{rounds} {name}: {textCount / clock.Elapsed.TotalSeconds:F1} texts/s");
            }
        }
        model.FineTuned.Model.Precision = NumericPrecision.Fp32;

        // Same work: FastBertTokenizer's ids against ours on every distinct text, and every text's predicted class.
        // Timed on one thread each, as a side figure: how much of a pass tokenization takes on either side.
        var ours = model.FineTuned.Tokenizer;
        var watch = Stopwatch.StartNew();
        int[][] ourIds = distinct.Select(t => ours.Encode(t, null, MaxLength).Ids).ToArray();
        double ourTokenizing = watch.Elapsed.TotalSeconds;
        watch.Restart();
        long[][] peerIds = distinct.Select(t => tokenizer.Encode(t, MaxLength).InputIds.ToArray()).ToArray();
        double peerTokenizing = watch.Elapsed.TotalSeconds;
        bool[] idsEqual = Enumerable.Range(0, distinct.Length).Select(i => peerIds[i].Select(id => (int)id).SequenceEqual(ourIds[i])).ToArray();
        int sameIds = idsEqual.Count(e => e);
        int cut = distinct.Count(t => ours.Encode(t, null, MaxLength + 1).Ids.Length > MaxLength);

        Console.WriteLine($"<!-- MLNetTuning.Bench transform-peer --texts {textCount} --rounds {rounds} --threads {threads}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, " +
            $"load average at start {loadAtStart}, at the end {EpochPeerBench.LoadAverage()} -->");
        Console.WriteLine($"## Scoring {textCount:N0} texts: `model.Transform` against FastBertTokenizer + ONNX Runtime in C# ({threads} threads, {rounds} interleaved rounds)\n");
        Console.WriteLine($"Texts: the {distinct.Length:N0} e-mails of `samples/data/spam` (training split, then test split), cycled to {textCount:N0}; " +
            $"{100.0 * cut / distinct.Length:F0}% of them are longer than {MaxLength} tokens and are cut there. Max length {MaxLength}, batch {BatchSize}. " +
            $"Model: all-MiniLM-L6-v2 with a binary head after a short Fit ({TrainRows} e-mails, 1 epoch; speed does not depend on the weights).\n");
        Console.WriteLine($"Ours: `model.Transform(data)` and a cursor reading `Score` (`ScoringBatchSize = {BatchSize}`; each batch of {BatchSize} rows padded to its longest); " +
            "bf16 is the same model with `Precision` switched to bf16. " +
            $"Peer: FastBertTokenizer {Version(typeof(FastBertTokenizer.BertTokenizer))} (the model's vocab.txt, lower-casing) encoding {BatchSize} texts at a time with its batch API " +
            $"(padded to {MaxLength}, then cut to the batch's longest), then ONNX Runtime {Version(typeof(InferenceSession))} on the graph `ExportOnnx` wrote (fp32, " +
            $"{threads} intra-op threads, all graph optimisations).\n");
        Console.WriteLine("| engine | texts/s median | min | max | seconds median |\n|---|---|---|---|---|");
        foreach (var (name, _) in engines)
        {
            var rates = seconds[name].Select(s => textCount / s).ToList();
            Console.WriteLine($"| {name} | {Median(rates):F1} | {rates.Min():F1} | {rates.Max():F1} | {Median(seconds[name]):F1} |");
        }
        string peer = engines[^1].Name;
        Console.WriteLine("\nPeer time / ours per round (above 1: we are faster), median (min–max):\n");
        foreach (var (name, _) in engines[..^1])
        {
            var ratios = Enumerable.Range(0, rounds).Select(r => seconds[peer][r] / seconds[name][r]).ToList();
            Console.WriteLine($"- {name}: **{Median(ratios):F2}×** ({ratios.Min():F2}–{ratios.Max():F2})");
        }
        Console.WriteLine($"\nSame work: FastBertTokenizer's ids equal ours on {sameIds:N0} of {distinct.Length:N0} distinct texts " +
            "(the known differences are words made only of combining marks; `TokenizerCrossCheckTests`). " +
            $"Tokenizing those {distinct.Length:N0} texts once at {MaxLength} tokens on one thread: ours {ourTokenizing:F2} s, FastBertTokenizer {peerTokenizing:F2} s.");
        var magnitudes = scores[peer].Select(MathF.Abs).Order().ToList();
        Console.WriteLine($"- The scores (logits z) are of size: median |z| {magnitudes[magnitudes.Count / 2]:G3}, largest {magnitudes[^1]:G3}; " +
            $"the peer predicts class 1 (spam) for {scores[peer].Count(z => z > 0):N0} of {textCount:N0} texts.");
        Console.WriteLine($"- ours bf16 against ours fp32: largest |score difference| {Enumerable.Range(0, textCount).Max(i => Math.Abs(scores[engines[0].Name][i] - scores[engines[1].Name][i])):G3}.");
        foreach (var (name, _) in engines[..^1])
        {
            // Our binary Score and the graph's output are the logit z: the argmax of [0, z] (class 1) is exactly z > 0.
            int agree = Enumerable.Range(0, textCount).Count(i => scores[name][i] > 0 == scores[peer][i] > 0);
            // On texts that both tokenized alike the difference is the arithmetic's alone; the others also differ in their tokens.
            var sameInput = Enumerable.Range(0, textCount).Where(i => idsEqual[i % distinct.Length]).Select(i => Math.Abs(scores[name][i] - scores[peer][i])).Order().ToList();
            double largest = Enumerable.Range(0, textCount).Max(i => Math.Abs(scores[name][i] - scores[peer][i]));
            Console.WriteLine($"- {name} against the peer: argmax agrees on **{agree:N0} of {textCount:N0}** texts; |score difference| on the " +
                $"{sameInput.Count:N0} texts with the same ids: median {sameInput[sameInput.Count / 2]:G3}, largest {sameInput[^1]:G3}; largest over all texts {largest:G3}.");
        }
        Directory.Delete(folder, recursive: true);
        return 0;
    }

    /// <summary>Our scores through ML.NET: Transform, then a cursor over the Score column.</summary>
    private static float[] Ours(BertFineTuneTransformer model, IDataView data, NumericPrecision precision)
    {
        model.FineTuned.Model.Precision = precision;
        var scored = model.Transform(data);
        var column = scored.Schema["Score"];
        var scores = new List<float>();
        using var cursor = scored.GetRowCursor([column]);
        var getter = cursor.GetGetter<float>(column);
        float value = 0;
        while (cursor.MoveNext())
        {
            getter(ref value);
            scores.Add(value);
        }
        return [.. scores];
    }

    /// <summary>
    /// The peer: FastBertTokenizer's batch encoding (it pads every text to the maximum length) cut to the batch's longest
    /// text, as ours pads, then ONNX Runtime. Returns the binary logit z per text, comparable with our Score.
    /// </summary>
    private static float[] Peer(InferenceSession session, FastBertTokenizer.BertTokenizer tokenizer, string[] texts, bool hasTokenTypes)
    {
        var result = new float[texts.Length];
        var ids = new long[BatchSize * MaxLength];
        var mask = new long[BatchSize * MaxLength];
        var types = new long[BatchSize * MaxLength];
        using var runOptions = new RunOptions();
        for (int start = 0; start < texts.Length; start += BatchSize)
        {
            int rows = Math.Min(BatchSize, texts.Length - start);
            tokenizer.Encode(texts.AsMemory(start, rows), ids.AsMemory(0, rows * MaxLength), mask.AsMemory(0, rows * MaxLength),
                types.AsMemory(0, rows * MaxLength), MaxLength);
            int longest = 0;
            for (int row = 0; row < rows; row++)
            {
                int length = 0;
                while (length < MaxLength && mask[row * MaxLength + length] != 0) length++;
                longest = Math.Max(longest, length);
            }
            // Rows move down in place to [rows, longest]: each row's target starts at or before its source.
            if (longest < MaxLength)
                for (int row = 1; row < rows; row++)
                    foreach (var array in new[] { ids, mask, types })
                        Array.Copy(array, row * MaxLength, array, row * longest, longest);
            long[] shape = [rows, longest];
            int size = rows * longest;
            using var idValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, ids.AsMemory(0, size), shape);
            using var maskValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, mask.AsMemory(0, size), shape);
            using var typeValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, types.AsMemory(0, size), shape);
            var inputs = new Dictionary<string, OrtValue> { ["input_ids"] = idValue, ["attention_mask"] = maskValue };
            if (hasTokenTypes) inputs["token_type_ids"] = typeValue;
            using var outputs = session.Run(runOptions, inputs, ["logits"]);
            var logits = outputs[0].GetTensorDataAsSpan<float>();
            // The binary export writes the head's one logit z; a graph with two logits per text gives z as their difference.
            if (logits.Length == rows)
                logits.CopyTo(result.AsSpan(start, rows));
            else if (logits.Length == 2 * rows)
                for (int row = 0; row < rows; row++) result[start + row] = logits[2 * row + 1] - logits[2 * row];
            else
                throw new InvalidOperationException($"The exported binary graph gave {logits.Length} logits for {rows} texts; expected one or two per text.");
        }
        return result;
    }

    private static string Version(Type type) =>
        type.Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? type.Assembly.GetName().Version!.ToString();

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
