using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Trainers;
using MLNetTuning.Cli.Data;

namespace MLNetTuning.Cli.Modeling;

/// <summary>One model's metrics on the comparison set, and how long it took to train.</summary>
internal sealed record ComparisonRow(string Model, IReadOnlyList<KeyValuePair<string, double>> Metrics, TimeSpan TrainingTime);

/// <summary>`train --baseline`: the fine-tuned model and the classic baseline, evaluated on the same set (<see cref="SetName"/>).</summary>
internal sealed record ModelComparison(string SetName, string SetSource, int Rows, IReadOnlyList<ComparisonRow> Models);

/// <summary>
/// The classic ML.NET text pipeline that `train --baseline` compares fine-tuning against: <c>FeaturizeText</c> (word and
/// character n-grams) and an SDCA linear model of the task. It is fitted on the labelled views of <see cref="ExampleViews"/>,
/// so its input columns and label encoding are those the fine-tuned model saw.
/// </summary>
internal static class Baseline
{
    private const string TextFeatures = "BaselineTextFeatures", SecondTextFeatures = "BaselineText2Features", Features = "Features";

    /// <summary>What the baseline is, for the comparison table.</summary>
    public static string Describe(BertTask task, bool pair) => (pair ? "FeaturizeText ×2 + " : "FeaturizeText + ") + task switch
    {
        BertTask.BinaryClassification => "SdcaLogisticRegression",
        BertTask.Regression => "Sdca (regression)",
        _ => "SdcaMaximumEntropy",
    };

    /// <summary>The baseline's estimator for a view made by <see cref="ExampleViews.Labeled"/>.</summary>
    public static IEstimator<ITransformer> Pipeline(MLContext ml, BertTask task, bool pair)
    {
        IEstimator<ITransformer> features;
        if (pair)
        {
            // Each side gets its own vocabulary, so a word in the first text and the same word in the second are different
            // features (what a pair task such as entailment needs); the two vectors are then concatenated.
            features = ml.Transforms.Text.FeaturizeText(TextFeatures, ExampleViews.TextColumn)
                .Append(ml.Transforms.Text.FeaturizeText(SecondTextFeatures, ExampleViews.SecondTextColumn))
                .Append(ml.Transforms.Concatenate(Features, TextFeatures, SecondTextFeatures));
        }
        else features = ml.Transforms.Text.FeaturizeText(Features, ExampleViews.TextColumn);
        // FeaturizeText is lazy and SDCA makes many passes: without the cache every pass would featurize the texts again.
        var cached = features.AppendCacheCheckpoint(ml);
        // One SDCA thread: with more, the order of the updates (and so the metrics in the report) changes from run to run.
        const string label = ExampleViews.LabelColumn;
        return task switch
        {
            // The multiclass label of the view is already a key carrying the class names, i.e. what MapValueToKey makes of
            // the label strings in the classic pipeline, in the same class order as the fine-tuned model's.
            BertTask.MulticlassClassification => cached.Append(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy(
                new SdcaMaximumEntropyMulticlassTrainer.Options { LabelColumnName = label, FeatureColumnName = Features, NumberOfThreads = 1 })),
            BertTask.BinaryClassification => cached.Append(ml.BinaryClassification.Trainers.SdcaLogisticRegression(
                new SdcaLogisticRegressionBinaryTrainer.Options { LabelColumnName = label, FeatureColumnName = Features, NumberOfThreads = 1 })),
            _ => cached.Append(ml.Regression.Trainers.Sdca(
                new SdcaRegressionTrainer.Options { LabelColumnName = label, FeatureColumnName = Features, NumberOfThreads = 1 })),
        };
    }

    /// <summary>Fits the baseline on <paramref name="train"/> with its own seeded context, so that it leaves the fine-tuning's randomness alone.</summary>
    public static (ITransformer Model, TimeSpan Time) Fit(int seed, IDataView train, BertTask task, bool pair, string source)
    {
        var ml = new MLContext(seed);
        var clock = Stopwatch.StartNew();
        try
        {
            var model = Pipeline(ml, task, pair).Fit(train);
            return (model, clock.Elapsed);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            throw new CliException($"--baseline: the classic ML.NET baseline ({Describe(task, pair)}) could not be trained on {source}: {e.Message}", e);
        }
    }
}
