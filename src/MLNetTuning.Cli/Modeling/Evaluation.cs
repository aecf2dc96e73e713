using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Cli.Data;
using MLNetTuning.Tagging;

namespace MLNetTuning.Cli.Modeling;

/// <summary>Counts of (true class, predicted class), with the class names in key order.</summary>
internal sealed record ConfusionMatrix(IReadOnlyList<string> ClassNames, long[,] Counts)
{
    public long Total => Counts.Cast<long>().Sum();
}

/// <summary>
/// ML.NET's metrics of a task on labelled data, the confusion matrix for classification, and for token classification with
/// entity tags the metrics of each entity type (null for other tasks, and for tags such as part of speech that name no entity).
/// </summary>
/// Multi-label results put their per-label table in <see cref="EntityTypes"/>, with <see cref="TypesTitle"/> "Per label".
internal sealed record EvaluationResult(IReadOnlyList<KeyValuePair<string, double>> Metrics, ConfusionMatrix? Confusion, int Rows,
    IReadOnlyDictionary<string, EntityTypeMetrics>? EntityTypes = null, string? Note = null, string? TypesTitle = null);

internal static class Evaluation
{
    /// <summary>Scores <paramref name="data"/> (made by <see cref="ExampleViews.Labeled"/>) and evaluates it with ML.NET's evaluator of the task.</summary>
    public static EvaluationResult Evaluate(MLContext ml, ITransformer model, IDataView data, LabelScheme scheme, int rows)
    {
        var scored = model.Transform(data);
        const string label = ExampleViews.LabelColumn;
        switch (scheme.Task)
        {
            case BertTask.MulticlassClassification:
            {
                var m = ml.MulticlassClassification.Evaluate(scored, label);
                return new EvaluationResult(
                [
                    new("MicroAccuracy", m.MicroAccuracy), new("MacroAccuracy", m.MacroAccuracy), new("LogLoss", m.LogLoss), new("LogLossReduction", m.LogLossReduction),
                ], Confusion<uint>(scored, scheme.ClassNames, key => (int)key - 1), rows);
            }
            case BertTask.BinaryClassification:
            {
                // The evaluator's calibrated metrics need both classes; a one-class test file still gets accuracy and the matrix.
                var m = ml.BinaryClassification.Evaluate(scored, label);
                return new EvaluationResult(
                [
                    new("Accuracy", m.Accuracy), new("AUC", m.AreaUnderRocCurve), new("F1", m.F1Score), new("Precision", m.PositivePrecision),
                    new("Recall", m.PositiveRecall), new("LogLoss", m.LogLoss),
                ], Confusion<bool>(scored, scheme.ClassNames, positive => positive ? 1 : 0), rows);
            }
            case BertTask.MultiLabelClassification:
            {
                var m = ml.MulticlassClassification.EvaluateMultiLabel(scored, label);
                var perLabel = m.PerLabel.ToDictionary(p => p.Key, p => new EntityTypeMetrics(p.Value.Precision, p.Value.Recall, p.Value.F1, (int)p.Value.Support));
                return new EvaluationResult(
                [
                    new("MicroF1", m.MicroF1), new("MacroF1", m.MacroF1), new("SubsetAccuracy", m.SubsetAccuracy), new("HammingLoss", m.HammingLoss),
                ], null, rows, perLabel, TypesTitle: "Per label");
            }
            default:
            {
                var m = ml.Regression.Evaluate(scored, label);
                return new EvaluationResult(
                [
                    new("RMSE", m.RootMeanSquaredError), new("MAE", m.MeanAbsoluteError), new("R²", m.RSquared),
                ], null, rows);
            }
        }
    }

    /// <summary>Answers the questions of <paramref name="data"/> (made by <see cref="AnswerViews.Labeled"/>) and scores them against every gold answer.</summary>
    public static EvaluationResult EvaluateAnswers(MLContext ml, ITransformer model, IDataView data, int questions)
    {
        var m = ml.MulticlassClassification.EvaluateAnswers(model.Transform(data), AnswerViews.AnswerColumn);
        return new EvaluationResult([new("ExactMatch", m.ExactMatch), new("F1", m.F1)], null, questions,
            Note: "ExactMatch and F1 are percentages (0 to 100), with SQuAD's normalisation; a question with several gold answers counts its best.");
    }

    /// <summary>
    /// Tags the sentences of <paramref name="data"/> (made by <see cref="TaggedViews.Labeled"/>) and scores them: for entity tags
    /// (O, B-/I-) seqeval-style entity precision, recall and F1 plus token accuracy and the per-type table; for other tag sets
    /// (part of speech) token accuracy alone, since entity metrics would be meaningless there.
    /// </summary>
    public static EvaluationResult EvaluateTags(MLContext ml, ITransformer model, IDataView data, IReadOnlyList<string> tagNames, int sentences)
    {
        var scored = model.Transform(data);
        if (EntityCounter.IsEntityTagSet(tagNames))
        {
            var m = ml.MulticlassClassification.EvaluateEntities(scored, ExampleViews.LabelColumn, "PredictedLabel");
            return new EvaluationResult([new("Precision", m.Precision), new("Recall", m.Recall), new("F1", m.F1), new("TokenAccuracy", m.TokenAccuracy)],
                null, sentences, m.PerEntityType);
        }
        // Both columns number the tags in the same sorted order (the model's classes are the training label's KeyValues).
        var truth = scored.Schema[ExampleViews.LabelColumn];
        var predicted = scored.Schema["PredictedLabel"];
        using var cursor = scored.GetRowCursor([truth, predicted]);
        var getTruth = cursor.GetGetter<VBuffer<uint>>(truth);
        var getPredicted = cursor.GetGetter<VBuffer<uint>>(predicted);
        VBuffer<uint> t = default, p = default;
        long words = 0, correct = 0;
        while (cursor.MoveNext())
        {
            getTruth(ref t);
            getPredicted(ref p);
            var (tv, pv) = (t.DenseValues().ToArray(), p.DenseValues().ToArray());
            words += tv.Length;
            for (int i = 0; i < Math.Min(tv.Length, pv.Length); i++) if (tv[i] == pv[i]) correct++;
        }
        return new EvaluationResult([new("TokenAccuracy", words == 0 ? 0 : (double)correct / words)], null, sentences,
            Note: $"The tags ({string.Join(", ", tagNames.Take(8))}{(tagNames.Count > 8 ? ", ..." : "")}) are not entity tags (O, B-X, I-X), so entity precision, " +
                "recall and F1 do not apply: only token accuracy is reported.");
    }

    private static ConfusionMatrix Confusion<T>(IDataView scored, IReadOnlyList<string> classNames, Func<T, int> classOf)
    {
        var counts = new long[classNames.Count, classNames.Count];
        var truth = scored.Schema[ExampleViews.LabelColumn];
        var predicted = scored.Schema["PredictedLabel"];
        using var cursor = scored.GetRowCursor([truth, predicted]);
        var getTruth = cursor.GetGetter<T>(truth);
        var getPredicted = cursor.GetGetter<T>(predicted);
        T t = default!, p = default!;
        while (cursor.MoveNext())
        {
            getTruth(ref t);
            getPredicted(ref p);
            int row = classOf(t), column = classOf(p);
            if (row >= 0 && column >= 0) counts[row, column]++;
        }
        return new ConfusionMatrix(classNames, counts);
    }
}
