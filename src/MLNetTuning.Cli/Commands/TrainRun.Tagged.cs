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
        var all = columns.Read(dataPath, "data");
        if (split.TrainRows is not null || split.ValidationRows is not null) all = Examples.Shuffled(all, seed);
        var train = all.Take(split.TrainRows ?? all.Count - (split.ValidationRows ?? 0)).ToList();
        if (train.Count == 0) throw new CliException($"The data file '{dataPath}' has no sentences to train on.");
        var sizes = new List<KeyValuePair<string, string>> { new("training", $"{train.Count} of {all.Count} sentences of {dataPath}") };

        List<TaggedSentence>? validation = null;
        string? validationSource = null;
        if (split.ValidationPath is { } validationPath)
        {
            validation = columns.Read(validationPath, "--validation");
            validationSource = $"The data file '{validationPath}' (--validation)";
            sizes.Add(new("validation", $"{validation.Count} sentences of {validationPath}"));
        }
        else if (split.ValidationRows is int n)
        {
            validation = all.Skip(train.Count).Take(n).ToList();
            if (validation.Count < n)
                throw new UsageException($"--validation-rows {n}: the data file has only {all.Count} sentences, {train.Count} of them for training. Lower --train-rows or --validation-rows.");
            validationSource = $"The data file '{dataPath}' (validation sentences)";
            sizes.Add(new("validation", $"{validation.Count} further sentences of {dataPath}, disjoint from the training sentences"));
        }
        else if (split.ValidationFraction is float fraction)
        {
            int before = train.Count;
            // Sentences have no single class to stratify by.
            (train, validation) = Examples.HoldOut(train, fraction, stratifyBy: null, seed);
            if (train.Count == 0 || validation.Count == 0)
                throw new UsageException($"--validation-fraction {fraction}: of the {before} training sentences, {train.Count} would be left for training and " +
                    $"{validation.Count} for validation. Give more sentences or another fraction.");
            validationSource = $"The data file '{dataPath}' (held-out sentences)";
            sizes[0] = new("training", $"{train.Count} of {all.Count} sentences of {dataPath}, after holding out validation sentences");
            sizes.Add(new("validation", $"{validation.Count} sentences held out of the {before} training sentences (--validation-fraction {fraction})"));
        }

        List<TaggedSentence>? test = null;
        if (split.TestPath is { } testPath)
        {
            var sentences = columns.Read(testPath, "--test");
            test = split.TestRows is int t ? Examples.Shuffled(sentences, seed).Take(t).ToList() : sentences;
            sizes.Add(new("test", $"{test.Count} of {sentences.Count} sentences of {testPath}"));
        }

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
