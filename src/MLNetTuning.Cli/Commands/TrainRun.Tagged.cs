using Microsoft.ML;
using MLNetTuning.Cli.Data;
using MLNetTuning.Cli.Modeling;

namespace MLNetTuning.Cli.Commands;

/// <summary>How train picks its training, validation and test data from the command line; the same flags for every task.</summary>
internal sealed record Split(int? TrainRows, string? ValidationPath, int? ValidationRows, float? ValidationFraction, string? TestPath, int? TestRows);

/// <summary>`train --task token-classification`: tagged sentences instead of labelled rows; one sentence counts as one row of the row flags.</summary>
internal sealed partial class TrainRun
{
    private int ExecuteTagged(string dataPath, BertFineTuneOptions options, Split split)
    {
        int seed = options.Seed!.Value;
        var columns = new TaggedColumns(result.GetValue(symbols.WordColumn), result.GetValue(symbols.TagColumn),
            result.GetValue(symbols.TextColumn) ?? ExampleViews.TextColumn, result.GetValue(symbols.LabelColumn) ?? ExampleViews.LabelColumn);
        var (train, validation, validationSource, test, sizes) = SplitItems(columns.Read, dataPath, split, seed, "sentences");

        var ml = new MLContext(seed);
        var views = TaggedViews.FromTraining(ml, train, $"'{dataPath}'");
        var counts = train.SelectMany(s => s.Tags).GroupBy(t => t, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        sizes.Add(new("training tags", string.Join(", ", views.TagNames.Select(t => $"{t} {counts[t]}"))));
        options.TextColumnName = ExampleViews.TextColumn;
        options.SecondTextColumnName = null;
        options.LabelColumnName = ExampleViews.LabelColumn;
        // Validation and test tags are mapped with the training tags' keys, so a tag the training lacks is named before any training.
        if (validation is not null) options.ValidationSet = views.Labeled(validation, validationSource!);
        var testView = test is null ? null : views.Labeled(test, $"The data file '{split.TestPath}' (--test)");
        var trainView = views.Labeled(train, $"The data file '{dataPath}'");
        options.CancellationToken = host.Cancellation;
        CheckOptions(ml, options);

        using var model = FineTune(ml, options, trainView, $"{train.Count} sentences of {Path.GetFileName(dataPath)}", validation?.Count, test?.Count);
        var testResult = testView is null ? null : Evaluation.EvaluateTags(ml, model, testView, views.TagNames, test!.Count);
        PrintTest(testResult, model.History, "sentences");
        var info = new ModelInfo(BertTask.TokenClassification, [.. model.ClassNames], columns.WordsName, null, columns.TagsName, options.Model,
            columns.WordColumn, columns.TagColumn);
        return SaveAndReport(ml, model, info, options, sizes, testResult, split.TestPath, comparison: null, binaryClassNames: null);
    }
}
