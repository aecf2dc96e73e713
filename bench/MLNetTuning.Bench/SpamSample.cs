using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetTuning.Bench;

/// <summary>The bundled SpamAssassin sample as ML.NET data with a bool IsSpam label, as the main job reads it.</summary>
internal static class SpamSample
{
    /// <summary><paramref name="trainRows"/> shuffled (seeded) training e-mails and the whole test split, cached.</summary>
    public static (IDataView Train, IDataView Test) Load(MLContext ml, int trainRows)
    {
        var loader = ml.Data.CreateTextLoader<Email>(separatorChar: '\t', hasHeader: true, allowQuoting: false);
        string folder = Path.GetDirectoryName(Path.GetDirectoryName(BenchData.File("spam", "train.tsv")))!;
        var rawTrain = loader.Load(Path.Combine(folder, "spam", "train.tsv"));
        var flagger = ml.Transforms.CustomMapping<Email, SpamFlag>((email, f) => f.IsSpam = email.Label == "spam", contractName: null).Fit(rawTrain);
        var train = ml.Data.Cache(flagger.Transform(ml.Data.TakeRows(ml.Data.ShuffleRows(rawTrain, seed: 1), trainRows)));
        var test = ml.Data.Cache(flagger.Transform(loader.Load(Path.Combine(folder, "spam", "test.tsv"))));
        return (train, test);
    }

    private sealed class Email
    {
        [LoadColumn(0)] public string Label { get; set; } = "";
        [LoadColumn(2)] public string Text { get; set; } = "";
    }

    private sealed class SpamFlag
    {
        public bool IsSpam { get; set; }
    }
}
