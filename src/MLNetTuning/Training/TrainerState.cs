namespace MLNetTuning.Training;

/// <summary>What has happened so far in a run. Callbacks read it; only the loop writes it.</summary>
internal sealed class TrainerState
{
    public int Epoch { get; set; }
    public int Step { get; set; }
    public int TotalSteps { get; set; }
    public int StepsPerEpoch { get; set; }
    public long ExamplesSeen { get; set; }
    public float LastLoss { get; set; }
    public double LearningRate { get; set; }
    public TimeSpan Elapsed { get; set; }
    public TrainingEvaluation? LastEvaluation { get; set; }
    public TrainingHistory History { get; } = new();
}

/// <summary>Flags that callbacks flip and the loop obeys. Callbacks never drive the loop themselves.</summary>
internal sealed class TrainerControl
{
    public bool ShouldEvaluate { get; set; }
    public bool ShouldSaveBest { get; set; }
    public bool ShouldStop { get; set; }
    public bool Cancelled { get; set; }
}

/// <summary>A hook into the loop, in the manner of Hugging Face's TrainerCallback.</summary>
internal abstract class TrainerCallback
{
    public virtual void OnStepEnd(TrainerState state, TrainerControl control) { }
    public virtual void OnEpochEnd(TrainerState state, TrainerControl control) { }
    public virtual void OnEvaluate(TrainerState state, TrainerControl control) { }
    public virtual void OnTrainEnd(TrainerState state, TrainerControl control) { }
}

/// <summary>Asks for an evaluation every N steps and at each epoch end, when there is validation data.</summary>
internal sealed class EvaluationScheduleCallback(bool hasValidation, int everyNSteps) : TrainerCallback
{
    public override void OnStepEnd(TrainerState state, TrainerControl control)
    {
        if (hasValidation && everyNSteps > 0 && state.Step % everyNSteps == 0 && state.Step % state.StepsPerEpoch != 0)
            control.ShouldEvaluate = true;
    }

    public override void OnEpochEnd(TrainerState state, TrainerControl control) => control.ShouldEvaluate = hasValidation;
}

/// <summary>Marks an evaluation as the best so far, so that the loop keeps its weights.</summary>
internal sealed class BestModelCallback(ValidationScore score) : TrainerCallback
{
    public override void OnEvaluate(TrainerState state, TrainerControl control)
    {
        var current = state.LastEvaluation!;
        var best = state.History.Best;
        // An equal metric is common early on (F1 0 while no probability passes its threshold, or one accuracy on a small
        // validation set); the lower validation loss then tells which weights are further along.
        if (best is null || score.IsBetter(current.Metrics, best.Metrics, minDelta: 0)
            || (score.Ties(current.Metrics, best.Metrics) && current.ValidationLoss < best.ValidationLoss))
        {
            state.History.Best = current;
            control.ShouldSaveBest = true;
        }
    }
}

/// <summary>Stops after <c>patience</c> evaluations that improved on the best by less than <c>minDelta</c>.</summary>
internal sealed class EarlyStoppingCallback(ValidationScore score, int patience, double minDelta) : TrainerCallback
{
    private IReadOnlyDictionary<string, double>? _reference;
    private int _evaluationsWithoutImprovement;

    public override void OnEvaluate(TrainerState state, TrainerControl control)
    {
        var metrics = state.LastEvaluation!.Metrics;
        if (_reference is null || score.IsBetter(metrics, _reference, minDelta))
        {
            _reference = metrics;
            _evaluationsWithoutImprovement = 0;
            return;
        }
        if (++_evaluationsWithoutImprovement >= patience)
        {
            control.ShouldStop = true;
            state.History.StoppedEarly = true;
        }
    }
}

/// <summary>Stops cleanly after the current step when the caller's token is cancelled.</summary>
internal sealed class CancellationCallback(CancellationToken token) : TrainerCallback
{
    public override void OnStepEnd(TrainerState state, TrainerControl control)
    {
        if (!token.IsCancellationRequested) return;
        control.Cancelled = true;
        control.ShouldStop = true;
    }
}

/// <summary>Reports steps and evaluations through the training log (MLContext.Log, from the surface) and the caller's IProgress.</summary>
internal sealed class ProgressCallback(ITrainingLog log, IProgress<TrainingProgress>? progress) : TrainerCallback
{
    public override void OnStepEnd(TrainerState state, TrainerControl control)
    {
        var snapshot = Snapshot(state, metrics: null);
        log.Trace($"epoch {state.Epoch} step {state.Step}/{state.TotalSteps} loss {state.LastLoss:F4} lr {state.LearningRate:E2} " +
                      $"{snapshot.ExamplesPerSecond:F1} examples/s eta {snapshot.Eta:hh\\:mm\\:ss}");
        progress?.Report(snapshot);
    }

    public override void OnEpochEnd(TrainerState state, TrainerControl control) =>
        log.Info($"epoch {state.Epoch} done: step {state.Step}/{state.TotalSteps}, loss {state.LastLoss:F4}, {state.Elapsed.TotalSeconds:F0} s");

    public override void OnEvaluate(TrainerState state, TrainerControl control)
    {
        var evaluation = state.LastEvaluation!;
        log.Info($"evaluation at epoch {state.Epoch} step {state.Step}: " +
                     string.Join(", ", evaluation.Metrics.Select(m => $"{m.Key} {m.Value:F4}")) + $", loss {evaluation.ValidationLoss:F4}");
        progress?.Report(Snapshot(state, evaluation.Metrics));
    }

    private static TrainingProgress Snapshot(TrainerState state, IReadOnlyDictionary<string, double>? metrics)
    {
        double seconds = Math.Max(state.Elapsed.TotalSeconds, 1e-9);
        double stepsPerSecond = state.Step / seconds;
        return new TrainingProgress
        {
            Epoch = state.Epoch,
            Step = state.Step,
            TotalSteps = state.TotalSteps,
            Loss = state.LastLoss,
            LearningRate = state.LearningRate,
            ExamplesPerSecond = state.ExamplesSeen / seconds,
            Eta = stepsPerSecond > 0 ? TimeSpan.FromSeconds((state.TotalSteps - state.Step) / stepsPerSecond) : TimeSpan.Zero,
            Metrics = metrics,
        };
    }
}
