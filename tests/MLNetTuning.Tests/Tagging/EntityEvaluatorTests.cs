using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetTuning.Tests.Tagging;

/// <summary>
/// <c>ml.MulticlassClassification.EvaluateEntities</c> end to end on ML.NET key-vector columns: the worked examples of seqeval's
/// README (https://github.com/chakki-works/seqeval, commit cd01b52) and the errors a caller can meet.
/// </summary>
public sealed class EntityEvaluatorTests
{
    private readonly MLContext _ml = new(seed: 1);

    [Fact]
    public void SeqevalReadmeExample_MicroF1IsHalf_MiscMissedAndPerFound()
    {
        var data = Scored(
            label: [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]],
            predicted: [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]);

        var metrics = _ml.MulticlassClassification.EvaluateEntities(data);

        // f1_score 0.50; precision_recall_fscore_support(average='micro') (0.5, 0.5, 0.5, 2); accuracy_score 0.80.
        Assert.Equal(0.5, metrics.F1);
        Assert.Equal(0.5, metrics.Precision);
        Assert.Equal(0.5, metrics.Recall);
        Assert.Equal(0.8, metrics.TokenAccuracy, 12);
        // classification_report: MISC 0.00 0.00 0.00 1, PER 1.00 1.00 1.00 1.
        Assert.Equal(["MISC", "PER"], metrics.PerEntityType.Keys);
        AssertType(metrics.PerEntityType["MISC"], 0, 0, 0, 1);
        AssertType(metrics.PerEntityType["PER"], 1, 1, 1, 1);
    }

    [Fact]
    public void SeqevalReadmeDefaultModeExample_AnIAfterOStartsAnEntity()
    {
        // Default (conlleval) mode: I-NP I-NP is the same entity as B-NP I-NP, so NP scores 1.00 (strict IOB2 would give 0.00).
        var metrics = _ml.MulticlassClassification.EvaluateEntities(Scored([["B-NP", "I-NP", "O"]], [["I-NP", "I-NP", "O"]]));

        Assert.Equal(1.0, metrics.F1);
        AssertType(Assert.Single(metrics.PerEntityType).Value, 1, 1, 1, 1);
        Assert.Equal(2.0 / 3, metrics.TokenAccuracy, 12);
    }

    [Fact]
    public void ColumnsWithDifferentKeySets_AreMatchedByTagName()
    {
        // Each column gets its own MapValueToKey, so the keys differ (the prediction never says B-LOC and adds B-ORG), but the
        // names line up: PER is found, LOC missed, ORG wrongly predicted.
        var data = Scored(
            label: [["B-LOC", "O", "B-PER", "I-PER"], ["O", "B-PER"]],
            predicted: [["B-ORG", "O", "B-PER", "I-PER"], ["O", "B-PER"]]);
        var label = data.Schema["Label"];
        var predicted = data.Schema["PredictedLabel"];
        Assert.NotEqual(Names(label), Names(predicted));

        var metrics = _ml.MulticlassClassification.EvaluateEntities(data);

        Assert.Equal(2.0 / 3, metrics.Precision, 12);
        Assert.Equal(2.0 / 3, metrics.Recall, 12);
        Assert.Equal(5.0 / 6, metrics.TokenAccuracy, 12);
        Assert.Equal(["LOC", "ORG", "PER"], metrics.PerEntityType.Keys);
        AssertType(metrics.PerEntityType["LOC"], 0, 0, 0, 1);
        AssertType(metrics.PerEntityType["ORG"], 0, 0, 0, 0);
        AssertType(metrics.PerEntityType["PER"], 1, 1, 1, 2);
    }

    [Fact]
    public void MissingPredictedKey_ReadsAsO()
    {
        // The predicted column is keyed by the label's tags, so its unknown tag B-ORG becomes the missing key 0: no entity.
        var rows = new[] { new TagRow { Tags = ["B-PER", "O", "O"], Guess = ["B-PER", "B-ORG", "O"] } };
        var keys = _ml.Data.LoadFromEnumerable(new[] { new TagName { Tag = "B-PER" }, new TagName { Tag = "O" } });
        var data = _ml.Transforms.Conversion.MapValueToKey("Label", "Tags")
            .Append(_ml.Transforms.Conversion.MapValueToKey("PredictedLabel", "Guess", keyData: keys))
            .Fit(_ml.Data.LoadFromEnumerable(rows)).Transform(_ml.Data.LoadFromEnumerable(rows));

        var metrics = _ml.MulticlassClassification.EvaluateEntities(data);

        Assert.Equal(1.0, metrics.F1);
        Assert.Equal(1.0, metrics.TokenAccuracy);
        Assert.Equal(["PER"], metrics.PerEntityType.Keys);
    }

    [Fact]
    public void NoEntitiesAnywhere_GivesZeroesAndNoTypes()
    {
        var metrics = _ml.MulticlassClassification.EvaluateEntities(Scored([["O", "O"]], [["O", "O"]]));

        Assert.Equal((0.0, 0.0, 0.0, 1.0), (metrics.Precision, metrics.Recall, metrics.F1, metrics.TokenAccuracy));
        Assert.Empty(metrics.PerEntityType);
    }

    [Fact]
    public void MissingColumn_IsNamed_WithTheColumnsThereAre()
    {
        var data = Scored([["O"]], [["O"]]);

        var error = Assert.Throws<ArgumentException>(() => _ml.MulticlassClassification.EvaluateEntities(data, labelColumnName: "Tags2"));

        Assert.Equal("labelColumnName", error.ParamName);
        Assert.Contains("no column 'Tags2'", error.Message);
        Assert.Contains("Label", error.Message);
        Assert.Contains("PredictedLabel", error.Message);
    }

    [Fact]
    public void ColumnThatIsNotAKeyVector_SaysWhatWasExpectedAndFound()
    {
        var data = Scored([["O"]], [["O"]]);

        // "Tags" is the string vector before MapValueToKey.
        var error = Assert.Throws<ArgumentException>(() => _ml.MulticlassClassification.EvaluateEntities(data, predictedLabelColumnName: "Tags"));

        Assert.Equal("predictedLabelColumnName", error.ParamName);
        Assert.Contains("Vector<Key<UInt32>>", error.Message);
        Assert.Contains("Vector<String", error.Message);
        Assert.Contains("MapValueToKey", error.Message);
    }

    [Fact]
    public void RowWhereLabelAndPredictionDifferInLength_IsNamedWithBothLengths()
    {
        var data = Scored([["O"], ["B-PER", "I-PER", "O"]], [["O"], ["B-PER", "I-PER"]]);

        var error = Assert.Throws<ArgumentException>(() => _ml.MulticlassClassification.EvaluateEntities(data));

        Assert.Contains("Row 1", error.Message);
        Assert.Contains("3 tags in 'Label'", error.Message);
        Assert.Contains("2 in 'PredictedLabel'", error.Message);
    }

    [Fact]
    public void TagThatIsNotAnEntityTag_IsNamed()
    {
        var data = Scored([["NOUN", "VERB"]], [["NOUN", "NOUN"]]);

        var error = Assert.Throws<ArgumentException>(() => _ml.MulticlassClassification.EvaluateEntities(data));

        Assert.Contains("'NOUN'", error.Message);
        Assert.Contains("B-, I-, E- or S-", error.Message);
    }

    [Fact]
    public void BundledNerTestFile_PerfectAndAllOPredictions()
    {
        // samples/data/ner-ewt/test.conll is valid IOB2, so each entity starts with a B- tag: the supports are the B- counts
        // of samples/data/README.md (PER 114, ORG 65, LOC 93), and 5,552 of its 5,965 words are O.
        var sentences = MLNetTuning.Cli.Data.TaggedSentenceFile.ReadConll(RepoFiles.Path("samples", "data", "ner-ewt", "test.conll"), 1, 2, "test");
        string[][] label = sentences.Select(s => s.Tags).ToArray();

        var perfect = _ml.MulticlassClassification.EvaluateEntities(Scored(label, label));
        var allO = _ml.MulticlassClassification.EvaluateEntities(Scored(label, label.Select(t => t.Select(_ => "O").ToArray()).ToArray()));

        Assert.Equal((1.0, 1.0, 1.0, 1.0), (perfect.Precision, perfect.Recall, perfect.F1, perfect.TokenAccuracy));
        Assert.Equal([("LOC", 93), ("ORG", 65), ("PER", 114)], perfect.PerEntityType.Select(p => (p.Key, p.Value.Support)));
        Assert.Equal((0.0, 0.0, 0.0), (allO.Precision, allO.Recall, allO.F1));
        Assert.Equal(5552.0 / 5965, allO.TokenAccuracy, 12);
        Assert.Equal(perfect.PerEntityType.Keys, allO.PerEntityType.Keys);
    }

    private static void AssertType(EntityTypeMetrics metrics, double precision, double recall, double f1, int support) =>
        Assert.Equal((precision, recall, f1, support), (metrics.Precision, metrics.Recall, metrics.F1, metrics.Support));

    private static string[] Names(DataViewSchema.Column column)
    {
        VBuffer<ReadOnlyMemory<char>> names = default;
        column.GetKeyValues(ref names);
        return names.DenseValues().Select(n => n.ToString()).ToArray();
    }

    /// <summary>Label and PredictedLabel as vectors of keys, each keyed by its own MapValueToKey (so their key sets may differ).</summary>
    private IDataView Scored(string[][] label, string[][] predicted)
    {
        var rows = label.Zip(predicted, (l, p) => new TagRow { Tags = l, Guess = p }).ToList();
        var view = _ml.Data.LoadFromEnumerable(rows);
        return _ml.Transforms.Conversion.MapValueToKey("Label", "Tags")
            .Append(_ml.Transforms.Conversion.MapValueToKey("PredictedLabel", "Guess"))
            .Fit(view).Transform(view);
    }

    private sealed class TagRow
    {
        public string[] Tags { get; set; } = [];
        public string[] Guess { get; set; } = [];
    }

    private sealed class TagName
    {
        public string Tag { get; set; } = "";
    }
}
