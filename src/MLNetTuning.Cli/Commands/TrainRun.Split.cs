using MLNetTuning.Cli.Data;

namespace MLNetTuning.Cli.Commands;

/// <summary>The training, validation and test items of a task whose data are not labelled rows (tagged sentences, questions).</summary>
internal sealed record ItemSplit<T>(List<T> Train, List<T>? Validation, string? ValidationSource, List<T>? Test, List<KeyValuePair<string, string>> Sizes);

internal sealed partial class TrainRun
{
    /// <summary>
    /// Reads the data file with <paramref name="read"/> (path, option) and splits it by the row flags, one item counting as
    /// one row; <paramref name="unit"/> names the items in messages and sizes ("sentences", "questions").
    /// </summary>
    private static ItemSplit<T> SplitItems<T>(Func<string, string, List<T>> read, string dataPath, Split split, int seed, string unit)
    {
        var all = read(dataPath, "data");
        if (split.TrainRows is not null || split.ValidationRows is not null) all = Examples.Shuffled(all, seed);
        var train = all.Take(split.TrainRows ?? all.Count - (split.ValidationRows ?? 0)).ToList();
        if (train.Count == 0) throw new CliException($"The data file '{dataPath}' has no {unit} to train on.");
        var sizes = new List<KeyValuePair<string, string>> { new("training", $"{train.Count} of {all.Count} {unit} of {dataPath}") };

        List<T>? validation = null;
        string? validationSource = null;
        if (split.ValidationPath is { } validationPath)
        {
            validation = read(validationPath, "--validation");
            validationSource = $"The data file '{validationPath}' (--validation)";
            sizes.Add(new("validation", $"{validation.Count} {unit} of {validationPath}"));
        }
        else if (split.ValidationRows is int n)
        {
            validation = all.Skip(train.Count).Take(n).ToList();
            if (validation.Count < n)
                throw new UsageException($"--validation-rows {n}: the data file has only {all.Count} {unit}, {train.Count} of them for training. Lower --train-rows or --validation-rows.");
            validationSource = $"The data file '{dataPath}' (validation {unit})";
            sizes.Add(new("validation", $"{validation.Count} further {unit} of {dataPath}, disjoint from the training {unit}"));
        }
        else if (split.ValidationFraction is float fraction)
        {
            int before = train.Count;
            // Sentences and questions have no single class to stratify by.
            (train, validation) = Examples.HoldOut(train, fraction, stratifyBy: null, seed);
            if (train.Count == 0 || validation.Count == 0)
                throw new UsageException($"--validation-fraction {fraction}: of the {before} training {unit}, {train.Count} would be left for training and " +
                    $"{validation.Count} for validation. Give more {unit} or another fraction.");
            validationSource = $"The data file '{dataPath}' (held-out {unit})";
            sizes[0] = new("training", $"{train.Count} of {all.Count} {unit} of {dataPath}, after holding out validation {unit}");
            sizes.Add(new("validation", $"{validation.Count} {unit} held out of the {before} training {unit} (--validation-fraction {fraction})"));
        }

        List<T>? test = null;
        if (split.TestPath is { } testPath)
        {
            var items = read(testPath, "--test");
            test = split.TestRows is int t ? Examples.Shuffled(items, seed).Take(t).ToList() : items;
            sizes.Add(new("test", $"{test.Count} of {items.Count} {unit} of {testPath}"));
        }

        return new ItemSplit<T>(train, validation, validationSource, test, sizes);
    }
}
