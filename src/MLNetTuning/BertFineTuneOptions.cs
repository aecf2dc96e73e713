using Microsoft.ML;

namespace MLNetTuning;

/// <summary>The task a fine-tuned BERT learns, which fixes the label type and the output columns.</summary>
public enum BertTask
{
    /// <summary>One of K classes. The label is a key column (use <c>MapValueToKey</c>); outputs <c>Score</c> (K probabilities) and a key <c>PredictedLabel</c>.</summary>
    MulticlassClassification,
    /// <summary>Yes or no. The label is a <see cref="bool"/>; outputs <c>Score</c> (raw), <c>Probability</c> and a bool <c>PredictedLabel</c>.</summary>
    BinaryClassification,
    /// <summary>A number. The label is a <see cref="float"/>; outputs a float <c>Score</c>.</summary>
    Regression,
    /// <summary>
    /// One tag per word (named entities, part of speech). The text column holds the words (a vector of text, as
    /// <c>TokenizeIntoWords</c> makes, or a text split on whitespace); the label is a vector of keys, one per word. Outputs a
    /// key vector <c>PredictedLabel</c> (one tag per word, with the label's KeyValues) and a float vector <c>Score</c> (the
    /// probability of each predicted tag).
    /// </summary>
    TokenClassification,
    /// <summary>
    /// Extractive question answering: the answer to <see cref="BertFineTuneOptions.QuestionColumnName"/> is a span of
    /// <see cref="BertFineTuneOptions.ContextColumnName"/>. Trains on <see cref="BertFineTuneOptions.AnswerColumnName"/> (the
    /// answer text); outputs text <c>PredictedAnswer</c>, int <c>PredictedAnswerStart</c> and float <c>Score</c>.
    /// </summary>
    QuestionAnswering,
    /// <summary>
    /// Any number of K labels per text (none, one or several). The label is a known-size vector of <see cref="bool"/> (one per
    /// label, named by its SlotNames) or a vector of keys (the labels that apply, as <c>TokenizeIntoWords</c> then
    /// <c>MapValueToKey</c> make; named by its KeyValues). Outputs <c>Score</c> (K sigmoid probabilities) and a bool vector
    /// <c>PredictedLabel</c> (each probability at or above its label's threshold, 0.5 unless
    /// <see cref="BertFineTuneOptions.TuneThresholds"/>), both with the label names as SlotNames.
    /// </summary>
    MultiLabelClassification,
}

/// <summary>How the learning rate moves after warmup.</summary>
public enum LearningRateSchedule
{
    /// <summary>Linear decay to zero at the last step (Hugging Face's default).</summary>
    Linear,
    /// <summary>Half a cosine wave down to zero at the last step.</summary>
    Cosine,
    /// <summary>The learning rate stays at <see cref="BertFineTuneOptions.LearningRate"/>.</summary>
    Constant,
}

/// <summary>The validation metric that early stopping and best-model selection follow.</summary>
public enum ValidationMetric
{
    /// <summary>The task's usual metric: accuracy for multiclass, AUC for binary, RMSE for regression, MicroF1 for multi-label.</summary>
    Default,
    /// <summary>Fraction of correct predictions (classification).</summary>
    Accuracy,
    /// <summary>F1 averaged over classes (multiclass) or labels (multi-label) with equal weight.</summary>
    MacroF1,
    /// <summary>Area under the ROC curve (binary).</summary>
    Auc,
    /// <summary>F1 of the positive class at probability 0.5 (binary).</summary>
    F1,
    /// <summary>Root mean squared error (regression); lower is better.</summary>
    Rmse,
    /// <summary>F1 of every (text, label) decision pooled (multi-label).</summary>
    MicroF1,
}

/// <summary>Where the model trains and scores.</summary>
public enum TorchDevice
{
    /// <summary>The CPU (default).</summary>
    Cpu,
    /// <summary>The first CUDA GPU. Needs an app built with <c>-p:TorchBackend=cuda</c>.</summary>
    Cuda,
}

/// <summary>The number format of the matrix products while training and scoring.</summary>
public enum NumericPrecision
{
    /// <summary>float32 everywhere (default).</summary>
    Fp32,
    /// <summary>
    /// bfloat16 mixed precision: matrix products and attention in bfloat16, LayerNorm, softmax statistics and the loss in
    /// float32, and float32 master weights that the optimizer updates. Needs a CPU with bfloat16 instructions (AVX512-BF16
    /// or AMX); elsewhere training falls back to <see cref="Fp32"/> with a logged warning.
    /// </summary>
    Bf16,
}

/// <summary>How token vectors become one sentence vector.</summary>
public enum BertPooling
{
    /// <summary>The mean of the real tokens' vectors (sentence-transformers' default).</summary>
    Mean,
    /// <summary>The [CLS] token's vector.</summary>
    Cls,
    /// <summary>The element-wise maximum over the real tokens.</summary>
    Max,
}

/// <summary>Options of <see cref="BertFineTuneEstimator"/>. Every option has a documented default that follows the field's practice.</summary>
public sealed class BertFineTuneOptions
{
    /// <summary>The task. Default <see cref="BertTask.MulticlassClassification"/>.</summary>
    public BertTask Task { get; set; } = BertTask.MulticlassClassification;

    /// <summary>An embedded model name (<c>all-MiniLM-L6-v2</c>, the default), a Hugging Face model folder, or a model id found in the
    /// local Hugging Face cache (<c>org/name</c>). Nothing is downloaded.</summary>
    public string Model { get; set; } = "all-MiniLM-L6-v2";

    /// <summary>The text column (string). Default <c>Text</c>. Null or empty text is scored as an empty sequence (<c>[CLS] [SEP]</c>).</summary>
    public string TextColumnName { get; set; } = "Text";

    /// <summary>The second text column of a sentence pair, or null (default) for single texts.</summary>
    public string? SecondTextColumnName { get; set; }

    /// <summary>The label column. Default <c>Label</c>.</summary>
    public string LabelColumnName { get; set; } = "Label";

    /// <summary>Tokens per sequence (pair) after truncation, including special tokens. Default 128; at most the model's positions.</summary>
    public int MaxSequenceLength { get; set; } = 128;

    /// <summary>Examples per optimizer micro-batch. Default 16.</summary>
    public int BatchSize { get; set; } = 16;

    /// <summary>Passes over the training data. Default 3.</summary>
    public int Epochs { get; set; } = 3;

    /// <summary>Peak learning rate of AdamW. Default 5e-5.</summary>
    public float LearningRate { get; set; } = 5e-5f;

    /// <summary>AdamW's decoupled weight decay, applied to every weight except biases and LayerNorm weights. Default 0.01.</summary>
    public float WeightDecay { get; set; } = 0.01f;

    /// <summary>AdamW's β1. Default 0.9.</summary>
    public float AdamBeta1 { get; set; } = 0.9f;

    /// <summary>AdamW's β2. Default 0.999.</summary>
    public float AdamBeta2 { get; set; } = 0.999f;

    /// <summary>AdamW's ε. Default 1e-8.</summary>
    public float AdamEpsilon { get; set; } = 1e-8f;

    /// <summary>The decay after warmup. Default <see cref="LearningRateSchedule.Linear"/>.</summary>
    public LearningRateSchedule Schedule { get; set; } = LearningRateSchedule.Linear;

    /// <summary>Warmup as a fraction of all optimizer steps; ignored when <see cref="WarmupSteps"/> is set. Default 0.1.</summary>
    public float WarmupRatio { get; set; } = 0.1f;

    /// <summary>Warmup in optimizer steps; null (default) uses <see cref="WarmupRatio"/>.</summary>
    public int? WarmupSteps { get; set; }

    /// <summary>Clip the global gradient norm to this value; 0 turns clipping off. Default 1.0.</summary>
    public float MaxGradientNorm { get; set; } = 1.0f;

    /// <summary>Micro-batches whose gradients are summed before one optimizer step. Default 1.</summary>
    public int GradientAccumulationSteps { get; set; } = 1;

    /// <summary>Overrides the checkpoint's <c>hidden_dropout_prob</c>; null (default) keeps it.</summary>
    public float? HiddenDropout { get; set; }

    /// <summary>Overrides the checkpoint's <c>attention_probs_dropout_prob</c>; null (default) keeps it.</summary>
    public float? AttentionDropout { get; set; }

    /// <summary>Dropout before the classifier; null (default) uses the hidden dropout.</summary>
    public float? ClassifierDropout { get; set; }

    /// <summary>Keep the embeddings fixed. Default false.</summary>
    public bool FreezeEmbeddings { get; set; }

    /// <summary>Keep the bottom N transformer layers fixed (and the embeddings with them when N &gt; 0). Default 0.</summary>
    public int FreezeBottomLayers { get; set; }

    /// <summary>Train the task head only, keeping the whole encoder fixed. Default false.</summary>
    public bool FreezeEncoder { get; set; }

    /// <summary>
    /// Per-class loss weights for classification, in key order (binary: negative, positive). For multi-label classification,
    /// one positive weight per label in slot (key) order: binary cross-entropy's <c>pos_weight</c>, which raises recall of rare
    /// labels. Null (default): equal.
    /// </summary>
    public float[]? ClassWeights { get; set; }

    /// <summary>
    /// Multi-label classification: after training, set each label's threshold to the one that maximises that label's F1 on the
    /// validation data (ValidationSet or ValidationFraction, which it needs); the model zip keeps them. The validation metrics
    /// of every evaluation are then those at the thresholds tuned on the validation data at that point, so that best-model
    /// selection compares each checkpoint as it would be used. Default false: 0.5 each.
    /// </summary>
    public bool TuneThresholds { get; set; }

    /// <summary>Label smoothing of the multiclass cross-entropy, in [0, 1). Default 0.</summary>
    public float LabelSmoothing { get; set; }

    /// <summary>Batch examples of similar length together (shuffled in buckets) so that padding is small. Default true.</summary>
    public bool GroupByLength { get; set; } = true;

    /// <summary>
    /// Pads every training batch to <see cref="MaxSequenceLength"/> instead of its longest example: the fixed-shape baseline
    /// that the benchmark compares dynamic padding against. Not a recipe option.
    /// </summary>
    internal bool PadToMaxSequenceLength { get; set; }

    /// <summary>
    /// Called before each training micro-batch with the tokenized training examples and the indices of the batch's rows, in
    /// training order: the benchmark records the exact batches so that a peer can train on the same work. Not a recipe option.
    /// </summary>
    internal Action<IReadOnlyList<Training.TokenizedExample>, int[]>? TrainingBatchObserver { get; set; }

    /// <summary>
    /// Data to evaluate on after every epoch, with the training data's columns. For multiclass its label may be the raw class
    /// strings (the data before the pipeline's <c>MapValueToKey</c>); they map to the training keys. Default null.
    /// </summary>
    public IDataView? ValidationSet { get; set; }

    /// <summary>With no <see cref="ValidationSet"/>, hold out this fraction of the training data (stratified for classification). Default 0: none.</summary>
    public float ValidationFraction { get; set; }

    /// <summary>Also evaluate every N optimizer steps; 0 (default) evaluates at epoch ends only.</summary>
    public int EvaluateEveryNSteps { get; set; }

    /// <summary>The metric that selects the best model and drives early stopping. Default: the task's usual metric.</summary>
    public ValidationMetric ValidationMetric { get; set; } = ValidationMetric.Default;

    /// <summary>Stop after this many evaluations without improvement; null (default) never stops early.</summary>
    public int? EarlyStoppingPatience { get; set; }

    /// <summary>The smallest change of the metric that counts as an improvement. Default 0.</summary>
    public float EarlyStoppingMinDelta { get; set; }

    /// <summary>
    /// At the end, restore the weights of the best evaluation (when there is validation data). Of evaluations with an equal
    /// metric, the one with the lower validation loss counts as better. Default true.
    /// </summary>
    public bool RestoreBestModel { get; set; } = true;

    /// <summary>Seed of weight initialisation, shuffling and dropout. Null (default) derives it from the <see cref="MLContext"/> seed.</summary>
    public int? Seed { get; set; }

    /// <summary>The device. Default <see cref="TorchDevice.Cpu"/>.</summary>
    public TorchDevice Device { get; set; } = TorchDevice.Cpu;

    /// <summary>
    /// The number format of the matrix products. Default <see cref="NumericPrecision.Fp32"/>; <see cref="NumericPrecision.Bf16"/>
    /// trains faster on CPUs with bfloat16 units, and the saved model is float32 either way.
    /// </summary>
    public NumericPrecision Precision { get; set; } = NumericPrecision.Fp32;

    /// <summary>CPU threads for torch; null (default) keeps torch's default (the number of cores).</summary>
    public int? NumberOfThreads { get; set; }

    /// <summary>
    /// Token classification: the sub-word tokens that consecutive windows share when a text is longer than
    /// <see cref="MaxSequenceLength"/>. Long texts are cut into overlapping windows for training and scoring, never truncated;
    /// each word is predicted from the window where it has the most context. Default 32 (capped at half a window).
    /// </summary>
    public int WindowStride { get; set; } = 32;

    /// <summary>Question answering: the question column (text). Default <c>Question</c>.</summary>
    public string QuestionColumnName { get; set; } = "Question";

    /// <summary>Question answering: the context column (text) that holds the answer. Default <c>Context</c>.</summary>
    public string ContextColumnName { get; set; } = "Context";

    /// <summary>
    /// Question answering: the answer column (text), exactly as it appears in the context; an empty answer means "no answer
    /// in this context" and trains the <c>[CLS]</c> position. Needed for training only. Default <c>Answer</c>.
    /// </summary>
    public string AnswerColumnName { get; set; } = "Answer";

    /// <summary>
    /// Question answering: the column with the answer's character offset in the context (Int32, Int64, or a Single holding
    /// whole numbers), or null (default) to take the answer's first occurrence in the context.
    /// </summary>
    public string? AnswerStartColumnName { get; set; }

    /// <summary>
    /// Question answering: the context tokens that consecutive windows share when question and context do not fit in
    /// <see cref="MaxSequenceLength"/> (Hugging Face's <c>doc_stride</c>). Default 128, capped at half of a window's context.
    /// </summary>
    public int DocumentStride { get; set; } = 128;

    /// <summary>Question answering: the longest answer predicted, in sub-word tokens. Default 30.</summary>
    public int MaxAnswerLength { get; set; } = 30;

    /// <summary>
    /// Question answering: how many answers to predict per question. Above 1 adds the text vector <c>PredictedAnswers</c> and
    /// the float vector <c>Scores</c>, best first. Default 1.
    /// </summary>
    public int TopKAnswers { get; set; } = 1;

    /// <summary>
    /// Question answering: whether a question may have no answer in its context (SQuAD 2.0): the empty answer is predicted
    /// when the <c>[CLS]</c> span scores higher than every real span. Default false.
    /// </summary>
    public bool AllowNoAnswer { get; set; }

    /// <summary>
    /// Rows per forward pass when scoring. Default 64. Validation during training scores at most <see cref="BatchSize"/> rows
    /// per pass, so that it reuses the memory the training steps free instead of growing the process.
    /// </summary>
    public int ScoringBatchSize { get; set; } = 64;

    /// <summary>Receives progress after every optimizer step and evaluation. Default null.</summary>
    public IProgress<TrainingProgress>? Progress { get; set; }

    /// <summary>
    /// Stops training cleanly after the current step. <c>Fit</c> then throws <see cref="OperationCanceledException"/> and
    /// returns no model. With a <see cref="CheckpointDirectory"/> a checkpoint of that step is written first (the exception's
    /// message names it), so that <see cref="ResumeFromCheckpoint"/> continues from there; without one nothing is written.
    /// Default: none.
    /// </summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>
    /// A folder for checkpoints, or null (default) for none. Each checkpoint is a sub-folder <c>checkpoint-NNNNNNNN</c> (the
    /// optimizer step) holding everything a resumed run needs to continue exactly where this one was: the weights, AdamW's
    /// moments and step, the position in the schedule and in the epoch's data order, the random generators, the best weights
    /// so far and the history. It is written beside its final name and renamed in whole, with a manifest of the files'
    /// SHA-256 hashes written last, so a kill at any instant leaves either a complete checkpoint or none.
    /// </summary>
    public string? CheckpointDirectory { get; set; }

    /// <summary>
    /// With a <see cref="CheckpointDirectory"/>: also write a checkpoint every N optimizer steps (one is always written at
    /// each epoch end and when <see cref="CancellationToken"/> stops training); 0 writes at epoch ends only. Default 500,
    /// as Hugging Face's <c>save_steps</c>.
    /// </summary>
    public int CheckpointEverySteps { get; set; } = 500;

    /// <summary>The newest checkpoints to keep in <see cref="CheckpointDirectory"/>; older ones are deleted. Default 2, at least 1.</summary>
    public int KeepCheckpoints { get; set; } = 2;

    /// <summary>
    /// Where training resumes from: null (default) starts from the pretrained model; <see cref="LatestCheckpoint"/>
    /// (<c>"latest"</c>) takes the newest complete checkpoint in <see cref="CheckpointDirectory"/> (a damaged one is skipped
    /// with a warning, and an empty folder starts from the beginning, so the same command both starts and resumes a run);
    /// any other value is the path of one checkpoint folder. The checkpoint must come from a run with the same model, data
    /// and training settings; <c>Fit</c> names every setting that differs. Only <see cref="LearningRate"/> and
    /// <see cref="MaxGradientNorm"/> may change (with a warning), to rescue a run that diverged from its last good checkpoint. With the same <see cref="NumberOfThreads"/> the
    /// resumed run ends with weights bit-identical to an uninterrupted one. A folder literally named <c>latest</c> is
    /// given as <c>./latest</c>.
    /// </summary>
    public string? ResumeFromCheckpoint { get; set; }

    /// <summary>The value of <see cref="ResumeFromCheckpoint"/> that means "the newest checkpoint in <see cref="CheckpointDirectory"/>".</summary>
    public const string LatestCheckpoint = "latest";

    /// <summary>
    /// What a step with a non-finite loss or gradient norm (NaN or infinity: a diverging learning rate) does. False
    /// (default): training stops with a <see cref="TrainingDivergedException"/> naming the epoch, step and learning rate; the
    /// step is not applied. True: the step is skipped (no weight update, as mixed-precision trainers do) and training goes on;
    /// <see cref="TrainingHistory.NonFiniteSteps"/> lists the skipped steps and the log warns of each.
    /// </summary>
    public bool SkipNonFiniteSteps { get; set; }

    internal BertFineTuneOptions Clone() => (BertFineTuneOptions)MemberwiseClone();
}

/// <summary>A snapshot of training, reported after every optimizer step and evaluation.</summary>
public sealed record TrainingProgress
{
    /// <summary>The 1-based epoch.</summary>
    public int Epoch { get; init; }
    /// <summary>Optimizer steps taken so far.</summary>
    public int Step { get; init; }
    /// <summary>Optimizer steps planned in all.</summary>
    public int TotalSteps { get; init; }
    /// <summary>The training loss of the last step.</summary>
    public float Loss { get; init; }
    /// <summary>The learning rate of the last step.</summary>
    public double LearningRate { get; init; }
    /// <summary>Training examples per second since the start.</summary>
    public double ExamplesPerSecond { get; init; }
    /// <summary>The estimated time left.</summary>
    public TimeSpan Eta { get; init; }
    /// <summary>The metrics of this evaluation, or null for a plain step.</summary>
    public IReadOnlyDictionary<string, double>? Metrics { get; init; }
}
