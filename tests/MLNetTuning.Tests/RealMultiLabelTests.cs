using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Training;
using Xunit.Abstractions;

namespace MLNetTuning.Tests;

/// <summary>
/// Acceptance of multi-label classification on real data: the embedded all-MiniLM-L6-v2 fine-tuned on the bundled
/// GoEmotions sample (8,000 training and 600 test Reddit comments, 28 labels), against the classic ML.NET answer on the
/// same split: FeaturizeText and one binary SDCA logistic regression per label, its predictions assembled into the same
/// bool-vector form and evaluated by the same EvaluateMultiLabel.
/// </summary>
[Collection(RealModelCollection.Name)]
public sealed class RealMultiLabelTests(ITestOutputHelper output)
{
    private const int LabelCount = 28;

    private sealed class Comment
    {
        public string Text { get; set; } = "";
        [VectorType(LabelCount)] public bool[] Label { get; set; } = [];
    }

    private sealed class Scored
    {
        [VectorType(LabelCount)] public bool[] Label { get; set; } = [];
        [VectorType(LabelCount)] public float[] Score { get; set; } = [];
        [VectorType(LabelCount)] public bool[] PredictedLabel { get; set; } = [];
    }

    private sealed class LabelSet
    {
        [VectorType(LabelCount)] public bool[] Label { get; set; } = [];
    }

    private sealed class OneLabel
    {
        public bool Target { get; set; }
    }

    /// <summary>Text and space-separated label names, one row a line after the header.</summary>
    private static List<(string Text, string[] Labels)> ReadTsv(string split)
    {
        string path = RepoFiles.Path("samples", "data", "goemotions", split + ".tsv");
        Assert.True(File.Exists(path), $"The bundled sample {path} is missing; it is committed under samples/data.");
        return File.ReadLines(path).Skip(1).Select(line => line.Split('\t'))
            .Select(f => (f[0], f[1].Split(' ', StringSplitOptions.RemoveEmptyEntries))).ToList();
    }

    /// <summary>A view of bool-vector rows whose Label (and Score, PredictedLabel when present) carry the label names as SlotNames.</summary>
    private static IDataView Load<T>(MLContext ml, IEnumerable<T> rows, string[] names) where T : class
    {
        var schema = SchemaDefinition.Create(typeof(T));
        var slots = new VBuffer<ReadOnlyMemory<char>>(names.Length, names.Select(n => n.AsMemory()).ToArray());
        foreach (var column in schema)
            column.AddAnnotation("SlotNames", slots, new VectorDataViewType(TextDataViewType.Instance, names.Length));
        return ml.Data.LoadFromEnumerable(rows, schema);
    }

    private static BertFineTuneOptions Options() => new()
    {
        Model = "all-MiniLM-L6-v2", MaxSequenceLength = 64, Epochs = 2, BatchSize = 16, LearningRate = 3e-4f, Seed = 1,
        ValidationFraction = 0.1f, TuneThresholds = true,
        // bf16 products halve the time; the CPUs this suite runs on have them (elsewhere: float32, with a warning).
        Precision = NumericPrecision.Bf16,
        // Other test classes set one torch thread process-wide; the figures here were measured with one thread a core.
        NumberOfThreads = Environment.ProcessorCount,
    };

    /// <summary>FeaturizeText once, then one SdcaLogisticRegression per label; its probabilities and 0.5 decisions as one row per test comment.</summary>
    private static Scored[] Sdca(MLContext ml, IDataView train, IDataView test, Comment[] truth)
    {
        var featurizer = ml.Transforms.Text.FeaturizeText("Features", nameof(Comment.Text)).Fit(train);
        var (trainFeatures, testFeatures) = (ml.Data.Cache(featurizer.Transform(train)), ml.Data.Cache(featurizer.Transform(test)));
        var rows = truth.Select(c => new Scored { Label = c.Label, Score = new float[LabelCount], PredictedLabel = new bool[LabelCount] }).ToArray();
        for (int k = 0; k < LabelCount; k++)
        {
            int label = k;
            var model = ml.Transforms.CustomMapping<LabelSet, OneLabel>((input, target) => target.Target = input.Label[label], contractName: null)
                .Append(ml.BinaryClassification.Trainers.SdcaLogisticRegression(nameof(OneLabel.Target), "Features"))
                .Fit(trainFeatures);
            var scored = model.Transform(testFeatures);
            var probabilities = scored.GetColumn<float>(scored.Schema["Probability"]).ToArray();
            var predicted = scored.GetColumn<bool>(scored.Schema["PredictedLabel"]).ToArray();
            for (int r = 0; r < rows.Length; r++)
                (rows[r].Score[k], rows[r].PredictedLabel[k]) = (probabilities[r], predicted[r]);
        }
        return rows;
    }

    private void Log(string name, MultiLabelMetrics m) => output.WriteLine(
        $"{name}: micro F1 {m.MicroF1:F4}, macro F1 {m.MacroF1:F4}, subset accuracy {m.SubsetAccuracy:F4}, Hamming loss {m.HammingLoss:F4}");

    // History (all with FeaturizeText + one SDCA per label on the same training rows as the reference):
    // - 2,000 training comments, 3 epochs, LR 1e-4, fp32, head started at 0.5, selection by F1 at 0.5: fine-tuned micro F1
    //   0.110 against SDCA's 0.364. Validation F1 at 0.5 was 0 every epoch, so epoch 1 was kept (the loss sat at the
    //   base-rate entropy: the steps went into pushing every bias down).
    // - The same 2,000, 4 epochs, LR 3e-4, bf16, biases started at the labels' log prior odds, selection at tuned thresholds:
    //   0.3595 against 0.3638 (mlnet-tune, seed 1): close, and still behind. Hence the 8,000 comments here.
    // - Here (8,000 comments, 2 epochs, LR 3e-4, bf16, seed 1): fine-tuned micro F1 0.4902 at tuned thresholds (0.4509 at
    //   0.5; macro 0.3216, subset accuracy 0.2950, Hamming loss 0.0510) against SDCA's 0.3984 (macro 0.2320, subset
    //   accuracy 0.2633, Hamming loss 0.0351). Best epoch 2 of 2, validation micro F1 0.5327. The fit took 558 s on 2 cores
    //   shared with other builds (load 9 to 25); SDCA 5 s.
    // - One epoch instead of two, tried to shorten the suite (same seed, 450 steps): micro F1 0.3443 at tuned thresholds
    //   (0.4271 at 0.5; validation micro F1 0.3703) against SDCA's 0.3984: it fails, so the second epoch stays. The
    //   multi-label sample's one epoch (key-vector labels, another label order) reached 0.4362: one seed's margin is thin.
    [Fact]
    public void GoEmotionsFineTunedBeatsFeaturizeTextWithOneSdcaPerLabelInMicroF1()
    {
        var ml = new MLContext(seed: 1);
        var (trainRows, testRows) = (ReadTsv("train"), ReadTsv("test"));
        Assert.Equal((8000, 600), (trainRows.Count, testRows.Count));
        string[] names = trainRows.Concat(testRows).SelectMany(r => r.Labels).Distinct().Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(LabelCount, names.Length);
        Comment[] ToComments(List<(string Text, string[] Labels)> rows) =>
            rows.Select(r => new Comment { Text = r.Text, Label = names.Select(n => r.Labels.Contains(n)).ToArray() }).ToArray();
        var (train, test) = (ToComments(trainRows), ToComments(testRows));
        var (trainView, testView) = (Load(ml, train, names), Load(ml, test, names));

        var clock = Stopwatch.StartNew();
        using var model = ml.MulticlassClassification.Trainers.BertMultiLabel(Options()).Fit(trainView);
        var fit = clock.Elapsed;
        var scored = ml.Data.Cache(model.Transform(testView));
        var tuned = ml.MulticlassClassification.EvaluateMultiLabel(scored);
        // The same model's probabilities at 0.5 for every label: what TuneThresholds adds.
        var scores = scored.GetColumn<VBuffer<float>>(scored.Schema["Score"]).Select(v => v.DenseValues().ToArray()).ToArray();
        var half = ml.MulticlassClassification.EvaluateMultiLabel(Load(ml, test.Select((c, r) => new Scored
        {
            Label = c.Label, Score = scores[r], PredictedLabel = scores[r].Select(p => p >= 0.5f).ToArray(),
        }), names));

        clock.Restart();
        var sdca = ml.MulticlassClassification.EvaluateMultiLabel(Load(ml, Sdca(ml, trainView, testView, test), names));
        var sdcaTime = clock.Elapsed;

        Log("fine-tuned, tuned thresholds", tuned);
        Log("fine-tuned, thresholds 0.5", half);
        Log("FeaturizeText + SDCA per label", sdca);
        var best = model.History.Best;
        output.WriteLine($"fit {fit.TotalSeconds:F0} s (loop {model.History.TrainingTime.TotalSeconds:F0} s, best epoch {best?.Epoch} of {Options().Epochs}, " +
            $"validation micro F1 {best?.Metrics.GetValueOrDefault("MicroF1"):F4}); SDCA {sdcaTime.TotalSeconds:F0} s");
        output.WriteLine("thresholds: " + string.Join(", ", names.Zip(model.Thresholds, (n, t) => $"{n} {t:F2}")));
        foreach (var (label, m) in tuned.PerLabel)
            output.WriteLine($"  {label}: F1 {m.F1:F3} (SDCA {sdca.PerLabel[label].F1:F3}), support {m.Support}");
        Assert.True(tuned.MicroF1 > sdca.MicroF1, $"fine-tuned micro F1 {tuned.MicroF1:F4}, SDCA {sdca.MicroF1:F4}");
    }
}
