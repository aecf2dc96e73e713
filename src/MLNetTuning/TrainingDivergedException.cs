namespace MLNetTuning;

/// <summary>
/// Thrown by <c>Fit</c> when a training step's loss or gradient norm is not finite (NaN or infinity), which a learning rate
/// too high for the model usually causes, and <see cref="BertFineTuneOptions.SkipNonFiniteSteps"/> is off. The failing step
/// was not applied.
/// </summary>
public sealed class TrainingDivergedException : Exception
{
    internal TrainingDivergedException(string message, int epoch, int step, double learningRate, TrainingHistory history, string? lastCheckpoint)
        : base(message) => (Epoch, Step, LearningRate, History, LastCheckpoint) = (epoch, step, learningRate, history, lastCheckpoint);

    /// <summary>The 1-based epoch of the failing step.</summary>
    public int Epoch { get; }

    /// <summary>The 1-based optimizer step whose loss or gradient norm was not finite.</summary>
    public int Step { get; }

    /// <summary>The learning rate of that step.</summary>
    public double LearningRate { get; }

    /// <summary>What happened up to and including the failing step (its loss in <see cref="TrainingHistory.Steps"/>).</summary>
    public TrainingHistory History { get; }

    /// <summary>The newest checkpoint written before the failure (all of them hold finite weights), or null without checkpoints.</summary>
    public string? LastCheckpoint { get; }
}
