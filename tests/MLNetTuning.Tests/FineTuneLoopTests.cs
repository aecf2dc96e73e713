using Microsoft.ML;
using Microsoft.ML.Runtime;
using MLNetTuning.MlNet;
using MLNetTuning.Models;
using MLNetTuning.Native;
using MLNetTuning.Training;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

[Collection(TorchRandomCollection.Name)]
public sealed class FineTuneLoopTests
{
    public FineTuneLoopTests() => TorchNativeLoader.EnsureLoaded();

    /// <summary>A learnable toy task: class 1 when token 7 occurs in the sequence, of varied lengths.</summary>
    private static List<TokenizedExample> ContainsSeven(int count, int seed)
    {
        var random = new Random(seed);
        var examples = new List<TokenizedExample>();
        for (int i = 0; i < count; i++)
        {
            int length = random.Next(3, 12);
            var ids = new int[length];
            ids[0] = 1;
            for (int t = 1; t < length; t++) ids[t] = random.Next(10, 60);
            bool positive = i % 2 == 0;
            if (positive) ids[random.Next(1, length)] = 7;
            examples.Add(new TokenizedExample(ids, new int[length], positive ? 1 : 0));
        }
        return examples;
    }

    private static ITrainingLog Log(List<string>? messages = null)
    {
        var ml = new MLContext(seed: 0);
        if (messages is not null) ml.Log += (_, e) => { lock (messages) messages.Add(e.Message); };
        return new ChannelTrainingLog(((IChannelProvider)ml).Start("test"));
    }

    private static FineTuneTask Task() => FineTuneTasks.ForScoring(BertTask.MulticlassClassification, ["no", "yes"], 0, 1);

    private static BertFineTuneOptions Options() => new()
    {
        Task = BertTask.MulticlassClassification, BatchSize = 8, Epochs = 6, LearningRate = 2e-3f, WarmupRatio = 0.1f,
    };

    private static (BertForSequenceClassification Model, TrainingHistory History) Train(BertFineTuneOptions options, int seed = 11,
        List<TokenizedExample>? validation = null, List<string>? log = null, bool dropout = true)
    {
        random.manual_seed(seed);
        var config = TinyBert.Config(labels: 2);
        if (!dropout) config.HiddenDropoutProb = config.AttentionProbsDropoutProb = 0;
        var model = new BertForSequenceClassification(config);
        model.Bert.InitializeWeights();
        var history = FineTuneLoop.Train(model, Task(), ContainsSeven(160, 1), validation,
            FineTuneSession.Arguments(options, seed, padId: 0, CPU), Log(log));
        return (model, history);
    }

    [Fact]
    public void LearnsAToyTaskAndKeepsHistory()
    {
        var validation = ContainsSeven(64, 2);
        var log = new List<string>();
        var (model, history) = Train(Options(), validation: validation, log: log);
        using (model)
        {
            Assert.Equal(6 * 20, history.Steps.Count);
            Assert.Equal(6, history.Evaluations.Count);
            Assert.True(history.Evaluations[^1].Metrics["Accuracy"] > 0.9, $"accuracy {history.Evaluations[^1].Metrics["Accuracy"]}");
            Assert.True(history.Steps.TakeLast(20).Average(s => s.Loss) < history.Steps.Take(20).Average(s => s.Loss) / 2);
            // Warmup then linear decay: the first step runs at 0, the peak is mid-run, the last is small.
            Assert.Equal(0, history.Steps[0].LearningRate);
            Assert.Equal(2e-3, history.Steps.Max(s => s.LearningRate), 6);
            Assert.True(history.Steps[^1].LearningRate < 1e-4);
            Assert.Contains(log, m => m.Contains("evaluation at epoch 6"));
            Assert.Equal("Accuracy", history.SelectionMetric);
        }
    }

    [Fact]
    public void SameSeedGivesBitIdenticalWeights()
    {
        var (a, _) = Train(Options(), seed: 5);
        var (b, _) = Train(Options(), seed: 5);
        var (c, _) = Train(Options(), seed: 6);
        using (a) using (b) using (c)
        {
            var sa = a.state_dict();
            var sb = b.state_dict();
            Assert.All(sa, kv => Assert.True(kv.Value.equal(sb[kv.Key]).all().item<bool>(), kv.Key));
            Assert.False(sa["classifier.weight"].allclose(c.state_dict()["classifier.weight"]));
        }
    }

    [Fact]
    public void EvaluatesEveryNStepsAndAtEachEpochEnd()
    {
        var options = Options();
        options.Epochs = 2;
        options.EvaluateEveryNSteps = 7;   // 20 steps an epoch: steps 7, 14, 20 (epoch end), 21, 28, 35, 40 (epoch end)
        var (model, history) = Train(options, validation: ContainsSeven(16, 4));
        using (model)
            Assert.Equal([7, 14, 20, 21, 28, 35, 40], history.Evaluations.Select(e => e.Step));
    }

    [Fact]
    public void EarlyStoppingStopsAfterPatienceAndKeepsTheBest()
    {
        var options = Options();
        options.LearningRate = 0;   // nothing improves after the first evaluation
        options.EarlyStoppingPatience = 2;
        var (model, history) = Train(options, validation: ContainsSeven(32, 3));
        using (model)
        {
            Assert.True(history.StoppedEarly);
            Assert.Equal(3, history.Evaluations.Count);
            Assert.Equal(3 * 20, history.Steps.Count);
            Assert.Same(history.Evaluations[0], history.Best);
        }
    }

    [Fact]
    public void BestModel_OnAnEqualMetric_IsTheEvaluationWithTheLowerValidationLoss()
    {
        var callback = new BestModelCallback(new ValidationScore("MicroF1", higherIsBetter: true));
        var state = new TrainerState();
        TrainingEvaluation Evaluate(double f1, double loss)
        {
            var control = new TrainerControl();
            state.LastEvaluation = new TrainingEvaluation(state.Step++, 1, new Dictionary<string, double> { ["MicroF1"] = f1 }, loss);
            callback.OnEvaluate(state, control);
            Assert.Equal(control.ShouldSaveBest, ReferenceEquals(state.History.Best, state.LastEvaluation));
            return state.LastEvaluation;
        }

        var first = Evaluate(0, 0.50);
        Assert.Same(first, state.History.Best);
        var lowerLoss = Evaluate(0, 0.40);
        Assert.Same(lowerLoss, state.History.Best);
        Evaluate(0, 0.45);                          // equal metric, higher loss: not better
        Assert.Same(lowerLoss, state.History.Best);
        Evaluate(-0.1, 0.10);                       // a worse metric loses whatever its loss
        Assert.Same(lowerLoss, state.History.Best);
        var better = Evaluate(0.2, 0.90);           // a better metric wins whatever its loss
        Assert.Same(better, state.History.Best);
    }

    [Fact]
    public void CancellationStopsAfterTheCurrentStepAndProducesNothing()
    {
        using var source = new CancellationTokenSource();
        var options = Options();
        options.CancellationToken = source.Token;
        int steps = 0;
        options.Progress = new SynchronousProgress(p => { if (p.Metrics is null && ++steps == 3) source.Cancel(); });
        var error = Assert.Throws<OperationCanceledException>(() => Train(options));
        Assert.Equal(3, steps);
        Assert.Contains("CancellationToken", error.Message);
    }

    [Fact]
    public void AccumulatedMicroBatchesEqualOneLargeBatch()
    {
        var large = Options();
        large.GroupByLength = false;
        large.BatchSize = 16;
        large.Epochs = 2;
        var accumulated = Options();
        accumulated.GroupByLength = false;
        accumulated.BatchSize = 8;
        accumulated.GradientAccumulationSteps = 2;
        accumulated.Epochs = 2;
        var (a, ha) = Train(large, dropout: false);
        var (b, hb) = Train(accumulated, dropout: false);
        using (a) using (b)
        {
            Assert.Equal(ha.Steps.Count, hb.Steps.Count);
            var sb = b.state_dict();
            Assert.All(a.state_dict(), kv => Assert.True(kv.Value.allclose(sb[kv.Key], rtol: 1e-4, atol: 1e-5), kv.Key));
        }
    }

    [Fact]
    public void FrozenParametersDoNotMove()
    {
        random.manual_seed(3);
        using var model = new BertForSequenceClassification(TinyBert.Config(labels: 2));
        model.Bert.InitializeWeights();
        foreach (var p in model.Bert.EmbeddingModule.parameters()) p.requires_grad = false;
        var before = model.Bert.EmbeddingModule.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var options = Options();
        options.Epochs = 1;
        FineTuneLoop.Train(model, Task(), ContainsSeven(32, 1), null, FineTuneSession.Arguments(options, 1, 0, CPU), Log());
        Assert.All(model.Bert.EmbeddingModule.state_dict(), kv => Assert.True(kv.Value.equal(before[kv.Key]).all().item<bool>(), kv.Key));
    }

    private sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}

public sealed class TaskMetricsTests
{
    [Fact]
    public void AucCountsTiesAsHalf()
    {
        Assert.Equal(1.0, TaskMetrics.Auc([0.1f, 0.3f, 0.35f, 0.8f], [false, false, true, true]), 6);
        Assert.Equal(0.75, TaskMetrics.Auc([0.1f, 0.4f, 0.35f, 0.8f], [false, false, true, true]), 6);
        Assert.Equal(0.5, TaskMetrics.Auc([0.5f, 0.5f], [false, true]), 6);
    }

    [Fact]
    public void MulticlassAccuracyMacroF1AndLogLoss()
    {
        // Rows: predicted 0 (true 0), predicted 1 (true 0), predicted 1 (true 1).
        float[] probabilities = [0.7f, 0.2f, 0.1f, 0.3f, 0.6f, 0.1f, 0.1f, 0.8f, 0.1f];
        var metrics = TaskMetrics.Multiclass(probabilities, [0, 0, 1], 3);
        Assert.Equal(2 / 3.0, metrics["Accuracy"], 6);
        // F1 class 0 = 2*1/(2+1) = 2/3; class 1 = 2*1/(1+2) = 2/3; class 2 is absent from both sides.
        Assert.Equal(2 / 3.0, metrics["MacroF1"], 6);
        Assert.Equal(-(Math.Log(0.7) + Math.Log(0.3) + Math.Log(0.8)) / 3, metrics["LogLoss"], 5);
    }

    [Fact]
    public void RegressionRmse()
    {
        var metrics = TaskMetrics.Regression([1, 2, 4], [1, 2, 2]);
        Assert.Equal(Math.Sqrt(4 / 3.0), metrics["Rmse"], 6);
        Assert.Equal(2 / 3.0, metrics["MeanAbsoluteError"], 6);
    }

    [Fact]
    public void ScheduleWarmsUpThenDecays()
    {
        Assert.Equal(0, LearningRateFactor.At(LearningRateSchedule.Linear, 0, 10, 100));
        Assert.Equal(0.5, LearningRateFactor.At(LearningRateSchedule.Linear, 5, 10, 100), 6);
        Assert.Equal(1, LearningRateFactor.At(LearningRateSchedule.Linear, 10, 10, 100), 6);
        Assert.Equal(0.5, LearningRateFactor.At(LearningRateSchedule.Linear, 55, 10, 100), 6);
        Assert.Equal(0.5, LearningRateFactor.At(LearningRateSchedule.Cosine, 55, 10, 100), 6);
        Assert.Equal(1, LearningRateFactor.At(LearningRateSchedule.Constant, 99, 10, 100), 6);
    }

    [Fact]
    public void LengthGroupedBatchesCoverEveryExampleOnceWithSimilarLengths()
    {
        var random = new Random(1);
        var lengths = Enumerable.Range(0, 1000).Select(_ => random.Next(5, 200)).ToArray();
        var batches = Batching.LengthGrouped(lengths, 10, new Random(2));
        Assert.Equal(Enumerable.Range(0, 1000), batches.SelectMany(b => b).Order());
        double spread = batches.Average(b => b.Max(i => lengths[i]) - b.Min(i => lengths[i]));
        Assert.True(spread < 20, $"mean length spread in a batch {spread}");
        // Not sorted overall: consecutive batches jump around.
        Assert.True(batches.Zip(batches.Skip(1)).Count(p => lengths[p.First[0]] < lengths[p.Second[0]]) > 20);
    }

    [Fact]
    public void MetricMustFitTheTask()
    {
        var error = Assert.Throws<ArgumentException>(() => FineTuneTasks.Describe(BertTask.Regression).Score(ValidationMetric.Accuracy));
        Assert.Contains("ValidationMetric", error.Message);
        Assert.False(FineTuneTasks.Describe(BertTask.Regression).Score(ValidationMetric.Default).HigherIsBetter);
        Assert.Equal("Auc", FineTuneTasks.Describe(BertTask.BinaryClassification).Score(ValidationMetric.Default).Name);
    }
}
