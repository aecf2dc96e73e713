using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Training;
using Xunit.Abstractions;

namespace MLNetTuning.Tests;

/// <summary>
/// The metrics against independent implementations, through fixtures made once where those run (each folder's
/// make_fixture.py): scikit-learn for multi-label classification, Hugging Face's copy of the official SQuAD evaluation for
/// question answering.
/// </summary>
public sealed class MetricReferenceTests(ITestOutputHelper output)
{
    private static JsonObject Fixture(string folder) =>
        (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Data", folder, "reference.json")))!;

    private sealed class Row
    {
        [VectorType(8)] public bool[] Label { get; set; } = [];
        [VectorType(8)] public float[] Score { get; set; } = [];
        [VectorType(8)] public bool[] PredictedLabel { get; set; } = [];
    }

    /// <summary>
    /// 400 rows over 8 labels with the awkward cases: rows with no gold label or no prediction, a label never gold nor
    /// predicted, one gold but never predicted, one predicted but never gold. scikit-learn 1.9.1 with zero_division=0 (a
    /// ratio with nothing to count is 0, as MultiLabelClassMetrics documents).
    /// </summary>
    [Fact]
    public void EvaluateMultiLabel_MatchesScikitLearn()
    {
        var fixture = Fixture("sklearn-multilabel");
        bool[][] Rows(string key) => fixture[key]!.AsArray().Select(r => r!.AsArray().Select(v => v!.GetValue<int>() == 1).ToArray()).ToArray();
        var gold = Rows("gold");
        var predicted = Rows("predicted");
        Assert.Equal(400, gold.Length);
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(gold.Zip(predicted, (g, p) => new Row
        {
            Label = g, PredictedLabel = p, Score = p.Select(x => x ? 0.8f : 0.2f).ToArray(),
        }));

        var metrics = ml.MulticlassClassification.EvaluateMultiLabel(data);
        output.WriteLine($"micro F1 {metrics.MicroF1:F6}, macro F1 {metrics.MacroF1:F6}, subset accuracy {metrics.SubsetAccuracy:F4}, Hamming loss {metrics.HammingLoss:F6}");
        Assert.Equal(fixture["micro_f1"]!.GetValue<double>(), metrics.MicroF1, 12);
        // MacroF1 leaves out a label that is neither gold nor predicted in any row (documented, as the multiclass MacroF1):
        // scikit-learn's f1_score(average="macro", labels=the others), the mean of its per-label F1 over them. Over all 8
        // labels scikit-learn gives 0.3004 (an empty label's F1 as 0) or 0.4254 (as 1).
        var perLabelF1 = fixture["per_label"]!["f1"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
        var scored = Enumerable.Range(0, 8).Where(k => gold.Any(r => r[k]) || predicted.Any(r => r[k])).ToArray();
        Assert.Equal(7, scored.Length);
        Assert.Equal(scored.Average(k => perLabelF1[k]), metrics.MacroF1, 12);
        Assert.Equal(fixture["subset_accuracy"]!.GetValue<double>(), metrics.SubsetAccuracy, 12);
        Assert.Equal(fixture["hamming_loss"]!.GetValue<double>(), metrics.HammingLoss, 12);
        var perLabel = fixture["per_label"]!;
        var labels = metrics.PerLabel.Values.ToArray();
        Assert.Equal(8, labels.Length);
        for (int k = 0; k < labels.Length; k++)
        {
            Assert.Equal(perLabel["precision"]![k]!.GetValue<double>(), labels[k].Precision, 12);
            Assert.Equal(perLabel["recall"]![k]!.GetValue<double>(), labels[k].Recall, 12);
            Assert.Equal(perLabel["f1"]!.AsArray()[k]!.GetValue<double>(), labels[k].F1, 12);
            Assert.Equal(perLabel["support"]![k]!.GetValue<long>(), labels[k].Support);
        }
    }

    /// <summary>
    /// 60 predictions against SQuAD gold answers, perturbed in case, punctuation, articles, white space, words and Unicode
    /// dashes and quotes, one or two gold answers each: exact match and F1 as transformers 5.17's
    /// squad_metrics.compute_exact and compute_f1 give them (the best over the gold answers).
    /// </summary>
    [Fact]
    public void AnswerScores_MatchTheSquadEvaluation()
    {
        var cases = Fixture("squad-metric")["cases"]!.AsArray();
        Assert.Equal(60, cases.Count);
        int partial = 0;
        foreach (var c in cases)
        {
            string prediction = c!["prediction"]!.GetValue<string>();
            var golds = c["golds"]!.AsArray().Select(g => g!.GetValue<string>()).ToArray();
            var (exact, f1) = AnswerEvaluator.Score(prediction, golds);
            Assert.True(c["exact"]!.GetValue<int>() == (int)exact, $"'{prediction}' against {string.Join(" | ", golds)}: exact {exact}, SQuAD {c["exact"]}");
            Assert.True(Math.Abs(c["f1"]!.GetValue<double>() - f1) < 1e-12, $"'{prediction}' against {string.Join(" | ", golds)}: F1 {f1}, SQuAD {c["f1"]}");
            if (f1 is > 0 and < 1) partial++;
        }
        output.WriteLine($"{cases.Count} cases, {partial} with a partial F1");
        Assert.True(partial >= 10, "the fixture should exercise partial overlaps");
    }
}
