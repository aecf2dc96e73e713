using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Checkpoints;
using MLNetTuning.Models;
using MLNetTuning.Training;

namespace MLNetTuning.Tests;

/// <summary>Multi-label classification through the public API on the tiny checkpoint: both label forms, thresholds, zips, export, evaluation and bad input.</summary>
[Collection(TinyBertEstimatorCollection.Name)]
public sealed class MultiLabelTests(TinyBertFixture tiny) : IDisposable
{
    private static readonly string[] LabelNames = ["spam", "work"];
    private readonly MLContext _ml = new(seed: 1);
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-multilabel-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    public sealed class BoolSetRow
    {
        public string Text { get; set; } = "";
        [VectorType(2)] public bool[] Label { get; set; } = [];
    }

    public sealed class TagSetRow
    {
        public string Text { get; set; } = "";
        public string Tags { get; set; } = "";
    }

    /// <summary>
    /// Texts with spam words, work words, both or neither (one row in four each, unless <paramref name="spamEvery"/> makes spam
    /// rarer): two independent labels, "has a spam word" and "has a work word".
    /// </summary>
    internal static BoolSetRow[] Rows(int count, int seed, int spamEvery = 2)
    {
        var random = new Random(seed);
        string[] filler = ["the", "a", "is", "and", "to", "you", "we", "w1", "w2", "w3", "w4", "w5"];
        return Enumerable.Range(0, count).Select(i =>
        {
            bool spam = i % spamEvery == 0, work = i / spamEvery % 2 == 0;
            // Each label has its own place (the first word, the second), which the tiny random model finds easily.
            var words = new List<string>
            {
                spam ? TextData.Spam[random.Next(TextData.Spam.Length)] : filler[random.Next(filler.Length)],
                work ? TextData.Work[random.Next(TextData.Work.Length)] : filler[random.Next(filler.Length)],
            };
            words.AddRange(Enumerable.Range(0, random.Next(0, 4)).Select(_ => filler[random.Next(filler.Length)]));
            return new BoolSetRow { Text = string.Join(" ", words), Label = [spam, work] };
        }).ToArray();
    }

    private IDataView BoolData(IEnumerable<BoolSetRow> rows)
    {
        var schema = SchemaDefinition.Create(typeof(BoolSetRow));
        var names = new VBuffer<ReadOnlyMemory<char>>(2, LabelNames.Select(n => n.AsMemory()).ToArray());
        schema[nameof(BoolSetRow.Label)].AddAnnotation("SlotNames", names, new VectorDataViewType(TextDataViewType.Instance, 2));
        return _ml.Data.LoadFromEnumerable(rows, schema);
    }

    private static TagSetRow[] Tagged(IEnumerable<BoolSetRow> rows) => rows.Select(r => new TagSetRow
    {
        Text = r.Text, Tags = string.Join(' ', LabelNames.Where((_, k) => r.Label[k])),
    }).ToArray();

    private BertFineTuneOptions Options(int epochs = 20)
    {
        var options = TextData.Options(tiny.Folder, BertTask.MultiLabelClassification, epochs);
        options.WarmupRatio = 0;
        return options;
    }

    [Fact]
    public void BoolVectorLabels_LearnTwoIndependentLabels_WithSlotNames_AndExportAsMultiLabel()
    {
        var train = BoolData(Rows(200, seed: 1));
        var options = Options();
        options.ValidationFraction = 0.2f;
        using var model = _ml.MulticlassClassification.Trainers.BertMultiLabel(options).Fit(train);
        var test = Rows(60, seed: 2);
        Assert.Contains(test, r => !r.Label[0] && !r.Label[1]);
        Assert.Contains(test, r => r.Label[0] && r.Label[1]);
        var scored = model.Transform(BoolData(test));

        var metrics = _ml.MulticlassClassification.EvaluateMultiLabel(scored);
        Assert.True(metrics.MicroF1 >= 0.9, $"micro F1 {metrics.MicroF1:F3}, macro {metrics.MacroF1:F3}, subset {metrics.SubsetAccuracy:F3}; " +
            string.Join(", ", metrics.PerLabel.Select(p => $"{p.Key} P {p.Value.Precision:F2} R {p.Value.Recall:F2}")) + "; " + string.Join(" ", model.History.Evaluations.Select(e => e.Metrics["MicroF1"].ToString("F2"))) + "; loss " + string.Join(" ", model.History.Steps.Select(s => s.Loss.ToString("F2"))));
        Assert.Equal(LabelNames, metrics.PerLabel.Keys);
        Assert.Equal(LabelNames, model.ClassNames);
        Assert.Equal([0.5f, 0.5f], model.Thresholds);
        Assert.Equal("MicroF1", model.History.SelectionMetric);

        VBuffer<ReadOnlyMemory<char>> slots = default;
        scored.Schema["Score"].GetSlotNames(ref slots);
        Assert.Equal(LabelNames, slots.DenseValues().Select(s => s.ToString()));
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, 2), scored.Schema["Score"].Type);
        Assert.Equal(new VectorDataViewType(BooleanDataViewType.Instance, 2), scored.Schema["PredictedLabel"].Type);
        var scores = scored.GetColumn<float[]>("Score").ToArray();
        var predicted = scored.GetColumn<bool[]>("PredictedLabel").ToArray();
        Assert.All(scores.SelectMany(s => s), p => Assert.InRange(p, 0f, 1f));
        Assert.Equal(scores.Select(s => s.Select(p => p >= 0.5f).ToArray()), predicted);

        string folder = Path.Combine(_scratch, "hf-multilabel");
        model.ExportHuggingFaceFolder(folder);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, HuggingFaceFolder.ConfigFile)))!.AsObject();
        Assert.Equal("multi_label_classification", (string?)config["problem_type"]);
        Assert.Equal(LabelNames, Enumerable.Range(0, 2).Select(i => (string?)config["id2label"]![i.ToString()]));
    }

    [Fact]
    public void KeyVectorLabels_FromTokenizedTags_LearnTheSameLabels_AndEmptySetsAreRows()
    {
        // The bool-vector test's rows, written as tag strings. (The tiny random model learns the second label's word from
        // some draws of rows only: with seed 3 or 5 it stays at chance for 20 epochs whatever the training seed.)
        var rows = Tagged(Rows(200, seed: 1));
        Assert.Contains(rows, r => r.Tags == "");
        var pipeline = _ml.Transforms.Text.TokenizeIntoWords("Tags").Append(_ml.Transforms.Conversion.MapValueToKey("Tags"));
        var options = Options();
        options.LabelColumnName = "Tags";
        options.ValidationFraction = 0.2f;
        // Through a chain, as the README writes it: the estimator's schema check accepts a key vector.
        var chain = pipeline.Append(_ml.MulticlassClassification.Trainers.BertMultiLabel(options)).Fit(_ml.Data.LoadFromEnumerable(rows));
        using var model = chain.LastTransformer;
        Assert.Equal((160, 40), model.History.ExampleCounts);
        // Key order is order of first appearance: the row 0 has both labels, spam first.
        Assert.Equal(LabelNames, model.ClassNames);

        var scored = chain.Transform(_ml.Data.LoadFromEnumerable(Tagged(Rows(60, seed: 4))));
        var metrics = _ml.MulticlassClassification.EvaluateMultiLabel(scored, "Tags");
        Assert.True(metrics.MicroF1 >= 0.9, $"micro F1 {metrics.MicroF1:F3}; " + string.Join(" | ", model.History.Evaluations.Select(e => $"{e.Epoch}/{e.Step} {e.Metrics["MicroF1"]:F3} {e.ValidationLoss:F4}")) + $" best {model.History.Best?.Step} " + string.Join(", ", metrics.PerLabel.Select(p => $"{p.Key} P {p.Value.Precision:F2} R {p.Value.Recall:F2}")));
        VBuffer<ReadOnlyMemory<char>> slots = default;
        scored.Schema["PredictedLabel"].GetSlotNames(ref slots);
        Assert.Equal(LabelNames, slots.DenseValues().Select(s => s.ToString()));
    }

    [Fact]
    public void TuneThresholds_MovesThresholdsThatHelp_AndTheySurviveTheZip_InProcessAndInAFreshProcess()
    {
        // Rare spam and a short run: at 0.5 the model under-predicts spam, so a lower threshold raises its F1.
        var rows = Rows(120, seed: 5, spamEvery: 6);
        var data = BoolData(rows);
        var options = Options(epochs: 1);
        options.LearningRate = 1e-3f;
        options.ValidationSet = data;
        options.TuneThresholds = true;
        using var model = _ml.MulticlassClassification.Trainers.BertMultiLabel(options).Fit(data);
        Assert.Contains(model.Thresholds, t => t != 0.5f);

        var tuned = _ml.MulticlassClassification.EvaluateMultiLabel(model.Transform(data));
        var scores = model.Transform(data).GetColumn<float[]>("Score").ToArray();
        double F1AtHalf(int k)
        {
            int tp = rows.Where((r, i) => r.Label[k] && scores[i][k] >= 0.5f).Count(), predicted = scores.Count(s => s[k] >= 0.5f), positives = rows.Count(r => r.Label[k]);
            return 2.0 * tp / (predicted + positives);
        }
        for (int k = 0; k < 2; k++) Assert.True(tuned.PerLabel[LabelNames[k]].F1 >= F1AtHalf(k) - 1e-9, $"label {k}: tuned F1 {tuned.PerLabel[LabelNames[k]].F1:F3} < {F1AtHalf(k):F3} at 0.5");

        string zip = Path.Combine(_scratch, "multilabel.zip");
        var textOnly = _ml.Data.LoadFromEnumerable(rows.Select(r => new TokenClassificationTests.TextOnlyRow { Text = r.Text }));
        _ml.Model.Save(model, textOnly.Schema, zip);
        var expected = model.Transform(data).GetColumn<bool[]>("PredictedLabel").ToArray();
        var loaded = new MLContext(seed: 3).Model.Load(zip, out _);
        Assert.Equal(model.Thresholds, Assert.IsType<BertFineTuneTransformer>(loaded).Thresholds);
        Assert.Equal(expected, loaded.Transform(data).GetColumn<bool[]>("PredictedLabel").ToArray());

        string tsv = Path.Combine(_scratch, "multilabel.tsv");
        File.WriteAllLines(tsv, ["Text", .. rows.Select(r => r.Text)]);
        var child = ZipLoaderProcess.Run(zip, tsv, "PredictedLabel");
        Assert.Contains("Vector<Boolean, 2>", child["columns"]![0]!.ToString());
        Assert.Equal(expected, child["rows"]!.AsArray().Select(r => r!["PredictedLabel"]!.AsArray().Select(x => (bool)x!).ToArray()).ToArray());
    }

    public sealed class ScoredRow
    {
        [VectorType(3)] public bool[] Label { get; set; } = [];
        [VectorType(3)] public float[] Score { get; set; } = [];
        [VectorType(3)] public bool[] PredictedLabel { get; set; } = [];
        public string Tags { get; set; } = "";
    }

    [Fact]
    public void EvaluateMultiLabel_GivesTheHandComputedNumbers_ForBothLabelForms()
    {
        // Labels A, B, C. A: TP 2 (rows 1, 4), FP 1 (row 3); B: TP 2; C: FN 1 (row 1). Rows 2 and 4 match exactly.
        ScoredRow Row(bool[] truth, bool[] predicted) => new()
        {
            Label = truth, PredictedLabel = predicted, Score = predicted.Select(p => p ? 0.9f : 0.1f).ToArray(),
            Tags = string.Join(' ', new[] { "A", "B", "C" }.Where((_, k) => truth[k])),
        };
        var data = _ml.Data.LoadFromEnumerable(new[]
        {
            Row([true, false, true], [true, false, false]),
            Row([false, true, false], [false, true, false]),
            Row([false, false, false], [true, false, false]),
            Row([true, true, false], [true, true, false]),
        });
        void Check(MultiLabelMetrics metrics)
        {
            Assert.Equal(0.8, metrics.MicroF1, 12);            // 2·4 / (2·4 + 1 + 1)
            Assert.Equal(0.6, metrics.MacroF1, 12);            // (0.8 + 1 + 0) / 3
            Assert.Equal(0.5, metrics.SubsetAccuracy, 12);     // 2 of 4 rows
            Assert.Equal(2.0 / 12, metrics.HammingLoss, 12);   // 2 wrong of 4 × 3 decisions
            Assert.Equal(2.0 / 3, metrics.PerLabel["A"].Precision, 12);
            Assert.Equal(1.0, metrics.PerLabel["A"].Recall, 12);
            Assert.Equal(0.8, metrics.PerLabel["A"].F1, 12);
            Assert.Equal(2, metrics.PerLabel["A"].Support);
            Assert.Equal(1.0, metrics.PerLabel["B"].F1, 12);
            Assert.Equal((0.0, 0.0, 0.0, 1L), (metrics.PerLabel["C"].Precision, metrics.PerLabel["C"].Recall, metrics.PerLabel["C"].F1, metrics.PerLabel["C"].Support));
        }
        // Without SlotNames the bool labels are LABEL_i.
        var byBools = _ml.MulticlassClassification.EvaluateMultiLabel(data);
        Assert.Equal(["LABEL_0", "LABEL_1", "LABEL_2"], byBools.PerLabel.Keys);
        Check(new MultiLabelMetrics(byBools.MicroF1, byBools.MacroF1, byBools.SubsetAccuracy, byBools.HammingLoss,
            byBools.PerLabel.Values.Select((m, k) => (Name: "ABC"[k].ToString(), m)).ToDictionary(p => p.Name, p => p.m)));

        // Keys in order of appearance (A, C, B): labels are matched to the predictions by slot, so sort them to the slot order first.
        var keys = _ml.Transforms.Text.TokenizeIntoWords("Tags")
            .Append(_ml.Transforms.Conversion.MapValueToKey("Tags", keyOrdinality: Microsoft.ML.Transforms.ValueToKeyMappingEstimator.KeyOrdinality.ByValue))
            .Fit(data).Transform(data);
        Check(_ml.MulticlassClassification.EvaluateMultiLabel(keys, "Tags"));
    }

    [Fact]
    public void NewHead_StartsAtEachLabelsTrainingLogOdds()
    {
        var task = new MultiLabelClassificationTask(["one in ten", "half", "never"], new TaskLossOptions());
        using var model = new BertForSequenceClassification(TinyBert.Config(labels: 3));
        var examples = Enumerable.Range(0, 10).Select(i => new TokenizedExample([1, 2], [0, 0], 0, Targets: [i == 0 ? 1 : 0, i % 2 == 0 ? 1 : 0, 0])).ToList();

        task.BeforeTraining(model, examples);

        // Shares smoothed by a half example: (1 + 0.5) / 11, (5 + 0.5) / 11, 0.5 / 11; the bias is the share's log-odds.
        var bias = model.Classifier.bias!.data<float>().ToArray();
        Assert.Equal(Math.Log(1.5 / 9.5), bias[0], 5);
        Assert.Equal(0, bias[1], 5);
        Assert.Equal(Math.Log(0.5 / 10.5), bias[2], 5);
    }

    [Fact]
    public void WithTuneThresholds_ValidationMetricsAreThoseAtTunedThresholds_SoAModelUnderHalfStillRanks()
    {
        // Two labels, four examples; every probability is under 0.5, but the positives score higher than the negatives.
        var examples = new[] { new[] { 1f, 0 }, [0, 1], [1, 1], [0, 0] }.Select(t => new TokenizedExample([1], [0], 0, Targets: t)).ToList();
        float[] logits = [-1, -3, -3, -1, -1, -1, -3, -3];
        var fixedHalf = new MultiLabelClassificationTask(["a", "b"], new TaskLossOptions()).Metrics(logits, examples);
        var tuned = new MultiLabelClassificationTask(["a", "b"], new TaskLossOptions(TuneThresholds: true)).Metrics(logits, examples);
        Assert.Equal(0, fixedHalf["MicroF1"]);
        Assert.Equal(1, tuned["MicroF1"], 12);
        Assert.Equal(1, tuned["SubsetAccuracy"], 12);
    }

    [Fact]
    public void BadInput_IsRejected_WithMessagesThatNameTheProblem()
    {
        // A label that is one value per row, not a set.
        var scalar = _ml.Data.LoadFromEnumerable(Tagged(Rows(20, seed: 6)));
        var options = Options(epochs: 1);
        options.LabelColumnName = "Tags";
        var error = Assert.Throws<ArgumentException>(() => _ml.MulticlassClassification.Trainers.BertMultiLabel(options).Fit(scalar));
        Assert.Contains("'Tags'", error.Message);
        Assert.Contains("vector of Boolean", error.Message);
        Assert.Contains("It is String", error.Message);

        // A tag the fitted MapValueToKey did not know becomes key 0.
        var pipeline = _ml.Transforms.Text.TokenizeIntoWords("Tags").Append(_ml.Transforms.Conversion.MapValueToKey("Tags"));
        var toKeys = pipeline.Fit(scalar);
        var unseen = toKeys.Transform(_ml.Data.LoadFromEnumerable(new[] { new TagSetRow { Text = "free money", Tags = "spam urgent" } }));
        var keyError = Assert.Throws<InvalidDataException>(() => _ml.MulticlassClassification.Trainers.BertMultiLabel(options).Fit(unseen));
        Assert.Contains("key 0", keyError.Message);
        Assert.Contains("'Tags'", keyError.Message);

        // One positive weight per label.
        options.ClassWeights = [1, 2, 3];
        var weights = Assert.Throws<ArgumentException>(() => _ml.MulticlassClassification.Trainers.BertMultiLabel(options).Fit(toKeys.Transform(scalar)));
        Assert.Contains("ClassWeights has 3 weights", weights.Message);
        Assert.Contains("2 labels", weights.Message);

        // Tuning needs validation data, and multi-label.
        options.ClassWeights = null;
        options.TuneThresholds = true;
        Assert.Contains("TuneThresholds", Assert.Throws<ArgumentException>(() => _ml.MulticlassClassification.Trainers.BertMultiLabel(options)).Message);
        options.ValidationFraction = 0.2f;
        Assert.Contains("TuneThresholds", Assert.Throws<ArgumentException>(() => _ml.MulticlassClassification.Trainers.BertFineTune(options)).Message);

        // A model whose thresholds are not one per label (a damaged zip) does not load.
        var thresholds = Assert.Throws<InvalidDataException>(() => FineTuneTasks.ForScoring(BertTask.MultiLabelClassification, ["a", "b"], 0, 1, thresholds: [0.5f]));
        Assert.Contains("1 label thresholds but 2 labels", thresholds.Message);

        // The evaluator names a predicted column of the wrong type.
        var scored = _ml.Data.LoadFromEnumerable(new[] { new ScoredRow { Label = [true, false, false], Score = [1, 0, 0], PredictedLabel = [true, false, false] } });
        var evaluation = Assert.Throws<ArgumentException>(() => _ml.MulticlassClassification.EvaluateMultiLabel(scored, predictedLabelColumnName: "Score"));
        Assert.Contains("'Score'", evaluation.Message);
        Assert.Contains("Vector<Single, 3>", evaluation.Message);
    }
}
