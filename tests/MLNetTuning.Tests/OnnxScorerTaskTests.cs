using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Training;
using Xunit.Abstractions;

namespace MLNetTuning.Tests;

/// <summary>
/// MLNetTuning.Onnx's <c>BertOnnxScorer</c> for token classification, question answering and the non-BERT families,
/// against the TorchSharp stage that was exported: the same tags per word, the same answers and character offsets, scores
/// within 1e-4, directly and after a model-zip round trip. Sentences and contexts are long enough to be cut into several
/// windows, so the window stitching is compared too.
/// </summary>
public sealed class OnnxScorerTaskTests(ITestOutputHelper output) : IDisposable
{
    private const double Tolerance = 1e-4;
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-onnx-scorer-tasks-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private sealed class WordsRow
    {
        [VectorType] public string[] Words { get; set; } = [];
    }

    private sealed class QuestionRow
    {
        public string Question { get; set; } = "";
        public string Context { get; set; } = "";
    }

    private sealed class TextRow
    {
        public string Text { get; set; } = "";
    }

    /// <summary>Sentences of the test words (which every family's tiny tokenizer knows), 3 to 150 words long.</summary>
    private static List<string[]> Sentences(int count, int seed)
    {
        string[] words = TinyCheckpoint.Vocab.Where(w => w.All(char.IsLetter)).ToArray();
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(i => Enumerable.Range(0, 3 + i * 147 / Math.Max(1, count - 1)).Select(_ => words[random.Next(words.Length)]).ToArray()).ToList();
    }

    private static FineTunedBert Model(string family, BertTask kind, AnswerSettings? answers = null) =>
        family == "bert" ? OnnxExportTests.TinyModel(kind, answers: answers) : OnnxFamilyExportTests.TinyFamilyModel(family, kind, answers: answers);

    /// <summary>Exports the stage, scores <paramref name="data"/> with the ONNX scorer directly and from a zip, and hands both to <paramref name="compare"/>.</summary>
    private void ExportAndCompare(BertFineTuneTransformer torch, IDataView data, string name, Action<IDataView, IDataView, string> compare)
    {
        var ml = new MLContext(seed: 1);
        string path = Path.Combine(_scratch, name, "model.onnx");
        torch.ExportOnnx(path);
        var expected = torch.Transform(data);
        using var onnx = ml.Transforms.Text.BertOnnxScorer(path).Fit(data);
        compare(expected, onnx.Transform(data), "direct");
        string zip = Path.Combine(_scratch, name + ".zip");
        ml.Model.Save(onnx, data.Schema, zip);
        var reloaded = new MLContext(seed: 2).Model.Load(zip, out _);
        Assert.IsType<BertOnnxScoringTransformer>(reloaded);
        compare(expected, reloaded.Transform(data), "zip");
        (reloaded as IDisposable)?.Dispose();
    }

    [Theory]
    [InlineData("bert")]
    [InlineData("roberta")]
    [InlineData("distilbert")]
    public void TokenClassification_SameTagsPerWord_AsTheTorchSharpStage(string family)
    {
        var ml = new MLContext(seed: 1);
        var sentences = Sentences(12, seed: 3);
        var data = ml.Data.LoadFromEnumerable(sentences.Select(s => new WordsRow { Words = s }).Append(new WordsRow { Words = [] }));
        using var torch = new BertFineTuneTransformer(Model(family, BertTask.TokenClassification), "Words", null);
        ExportAndCompare(torch, data, "tagger-" + family, (expected, actual, how) =>
        {
            Assert.Equal(expected.Schema["PredictedLabel"].Type, actual.Schema["PredictedLabel"].Type);
            Assert.Equal(expected.Schema["Score"].Type, actual.Schema["Score"].Type);
            VBuffer<ReadOnlyMemory<char>> a = default, b = default;
            expected.Schema["PredictedLabel"].GetKeyValues(ref a);
            actual.Schema["PredictedLabel"].GetKeyValues(ref b);
            Assert.Equal(a.DenseValues().Select(v => v.ToString()), b.DenseValues().Select(v => v.ToString()));
            var tags = expected.GetColumn<uint[]>("PredictedLabel").ToList();
            Assert.Equal(tags, actual.GetColumn<uint[]>("PredictedLabel").ToList());
            Assert.Equal(sentences.Select(s => s.Length).Append(0), tags.Select(t => t.Length));
            Assert.True(tags.SelectMany(t => t).Distinct().Count() > 1, $"{family}: every word got the same tag; the comparison would prove little.");
            float[] e = expected.GetColumn<float[]>("Score").SelectMany(x => x).ToArray(), o = actual.GetColumn<float[]>("Score").SelectMany(x => x).ToArray();
            double delta = e.Zip(o, (x, y) => Math.Abs(x - y)).Max();
            output.WriteLine($"{family} token classification ({how}): {e.Length} words, Score max |Δ| {delta:E2}");
            Assert.True(delta <= Tolerance, $"{family} ({how}): Score max |Δ| {delta:E2}");
        });
    }

    [Theory]
    [InlineData("bert", 1, false)]
    [InlineData("bert", 3, true)]
    [InlineData("xlm-roberta", 3, true)]
    public void QuestionAnswering_SameAnswersAndOffsets_AsTheTorchSharpStage(string family, int topK, bool allowNoAnswer)
    {
        var ml = new MLContext(seed: 1);
        var questions = Sentences(6, seed: 5).Select(s => string.Join(" ", s.Take(5))).ToList();
        var contexts = Sentences(6, seed: 9).Select(s => string.Join(" ", s)).ToList();
        var data = ml.Data.LoadFromEnumerable(questions.Zip(contexts, (q, c) => new QuestionRow { Question = q, Context = c }));
        var answers = new AnswerSettings(DocumentStride: 16, MaxAnswerLength: 8, topK, allowNoAnswer);
        using var torch = new BertFineTuneTransformer(Model(family, BertTask.QuestionAnswering, answers), "Question", "Context");
        ExportAndCompare(torch, data, $"qa-{family}-{topK}", (expected, actual, how) =>
        {
            var texts = expected.GetColumn<string>("PredictedAnswer").ToList();
            var starts = expected.GetColumn<int>("PredictedAnswerStart").ToList();
            Assert.Equal(texts, actual.GetColumn<string>("PredictedAnswer").ToList());
            Assert.Equal(starts, actual.GetColumn<int>("PredictedAnswerStart").ToList());
            for (int i = 0; i < texts.Count; i++)
                if (starts[i] >= 0) Assert.Equal(texts[i], contexts[i].Substring(starts[i], texts[i].Length));
            Assert.Contains(starts, s => s > 0);
            float[] e = expected.GetColumn<float>("Score").ToArray(), o = actual.GetColumn<float>("Score").ToArray();
            if (topK > 1)
            {
                Assert.Equal(expected.GetColumn<string[]>("PredictedAnswers").ToList(), actual.GetColumn<string[]>("PredictedAnswers").ToList());
                e = [.. e, .. expected.GetColumn<float[]>("Scores").SelectMany(x => x)];
                o = [.. o, .. actual.GetColumn<float[]>("Scores").SelectMany(x => x)];
            }
            Assert.Equal(e.Length, o.Length);
            double delta = e.Zip(o, (x, y) => Math.Abs(x - y)).Max();
            output.WriteLine($"{family} QA top {topK} ({how}): answers {string.Join(" | ", texts.Select((t, i) => $"{starts[i]}:'{t}'"))}; Score max |Δ| {delta:E2}");
            Assert.True(delta <= Tolerance, $"{family} QA ({how}): Score max |Δ| {delta:E2}");
        });
    }

    [Theory]
    [InlineData("roberta")]
    [InlineData("xlm-roberta")]
    [InlineData("distilbert")]
    public void SequenceClassification_OfEachFamily_SameScoresAndLabels_WithTheFamilysTokenizer(string family)
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Sentences(10, seed: 7).Select(s => new TextRow { Text = string.Join(" ", s) }));
        using var torch = new BertFineTuneTransformer(Model(family, BertTask.MulticlassClassification), "Text", null);
        ExportAndCompare(torch, data, "multiclass-" + family, (expected, actual, how) =>
        {
            Assert.Equal(expected.Schema["PredictedLabel"].Type, actual.Schema["PredictedLabel"].Type);
            var labels = expected.GetColumn<uint>("PredictedLabel").ToList();
            Assert.Equal(labels, actual.GetColumn<uint>("PredictedLabel").ToList());
            float[] e = expected.GetColumn<float[]>("Score").SelectMany(x => x).ToArray(), o = actual.GetColumn<float[]>("Score").SelectMany(x => x).ToArray();
            double delta = e.Zip(o, (x, y) => Math.Abs(x - y)).Max();
            output.WriteLine($"{family} multiclass ({how}): labels {string.Join(",", labels)}; Score max |Δ| {delta:E2}");
            Assert.True(e.Max() - e.Min() > 1e-3, $"{family}: the scores barely vary; the comparison would prove little.");
            Assert.True(delta <= Tolerance, $"{family} ({how}): Score max |Δ| {delta:E2}");
        });
    }

    [Fact]
    public void QuestionAnswering_WithoutAContextColumn_IsRefusedNamingIt()
    {
        using var torch = new BertFineTuneTransformer(Model("bert", BertTask.QuestionAnswering), "Question", "Context");
        string path = Path.Combine(_scratch, "qa-columns", "model.onnx");
        torch.ExportOnnx(path);
        string settings = Path.Combine(_scratch, "qa-columns", "mlnet_scoring.json");
        // An export without recorded columns, scored with the question column alone.
        File.WriteAllText(settings, File.ReadAllText(settings).Replace("\"second_text_column\"", "\"unused_column\""));
        var error = Assert.Throws<ArgumentException>(() => new MLContext(seed: 1).Transforms.Text.BertOnnxScorer(path, textColumnName: "Question"));
        Assert.Contains("context", error.Message);
        Assert.Contains("secondTextColumnName", error.Message);
    }
}
