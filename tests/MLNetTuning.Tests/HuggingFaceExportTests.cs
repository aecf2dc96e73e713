using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Checkpoints;
using MLNetTuning.Models;
using MLNetTuning.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

/// <summary>
/// The user's path through <see cref="BertFineTuneTransformer.ExportHuggingFaceFolder(string)"/>: fit a tiny model, export it,
/// read the folder back as Python would (config.json, model.safetensors, a BertForSequenceClassification built from them)
/// and compare its raw head output with what the transformer scores.
/// </summary>
[Collection(TinyBertEstimatorCollection.Name)]
public sealed class HuggingFaceExportTests(TinyBertFixture tiny, ITestOutputHelper output) : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-export-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    /// <summary>Labels far from mean 0 and scale 1 (mean about 100, standard deviation about 28), so that an unfolded head is far off.</summary>
    private static FloatRow[] Hundreds(int count, int seed) =>
        TextData.GreatCount(count, seed).Select(r => new FloatRow { Text = r.Text, Label = 60 + 20 * r.Label }).ToArray();

    /// <summary>The exported folder as a plain sequence classifier: raw head outputs [N, K], in the transformer's 32-row batches.</summary>
    private static float[][] RawHeadOutputs(string folder, string?[] texts)
    {
        using var pretrained = HuggingFaceFolder.Load(folder);
        var classifier = new BertForSequenceClassification(pretrained.Config);
        pretrained.LoadTaskModelInto(classifier);
        // Regression with mean 0 and scale 1 adds nothing to the head's output.
        using var reloaded = new FineTunedBert(classifier, pretrained.Tokenizer, BertTask.Regression, 32, 32, 0, 1, new TrainingHistory(), CPU);
        int k = pretrained.Config.NumLabels;
        return texts.Chunk(32).SelectMany(chunk => reloaded.Score(chunk, null).Chunk(k)).ToArray();
    }

    private static JsonObject ReadConfig(string folder) => JsonNode.Parse(File.ReadAllText(Path.Combine(folder, HuggingFaceFolder.ConfigFile)))!.AsObject();

    [Fact]
    public void Regression_ExportedHead_PredictsInLabelUnits_AndTheModelInMemoryIsUnchanged()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Hundreds(160, seed: 5));
        var test = ml.Data.LoadFromEnumerable(Hundreds(40, seed: 6));
        using var model = ml.Regression.Trainers.BertFineTune(TextData.Options(tiny.Folder, BertTask.Regression)).Fit(train);
        float[] before = TextData.ScalarScores(model.Transform(test));
        string folder = Path.Combine(_scratch, "regression");

        model.ExportHuggingFaceFolder(folder);

        var config = ReadConfig(folder);
        Assert.Equal("regression", (string?)config["problem_type"]);
        Assert.Equal("Score", (string?)config["id2label"]!["0"]);
        float[] exported = RawHeadOutputs(folder, test.GetColumn<string>("Text").ToArray()).Select(row => Assert.Single(row)).ToArray();
        output.WriteLine($"scores {before.Min():F2} .. {before.Max():F2}; max |exported - Score| {before.Zip(exported, (a, b) => Math.Abs(a - b)).Max():E2}");
        // The transformer's scores are in label units (far from the standardised -3..3), so an unfolded head would be ~100 off.
        Assert.True(before.Average() > 50, $"mean score {before.Average()}");
        TensorAsserts.AssertScoresAgree(before, exported, tolerance: 1e-5f);
        // Folding happened on a copy: the transformer still scores exactly as before, and its own head is still standardised.
        Assert.Equal(before, TextData.ScalarScores(model.Transform(test)));
        Assert.Equal(BertTask.Regression, model.FineTuned.Task.Kind);
        Assert.NotEqual(1f, model.FineTuned.Task.LabelScaling.Scale);
    }

    [Fact]
    public void Binary_ExportedHead_HasTwoLogitsWhoseSoftmaxIsTheProbability_AndNamesBothClasses()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(160, seed: 3));
        var test = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(40, seed: 4));
        using var model = ml.BinaryClassification.Trainers.BertFineTune(TextData.Options(tiny.Folder, BertTask.BinaryClassification)).Fit(train);
        var scored = model.Transform(test);
        float[] scores = TextData.ScalarScores(scored);
        float[] probabilities = scored.GetColumn<float>("Probability").ToArray();
        string folder = Path.Combine(_scratch, "binary");

        model.ExportHuggingFaceFolder(folder);

        var config = ReadConfig(folder);
        Assert.Equal("single_label_classification", (string?)config["problem_type"]);
        Assert.Equal(["0", "1"], config["id2label"]!.AsObject().Select(kv => kv.Key));
        Assert.Equal("False", (string?)config["id2label"]!["0"]);
        Assert.Equal("True", (string?)config["id2label"]!["1"]);
        Assert.Equal(1, (int)config["label2id"]!["True"]!);
        using (var pretrained = HuggingFaceFolder.Load(folder)) Assert.Equal(2, pretrained.Config.NumLabels);
        var weights = SafeTensors.Load(Path.Combine(folder, SafeTensors.SingleFileName));
        try
        {
            Assert.Equal([2L, 32L], weights["classifier.weight"].shape);
            Assert.Equal([2L], weights["classifier.bias"].shape);
            // Class 0's logit is always 0, so softmax over [0, z] is [1 - sigmoid(z), sigmoid(z)].
            Assert.Equal(0f, weights["classifier.weight"][0].abs().sum().item<float>());
            Assert.Equal(0f, weights["classifier.bias"][0].item<float>());
        }
        finally { TensorAsserts.DisposeAll(weights); }

        float[][] logits = RawHeadOutputs(folder, test.GetColumn<string>("Text").ToArray());
        float[] exportedProbability = SequenceClassificationTask.Softmax([.. logits.SelectMany(l => l)], 2).Where((_, i) => i % 2 == 1).ToArray();
        output.WriteLine($"max |softmax(exported)[1] - Probability| {probabilities.Zip(exportedProbability, (a, b) => Math.Abs(a - b)).Max():E2}");
        Assert.All(logits, l => Assert.Equal(0f, l[0]));
        TensorAsserts.AssertScoresAgree(scores, logits.Select(l => l[1]).ToArray());
        for (int i = 0; i < probabilities.Length; i++)
            Assert.True(Math.Abs(probabilities[i] - exportedProbability[i]) <= 1e-6, $"row {i}: Probability {probabilities[i]}, exported softmax {exportedProbability[i]}");
        Assert.Contains(probabilities, p => p > 0.5f);
        Assert.Contains(probabilities, p => p < 0.5f);

        // The model in memory keeps its one-logit head and still scores as before.
        Assert.Equal(1, model.FineTuned.Config.NumLabels);
        Assert.Equal(scores, TextData.ScalarScores(model.Transform(test)));

        // Class names from the caller (the CLI knows them from the data file).
        model.ExportHuggingFaceFolder(folder, ["ham", "spam"]);
        Assert.Equal("ham", (string?)ReadConfig(folder)["id2label"]!["0"]);
        Assert.Equal("spam", (string?)ReadConfig(folder)["id2label"]!["1"]);
        var e = Assert.Throws<ArgumentException>(() => model.ExportHuggingFaceFolder(folder, ["spam", "spam"]));
        Assert.Contains("two class names", e.Message);
        Assert.Equal("spam", (string?)ReadConfig(folder)["id2label"]!["1"]);

        // The exported folder is also a starting point: fine-tuning again from it (its 2-logit head is replaced) works.
        var again = TextData.Options(folder, BertTask.BinaryClassification, epochs: 1);
        using var retrained = ml.BinaryClassification.Trainers.BertFineTune(again).Fit(train);
        Assert.All(retrained.Transform(test).GetColumn<float>("Probability"), p => Assert.InRange(p, 0f, 1f));
        var multiclass = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(new BertFineTuneEstimator(ml, TextData.Options(folder, BertTask.MulticlassClassification, epochs: 1)))
            .Fit(ml.Data.LoadFromEnumerable(TextData.Topics(30, seed: 1)));
        using (multiclass.LastTransformer) Assert.Equal(TextData.TopicNames, multiclass.LastTransformer.ClassNames);
    }

    [Fact]
    public void Export_OverAnExistingFolder_IsNeverMissing_AndLeavesTheNewContentOnly()
    {
        var bert = tiny.Multiclass.Model.LastTransformer;
        string folder = Path.Combine(_scratch, "hf");
        string config = Path.Combine(folder, HuggingFaceFolder.ConfigFile);
        bert.ExportHuggingFaceFolder(folder);
        File.WriteAllText(Path.Combine(folder, "stale.txt"), "from an earlier export");

        // A reader polls the folder as fast as it can while the same path is exported over again and again.
        int stop = 0;
        long polls = 0, missing = 0;
        var watcher = new Thread(() =>
        {
            while (Volatile.Read(ref stop) == 0)
            {
                polls++;
                if (!Directory.Exists(folder) || !File.Exists(config)) missing++;
            }
        });
        watcher.Start();
        const int exports = 30;
        try
        {
            for (int i = 0; i < exports; i++) bert.ExportHuggingFaceFolder(folder);
        }
        finally
        {
            Volatile.Write(ref stop, 1);
            watcher.Join();
        }
        output.WriteLine($"{exports} exports, {polls:N0} polls, {missing} saw no folder");

        Assert.True(polls > exports, $"the watcher polled only {polls} times");
        Assert.Equal(0, missing);
        Assert.False(File.Exists(Path.Combine(folder, "stale.txt")));
        Assert.Equal([folder], Directory.GetFileSystemEntries(_scratch));   // no temp or retired folder beside it
        using var pretrained = HuggingFaceFolder.Load(folder);
        Assert.Equal(TextData.TopicNames, pretrained.Config.Labels);
        foreach (var (key, value) in bert.FineTuned.Model.state_dict())
            TensorAsserts.AssertBitEqual(value, pretrained.Weights[key], key);
    }
}
