using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Cli.Data;

namespace MLNetTuning.Cli.Modeling;

/// <summary>Counts of (true class, predicted class), with the class names in key order.</summary>
internal sealed record ConfusionMatrix(IReadOnlyList<string> ClassNames, long[,] Counts)
{
    public long Total => Counts.Cast<long>().Sum();
}

/// <summary>ML.NET's metrics of a task on labelled data, and the confusion matrix for classification.</summary>
internal sealed record EvaluationResult(IReadOnlyList<KeyValuePair<string, double>> Metrics, ConfusionMatrix? Confusion, int Rows);

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
