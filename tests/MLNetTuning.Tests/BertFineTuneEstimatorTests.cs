using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Checkpoints;
using MLNetTuning.MlNet;
using MLNetTuning.Models;
using MLNetTuning.Training;
using Xunit.Abstractions;

namespace MLNetTuning.Tests;

[Collection(TinyBertEstimatorCollection.Name)]
public sealed class BertFineTuneEstimatorTests(TinyBertFixture tiny, ITestOutputHelper output) : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-estimator-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    [Fact]
    public void Multiclass_LearnsTopics_EvaluatesWithMeaningfulLogLoss_AndMapsKeysBackToStrings()
    {
        var run = tiny.Multiclass;
        var scored = run.Model.Transform(run.Test);
        var metrics = run.Ml.MulticlassClassification.Evaluate(scored);
        output.WriteLine($"micro accuracy {metrics.MicroAccuracy:F3}, log loss {metrics.LogLoss:F3}");
        Assert.True(metrics.MicroAccuracy > 0.9, $"accuracy {metrics.MicroAccuracy}");
        Assert.InRange(metrics.LogLoss, 1e-6, Math.Log(3));

        var score = scored.Schema["Score"];
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, 3), score.Type);
        VBuffer<ReadOnlyMemory<char>> slotNames = default;
        score.GetSlotNames(ref slotNames);
        Assert.Equal(TextData.TopicNames, slotNames.DenseValues().Select(s => s.ToString()));
        Assert.Equal(TextData.TopicNames, run.Model.LastTransformer.ClassNames);

        var predicted = scored.Schema["PredictedLabel"];
        Assert.Equal(new KeyDataViewType(typeof(uint), 3), predicted.Type);
        VBuffer<ReadOnlyMemory<char>> keyValues = default;
        predicted.GetKeyValues(ref keyValues);
        Assert.Equal(TextData.TopicNames, keyValues.DenseValues().Select(s => s.ToString()));

        float[][] probabilities = TextData.Scores(scored);
        Assert.All(probabilities, p => { Assert.Equal(1f, p.Sum(), 5); Assert.All(p, x => Assert.InRange(x, 0f, 1f)); });
        var mapped = run.Ml.Transforms.Conversion.MapKeyToValue("PredictedText", "PredictedLabel").Fit(scored).Transform(scored);
        string[] predictedText = mapped.GetColumn<string>("PredictedText").ToArray();
        Assert.Equal(probabilities.Select(p => TextData.TopicNames[Array.IndexOf(p, p.Max())]), predictedText);
        string[] truth = run.Test.GetColumn<string>("Label").ToArray();
        Assert.Equal(metrics.MicroAccuracy, predictedText.Zip(truth, (p, t) => p == t ? 1.0 : 0).Average(), 6);
    }

    [Fact]
    public void Binary_ScoreIsRaw_ProbabilityIsItsSigmoid_AndEvaluateGivesAucAndLogLoss()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(200, seed: 3));
        var test = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(80, seed: 4));
        using var model = ml.BinaryClassification.Trainers.BertFineTune(TextData.Options(tiny.Folder, BertTask.MulticlassClassification)).Fit(train);
        Assert.Equal(BertTask.BinaryClassification, model.Task);   // the catalog sets the task
        Assert.Empty(model.ClassNames);

        var scored = model.Transform(test);
        Assert.Equal(NumberDataViewType.Single, scored.Schema["Score"].Type);
        Assert.Equal(BooleanDataViewType.Instance, scored.Schema["PredictedLabel"].Type);
        float[] scores = TextData.ScalarScores(scored);
        float[] probabilities = scored.GetColumn<float>("Probability").ToArray();
        bool[] labels = scored.GetColumn<bool>("PredictedLabel").ToArray();
        Assert.Contains(scores, s => s < 0 || s > 1);   // raw logits, not probabilities
        for (int i = 0; i < scores.Length; i++)
        {
            Assert.Equal(1 / (1 + Math.Exp(-scores[i])), probabilities[i], 6);
            Assert.Equal(probabilities[i] > 0.5f, labels[i]);
        }
        var metrics = ml.BinaryClassification.Evaluate(scored);
        output.WriteLine($"AUC {metrics.AreaUnderRocCurve:F3}, log loss {metrics.LogLoss:F3}, accuracy {metrics.Accuracy:F3}");
        Assert.True(metrics.AreaUnderRocCurve > 0.95, $"AUC {metrics.AreaUnderRocCurve}");
        Assert.True(metrics.LogLoss is > 0 and < 0.5, $"log loss {metrics.LogLoss}");
    }

    [Fact]
    public void Regression_CountsGreatWords_EvaluateWorks()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(TextData.GreatCount(240, seed: 5));
        var test = ml.Data.LoadFromEnumerable(TextData.GreatCount(80, seed: 6));
        var options = TextData.Options(tiny.Folder, BertTask.Regression, epochs: 5);
        using var trained = ml.Regression.Trainers.BertFineTune(options).Fit(train);
        var scored = trained.Transform(test);
        var metrics = ml.Regression.Evaluate(scored);
        float[] labels = test.GetColumn<float>("Label").ToArray();
        double std = Math.Sqrt(labels.Average(l => Math.Pow(l - labels.Average(), 2)));
        output.WriteLine($"R² {metrics.RSquared:F3}, RMSE {metrics.RootMeanSquaredError:F3}, label std {std:F3}");
        Assert.True(metrics.RSquared > 0.5, $"R² {metrics.RSquared}");
        Assert.True(metrics.RootMeanSquaredError < std / 2, $"RMSE {metrics.RootMeanSquaredError} vs std {std}");
        // Scores come back in label units, not the standardised training scale.
        Assert.InRange(TextData.ScalarScores(scored).Average(), 1.0, 3.0);
    }

    [Fact]
    public void SentencePairs_LearnAnOrderDependentRelation()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(TextData.SpamThenWork(320, seed: 7));
        var test = ml.Data.LoadFromEnumerable(TextData.SpamThenWork(80, seed: 8));
        var options = TextData.Options(tiny.Folder, BertTask.BinaryClassification, epochs: 6);
        options.SecondTextColumnName = "Second";
        using var model = new BertFineTuneEstimator(ml, options).Fit(train);
        var metrics = ml.BinaryClassification.Evaluate(model.Transform(test));
        output.WriteLine($"pair AUC {metrics.AreaUnderRocCurve:F3}, accuracy {metrics.Accuracy:F3}");
        Assert.True(metrics.AreaUnderRocCurve > 0.95, $"AUC {metrics.AreaUnderRocCurve}");

        // Both texts, and which one comes first, matter: the same two sentences swapped flip the prediction.
        var swapped = ml.Data.LoadFromEnumerable(new[]
        {
            new PairRow { Text = "free money now", Second = "team meeting tomorrow" },
            new PairRow { Text = "team meeting tomorrow", Second = "free money now" },
        });
        Assert.Equal([true, false], model.Transform(swapped).GetColumn<bool>("PredictedLabel"));
    }

    [Fact]
    public void CatalogShortcuts_BuildEstimatorsForTheirTask_WithTheDocumentedDefaults()
    {
        var ml = new MLContext(seed: 1);
        var topics = ml.Data.LoadFromEnumerable(TextData.Topics(24, seed: 9));
        var multiclass = ml.MulticlassClassification.Trainers.BertFineTune(model: tiny.Folder, epochs: 1);
        using (var model = ml.Transforms.Conversion.MapValueToKey("Label").Append(multiclass).Fit(topics).LastTransformer)
        {
            Assert.Equal(BertTask.MulticlassClassification, model.Task);
            Assert.Equal(TextData.TopicNames, model.ClassNames);
            Assert.Equal(2, model.History.Steps.Count);   // one epoch of 24 rows in batches of 16 (the default)
        }
        using (var model = ml.BinaryClassification.Trainers.BertFineTune(model: tiny.Folder, epochs: 1).Fit(ml.Data.LoadFromEnumerable(TextData.SpamOrWork(16, seed: 9))))
            Assert.Equal(BertTask.BinaryClassification, model.Task);
        var counts = ml.Data.LoadFromEnumerable(TextData.GreatCount(16, seed: 9));
        using (var model = ml.Regression.Trainers.BertFineTune(labelColumnName: "Label", textColumnName: "Text", model: tiny.Folder, epochs: 2).Fit(counts))
        {
            Assert.Equal(BertTask.Regression, model.Task);
            Assert.Equal([1, 2], model.History.Steps.Select(s => s.Epoch));
            Assert.Equal(16, TextData.ScalarScores(model.Transform(counts)).Length);
        }
    }

    [Theory]
    [InlineData(BertTask.MulticlassClassification)]
    [InlineData(BertTask.BinaryClassification)]
    [InlineData(BertTask.Regression)]
    public void EstimatorOutputSchema_WithoutData_MatchesWhatTheFittedModelProduces(BertTask task)
    {
        var ml = new MLContext(seed: 1);
        IDataView data = task switch
        {
            BertTask.MulticlassClassification => ml.Data.LoadFromEnumerable(TextData.Topics(24, seed: 10)),
            BertTask.BinaryClassification => ml.Data.LoadFromEnumerable(TextData.SpamOrWork(24, seed: 10)),
            _ => ml.Data.LoadFromEnumerable(TextData.GreatCount(24, seed: 10)),
        };
        var options = TextData.Options(tiny.Folder, task, epochs: 1);
        IEstimator<ITransformer> pipeline = task == BertTask.MulticlassClassification
            ? ml.Transforms.Conversion.MapValueToKey("Label").Append(new BertFineTuneEstimator(ml, options))
            : new BertFineTuneEstimator(ml, options);

        SchemaShape shape = pipeline.GetOutputSchema(MlNetSchemaShapes.FromSchema(data.Schema));

        string[] expectedOutputs = task switch
        {
            BertTask.MulticlassClassification => ["Score", "PredictedLabel"],
            BertTask.BinaryClassification => ["Score", "Probability", "PredictedLabel"],
            _ => ["Score"],
        };
        Assert.Equal(["Text", "Label", .. expectedOutputs], shape.Select(c => c.Name));
        var scoreShape = shape.Single(c => c.Name == "Score");
        Assert.Equal(NumberDataViewType.Single, scoreShape.ItemType);
        Assert.Equal(task == BertTask.MulticlassClassification ? SchemaShape.Column.VectorKind.Vector : SchemaShape.Column.VectorKind.Scalar, scoreShape.Kind);
        if (task != BertTask.Regression)
        {
            var label = shape.Single(c => c.Name == "PredictedLabel");
            Assert.Equal(task == BertTask.MulticlassClassification, label.IsKey);
            Assert.Equal(task == BertTask.MulticlassClassification ? NumberDataViewType.UInt32 : BooleanDataViewType.Instance, label.ItemType);
        }

        var model = pipeline.Fit(data);
        var transformed = model.Transform(data);
        DataViewSchema predictedSchema = model.GetOutputSchema(data.Schema);
        Assert.Equal(transformed.Schema.Select(c => (c.Name, c.Type)), predictedSchema.Select(c => (c.Name, c.Type)));
        var actualShape = MlNetSchemaShapes.FromSchema(transformed.Schema);
        Assert.Equal(actualShape.Select(c => (c.Name, c.Kind, c.ItemType, c.IsKey)), shape.Select(c => (c.Name, c.Kind, c.ItemType, c.IsKey)));
        (model as IDisposable)?.Dispose();
        (model as TransformerChain<BertFineTuneTransformer>)?.LastTransformer.Dispose();
    }

    [Fact]
    public void SaveAndLoad_InProcess_GivesIdenticalScores_KeepsHistory_AndStoresTheWeightsOnce()
    {
        var run = tiny.Multiclass;
        string zip = Path.Combine(_scratch, "model.zip");
        run.Ml.Model.Save(run.Model, run.Train.Schema, zip);
        var loaded = new MLContext(seed: 9).Model.Load(zip, out var inputSchema);

        Assert.Equal(["Text", "Label"], inputSchema.Select(c => c.Name));
        Assert.Equal(TextData.Scores(run.Model.Transform(run.Test)), TextData.Scores(loaded.Transform(run.Test)));
        var loadedBert = Assert.IsType<BertFineTuneTransformer>(((TransformerChain<ITransformer>)loaded).LastTransformer);
        var history = run.Model.LastTransformer.History;
        Assert.NotEmpty(history.Steps);
        Assert.Equal(history.Steps, loadedBert.History.Steps);
        Assert.Equal(history.ExampleCounts, loadedBert.History.ExampleCounts);
        Assert.Equal(history.TrainingTime.TotalSeconds, loadedBert.History.TrainingTime.TotalSeconds, 6);
        Assert.Equal(TextData.TopicNames, loadedBert.ClassNames);

        string exported = Path.Combine(_scratch, "exported");
        run.Model.LastTransformer.ExportHuggingFaceFolder(exported);
        long weights = new FileInfo(Path.Combine(exported, "model.safetensors")).Length;
        long zipSize = new FileInfo(zip).Length;
        output.WriteLine($"safetensors {weights:N0} bytes, zip {zipSize:N0} bytes");
        Assert.InRange(zipSize, weights * 7 / 10, weights + 32 * 1024);
        using var archive = ZipFile.OpenRead(zip);
        Assert.Single(archive.Entries, e => e.Length >= weights / 2);
        loadedBert.Dispose();
    }

    [Fact]
    public void ExportedHuggingFaceFolder_ReloadsWithIdenticalLogits()
    {
        var run = tiny.Multiclass;
        var bert = run.Model.LastTransformer;
        string folder = Path.Combine(_scratch, "hf");
        bert.ExportHuggingFaceFolder(folder);

        using var pretrained = HuggingFaceFolder.Load(folder);
        Assert.Equal(TextData.TopicNames, pretrained.Config.Labels);
        var classifier = new BertForSequenceClassification(pretrained.Config);
        pretrained.LoadTaskModelInto(classifier);
        using var reloaded = new FineTunedBert(classifier, pretrained.Tokenizer, BertTask.MulticlassClassification, 32, 32, 0, 1, new TrainingHistory(), TorchSharp.torch.CPU);

        string?[] texts = run.Test.GetColumn<string>("Text").ToArray();
        float[][] expected = TextData.Scores(run.Model.Transform(run.Test));
        // Score the same 32-row batches the transformer's cursor used, so the arithmetic is the same to the bit.
        var actual = texts.Chunk(32).SelectMany(chunk => SequenceClassificationTask.Softmax(reloaded.Score(chunk, null), 3).Chunk(3)).ToArray();
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void FreshProcess_LoadsTheZip_AndReproducesTheScores()
    {
        var run = tiny.Multiclass;
        string zip = Path.Combine(_scratch, "model.zip");
        run.Ml.Model.Save(run.Model, run.Train.Schema, zip);
        string tsv = Path.Combine(_scratch, "test.tsv");
        var rows = run.Ml.Data.CreateEnumerable<TopicRow>(run.Test, reuseRowObject: false).ToArray();
        File.WriteAllLines(tsv, ["Text\tLabel", .. rows.Select(r => $"{r.Text}\t{r.Label}")]);

        JsonObject result = ZipLoaderProcess.Run(zip, tsv);

        var scored = run.Model.Transform(run.Test);
        float[][] expected = TextData.Scores(scored);
        uint[] keys = scored.GetColumn<uint>("PredictedLabel").ToArray();
        var outputRows = result["rows"]!.AsArray();
        Assert.Equal(expected.Length, outputRows.Count);
        for (int i = 0; i < outputRows.Count; i++)
        {
            TensorAsserts.AssertScoresAgree(expected[i], outputRows[i]!["Score"]!.AsArray().Select(v => v!.GetValue<float>()).ToArray());
            Assert.Equal(TextData.TopicNames[keys[i] - 1], outputRows[i]!["PredictedLabel"]!.GetValue<string>());
        }
    }

    [Fact]
    public void PredictionEngine_BindsTheKeyToUint_AndOneEnginePerThreadMatchesSequentialScoring()
    {
        var run = tiny.Multiclass;
        var texts = run.Ml.Data.CreateEnumerable<TopicRow>(run.Test, reuseRowObject: false).ToArray();
        float[][] expected = TextData.Scores(run.Model.Transform(run.Test));

        // An engine disposes the model it was made from unless told not to; the shared model must outlive these engines.
        var keep = new PredictionEngineOptions { OwnsTransformer = false };
        using (var engine = run.Ml.Model.CreatePredictionEngine<TopicRow, KeyPrediction>(run.Model, keep))
        {
            var first = engine.Predict(texts[0]);
            Assert.Equal(expected[0], first.Score, new FloatTolerance(1e-5f));
            Assert.Equal((uint)Array.IndexOf(first.Score, first.Score.Max()) + 1, first.PredictedLabel);
        }
        var withNames = run.Model.Append(run.Ml.Transforms.Conversion.MapKeyToValue("PredictedLabel").Fit(run.Model.Transform(run.Train)));
        using (var engine = run.Ml.Model.CreatePredictionEngine<TopicRow, TextPrediction>(withNames, keep))
            Assert.Equal(TextData.TopicNames[Array.IndexOf(expected[1], expected[1].Max())], engine.Predict(texts[1]).PredictedLabel);

        var sequential = new float[texts.Length][];
        using (var engine = run.Ml.Model.CreatePredictionEngine<TopicRow, KeyPrediction>(run.Model, keep))
            for (int i = 0; i < texts.Length; i++) sequential[i] = engine.Predict(texts[i]).Score;
        const int threads = 4;
        var parallel = new float[texts.Length][];
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            using var engine = run.Ml.Model.CreatePredictionEngine<TopicRow, KeyPrediction>(run.Model, keep);
            start.SignalAndWait();
            for (int i = t; i < texts.Length; i += threads) parallel[i] = engine.Predict(texts[i]).Score;
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        Assert.Equal(sequential, parallel);
    }

    [Fact]
    public void AnEngineThatOwnsTheModel_DisposesIt_AndLaterUseSaysWhy()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(32, seed: 12));
        var model = ml.BinaryClassification.Trainers.BertFineTune(TextData.Options(tiny.Folder, BertTask.BinaryClassification, epochs: 1)).Fit(data);
        using (var engine = ml.Model.CreatePredictionEngine<BoolRow, BinaryPrediction>(model))
            Assert.InRange(engine.Predict(new BoolRow { Text = "free money" }).Probability, 0f, 1f);

        // ML.NET's default (OwnsTransformer = true) freed the weights: scoring and saving must fail loudly, never write an empty checkpoint.
        var scoring = Assert.Throws<ObjectDisposedException>(() => TextData.ScalarScores(model.Transform(data)));
        Assert.Contains("OwnsTransformer = false", scoring.Message);
        var saving = Assert.ThrowsAny<Exception>(() => ml.Model.Save(model, data.Schema, Path.Combine(_scratch, "disposed.zip")));
        Assert.Contains("OwnsTransformer = false", saving.ToString());
        Assert.Throws<ObjectDisposedException>(() => model.ExportHuggingFaceFolder(Path.Combine(_scratch, "disposed")));
        Assert.False(Directory.Exists(Path.Combine(_scratch, "disposed")));
    }

    [Bf16Fact]
    public void Bf16Model_ScoresInBf16AfterReload_InProcessAndInAFreshProcess()
    {
        var ml = new MLContext(seed: 1);
        var rows = TextData.SpamOrWork(96, seed: 13);
        var data = ml.Data.LoadFromEnumerable(rows);
        var options = TextData.Options(tiny.Folder, BertTask.BinaryClassification, epochs: 6);
        options.Precision = NumericPrecision.Bf16;
        using var model = ml.BinaryClassification.Trainers.BertFineTune(options).Fit(data);
        Assert.Equal(NumericPrecision.Bf16, model.Precision);
        string zip = Path.Combine(_scratch, "bf16.zip");
        ml.Model.Save(model, data.Schema, zip);
        float[] trained = TextData.ScalarScores(model.Transform(data));

        var loaded = (BertFineTuneTransformer)new MLContext(seed: 2).Model.Load(zip, out _);
        using (loaded)
        {
            Assert.Equal(NumericPrecision.Bf16, loaded.Precision);
            Assert.Equal(trained, TextData.ScalarScores(loaded.Transform(data)));
            // A loaded model scores on prepared weights too.
            Assert.True(loaded.FineTuned.Model.Bert.Prepared!.PreparedProducts > 0);
            // The same weights in float32 score differently (2.7e-5 here; a well-trained head averages bf16's rounding out),
            // while float32 scoring is exact within a process and agrees to 2e-6 across processes: the checks tell them apart.
            loaded.FineTuned.Model.Precision = NumericPrecision.Fp32;
            float[] fp32 = TextData.ScalarScores(loaded.Transform(data));
            float gap = trained.Zip(fp32).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(gap > 1e-5, $"bf16 and fp32 scores agree to {gap} (scores {string.Join(", ", trained.Take(4))}): the precision made no difference");
            loaded.FineTuned.Model.Precision = NumericPrecision.Bf16;
        }

        string tsv = Path.Combine(_scratch, "bf16.tsv");
        File.WriteAllLines(tsv, ["Text\tLabel", .. rows.Select(r => $"{r.Text}\t{r.Label}")]);
        var child = ZipLoaderProcess.Run(zip, tsv, "Score")["rows"]!.AsArray().Select(r => (float)r!["Score"]!).ToArray();
        // Another process may use other thread counts (oneDNN's sums depend on them), but stays closer than fp32 is.
        TensorAsserts.AssertScoresAgree(trained, child);
    }

    [Fact]
    public void DisposingAnEngineWhileAnotherScores_WaitsForTheForwardPass_InAChildProcess()
    {
        // A dispose that freed the weights under a running forward pass crashes the process, so the race runs in a child.
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(32, seed: 12));
        var options = TextData.Options(tiny.Folder, BertTask.BinaryClassification, epochs: 1);
        options.MaxSequenceLength = 128;
        using var model = ml.BinaryClassification.Trainers.BertFineTune(options).Fit(data);
        string zip = Path.Combine(_scratch, "race.zip");
        ml.Model.Save(model, data.Schema, zip);

        var result = ZipLoaderProcess.RunRaw(TimeSpan.FromMinutes(3), "--dispose-race", zip, "20");
        Assert.True(result.ExitCode == 0, $"the child exited {result.ExitCode}:\n{result.Output}");
        Assert.Equal(20, result.Output.Split('\n').Count(l => l.EndsWith("then ObjectDisposedException", StringComparison.Ordinal)));
    }

    [Fact]
    public void Transform_IsLazy_AndScoresInBatchesAsTheCursorMoves()
    {
        var run = tiny.Multiclass;
        var reads = new StrongBox();
        var rows = TextData.Topics(70, seed: 11).Select((r, i) => new CountingRow(r.Text!, r.Label, i, reads)).ToArray();
        var data = run.Ml.Data.LoadFromEnumerable(rows);

        var scored = run.Model.Transform(data);
        Assert.Equal(0, reads.Count);
        Assert.Equal(Enumerable.Range(0, 70), scored.GetColumn<int>("Id"));
        Assert.Equal(0, reads.Count);   // no output asked for: no text read, nothing scored

        using var cursor = scored.GetRowCursor([scored.Schema["Score"]]);
        var getScore = cursor.GetGetter<VBuffer<float>>(scored.Schema["Score"]);
        Assert.True(cursor.MoveNext());
        VBuffer<float> score = default;
        getScore(ref score);
        Assert.Equal(32, reads.Count);   // the first batch (ScoringBatchSize 32) was read ahead and scored together
        int rowsSeen = 1;
        while (cursor.MoveNext()) rowsSeen++;
        Assert.Equal(70, rowsSeen);
        Assert.Equal(70, reads.Count);
    }

    public sealed class KeyPrediction
    {
        public float[] Score { get; set; } = [];
        public uint PredictedLabel { get; set; }
    }

    public sealed class BinaryPrediction
    {
        public float Probability { get; set; }
    }

    public sealed class TextPrediction
    {
        public string PredictedLabel { get; set; } = "";
    }

    public sealed class StrongBox
    {
        public int Count;
    }

    /// <summary>A row whose Text getter counts its calls, so a test can see when the transformer reads input.</summary>
    public sealed class CountingRow(string text, string label, int id, StrongBox reads)
    {
        public string Text
        {
            get { Interlocked.Increment(ref reads.Count); return text; }
            set => text = value;
        }

        public string Label { get; set; } = label;
        public int Id { get; set; } = id;
    }

    private sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(float obj) => 0;
    }
}
