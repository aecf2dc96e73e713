using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Training;
using Xunit.Abstractions;

namespace MLNetTuning.Tests;

/// <summary>
/// Acceptance of token classification on real data: the embedded all-MiniLM-L6-v2 fine-tuned on the bundled Universal NER
/// English-EWT sample (IOB2 PER/ORG/LOC) and on UD EWT part-of-speech tags (1,500 training and 500 test sentences each),
/// against the memorization baseline (each word's most frequent training tag, <c>O</c> or the most frequent tag for words never seen).
/// </summary>
[Collection(RealModelCollection.Name)]
public sealed class RealTokenClassificationTests(ITestOutputHelper output)
{
    private sealed class Sentence
    {
        public string[] Words { get; set; } = [];
        public string[] Tags { get; set; } = [];
        public string[] Baseline { get; set; } = [];
    }

    private sealed class TagName
    {
        public string Value { get; set; } = "";
    }

    private sealed class Named
    {
        public string[] TagNames { get; set; } = [];
        public string[] PredictedTags { get; set; } = [];
    }

    /// <summary>A CoNLL-style file: <c>#</c> comments, <c>ID word tag</c> lines, a blank line between sentences.</summary>
    private static List<Sentence> ReadConll(params string[] parts)
    {
        string path = RepoFiles.Path(parts);
        Assert.True(File.Exists(path), $"The bundled sample {path} is missing; it is committed under samples/data.");
        var sentences = new List<Sentence>();
        var (words, tags) = (new List<string>(), new List<string>());
        foreach (var line in File.ReadLines(path).Append(""))
        {
            if (line.StartsWith('#')) continue;
            if (line.Length == 0)
            {
                if (words.Count > 0) sentences.Add(new Sentence { Words = [.. words], Tags = [.. tags] });
                words.Clear();
                tags.Clear();
                continue;
            }
            var fields = line.Split('\t');
            words.Add(fields[1]);
            tags.Add(fields[2]);
        }
        return sentences;
    }

    /// <summary>Fills <see cref="Sentence.Baseline"/>: each word's most frequent training tag (ties to the first seen), <paramref name="unseen"/> otherwise.</summary>
    private static void Memorize(List<Sentence> train, List<Sentence> test, string unseen)
    {
        var counts = new Dictionary<string, Dictionary<string, int>>();
        foreach (var s in train)
            for (int i = 0; i < s.Words.Length; i++)
            {
                if (!counts.TryGetValue(s.Words[i], out var tags)) counts[s.Words[i]] = tags = [];
                tags[s.Tags[i]] = tags.GetValueOrDefault(s.Tags[i]) + 1;
            }
        foreach (var s in test)
            s.Baseline = s.Words.Select(w => counts.TryGetValue(w, out var tags) ? tags.MaxBy(t => t.Value).Key : unseen).ToArray();
        foreach (var s in train) s.Baseline = s.Tags;
    }

    private static BertFineTuneOptions Options() => new()
    {
        TextColumnName = nameof(Sentence.Words), LabelColumnName = nameof(Sentence.Tags),
        MaxSequenceLength = 128, Epochs = 3, BatchSize = 16, LearningRate = 1e-4f, Seed = 1,
        // bf16 products, as RealMultiLabelTests, where they halve the fit on the CPUs this suite runs on (elsewhere: float32,
        // with a warning); the asserted margins hold in both precisions (see each test's measurements).
        Precision = NumericPrecision.Bf16,
        // Other test classes set one torch thread process-wide; the figures here were measured with one thread a core.
        NumberOfThreads = Environment.ProcessorCount,
    };

    /// <summary>Fits and scores; both the label and the baseline map to keys with the training tags' KeyValues.</summary>
    private (IDataView Scored, TimeSpan Fit, TimeSpan Score) FitAndScore(MLContext ml, List<Sentence> train, List<Sentence> test)
    {
        var tagNames = ml.Data.LoadFromEnumerable(train.SelectMany(s => s.Tags).Distinct().Select(t => new TagName { Value = t }));
        var keys = ml.Transforms.Conversion.MapValueToKey(nameof(Sentence.Tags), keyData: tagNames)
            .Append(ml.Transforms.Conversion.MapValueToKey(nameof(Sentence.Baseline), keyData: tagNames));
        var trainView = ml.Data.LoadFromEnumerable(train);
        Assert.Equal("Vector<String>", trainView.Schema[nameof(Sentence.Words)].Type.ToString());
        var pipeline = keys.Append(ml.MulticlassClassification.Trainers.BertTokenClassification(Options()));
        var clock = Stopwatch.StartNew();
        var model = pipeline.Fit(trainView);
        var fit = clock.Elapsed;
        clock.Restart();
        // Materialized, so that the scoring time is measured here and both evaluations read the same predictions.
        var scored = ml.Data.Cache(model.Transform(ml.Data.LoadFromEnumerable(test)));
        _ = scored.GetColumn<VBuffer<float>>(scored.Schema["Score"]).Count();
        return (scored, fit, clock.Elapsed);
    }

    private void Log(string name, EntityMetrics m)
    {
        output.WriteLine($"{name}: entity F1 {m.F1:F4} (precision {m.Precision:F4}, recall {m.Recall:F4}), token accuracy {m.TokenAccuracy:F4}");
        foreach (var (type, t) in m.PerEntityType)
            output.WriteLine($"  {type}: F1 {t.F1:F4} (precision {t.Precision:F4}, recall {t.Recall:F4}, support {t.Support})");
    }

    [Fact]
    public void NerOnEwtBeatsTheMemorizationBaselineByTwentyPointsOfEntityF1()
    {
        var ml = new MLContext(seed: 1);
        var train = ReadConll("samples", "data", "ner-ewt", "train.conll");
        var test = ReadConll("samples", "data", "ner-ewt", "test.conll");
        Assert.Equal((1500, 500), (train.Count, test.Count));
        Memorize(train, test, "O");
        var (scored, fit, score) = FitAndScore(ml, train, test);
        var tuned = ml.MulticlassClassification.EvaluateEntities(scored, nameof(Sentence.Tags), "PredictedLabel");
        var baseline = ml.MulticlassClassification.EvaluateEntities(scored, nameof(Sentence.Tags), nameof(Sentence.Baseline));
        Log("fine-tuned", tuned);
        Log("memorization baseline", baseline);
        output.WriteLine($"fit {fit.TotalSeconds:F0} s, scoring {score.TotalSeconds:F1} s");
        // Measured (3 epochs, LR 1e-4, batch 16, seed 1): entity F1 0.633 (PER 0.781, LOC 0.639, ORG 0.299) against the
        // baseline's 0.305 (PER 0.207, LOC 0.471, ORG 0.208); token accuracy 0.966 against 0.942; the fit took 87 s on 2 quiet cores, and the figures repeat exactly. MiniLM's vocabulary is
        // lower-cased, so capitalisation, the strongest cue for names, is lost; ORG (171 training entities) stays weak.
        // In bf16 (the same recipe): entity F1 0.6293 (PER 0.7745, LOC 0.6351, ORG 0.2991) against the same baseline 0.3045;
        // token accuracy 0.9650. Its fit took 1,318 s at load 9 to 14, too loaded to say what bf16 saves here.
        Assert.Equal(["LOC", "ORG", "PER"], tuned.PerEntityType.Keys.Order().ToArray());
        Assert.True(tuned.F1 >= baseline.F1 + 0.20, $"fine-tuned entity F1 {tuned.F1:F4}, baseline {baseline.F1:F4}");
    }

    [Fact]
    public void PosOnEwtBeatsTheMemorizationBaselineInTokenAccuracy()
    {
        var ml = new MLContext(seed: 1);
        var train = ReadConll("samples", "data", "pos-ewt", "train.conll");
        var test = ReadConll("samples", "data", "pos-ewt", "test.conll");
        Assert.Equal((1500, 500), (train.Count, test.Count));
        // Unseen words get the most frequent tag of the training data (NOUN in EWT), the usual form of this baseline.
        string common = train.SelectMany(s => s.Tags).GroupBy(t => t).MaxBy(g => g.Count())!.Key;
        Memorize(train, test, common);
        var (scored, fit, score) = FitAndScore(ml, train, test);
        var named = ml.Transforms.Conversion.MapKeyToValue("TagNames", nameof(Sentence.Tags))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedTags", "PredictedLabel")).Fit(scored).Transform(scored);
        var rows = ml.Data.CreateEnumerable<Named>(named, reuseRowObject: false).ToList();
        Assert.Equal(test.Count, rows.Count);
        long words = 0, tunedRight = 0, baselineRight = 0;
        for (int r = 0; r < rows.Count; r++)
        {
            Assert.Equal(test[r].Tags, rows[r].TagNames);
            Assert.Equal(test[r].Words.Length, rows[r].PredictedTags.Length);
            for (int w = 0; w < test[r].Words.Length; w++)
            {
                words++;
                if (rows[r].PredictedTags[w] == test[r].Tags[w]) tunedRight++;
                if (test[r].Baseline[w] == test[r].Tags[w]) baselineRight++;
            }
        }
        double tuned = (double)tunedRight / words, baseline = (double)baselineRight / words;
        output.WriteLine($"POS token accuracy over {words} words: fine-tuned {tuned:F4}, memorization baseline {baseline:F4} (unseen words -> {common}); " +
            $"fit {fit.TotalSeconds:F0} s, scoring {score.TotalSeconds:F1} s");
        // Measured (same recipe): 0.939 against the baseline's 0.803 over 5,917 words; the fit took 95 s on 2 quiet cores.
        // In bf16: 0.9387 against 0.8029 (its fit took 1,449 s at load 7 to 14, too loaded to time bf16 by).
        Assert.True(tuned >= baseline + 0.05, $"fine-tuned accuracy {tuned:F4}, baseline {baseline:F4}");
    }
}
