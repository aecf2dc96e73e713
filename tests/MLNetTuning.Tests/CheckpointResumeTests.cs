using Microsoft.ML;
using Microsoft.ML.Runtime;
using MLNetTuning.MlNet;
using MLNetTuning.Models;
using MLNetTuning.Native;
using MLNetTuning.Training;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

/// <summary>
/// Checkpoints, resume and non-finite steps, in the loop itself on a tiny random model. The cross-process kill test is in
/// <see cref="KilledRunResumeTests"/>.
/// </summary>
[Collection(TorchRandomCollection.Name)]
public sealed class CheckpointResumeTests : IDisposable
{
    private readonly string _folder;

    public CheckpointResumeTests()
    {
        TorchNativeLoader.EnsureLoaded();
        _folder = Directory.CreateTempSubdirectory("mlnt-resume-").FullName;
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>Class 1 when token 7 occurs, varied lengths (as in FineTuneLoopTests).</summary>
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

    private static ITrainingLog Log(List<string> messages)
    {
        var ml = new MLContext(seed: 0);
        ml.Log += (_, e) => { lock (messages) messages.Add(e.Message); };
        return new ChannelTrainingLog(((IChannelProvider)ml).Start("test"));
    }

    private static BertFineTuneOptions Options(string? checkpoints = null, string? resume = null) => new()
    {
        Task = BertTask.MulticlassClassification, BatchSize = 8, Epochs = 3, LearningRate = 2e-3f, WarmupRatio = 0.1f,
        GradientAccumulationSteps = 2, EvaluateEveryNSteps = 3, EarlyStoppingPatience = 10,
        CheckpointDirectory = checkpoints, CheckpointEverySteps = 4, ResumeFromCheckpoint = resume,
    };

    private sealed record Run(BertTaskModel Model, TrainingHistory? History, Exception? Error, List<string> Log);

    /// <summary>Trains a fresh seeded tiny model (as FineTuneSession does) on 80 examples with validation; errors are returned, not thrown.</summary>
    private static Run Train(BertFineTuneOptions options, FineTuneTask? task = null, List<TokenizedExample>? train = null, int labels = 2)
    {
        task ??= FineTuneTasks.ForScoring(BertTask.MulticlassClassification, ["no", "yes"], 0, 1);
        random.manual_seed(11);
        var config = TinyBert.Config(labels: labels);
        config.ProblemType = task.ProblemType;
        var model = task.CreateModel(config, CPU);
        model.Bert.InitializeWeights();
        var messages = new List<string>();
        try
        {
            var history = FineTuneLoop.Train(model, task, train ?? ContainsSeven(80, 1), ContainsSeven(24, 2), FineTuneSession.Arguments(options, 11, padId: 0, CPU), Log(messages));
            return new Run(model, history, null, messages);
        }
        catch (Exception e) when (e is OperationCanceledException or TrainingDivergedException or ArgumentException or InvalidDataException or DirectoryNotFoundException)
        {
            return new Run(model, null, e, messages);
        }
    }

    private static void AssertSameWeights(BertTaskModel expected, BertTaskModel actual)
    {
        var a = expected.state_dict();
        var b = actual.state_dict();
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (name, value) in a)
            Assert.True(value.bytes.SequenceEqual(b[name].bytes), $"'{name}' differs after resuming");
    }

    /// <summary>Cancels through the token once the given step has been reported: what Ctrl+C does in the command line.</summary>
    private static (BertFineTuneOptions Options, CancellationTokenSource Source) CancelledAt(BertFineTuneOptions options, int step)
    {
        var source = new CancellationTokenSource();
        options.CancellationToken = source.Token;
        options.Progress = new SynchronousProgress(p => { if (p.Step == step) source.Cancel(); });
        return (options, source);
    }

    private sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }

    [Fact]
    public void CancelledRun_WritesACheckpoint_AndTheResumedRunEndsBitIdentical()
    {
        var uninterrupted = Train(Options());
        string checkpoints = Path.Combine(_folder, "run");
        // 80 examples, batch 8, accumulation 2: 5 steps an epoch. Step 7 is mid-epoch 2, between the checkpoints of steps 5 and 8.
        var (options, source) = CancelledAt(Options(checkpoints), step: 7);
        var cancelled = Train(options);
        source.Dispose();
        var resumed = Train(Options(checkpoints, BertFineTuneOptions.LatestCheckpoint));

        using (uninterrupted.Model) using (cancelled.Model) using (resumed.Model)
        {
            var error = Assert.IsType<OperationCanceledException>(cancelled.Error);
            string saved = Path.Combine(checkpoints, "checkpoint-00000007");
            Assert.Contains($"saved in the checkpoint '{saved}'", error.Message);
            Assert.Contains(resumed.Log, m => m.Contains($"resumed from {saved}: epoch 2, step 7/15"));
            AssertSameWeights(uninterrupted.Model, resumed.Model);
            // The history carries over: every step's loss and every evaluation, as if nothing had happened.
            Assert.Equal(uninterrupted.History!.Steps, resumed.History!.Steps);
            Assert.Equal(uninterrupted.History.Evaluations.Select(e => (e.Step, e.ValidationLoss)), resumed.History.Evaluations.Select(e => (e.Step, e.ValidationLoss)));
            Assert.Equal(uninterrupted.History.Best!.Step, resumed.History.Best!.Step);
            // Checkpoints at steps 4, 5 (epoch end), 7 (cancel), 8, 10 (epoch end), 12, 15 (end); the newest two are kept.
            Assert.Equal(["checkpoint-00000012", "checkpoint-00000015"], Directory.GetDirectories(checkpoints).Select(Path.GetFileName).Order());
        }
    }

    [Fact]
    public void ResumingAtAnEpochEnd_DoesNotRepeatTheEpochEnd()
    {
        var uninterrupted = Train(Options());
        string checkpoints = Path.Combine(_folder, "run");
        var (options, source) = CancelledAt(Options(checkpoints), step: 10);
        Train(options).Model.Dispose();
        source.Dispose();
        // The cancel at the epoch's last step stops before the epoch end: the resumed run evaluates once, at the end of epoch 2.
        var resumed = Train(Options(checkpoints, Path.Combine(checkpoints, "checkpoint-00000010")));
        using (uninterrupted.Model) using (resumed.Model)
        {
            AssertSameWeights(uninterrupted.Model, resumed.Model);
            Assert.Equal(uninterrupted.History!.Evaluations.Select(e => e.Step), resumed.History!.Evaluations.Select(e => e.Step));
        }
    }

    [Fact]
    public void DamagedNewestCheckpoint_IsSkippedWithAMessage_AndThePreviousOneUsed()
    {
        var uninterrupted = Train(Options());
        string checkpoints = Path.Combine(_folder, "run");
        var (options, source) = CancelledAt(Options(checkpoints), step: 9);
        Train(options).Model.Dispose();
        source.Dispose();
        // Steps 8 and 9 are kept. A torn write of step 9's weights (as a file system without atomic renames could leave):
        string torn = Path.Combine(checkpoints, "checkpoint-00000009", "model.safetensors");
        File.WriteAllBytes(torn, File.ReadAllBytes(torn)[..1000]);
        // And a temp folder that a killed writer left behind, which is never read.
        Directory.CreateDirectory(Path.Combine(checkpoints, ".checkpoint-00000010.4242.0123.tmp"));

        var resumed = Train(Options(checkpoints, BertFineTuneOptions.LatestCheckpoint));
        using (uninterrupted.Model) using (resumed.Model)
        {
            Assert.Contains(resumed.Log, m => m.Contains("skipping a damaged checkpoint") && m.Contains(torn) && m.Contains("the manifest says"));
            Assert.Contains(resumed.Log, m => m.Contains("resumed from") && m.Contains("checkpoint-00000008"));
            AssertSameWeights(uninterrupted.Model, resumed.Model);
        }
    }

    [Fact]
    public void EveryCheckpointDamaged_FailsNamingEach()
    {
        string checkpoints = Path.Combine(_folder, "run");
        var (options, source) = CancelledAt(Options(checkpoints), step: 5);
        Train(options).Model.Dispose();
        source.Dispose();
        foreach (var manifest in Directory.GetFiles(checkpoints, "manifest.json", SearchOption.AllDirectories)) File.Delete(manifest);

        var resumed = Train(Options(checkpoints, BertFineTuneOptions.LatestCheckpoint));
        resumed.Model.Dispose();
        var error = Assert.IsType<InvalidDataException>(resumed.Error);
        Assert.Contains("Every checkpoint", error.Message);
        Assert.Contains("checkpoint-00000004", error.Message);
        Assert.Contains("checkpoint-00000005", error.Message);
        Assert.Contains("incomplete", error.Message);
    }

    [Fact]
    public void ResumeWithOtherSettings_NamesEveryDifference()
    {
        string checkpoints = Path.Combine(_folder, "run");
        var (options, source) = CancelledAt(Options(checkpoints), step: 3);
        Train(options).Model.Dispose();
        source.Dispose();
        var changed = Options(checkpoints, BertFineTuneOptions.LatestCheckpoint);
        changed.BatchSize = 4;
        changed.LearningRate = 1e-3f;

        changed.GradientAccumulationSteps = 1;
        var resumed = Train(changed);
        resumed.Model.Dispose();
        var error = Assert.IsAssignableFrom<ArgumentException>(resumed.Error);
        Assert.Contains("BatchSize: 8 in the checkpoint, 4 now", error.Message);
        Assert.Contains("GradientAccumulationSteps: 2 in the checkpoint, 1 now", error.Message);
        Assert.DoesNotContain("Epochs", error.Message);
        Assert.Contains("start a new run", error.Message);
        // A lower learning rate is how a diverged run is rescued: allowed, with a warning.
        Assert.DoesNotContain("LearningRate", error.Message);
        Assert.Contains(resumed.Log, m => m.Contains("resuming with LearningRate 0.001 instead of the checkpoint's 0.002"));
    }

    [Fact]
    public void NewRunInAFolderWithAnotherRunsCheckpoints_IsRefused()
    {
        string checkpoints = Path.Combine(_folder, "run");
        var (options, source) = CancelledAt(Options(checkpoints), step: 2);
        Train(options).Model.Dispose();
        source.Dispose();

        var again = Train(Options(checkpoints));
        again.Model.Dispose();
        var error = Assert.IsAssignableFrom<ArgumentException>(again.Error);
        Assert.Contains($"CheckpointDirectory '{checkpoints}' already holds checkpoints of a run (checkpoint-00000002)", error.Message);
        Assert.Contains("ResumeFromCheckpoint = \"latest\"", error.Message);
    }

    [Fact]
    public void ResumeLatestFromAnEmptyFolder_StartsFromTheBeginning_AndAMissingFolderIsNamed()
    {
        var fresh = Train(Options(Path.Combine(_folder, "new"), BertFineTuneOptions.LatestCheckpoint));
        fresh.Model.Dispose();
        Assert.NotNull(fresh.History);
        Assert.Contains(fresh.Log, m => m.Contains("no checkpoint in") && m.Contains("starting from the beginning"));

        var missing = Train(Options(resume: Path.Combine(_folder, "nowhere", "checkpoint-00000003")));
        missing.Model.Dispose();
        var error = Assert.IsType<DirectoryNotFoundException>(missing.Error);
        Assert.Contains("ResumeFromCheckpoint", error.Message);
        Assert.Contains("nowhere", error.Message);
    }

    [Fact]
    public void DivergingLearningRate_StopsNamingEpochStepAndLearningRate_WithFiniteWeights()
    {
        var options = Options(Path.Combine(_folder, "run"));
        options.LearningRate = 1e30f;
        options.Schedule = LearningRateSchedule.Constant;
        options.WarmupSteps = 0;
        options.GradientAccumulationSteps = 1;
        options.CheckpointEverySteps = 1;
        var run = Train(options);
        using (run.Model)
        {
            var error = Assert.IsType<TrainingDivergedException>(run.Error);
            Assert.True(System.Text.RegularExpressions.Regex.IsMatch(error.Message, @"Training diverged at epoch 1 step \d+/30 \(learning rate 1E\+30\)"), error.Message);
            Assert.Contains("Lower BertFineTuneOptions.LearningRate", error.Message);
            Assert.Equal(1, error.Epoch);
            Assert.Equal(1e30, error.LearningRate, 1e24);
            Assert.Equal([error.Step], error.History.NonFiniteSteps);
            Assert.Equal(error.Step, error.History.Steps.Count);
            Assert.False(float.IsFinite(error.History.Steps[^1].Loss));
            // The failing step was not applied, and the newest checkpoint (the step before) is named and resumable.
            Assert.Equal(Path.Combine(_folder, "run", $"checkpoint-{error.Step - 1:D8}"), error.LastCheckpoint);
            Assert.Contains($"the newest is '{error.LastCheckpoint}'", error.Message);
            foreach (var (name, value) in run.Model.state_dict())
                Assert.True(value.isfinite().all().item<bool>(), $"'{name}' is not finite after the run stopped");
        }
    }

    [Fact]
    public void InfiniteLossSteps_AreSkippedAndCounted_WithSkipNonFiniteSteps()
    {
        // A regression target of +Infinity (which the ML.NET reader rejects) makes exactly the steps that hold it non-finite.
        var task = FineTuneTasks.ForScoring(BertTask.Regression, ["value"], 0, 1);
        var train = ContainsSeven(80, 1).Select((e, i) => e with { Label = i == 13 ? float.PositiveInfinity : e.Label }).ToList();
        var options = Options();
        options.Task = BertTask.Regression;
        options.ValidationMetric = ValidationMetric.Default;
        options.EarlyStoppingPatience = null;

        var stopped = Train(options, task, train, labels: 1);
        stopped.Model.Dispose();
        Assert.IsType<TrainingDivergedException>(stopped.Error);

        options.SkipNonFiniteSteps = true;
        options.MaxGradientNorm = 0;   // no clipping: the loop measures the norm itself, and must still catch the bad steps
        var skipped = Train(options, task, train, labels: 1);
        using (skipped.Model)
        {
            var history = skipped.History!;
            Assert.Equal(3, history.NonFiniteSteps.Count);   // the example is in one step of each of the 3 epochs
            Assert.All(history.NonFiniteSteps, step => Assert.False(float.IsFinite(history.Steps[step - 1].Loss)));
            Assert.Equal(15 - 3, history.Steps.Count(s => float.IsFinite(s.Loss)));
            Assert.Equal(3, skipped.Log.Count(m => m.Contains("skipped epoch") && m.Contains("the weights were not updated")));
            foreach (var (name, value) in skipped.Model.state_dict())
                Assert.True(value.isfinite().all().item<bool>(), $"'{name}' is not finite");
        }
    }

    [Fact]
    public void TorchAdamWState_SavedAndLoaded_ContinuesBitIdentical()
    {
        // The optimizer that GPU runs get: its moments and step go through TorchSharp's own state_dict file.
        static (nn.Module Model, TorchAdamW Optimizer) Make()
        {
            random.manual_seed(5);
            var model = nn.Linear(6, 3);
            return (model, new TorchAdamW(optim.AdamW(model.parameters(), 1e-2, weight_decay: 0.01)));
        }
        static void Step(nn.Module model, TorchAdamW optimizer, int seed)
        {
            using var scope = NewDisposeScope();
            random.manual_seed(seed);
            ((nn.Module<Tensor, Tensor>)model).forward(randn(4, 6)).pow(2).sum().backward();
            optimizer.Step();
            optimizer.ZeroGrad();
        }
        var (a, optimizerA) = Make();
        var (b, optimizerB) = Make();
        for (int i = 0; i < 3; i++) Step(a, optimizerA, i);
        optimizerA.Save(_folder);
        using (no_grad())
            foreach (var (name, value) in b.state_dict()) value.copy_(a.state_dict()[name]);
        optimizerB.Load(_folder);
        for (int i = 3; i < 6; i++)
        {
            Step(a, optimizerA, i);
            Step(b, optimizerB, i);
        }
        foreach (var (name, value) in a.state_dict())
            Assert.True(value.bytes.SequenceEqual(b.state_dict()[name].bytes), $"'{name}' differs after loading the optimizer's state");
        optimizerA.Dispose();
        optimizerB.Dispose();
        a.Dispose();
        b.Dispose();
        var missing = Assert.Throws<InvalidDataException>(() => new FusedAdamW([], 0.9f, 0.999f, 1e-8f).Load(_folder));
        Assert.Contains("no optimizer.safetensors", missing.Message);
    }

    [Fact]
    public void NaNValidationMetric_NeverBecomesTheBest_NorTheEarlyStoppingReference()
    {
        var score = new ValidationScore("Auc", higherIsBetter: true);
        var state = new TrainerState();
        var control = new TrainerControl();
        var best = new BestModelCallback(score);
        var early = new EarlyStoppingCallback(score, patience: 2, minDelta: 0);
        void Evaluate(double auc)
        {
            state.LastEvaluation = new TrainingEvaluation(state.Step++, 1, new Dictionary<string, double> { ["Auc"] = auc }, 0.5);
            best.OnEvaluate(state, control);
            early.OnEvaluate(state, control);
        }

        Evaluate(double.NaN);
        Assert.Null(state.History.Best);
        Assert.False(control.ShouldSaveBest);
        Evaluate(0.6);
        Assert.Equal(0.6, state.History.Best!.Metrics["Auc"]);
        Assert.True(control.ShouldSaveBest);
        control.ShouldSaveBest = false;
        Evaluate(double.NaN);
        Assert.Equal(0.6, state.History.Best!.Metrics["Auc"]);
        Assert.False(control.ShouldSaveBest);
        Assert.False(control.ShouldStop);
        Evaluate(double.NaN);   // a second evaluation without improvement
        Assert.True(control.ShouldStop);
        Assert.Equal(0.6, state.EarlyStoppingReference!["Auc"]);
    }
}
