using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Checkpoints;
using MLNetTuning.Models;
using MLNetTuning.Training;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

/// <summary>Token classification through the public API on the tiny checkpoint: learning, windows, outputs, zips, export and bad input.</summary>
[Collection(TinyBertEstimatorCollection.Name)]
public sealed class TokenClassificationTests(TinyBertFixture tiny) : IDisposable
{
    private readonly MLContext _ml = new(seed: 1);
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-tokens-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    public sealed class TaggedRow
    {
        public string[] Words { get; set; } = [];
        public string[] Tags { get; set; } = [];
    }

    public sealed class LineRow
    {
        public string Text { get; set; } = "";
        public string[] Tags { get; set; } = [];
    }

    public sealed class TextOnlyRow
    {
        public string Text { get; set; } = "";
    }

    public sealed class WordsInput
    {
        public string[] Words { get; set; } = [];
    }

    public sealed class TagPrediction
    {
        public uint[] PredictedLabel { get; set; } = [];
        public float[] Score { get; set; } = [];
    }

    /// <summary>
    /// Sentences of the tiny vocabulary's words. Spam and work words are entities (B- on the first of a run, I- after one of
    /// the same topic), everything else is O, so the tags depend on the previous word as IOB2 tags do.
    /// </summary>
    internal static TaggedRow[] Sentences(int count, int seed, int minWords = 3, int maxWords = 12)
    {
        var random = new Random(seed);
        string[] pool = [.. TextData.Spam, .. TextData.Work, "the", "a", "is", "and", "to", "you", "we", "good", "bad", "very"];
        return Enumerable.Range(0, count).Select(_ =>
        {
            var words = Enumerable.Range(0, random.Next(minWords, maxWords + 1)).Select(_ => pool[random.Next(pool.Length)]).ToArray();
            return new TaggedRow { Words = words, Tags = Tag(words) };
        }).ToArray();
    }

    internal static string[] Tag(string[] words)
    {
        static string? TypeOf(string w) => TextData.Spam.Contains(w) ? "SPAM" : TextData.Work.Contains(w) ? "WORK" : null;
        return words.Select((w, i) => TypeOf(w) is { } type ? (i > 0 && TypeOf(words[i - 1]) == type ? "I-" : "B-") + type : "O").ToArray();
    }

    private BertFineTuneOptions Options(int epochs = 12)
    {
        var options = TextData.Options(tiny.Folder, BertTask.TokenClassification, epochs);
        options.TextColumnName = "Words";
        options.LabelColumnName = "Tags";
        options.WarmupRatio = 0;
        return options;
    }

    private (TransformerChain<BertFineTuneTransformer> Model, IDataView Train) Fit(BertFineTuneOptions options, TaggedRow[] rows)
    {
        var train = _ml.Data.LoadFromEnumerable(rows);
        return (_ml.Transforms.Conversion.MapValueToKey("Tags").Append(_ml.MulticlassClassification.Trainers.BertTokenClassification(options)).Fit(train), train);
    }

    [Fact]
    public void LearnsTheTags_PredictsOneKeyPerWord_AndEvaluatesByEntity()
    {
        var options = Options(epochs: 25);
        options.ValidationFraction = 0.2f;
        var (model, _) = Fit(options, Sentences(400, seed: 1));
        using var transformer = model.LastTransformer;
        var test = Sentences(60, seed: 2);
        var scored = model.Transform(_ml.Data.LoadFromEnumerable(test));

        var metrics = _ml.MulticlassClassification.EvaluateEntities(scored, "Tags");
        Assert.True(metrics.F1 >= 0.9, $"entity F1 {metrics.F1:F3}, token accuracy {metrics.TokenAccuracy:F3}; {string.Join(", ", metrics.PerEntityType.Select(p => $"{p.Key} {p.Value.F1:F3}"))}; {string.Join(" ", transformer.History.Evaluations.Select(e => e.Metrics["F1"].ToString("F2")))}");
        Assert.Equal(["SPAM", "WORK"], metrics.PerEntityType.Keys);

        // One prediction per word, with the label's tag names, and a probability per word.
        var predicted = scored.GetColumn<VBuffer<uint>>("PredictedLabel").ToArray();
        var scores = scored.GetColumn<float[]>("Score").ToArray();
        Assert.Equal(test.Select(r => r.Words.Length), predicted.Select(p => p.Length));
        Assert.Equal(test.Select(r => r.Words.Length), scores.Select(s => s.Length));
        Assert.All(scores.SelectMany(s => s), p => Assert.InRange(p, 1f / transformer.ClassNames.Count, 1f));
        VBuffer<ReadOnlyMemory<char>> keyValues = default;
        scored.Schema["PredictedLabel"].GetKeyValues(ref keyValues);
        Assert.Equal(transformer.ClassNames, keyValues.DenseValues().Select(v => v.ToString()));
        Assert.Equal(BertTask.TokenClassification, transformer.Task);

        // Validation picks by entity F1 and reports word accuracy too.
        Assert.Equal("F1", transformer.History.SelectionMetric);
        Assert.All(transformer.History.Evaluations, e => Assert.Contains("Accuracy", e.Metrics.Keys));
    }

    [Fact]
    public void AValidationSet_IsUsedWhole_AndKeepsTheTrainingDataWhole()
    {
        var rows = Sentences(40, seed: 12);
        var train = _ml.Data.LoadFromEnumerable(rows);
        var toKey = _ml.Transforms.Conversion.MapValueToKey("Tags").Fit(train);
        var options = Options(epochs: 1);
        options.ValidationSet = toKey.Transform(_ml.Data.LoadFromEnumerable(Sentences(10, seed: 13)));
        // The fraction is for when no set is given: with a set, no training sentence may be held out.
        options.ValidationFraction = 0.5f;
        using var model = _ml.MulticlassClassification.Trainers.BertTokenClassification(options).Fit(toKey.Transform(train));
        Assert.Equal((40, 10), model.History.ExampleCounts);
        Assert.Single(model.History.Evaluations);
    }

    [Fact]
    public void TagsThatNameNoEntities_AreSelectedByAccuracy_AndF1IsRejected()
    {
        // Part-of-speech style tags: no B-/I- positions, so entity F1 means nothing.
        var rows = Sentences(60, seed: 3).Select(r => new TaggedRow { Words = r.Words, Tags = r.Tags.Select(t => t == "O" ? "OTHER" : t[2..]).ToArray() }).ToArray();
        var options = Options(epochs: 1);
        options.ValidationFraction = 0.2f;
        var (model, _) = Fit(options, rows);
        using (model.LastTransformer)
            Assert.Equal("Accuracy", model.LastTransformer.History.SelectionMetric);

        options.ValidationMetric = ValidationMetric.F1;
        var error = Assert.ThrowsAny<ArgumentException>(() => Fit(options, rows));
        Assert.Contains("ValidationMetric is F1", error.Message);
    }

    [Fact]
    public void LongSentences_AreScoredInOverlappingWindows_AndEveryWordIsPredicted()
    {
        var options = Options();
        options.MaxSequenceLength = 12;
        options.WindowStride = 4;
        var (model, _) = Fit(options, Sentences(400, seed: 4));
        using var transformer = model.LastTransformer;
        // 60 words is six windows of ten sub-tokens: nothing may be cut off.
        var test = Sentences(20, seed: 5, minWords: 60, maxWords: 60);
        var scored = model.Transform(_ml.Data.LoadFromEnumerable(test));
        var predicted = scored.GetColumn<VBuffer<uint>>("PredictedLabel").ToArray();
        Assert.All(predicted, p => Assert.Equal(60, p.Length));
        var metrics = _ml.MulticlassClassification.EvaluateEntities(scored, "Tags");
        Assert.True(metrics.TokenAccuracy >= 0.9, $"token accuracy {metrics.TokenAccuracy:F3} on 60-word sentences in 12-token windows");
    }

    [Fact]
    public void WordWindows_LabelFirstSubTokens_AndCoverEveryWordOnce()
    {
        using var pretrained = HuggingFaceFolder.Load(tiny.Folder);
        // "codes" and "reviews" split into two word pieces each (code ##s, review ##s).
        string[] words = ["free", "codes", "the", "reviews", "team", "a", "win", "now", "is", "report"];
        int[] tags = [1, 2, 0, 3, 1, 0, 2, 2, 0, 3];
        var windows = WordWindows.Cut(pretrained.Tokenizer, words, tags, maxLength: 6, stride: 2);

        Assert.True(windows.Count > 1);
        Assert.All(windows, w => Assert.True(w.Example.Ids.Length <= 6));
        var ignore = (int)BertForTokenClassification.IgnoreIndex;
        foreach (var window in windows)
        {
            var labels = window.Example.TokenLabels!;
            Assert.Equal(ignore, labels[0]);
            Assert.Equal(ignore, labels[^1]);
            // Exactly the first sub-tokens carry a tag, and it is their word's.
            Assert.Equal(window.Positions.Length, labels.Count(l => l != ignore));
            for (int j = 0; j < window.Positions.Length; j++) Assert.Equal(tags[window.FirstWord + j], labels[window.Positions[j]]);
        }
        // Every word starts in at least one window; consecutive windows overlap by the stride.
        var covered = windows.SelectMany(w => Enumerable.Range(w.FirstWord, w.Positions.Length)).ToHashSet();
        Assert.Equal(Enumerable.Range(0, words.Length), covered.Order());
        Assert.Contains(windows, w => w.Example.TokenLabels!.Skip(1).First() == ignore);   // a window that starts inside "codes" or "reviews"
    }

    [Fact]
    public void SavesAndLoads_InProcessAndInAFreshProcess_WithTheSameOutputs()
    {
        // Words given as one text per row, split on whitespace: the form a TSV holds.
        var rows = Sentences(160, seed: 6).Select(r => new LineRow { Text = string.Join(' ', r.Words), Tags = r.Tags }).ToArray();
        var train = _ml.Data.LoadFromEnumerable(rows);
        var options = Options(epochs: 3);
        options.TextColumnName = "Text";
        var model = _ml.Transforms.Conversion.MapValueToKey("Tags").Append(_ml.MulticlassClassification.Trainers.BertTokenClassification(options)).Fit(train);
        using var transformer = model.LastTransformer;
        string zip = Path.Combine(_scratch, "tokens.zip");
        // The BERT stage alone, with an input schema of the text only: a fresh process scores raw text lines.
        var textOnly = _ml.Data.LoadFromEnumerable(rows.Select(r => new TextOnlyRow { Text = r.Text }));
        _ml.Model.Save(transformer, textOnly.Schema, zip);
        var expected = model.Transform(train).GetColumn<float[]>("Score").ToArray();
        var expectedTags = model.Transform(train).GetColumn<VBuffer<uint>>("PredictedLabel").Select(v => v.DenseValues().ToArray()).ToArray();

        var loaded = new MLContext(seed: 3).Model.Load(zip, out _);
        var scored = loaded.Transform(train);
        Assert.Equal(expected, scored.GetColumn<float[]>("Score").ToArray());
        Assert.Equal(expectedTags, scored.GetColumn<VBuffer<uint>>("PredictedLabel").Select(v => v.DenseValues().ToArray()).ToArray());

        string tsv = Path.Combine(_scratch, "tokens.tsv");
        File.WriteAllLines(tsv, ["Text", .. rows.Select(r => r.Text)]);
        var child = ZipLoaderProcess.Run(zip, tsv, "Score")["rows"]!.AsArray().Select(r => r!["Score"]!.AsArray().Select(x => (float)x!).ToArray()).ToArray();
        Assert.Equal(expected.Length, child.Length);
        for (int i = 0; i < expected.Length; i++) TensorAsserts.AssertScoresAgree(expected[i], child[i]);
    }

    [Fact]
    public void PredictionEngine_TagsOneSentence_AndTheExportedFolderIsAHuggingFaceTokenClassifier()
    {
        var (model, _) = Fit(Options(), Sentences(400, seed: 7));
        using var transformer = model.LastTransformer;
        using var engine = _ml.Model.CreatePredictionEngine<WordsInput, TagPrediction>(transformer, new PredictionEngineOptions { OwnsTransformer = false });
        var prediction = engine.Predict(new WordsInput { Words = ["free", "money", "the", "team"] });
        Assert.Equal(4, prediction.PredictedLabel.Length);
        Assert.Equal(["B-SPAM", "I-SPAM", "O", "B-WORK"], prediction.PredictedLabel.Select(k => transformer.ClassNames[(int)k - 1]));
        Assert.Empty(engine.Predict(new WordsInput { Words = [] }).PredictedLabel);

        string folder = Path.Combine(_scratch, "hf-tokens");
        transformer.ExportHuggingFaceFolder(folder);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, HuggingFaceFolder.ConfigFile)))!.AsObject();
        Assert.Equal("BertForTokenClassification", (string?)config["architectures"]![0]);
        Assert.Equal(transformer.ClassNames, Enumerable.Range(0, transformer.ClassNames.Count).Select(i => (string?)config["id2label"]![i.ToString()]));
        // Read back as Python's class would be: the same per-token logits as the model in memory.
        using var pretrained = HuggingFaceFolder.Load(folder);
        using var reloaded = new BertForTokenClassification(pretrained.Config);
        pretrained.LoadTaskModelInto(reloaded);
        reloaded.eval();
        using var ids = tensor(new long[] { 2, 5, 6, 21, 18, 3 }, [1, 6]);
        using var mask = ones(1, 6, ScalarType.Int64);
        using var noGrad = no_grad();
        using var original = transformer.FineTuned.Model.Forward(ids, mask);
        using var exported = reloaded.Forward(ids, mask);
        Assert.True(TensorAsserts.SameValues(original, exported));
    }

    [Fact]
    public void WordsTheTokenizerDrops_StillGetAPrediction()
    {
        var (model, _) = Fit(Options(epochs: 1), Sentences(32, seed: 8));
        using var transformer = model.LastTransformer;
        using var engine = _ml.Model.CreatePredictionEngine<WordsInput, TagPrediction>(transformer, new PredictionEngineOptions { OwnsTransformer = false });
        // A control character is removed by BERT's normalizer, leaving the word with no sub-token of its own.
        var prediction = engine.Predict(new WordsInput { Words = ["free", "\u0007", "money"] });
        Assert.Equal(3, prediction.PredictedLabel.Length);
        Assert.All(prediction.PredictedLabel, k => Assert.InRange(k, 1u, (uint)transformer.ClassNames.Count));
    }

    [Fact]
    public void ATagCountThatDiffersFromTheWordCount_NamesTheRowAndBothLengths()
    {
        var rows = Sentences(10, seed: 9);
        rows[3] = new TaggedRow { Words = ["free", "money", "now"], Tags = ["B-SPAM", "I-SPAM"] };
        var error = Assert.IsType<InvalidDataException>(Record.Exception(() => Fit(Options(epochs: 1), rows)));
        Assert.Contains("Row 4", error.Message);
        Assert.Contains("3 words", error.Message);
        Assert.Contains("2 tags", error.Message);
    }

    [Fact]
    public void ALabelThatIsNotAKeyVector_AsksForTokenizeIntoWordsAndMapValueToKey()
    {
        var data = _ml.Data.LoadFromEnumerable(Sentences(10, seed: 10));
        var error = Assert.ThrowsAny<ArgumentException>(() => _ml.MulticlassClassification.Trainers.BertTokenClassification(Options(epochs: 1)).Fit(data));
        Assert.Contains("'Tags'", error.Message);
        Assert.Contains("vector of keys", error.Message);
        Assert.Contains("MapValueToKey", error.Message);
    }

    [Fact]
    public void ATagSetOfOneTag_IsAClearError()
    {
        var rows = Sentences(10, seed: 11).Select(r => new TaggedRow { Words = r.Words, Tags = r.Words.Select(_ => "O").ToArray() }).ToArray();
        var error = Assert.ThrowsAny<ArgumentException>(() => Fit(Options(epochs: 1), rows));
        Assert.Contains("1 tag ('O')", error.Message);
        Assert.Contains("at least two", error.Message);
    }
}
