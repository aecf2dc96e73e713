using System.Text.Json.Nodes;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MLNetTuning.Models;
using MLNetTuning.Native;
using MLNetTuning.Onnx;
using MLNetTuning.Text;
using MLNetTuning.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

/// <summary>
/// The exported graph of the non-BERT families (RoBERTa, XLM-RoBERTa, DistilBERT) on ONNX Runtime against the TorchSharp
/// model: tiny random models with each family's own tokenizer, texts of varied length padded in one batch (so RoBERTa's
/// padding-dependent positions and every mask matter), and pairs with the family's template.
/// </summary>
public sealed class OnnxFamilyExportTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-onnx-family-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    /// <summary>A tiny random task model of <paramref name="modelType"/> with its tokenizer over the test words.</summary>
    internal static FineTunedBert TinyFamilyModel(string modelType, BertTask kind, int seed = 11, AnswerSettings? answers = null)
    {
        TorchNativeLoader.EnsureLoaded();
        var tokenizer = TinyFamilyCheckpoint.Tokenizer(modelType);
        string[] labels = kind switch
        {
            BertTask.MulticlassClassification => ["ham", "spam", "other"],
            BertTask.TokenClassification => ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"],
            BertTask.QuestionAnswering => ["start", "end"],
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        var json = modelType == "distilbert"
            ? new JsonObject
            {
                ["model_type"] = modelType, ["vocab_size"] = tokenizer.VocabSize, ["dim"] = 32, ["n_layers"] = 2, ["n_heads"] = 4,
                ["hidden_dim"] = 64, ["max_position_embeddings"] = 64,
            }
            : new JsonObject
            {
                ["model_type"] = modelType, ["vocab_size"] = tokenizer.VocabSize, ["hidden_size"] = 32, ["num_hidden_layers"] = 2,
                ["num_attention_heads"] = 4, ["intermediate_size"] = 64, ["max_position_embeddings"] = 66, ["pad_token_id"] = 1,
                ["type_vocab_size"] = 1, ["layer_norm_eps"] = 1e-5,
            };
        var config = BertConfig.FromJson(json, $"tiny {modelType} config");
        config.Labels = labels;
        config.InitializerRange = 0.2;
        var task = FineTuneTasks.ForScoring(kind, labels, labelMean: 0, labelScale: 1, answers: answers);
        random.manual_seed(seed);
        var model = task.CreateModel(config);
        model.Bert.InitializeWeights();
        using (no_grad())
        {
            // A random head gives logits near 0 whose argmax is a coin toss; larger heads make the label comparison meaningful.
            foreach (var (name, parameter) in model.named_parameters())
                if (!name.StartsWith(ModelFamilies.Of(config).Prefix + ".", StringComparison.Ordinal)) nn.init.normal_(parameter, 0, 0.5);
        }
        return new FineTunedBert(model, tokenizer, task, 64, 16, new TrainingHistory(), CPU);
    }

    /// <summary>Texts of the test words at 8 lengths and, unless per-token, 4 pairs, padded into one batch.</summary>
    internal static BatchEncoding FamilyBatch(ITextTokenizer tokenizer, bool pairs)
    {
        string[] words = TinyCheckpoint.Vocab.Where(w => w.All(char.IsLetter)).ToArray();
        string Text(int start, int count) => string.Join(" ", Enumerable.Range(start, count).Select(i => words[i * 7 % words.Length]));
        var items = new List<EncodedText>();
        for (int i = 0; i < 8; i++) items.Add(tokenizer.Encode(Text(i, 2 + 5 * i), maxLength: 64));
        if (pairs)
            for (int i = 0; i < 4; i++) items.Add(tokenizer.Encode(Text(i, 3 + 2 * i), Text(i + 5, 6 + 4 * i), maxLength: 64));
        return tokenizer.Pad(items);
    }

    public static TheoryData<string, BertTask> Cases()
    {
        var cases = new TheoryData<string, BertTask>();
        foreach (string family in new[] { "roberta", "xlm-roberta", "distilbert" })
            foreach (var task in new[] { BertTask.MulticlassClassification, BertTask.TokenClassification, BertTask.QuestionAnswering })
                cases.Add(family, task);
        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ExportedFamilyGraph_MatchesTorchSharp_OnPaddedTextsAndPairs(string family, BertTask kind)
    {
        using var model = TinyFamilyModel(family, kind);
        bool perToken = kind is BertTask.TokenClassification or BertTask.QuestionAnswering;
        var batch = FamilyBatch(model.Tokenizer, pairs: kind != BertTask.TokenClassification);
        Assert.Contains(batch.AttentionMask, m => m == 0);

        var graph = OnnxExport.BuildTaskModel(model, out var names);
        using var session = new InferenceSession(graph.ToByteArray());
        // BERT alone has token types; the others' exports take ids and mask, as Hugging Face's exporter gives them.
        Assert.Equal(["attention_mask", "input_ids"], session.InputMetadata.Keys.Order());
        var onnx = OnnxExportTests.OrtOutputs(session, batch, names);
        var torch = OnnxExportTests.TorchOutputs(model, batch);

        int k = kind == BertTask.QuestionAnswering ? 1 : model.Task.HeadLabels.Count;
        for (int o = 0; o < names.Length; o++)
        {
            double spread = torch[o].Max() - torch[o].Min();
            double delta = OnnxExportTests.MaxDifference(torch[o], onnx[o], batch, perToken, k);
            output.WriteLine($"{family} {kind} {names[o]} [{batch.BatchSize}×{batch.SequenceLength}]: max |Δ| {delta:E2} (span {spread:F3})");
            Assert.True(spread > 0.05, $"The tiny model's {names[o]} are nearly constant ({spread}); the comparison would prove nothing.");
            Assert.True(delta <= 1e-4, $"{family} {kind} {names[o]}: max |Δ| {delta:E2} > 1e-4");
        }
        if (kind == BertTask.QuestionAnswering)
            for (int o = 0; o < 2; o++)
                Assert.Equal(OnnxExportTests.Argmax(torch[o], batch.SequenceLength), OnnxExportTests.Argmax(onnx[o], batch.SequenceLength));
        else
            Assert.Equal(OnnxExportTests.Argmax(torch[0], k, perToken ? batch : null), OnnxExportTests.Argmax(onnx[0], k, perToken ? batch : null));
    }

    [Fact]
    public void RobertaPositions_DependOnPadding_SoAPaddedRowScoresAsAlone()
    {
        // RoBERTa counts positions over real tokens from padding_idx + 1; a graph using 0..T-1 would still pass a batch
        // where no row is padded, so this checks that a row padded to a longer batch gives its unpadded logits.
        using var model = TinyFamilyModel("roberta", BertTask.MulticlassClassification);
        var graph = OnnxExport.BuildTaskModel(model, out var names);
        using var session = new InferenceSession(graph.ToByteArray());
        var shortText = model.Tokenizer.Encode("free money now");
        var longText = model.Tokenizer.Encode("the team review is very good and we are happy to win the prize tomorrow");
        var alone = OnnxExportTests.OrtOutputs(session, model.Tokenizer.Pad([shortText]), names)[0];
        var padded = OnnxExportTests.OrtOutputs(session, model.Tokenizer.Pad([shortText, longText]), names)[0];
        for (int i = 0; i < alone.Length; i++) Assert.True(Math.Abs(alone[i] - padded[i]) <= 1e-5, $"logit {i}: alone {alone[i]}, padded {padded[i]}");
    }

    [Theory]
    [InlineData("roberta")]
    [InlineData("distilbert")]
    public void Int8_QuantizesEveryEncoderProduct_OfEachFamily_KeepsItsHeadFloat_AndStaysClose(string family)
    {
        using var model = TinyFamilyModel(family, BertTask.MulticlassClassification);
        var batch = FamilyBatch(model.Tokenizer, pairs: true);
        var fp32 = OnnxExport.BuildTaskModel(model, out var names);
        var int8 = fp32.Clone();
        int quantized = OnnxInt8.Quantize(int8.Graph);

        // 6 Linear layers per block (query, key, value, attention output, and the two feed-forward ones); the sequence head
        // (RoBERTa's classifier.dense and out_proj, DistilBERT's pre_classifier and classifier) stays float32.
        Assert.Equal(6 * model.Config.NumHiddenLayers, quantized);
        Assert.Equal(2, int8.Graph.Node.Count(n => n.OpType == "MatMul" && n.Output[0].StartsWith(OnnxInt8.KeepFloatPrefix, StringComparison.Ordinal)));
        using var fpSession = new InferenceSession(fp32.ToByteArray());
        using var q8Session = new InferenceSession(int8.ToByteArray());
        float[] reference = OnnxExportTests.OrtOutputs(fpSession, batch, names)[0], approximate = OnnxExportTests.OrtOutputs(q8Session, batch, names)[0];
        double delta = OnnxExportTests.MaxDifference(reference, approximate, batch, false, 3), spread = reference.Max() - reference.Min();
        output.WriteLine($"{family} int8 vs fp32: max |Δ| {delta:E2} over a logits span of {spread:F3}");
        Assert.True(delta > 0, "int8 gave exactly the float results: nothing was quantized");
        Assert.True(delta < 0.05 * spread, $"int8 moved a logit by {delta:E2}, more than 5% of the span {spread:F3}");
    }

    [Theory]
    [InlineData("roberta", "vocab.json")]
    [InlineData("xlm-roberta", "sentencepiece.bpe.model")]
    [InlineData("distilbert", "vocab.txt")]
    public void ExportOnnx_WritesTheFamilysTokenizerAndSettings(string family, string tokenizerFile)
    {
        using var transformer = new BertFineTuneTransformer(TinyFamilyModel(family, BertTask.MulticlassClassification), "Text", null);
        string path = Path.Combine(_scratch, family, "model.onnx");
        transformer.ExportOnnx(path);
        string folder = Path.GetDirectoryName(path)!;
        Assert.True(File.Exists(Path.Combine(folder, tokenizerFile)), $"{tokenizerFile} is missing from the {family} export");
        var scoring = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, OnnxExport.ScoringFile)))!.AsObject();
        Assert.Equal(family, (string?)scoring["model_type"]);
        Assert.Equal(ModelFamilies.Get(family, "test").Tokenizer.ToString(), (string?)scoring["tokenizer"]);
        Assert.Equal(["input_ids", "attention_mask"], scoring["inputs"]!.AsArray().Select(n => (string?)n));
    }
}
