using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>
/// The numbers and hooks the loop runs by, taken from the options in one place (<see cref="FineTuneSession.Arguments"/>),
/// so that the loop knows nothing of the public options, the task enum or ML.NET.
/// </summary>
internal sealed record FineTuneArguments
{
    public int Epochs { get; init; }
    /// <summary>Examples per micro-batch (one forward and backward).</summary>
    public int BatchSize { get; init; }
    /// <summary>Micro-batches per optimizer step.</summary>
    public int GradientAccumulationSteps { get; init; }
    public float LearningRate { get; init; }
    public LearningRateSchedule Schedule { get; init; }
    /// <summary>Warmup steps; null for <see cref="WarmupRatio"/> of all steps.</summary>
    public int? WarmupSteps { get; init; }
    public float WarmupRatio { get; init; }
    public float WeightDecay { get; init; }
    public float AdamBeta1 { get; init; }
    public float AdamBeta2 { get; init; }
    public float AdamEpsilon { get; init; }
    /// <summary>The gradient norm clip; 0 for none.</summary>
    public float MaxGradientNorm { get; init; }
    public bool GroupByLength { get; init; }
    /// <summary>Pads every training batch to this length (fixed shapes); null pads to each batch's longest.</summary>
    public int? PadTo { get; init; }
    /// <summary>Evaluates every N steps as well as at each epoch end; 0 for epoch ends only.</summary>
    public int EvaluateEveryNSteps { get; init; }
    public int ScoringBatchSize { get; init; }
    public ValidationMetric ValidationMetric { get; init; }
    /// <summary>Evaluations without improvement before stopping; null never stops early.</summary>
    public int? EarlyStoppingPatience { get; init; }
    public float EarlyStoppingMinDelta { get; init; }
    public bool RestoreBestModel { get; init; }
    public int Seed { get; init; }
    public long PadId { get; init; }
    public Device Device { get; init; } = CPU;
    public IProgress<TrainingProgress>? Progress { get; init; }
    public CancellationToken CancellationToken { get; init; }
    /// <summary>Where and how often to write checkpoints, and what to resume from; null writes none.</summary>
    public CheckpointSettings? Checkpoints { get; init; }
    /// <summary>Skip a step whose loss or gradient norm is not finite instead of stopping.</summary>
    public bool SkipNonFiniteSteps { get; init; }
    /// <summary>Sees each training micro-batch (the examples and the batch's rows) before it is collated; null for none.</summary>
    public Action<IReadOnlyList<TokenizedExample>, int[]>? TrainingBatchObserver { get; init; }
}
