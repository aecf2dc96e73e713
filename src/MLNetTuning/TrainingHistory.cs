namespace MLNetTuning;

/// <summary>What happened during <c>Fit</c>: the loss curve and every evaluation, for plots and reports.</summary>
public sealed class TrainingHistory
{
    internal List<TrainingStep> StepList { get; } = [];
    internal List<TrainingEvaluation> EvaluationList { get; } = [];

    /// <summary>One entry per optimizer step.</summary>
    public IReadOnlyList<TrainingStep> Steps => StepList;

    /// <summary>One entry per evaluation on the validation data (empty without validation data).</summary>
    public IReadOnlyList<TrainingEvaluation> Evaluations => EvaluationList;

    /// <summary>The evaluation whose weights the model kept, or null when there was no validation data.</summary>
    public TrainingEvaluation? Best { get; internal set; }

    /// <summary>The name of the metric that chose <see cref="Best"/> (for example <c>Accuracy</c>).</summary>
    public string? SelectionMetric { get; internal set; }

    /// <summary>True when early stopping ended training before the last epoch.</summary>
    public bool StoppedEarly { get; internal set; }

    /// <summary>Wall time of training, without data loading and tokenization.</summary>
    public TimeSpan TrainingTime { get; internal set; }

    /// <summary>
    /// The optimizer steps whose loss or gradient norm was not finite (NaN or infinity), which were not applied: each one
    /// skipped under <see cref="BertFineTuneOptions.SkipNonFiniteSteps"/>, or the step that stopped training. Their entries in
    /// <see cref="Steps"/> carry the non-finite loss.
    /// </summary>
    public IReadOnlyList<int> NonFiniteSteps => NonFiniteStepList;

    internal List<int> NonFiniteStepList { get; } = [];

    /// <summary>Examples in the training and validation sets, after any hold-out.</summary>
    public (int Training, int Validation) ExampleCounts { get; internal set; }
}

/// <summary>One optimizer step.</summary>
/// <param name="Step">The 1-based optimizer step.</param>
/// <param name="Epoch">The 1-based epoch.</param>
/// <param name="Loss">The mean training loss over the step's micro-batches.</param>
/// <param name="LearningRate">The learning rate used by the step.</param>
public sealed record TrainingStep(int Step, int Epoch, float Loss, double LearningRate);

/// <summary>One evaluation on the validation data.</summary>
/// <param name="Step">The optimizer step after which it ran.</param>
/// <param name="Epoch">The 1-based epoch.</param>
/// <param name="Metrics">Every metric of the task by name (for example Accuracy, MacroF1, LogLoss; Auc, F1; Rmse, MeanAbsoluteError).</param>
/// <param name="ValidationLoss">The mean loss on the validation data.</param>
public sealed record TrainingEvaluation(int Step, int Epoch, IReadOnlyDictionary<string, double> Metrics, double ValidationLoss);
