using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Checkpoints;
using MLNetTuning.Models;
using Xunit.Abstractions;

namespace MLNetTuning.Tests;

/// <summary>One tiny random checkpoint folder per family for the whole class.</summary>
public sealed class TinyFamilyFolders : IDisposable
{
    private readonly Dictionary<string, string> _folders = new();

    public string Folder(string modelType)
    {
        lock (_folders)
        {
            if (!_folders.TryGetValue(modelType, out var folder)) _folders[modelType] = folder = TinyFamilyCheckpoint.Create(modelType, seed: 5);
            return folder;
        }
    }

    public void Dispose()
    {
        foreach (var folder in _folders.Values) Directory.Delete(Path.GetDirectoryName(folder)!, recursive: true);
    }
}

/// <summary>
/// Every task through the public API with every new family (RoBERTa, XLM-RoBERTa, DistilBERT) on tiny random checkpoints:
/// it trains (the loss falls), scores, saves into a model zip and loads with identical scores, and exports a Hugging Face
/// folder with the family's own config and key names that loads strictly again.
/// </summary>
[Collection(TinyBertEstimatorCollection.Name)]
public sealed class FamilyTaskTests(TinyFamilyFolders tiny, ITestOutputHelper output) : IClassFixture<TinyFamilyFolders>, IDisposable
{
    private readonly MLContext _ml = new(seed: 1);
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-family-tasks-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    public static TheoryData<string> Families => new() { "roberta", "xlm-roberta", "distilbert" };

    private BertFineTuneOptions Options(string family, BertTask task, int epochs = 4)
    {
        var options = TextData.Options(tiny.Folder(family), task, epochs);
        options.WarmupRatio = 0;
        return options;
    }

    /// <summary>The loss of the last steps is below that of the first: the family's model learns through the loop.</summary>
    private void AssertLearned(BertFineTuneTransformer model, string what)
    {
        var losses = model.History.Steps.Select(s => s.Loss).ToList();
        int k = Math.Max(1, losses.Count / 4);
        double first = losses.Take(k).Average(), last = losses.TakeLast(k).Average();
        output.WriteLine($"{what}: {losses.Count} steps, loss {first:F3} → {last:F3}");
        Assert.True(last < first, $"{what}: the loss did not fall ({first:F3} → {last:F3})");
    }

    /// <summary>Saves the chain into a zip, loads it in this process and scores <paramref name="data"/> identically.</summary>
    private void AssertZipRoundTrip<T>(ITransformer model, IDataView data, string column)
    {
        string zip = Path.Combine(_scratch, $"model-{Guid.NewGuid():N}.zip");
        _ml.Model.Save(model, data.Schema, zip);
        var loaded = new MLContext(seed: 2).Model.Load(zip, out _);
        Assert.Equal(model.Transform(data).GetColumn<T>(column).ToArray(), loaded.Transform(data).GetColumn<T>(column).ToArray());
        (loaded as IDisposable)?.Dispose();
    }

    /// <summary>Exports the model and checks config.json and the keys carry the family's names, and that the folder loads strictly.</summary>
    private void AssertExport(BertFineTuneTransformer model, string family, string architecture, params string[] headKeys)
    {
        string folder = Path.Combine(_scratch, "hf-" + Guid.NewGuid().ToString("N"));
        model.ExportHuggingFaceFolder(folder);
        var json = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!;
        Assert.Equal(family, json["model_type"]!.GetValue<string>());
        Assert.Equal(architecture, json["architectures"]![0]!.GetValue<string>());
        if (family == "distilbert") Assert.NotNull(json["dim"]);
        else Assert.NotNull(json["hidden_size"]);
        using var pretrained = HuggingFaceFolder.Load(folder);
        var prefix = ModelFamilies.Of(pretrained.Config).Prefix + ".";
        Assert.All(pretrained.Weights.Keys.Where(k => !headKeys.Any(h => k.StartsWith(h + ".", StringComparison.Ordinal))), k => Assert.StartsWith(prefix, k));
        foreach (var head in headKeys) Assert.Contains(head + ".weight", pretrained.Weights.Keys);
        // A strict load: every key of the exported folder fits the family's head model and nothing is missing.
        var task = model.FineTuned.Model;
        using var reloaded = (BertTaskModel)Activator.CreateInstance(task.GetType(), pretrained.Config, null)!;
        pretrained.LoadTaskModelInto(reloaded);
        Assert.Equal(task.GetType(), reloaded.GetType());
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Multiclass(string family)
    {
        var train = _ml.Data.LoadFromEnumerable(TextData.Topics(120, seed: 1));
        var chain = _ml.Transforms.Conversion.MapValueToKey("Label").Append(new BertFineTuneEstimator(_ml, Options(family, BertTask.MulticlassClassification, epochs: 6))).Fit(train);
        AssertLearned(chain.LastTransformer, $"{family} multiclass");
        var test = _ml.Data.LoadFromEnumerable(TextData.Topics(30, seed: 2));
        var metrics = _ml.MulticlassClassification.Evaluate(chain.Transform(test));
        output.WriteLine($"{family} multiclass: accuracy {metrics.MicroAccuracy:F3}, log-loss {metrics.LogLoss:F3}");
        AssertZipRoundTrip<float[]>(chain, test, "Score");
        string prefix = family == "distilbert" ? "DistilBert" : family == "roberta" ? "Roberta" : "XLMRoberta";
        AssertExport(chain.LastTransformer, family, prefix + "ForSequenceClassification",
            family == "roberta" || family == "xlm-roberta" ? ["classifier.dense", "classifier.out_proj"] : family == "distilbert" ? ["pre_classifier", "classifier"] : ["classifier"]);
        chain.LastTransformer.Dispose();
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Binary_LearnsSpamOrWork(string family)
    {
        using var model = _ml.BinaryClassification.Trainers.BertFineTune(Options(family, BertTask.BinaryClassification, epochs: 6))
            .Fit(_ml.Data.LoadFromEnumerable(TextData.SpamOrWork(96, seed: 1)));
        AssertLearned(model, $"{family} binary");
        var test = _ml.Data.LoadFromEnumerable(TextData.SpamOrWork(60, seed: 2));
        var metrics = _ml.BinaryClassification.Evaluate(model.Transform(test));
        output.WriteLine($"{family} binary: accuracy {metrics.Accuracy:F3}, AUC {metrics.AreaUnderRocCurve:F3}");
        Assert.True(metrics.Accuracy >= 0.8, $"{family} binary accuracy {metrics.Accuracy:F3}");
        // The fitted model scored on weights prepared for oneDNN, with every encoder layer's four products.
        var encoder = model.FineTuned.Model.Bert;
        Assert.True(encoder.ScoringOnly);
        Assert.True(encoder.Prepared!.PreparedProducts >= 4 * encoder.Layers.Count, $"{family}: {encoder.Prepared.PreparedProducts} prepared products");
        AssertZipRoundTrip<float>(model, test, "Score");
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Regression(string family)
    {
        using var model = _ml.Regression.Trainers.BertFineTune(Options(family, BertTask.Regression, epochs: 6)).Fit(_ml.Data.LoadFromEnumerable(TextData.GreatCount(96, seed: 1)));
        AssertLearned(model, $"{family} regression");
        var test = _ml.Data.LoadFromEnumerable(TextData.GreatCount(30, seed: 2));
        output.WriteLine($"{family} regression: RMSE {_ml.Regression.Evaluate(model.Transform(test)).RootMeanSquaredError:F3}");
        AssertZipRoundTrip<float>(model, test, "Score");
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void SentencePairs(string family)
    {
        var options = Options(family, BertTask.BinaryClassification, epochs: 4);
        options.SecondTextColumnName = nameof(PairRow.Second);
        using var model = new BertFineTuneEstimator(_ml, options).Fit(_ml.Data.LoadFromEnumerable(TextData.SpamThenWork(96, seed: 1)));
        AssertLearned(model, $"{family} pairs");
        var test = _ml.Data.LoadFromEnumerable(TextData.SpamThenWork(30, seed: 2));
        AssertZipRoundTrip<float>(model, test, "Score");
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void TokenClassification(string family)
    {
        var options = Options(family, BertTask.TokenClassification, epochs: 6);
        options.TextColumnName = "Words";
        options.LabelColumnName = "Tags";
        var train = _ml.Data.LoadFromEnumerable(TokenClassificationTests.Sentences(96, seed: 1));
        var chain = _ml.Transforms.Conversion.MapValueToKey("Tags").Append(_ml.MulticlassClassification.Trainers.BertTokenClassification(options)).Fit(train);
        AssertLearned(chain.LastTransformer, $"{family} token classification");
        var test = _ml.Data.LoadFromEnumerable(TokenClassificationTests.Sentences(20, seed: 2));
        var predicted = chain.Transform(test).GetColumn<uint[]>("PredictedLabel").ToArray();
        var words = test.GetColumn<string[]>("Words").ToArray();
        Assert.All(predicted.Zip(words), p => Assert.Equal(p.Second.Length, p.First.Length));   // one tag per word
        AssertZipRoundTrip<uint[]>(chain, test, "PredictedLabel");
        string prefix = family == "distilbert" ? "DistilBert" : family == "roberta" ? "Roberta" : "XLMRoberta";
        AssertExport(chain.LastTransformer, family, prefix + "ForTokenClassification", "classifier");
        chain.LastTransformer.Dispose();
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void QuestionAnswering(string family)
    {
        var options = Options(family, BertTask.QuestionAnswering, epochs: 4);
        options.DocumentStride = 8;
        using var model = _ml.MulticlassClassification.Trainers.BertQuestionAnswering(options)
            .Fit(_ml.Data.LoadFromEnumerable(QuestionAnsweringTests.Rows(64, seed: 1)));
        AssertLearned(model, $"{family} question answering");
        var rows = QuestionAnsweringTests.Rows(10, seed: 2);
        var test = _ml.Data.LoadFromEnumerable(rows);
        var answers = model.Transform(test).GetColumn<string>("PredictedAnswer").ToArray();
        // Every answer is text of its own context (offsets map back into the original string).
        Assert.All(answers.Zip(rows), a => Assert.Contains(a.First, a.Second.Context));
        AssertZipRoundTrip<string>(model, test, "PredictedAnswer");
        string prefix = family == "distilbert" ? "DistilBert" : family == "roberta" ? "Roberta" : "XLMRoberta";
        AssertExport(model, family, prefix + "ForQuestionAnswering", "qa_outputs");
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void MultiLabel(string family)
    {
        // MultiLabelTests' data and recipe: the heads start at the labels' prior, so the loss falls only when the encoder learns.
        var schema = SchemaDefinition.Create(typeof(MultiLabelTests.BoolSetRow));
        schema[nameof(MultiLabelTests.BoolSetRow.Label)].AddAnnotation("SlotNames", new VBuffer<ReadOnlyMemory<char>>(2, ["spam".AsMemory(), "work".AsMemory()]),
            new VectorDataViewType(TextDataViewType.Instance, 2));
        using var model = _ml.MulticlassClassification.Trainers.BertMultiLabel(Options(family, BertTask.MultiLabelClassification, epochs: 20))
            .Fit(_ml.Data.LoadFromEnumerable(MultiLabelTests.Rows(200, seed: 1), schema));
        AssertLearned(model, $"{family} multi-label");
        var test = _ml.Data.LoadFromEnumerable(MultiLabelTests.Rows(40, seed: 2), schema);
        output.WriteLine($"{family} multi-label: micro F1 {_ml.MulticlassClassification.EvaluateMultiLabel(model.Transform(test)).MicroF1:F3}");
        AssertZipRoundTrip<float[]>(model, test, "Score");
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void EmbeddingsFeaturizer_EmbedsWithTheFamilysEncoder_AndRoundTripsThroughAZip(string family)
    {
        var data = _ml.Data.LoadFromEnumerable(TextData.Topics(12, seed: 3));
        var model = _ml.Transforms.Text.BertEmbeddings("Embedding", "Text", tiny.Folder(family), BertPooling.Mean, normalize: true, maxSequenceLength: 32, batchSize: 5).Fit(data);
        var embeddings = model.Transform(data).GetColumn<float[]>("Embedding").ToArray();
        Assert.All(embeddings, e => Assert.Equal(32, e.Length));
        Assert.All(embeddings, e => Assert.Equal(1.0, Math.Sqrt(e.Sum(x => (double)x * x)), 4));
        Assert.NotEqual(embeddings[0], embeddings[1]);
        AssertZipRoundTrip<float[]>(model, data, "Embedding");
        model.Dispose();
    }
}
