using Microsoft.ML;
using Microsoft.ML.Data;
using Xunit.Abstractions;

namespace MLNetTuning.Tests;

/// <summary>What Fit does through the estimator: seeds, validation, early stopping, progress, logging and cancellation.</summary>
[Collection(TinyBertEstimatorCollection.Name)]
public sealed class BertFineTuneTrainingTests(TinyBertFixture tiny, ITestOutputHelper output) : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-training-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private float[] FitAndScore(MLContext ml, BertFineTuneOptions options, int trainSeed = 20)
    {
        var train = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(64, seed: trainSeed));
        var test = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(24, seed: 21));
        using var model = new BertFineTuneEstimator(ml, options).Fit(train);
        return TextData.ScalarScores(model.Transform(test));
    }

    private BertFineTuneOptions Small(int epochs = 2) => TextData.Options(tiny.Folder, BertTask.BinaryClassification, epochs);

    [Fact]
    public void SameSeedAndData_GiveBitIdenticalScores_AndADifferentSeedDoesNot()
    {
        var first = FitAndScore(new MLContext(seed: 1), Small());
        var second = FitAndScore(new MLContext(seed: 1), Small());
        var other = Small();
        other.Seed = 8;
        var third = FitAndScore(new MLContext(seed: 1), other);

        Assert.Equal(first, second);
        Assert.NotEqual(first, third);
    }

    [Fact]
    public void WithoutASeedOption_TheMLContextSeedDecides()
    {
        var options = Small();
        options.Seed = null;
        var first = FitAndScore(new MLContext(seed: 1), options);
        var second = FitAndScore(new MLContext(seed: 1), options);
        var other = FitAndScore(new MLContext(seed: 2), options);

        Assert.Equal(first, second);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public void ValidationSet_IsEvaluatedEveryEpoch_WithProgressAndLogLines()
    {
        var ml = new MLContext(seed: 1);
        var log = new List<string>();
        ml.Log += (_, e) => { lock (log) log.Add(e.Message); };
        var reports = new List<TrainingProgress>();
        var options = Small(epochs: 3);
        options.ValidationSet = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(30, seed: 22));
        options.Progress = new SynchronousProgress<TrainingProgress>(reports.Add);
        var train = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(64, seed: 20));

        using var model = new BertFineTuneEstimator(ml, options).Fit(train);

        var history = model.History;
        Assert.Equal([1, 2, 3], history.Evaluations.Select(e => e.Epoch));
        Assert.Equal(3 * 4, history.Steps.Count);   // 64 rows / 16 per batch = 4 steps per epoch
        Assert.Equal((64, 30), history.ExampleCounts);
        Assert.Equal("Auc", history.SelectionMetric);
        Assert.Contains(history.Best, history.Evaluations);
        // Each evaluation is the validation set's real AUC: the best one, whose weights were restored, is what ML.NET's own
        // evaluator measures on the fitted model, and no other evaluation beat it.
        Assert.Equal(history.Evaluations.Max(e => e.Metrics["Auc"]), history.Best!.Metrics["Auc"]);
        var measured = ml.BinaryClassification.Evaluate(model.Transform(options.ValidationSet));
        Assert.Equal(measured.AreaUnderRocCurve, history.Best.Metrics["Auc"], 5);
        Assert.Equal(measured.Accuracy, history.Best.Metrics["Accuracy"], 5);
        Assert.Equal(history.Steps.Count, reports.Count(r => r.Metrics is null));
        Assert.Equal(3, reports.Count(r => r.Metrics is not null));
        Assert.Equal(Enumerable.Range(1, 12), reports.Where(r => r.Metrics is null).Select(r => r.Step));
        Assert.All(reports, r => Assert.Equal(12, r.TotalSteps));
        Assert.Contains(log, m => m.Contains("epoch 3 done"));
        Assert.Contains(log, m => m.Contains("evaluation at epoch 2"));
        Assert.Contains(log, m => m.Contains("epoch 1 step 1/12"));
    }

    [Fact]
    public void ValidationFraction_HoldsOutAStratifiedShare_EvenOfARareClass()
    {
        var ml = new MLContext(seed: 1);
        // 4 spam rows among 60: a 10% hold-out rounds to no spam at all, unless each class keeps at least one.
        var train = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(60, seed: 23, positiveEvery: 15));
        var options = Small(epochs: 1);
        options.ValidationFraction = 0.1f;

        using var model = new BertFineTuneEstimator(ml, options).Fit(train);

        var (training, validation) = model.History.ExampleCounts;
        Assert.Equal(60, training + validation);
        Assert.Equal(7, validation);   // round(56 × 0.1) = 6 work rows, and one of the 4 spam rows
        var evaluation = Assert.Single(model.History.Evaluations);
        Assert.False(double.IsNaN(evaluation.Metrics["Auc"]), "the validation part lacks a class: AUC is undefined");
    }

    [Fact]
    public void EarlyStopping_WithNothingToLearn_StopsAfterPatience_AndKeepsTheFirstEvaluation()
    {
        var ml = new MLContext(seed: 1);
        var options = Small(epochs: 8);
        options.LearningRate = 0;
        options.ValidationFraction = 0.25f;
        options.EarlyStoppingPatience = 2;
        var train = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(64, seed: 20));

        using var model = new BertFineTuneEstimator(ml, options).Fit(train);

        var history = model.History;
        Assert.True(history.StoppedEarly);
        Assert.Equal([1, 2, 3], history.Evaluations.Select(e => e.Epoch));
        Assert.Equal(3, history.Steps.Max(s => s.Epoch));
        Assert.Same(history.Evaluations[0], history.Best);
    }

    [Fact]
    public void Cancellation_ThrowsOperationCanceled_AndReturnsNoModel()
    {
        var ml = new MLContext(seed: 1);
        using var source = new CancellationTokenSource();
        var options = Small(epochs: 3);
        options.CancellationToken = source.Token;
        int steps = 0;
        options.Progress = new SynchronousProgress<TrainingProgress>(p => { if (p.Metrics is null && ++steps == 2) source.Cancel(); });
        var train = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(64, seed: 20));
        var estimator = new BertFineTuneEstimator(ml, options);
        BertFineTuneTransformer? model = null;

        var error = Assert.ThrowsAny<OperationCanceledException>(() => model = estimator.Fit(train));

        Assert.Null(model);
        Assert.Equal(2, steps);
        Assert.Equal(source.Token, error.CancellationToken);
    }

    [Fact]
    public void HistoryWithAnUndefinedMetric_SurvivesSaveAndLoad()
    {
        var ml = new MLContext(seed: 1);
        var options = Small(epochs: 1);
        // Validation rows of one class only: AUC is NaN, which plain JSON cannot hold.
        options.ValidationSet = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(10, seed: 24).Where(r => r.Label).ToArray());
        var train = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(32, seed: 20));
        using var model = new BertFineTuneEstimator(ml, options).Fit(train);
        Assert.True(double.IsNaN(model.History.Evaluations[0].Metrics["Auc"]));
        string zip = Path.Combine(_scratch, "nan.zip");

        ml.Model.Save(model, train.Schema, zip);
        using var loaded = Assert.IsType<BertFineTuneTransformer>(ml.Model.Load(zip, out _));

        var evaluation = Assert.Single(loaded.History.Evaluations);
        Assert.True(double.IsNaN(evaluation.Metrics["Auc"]));
        Assert.Equal(model.History.Evaluations[0].Metrics["Accuracy"], evaluation.Metrics["Accuracy"]);
        Assert.Equal(model.History.Evaluations[0].ValidationLoss, evaluation.ValidationLoss);
        // A NaN metric never becomes the best (the run keeps its final weights), before and after the zip.
        Assert.Null(model.History.Best);
        Assert.Null(loaded.History.Best);
        Assert.Equal("Auc", loaded.History.SelectionMetric);
        output.WriteLine($"validation metrics after reload: {string.Join(", ", evaluation.Metrics.Select(m => $"{m.Key} {m.Value}"))}");
    }
}
