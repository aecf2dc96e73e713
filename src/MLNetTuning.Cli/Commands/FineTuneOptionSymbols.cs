using System.CommandLine;

namespace MLNetTuning.Cli.Commands;

/// <summary>
/// One command-line option per training option of <see cref="BertFineTuneOptions"/>. Each is nullable: a value given on the
/// command line overrides the preset (the library's defaults, or the main job's recipe when no data file is given).
/// </summary>
internal sealed class FineTuneOptionSymbols
{
    private readonly List<(Option Symbol, Action<ParseResult, BertFineTuneOptions> Apply)> _bindings = [];
    private readonly Dictionary<string, string> _flagOfProperty = [];

    public FineTuneOptionSymbols()
    {
        Value<int>("--max-length", nameof(BertFineTuneOptions.MaxSequenceLength), "Tokens per sequence (pair) after truncation, special tokens included [library: 128]", (o, v) => o.MaxSequenceLength = v);
        Value<int>("--batch-size", nameof(BertFineTuneOptions.BatchSize), "Examples per micro-batch [library: 16]", (o, v) => o.BatchSize = v);
        Value<int>("--epochs", nameof(BertFineTuneOptions.Epochs), "Passes over the training data [library: 3]", (o, v) => o.Epochs = v);
        Value<float>("--learning-rate", nameof(BertFineTuneOptions.LearningRate), "Peak AdamW learning rate [library: 5e-5]", (o, v) => o.LearningRate = v);
        Value<float>("--weight-decay", nameof(BertFineTuneOptions.WeightDecay), "AdamW decoupled weight decay (not on biases and LayerNorm) [0.01]", (o, v) => o.WeightDecay = v);
        Value<float>("--adam-beta1", nameof(BertFineTuneOptions.AdamBeta1), "AdamW beta1 [0.9]", (o, v) => o.AdamBeta1 = v);
        Value<float>("--adam-beta2", nameof(BertFineTuneOptions.AdamBeta2), "AdamW beta2 [0.999]", (o, v) => o.AdamBeta2 = v);
        Value<float>("--adam-epsilon", nameof(BertFineTuneOptions.AdamEpsilon), "AdamW epsilon [1e-8]", (o, v) => o.AdamEpsilon = v);
        Value<LearningRateSchedule>("--schedule", nameof(BertFineTuneOptions.Schedule), "Decay after warmup: Linear, Cosine or Constant [Linear]", (o, v) => o.Schedule = v);
        Value<float>("--warmup-ratio", nameof(BertFineTuneOptions.WarmupRatio), "Warmup as a fraction of all steps [0.1]", (o, v) => o.WarmupRatio = v);
        Value<int>("--warmup-steps", nameof(BertFineTuneOptions.WarmupSteps), "Warmup in steps; overrides --warmup-ratio", (o, v) => o.WarmupSteps = v);
        Value<float>("--max-grad-norm", nameof(BertFineTuneOptions.MaxGradientNorm), "Clip the global gradient norm; 0 turns clipping off [1.0]", (o, v) => o.MaxGradientNorm = v);
        Value<int>("--gradient-accumulation", nameof(BertFineTuneOptions.GradientAccumulationSteps), "Micro-batches per optimizer step [1]", (o, v) => o.GradientAccumulationSteps = v);
        Value<float>("--hidden-dropout", nameof(BertFineTuneOptions.HiddenDropout), "Override the checkpoint's hidden dropout", (o, v) => o.HiddenDropout = v);
        Value<float>("--attention-dropout", nameof(BertFineTuneOptions.AttentionDropout), "Override the checkpoint's attention dropout", (o, v) => o.AttentionDropout = v);
        Value<float>("--classifier-dropout", nameof(BertFineTuneOptions.ClassifierDropout), "Dropout before the classifier [the hidden dropout]", (o, v) => o.ClassifierDropout = v);
        Value<bool>("--freeze-embeddings", nameof(BertFineTuneOptions.FreezeEmbeddings), "Keep the embeddings fixed [false]", (o, v) => o.FreezeEmbeddings = v);
        Value<int>("--freeze-bottom-layers", nameof(BertFineTuneOptions.FreezeBottomLayers), "Keep the bottom N layers (and the embeddings) fixed [0]", (o, v) => o.FreezeBottomLayers = v);
        Value<bool>("--freeze-encoder", nameof(BertFineTuneOptions.FreezeEncoder), "Train the head only [false]", (o, v) => o.FreezeEncoder = v);
        var weights = new Option<float[]>("--class-weights")
        {
            Description = "Per-class loss weights in class order (multiclass: sorted class names; binary: negative positive)",
            AllowMultipleArgumentsPerToken = true,
        };
        Add(weights, nameof(BertFineTuneOptions.ClassWeights), (r, o) => { if (r.GetValue(weights) is { Length: > 0 } w) o.ClassWeights = w; });
        Value<float>("--label-smoothing", nameof(BertFineTuneOptions.LabelSmoothing), "Label smoothing of the multiclass loss [0]", (o, v) => o.LabelSmoothing = v);
        Value<bool>("--group-by-length", nameof(BertFineTuneOptions.GroupByLength), "Batch texts of similar length together [true]", (o, v) => o.GroupByLength = v);
        Value<int>("--eval-every-steps", nameof(BertFineTuneOptions.EvaluateEveryNSteps), "Also evaluate every N steps; 0 = at epoch ends only [0]", (o, v) => o.EvaluateEveryNSteps = v);
        Value<ValidationMetric>("--validation-metric", nameof(BertFineTuneOptions.ValidationMetric), "Metric that picks the best model: Default, Accuracy, MacroF1, Auc, F1, Rmse", (o, v) => o.ValidationMetric = v);
        Value<int>("--early-stopping-patience", nameof(BertFineTuneOptions.EarlyStoppingPatience), "Stop after N evaluations without improvement", (o, v) => o.EarlyStoppingPatience = v);
        Value<float>("--early-stopping-min-delta", nameof(BertFineTuneOptions.EarlyStoppingMinDelta), "Smallest change that counts as an improvement [0]", (o, v) => o.EarlyStoppingMinDelta = v);
        Value<bool>("--restore-best-model", nameof(BertFineTuneOptions.RestoreBestModel), "Restore the weights of the best evaluation [true]", (o, v) => o.RestoreBestModel = v);
        Value<int>("--seed", nameof(BertFineTuneOptions.Seed), "Seed of initialisation, shuffling, dropout and the row sampling [1]", (o, v) => o.Seed = v);
        Value<TorchDevice>("--device", nameof(BertFineTuneOptions.Device), "Cpu or Cuda [Cpu]", (o, v) => o.Device = v);
        Value<NumericPrecision>("--precision", nameof(BertFineTuneOptions.Precision), "Fp32, or Bf16 mixed precision (faster on CPUs with bfloat16 units) [Fp32]", (o, v) => o.Precision = v);
        Value<int>("--threads", nameof(BertFineTuneOptions.NumberOfThreads), "CPU threads for torch [the number of cores]", (o, v) => o.NumberOfThreads = v);
        Value<int>("--window-stride", nameof(BertFineTuneOptions.WindowStride), "Token classification: sub-word tokens shared by consecutive windows of a text longer than --max-length [32]", (o, v) => o.WindowStride = v);
        Value<int>("--document-stride", nameof(BertFineTuneOptions.DocumentStride), "Question answering: context tokens shared by consecutive windows of a long context [128]", (o, v) => o.DocumentStride = v);
        Value<int>("--max-answer-length", nameof(BertFineTuneOptions.MaxAnswerLength), "Question answering: the longest answer, in sub-word tokens [30]", (o, v) => o.MaxAnswerLength = v);
        Value<int>("--top-k-answers", nameof(BertFineTuneOptions.TopKAnswers), "Question answering: answers kept per question, best first [1]", (o, v) => o.TopKAnswers = v);
        Value<bool>("--allow-no-answer", nameof(BertFineTuneOptions.AllowNoAnswer), "Question answering: the empty answer may win (SQuAD 2.0) [false]", (o, v) => o.AllowNoAnswer = v);
        Value<bool>("--tune-thresholds", nameof(BertFineTuneOptions.TuneThresholds), "Multi-label: tune each label's threshold for F1 on the validation data [false: 0.5]", (o, v) => o.TuneThresholds = v);
        var checkpointDir = new Option<string>("--checkpoint-dir") { Description = "Write checkpoints (weights, optimizer, data position, random generators) to this folder, every --checkpoint-every-steps steps, at each epoch end and on Ctrl+C" };
        Add(checkpointDir, nameof(BertFineTuneOptions.CheckpointDirectory), (r, o) => { if (r.GetValue(checkpointDir) is { } dir) o.CheckpointDirectory = dir; });
        Value<int>("--checkpoint-every-steps", nameof(BertFineTuneOptions.CheckpointEverySteps), "With --checkpoint-dir: also every N steps; 0 = epoch ends only [500]", (o, v) => o.CheckpointEverySteps = v);
        Value<int>("--keep-checkpoints", nameof(BertFineTuneOptions.KeepCheckpoints), "With --checkpoint-dir: the newest checkpoints kept [2]", (o, v) => o.KeepCheckpoints = v);
        Value<bool>("--resume", nameof(BertFineTuneOptions.ResumeFromCheckpoint), "Continue from the newest complete checkpoint in --checkpoint-dir (start from the beginning when there is none); same command, same result as an uninterrupted run", (o, v) => o.ResumeFromCheckpoint = v ? BertFineTuneOptions.LatestCheckpoint : null);
        Value<bool>("--skip-non-finite-steps", nameof(BertFineTuneOptions.SkipNonFiniteSteps), "Skip a step whose loss or gradient is NaN or infinite instead of stopping [false]", (o, v) => o.SkipNonFiniteSteps = v);
        Value<int>("--scoring-batch-size", nameof(BertFineTuneOptions.ScoringBatchSize), "Rows per forward pass when scoring [64]", (o, v) => o.ScoringBatchSize = v);
    }

    public IEnumerable<Option> Symbols => _bindings.Select(b => b.Symbol);

    /// <summary>Sets every option given on the command line; the others keep the preset's values.</summary>
    public void ApplyTo(ParseResult result, BertFineTuneOptions options)
    {
        foreach (var (_, apply) in _bindings) apply(result, options);
    }

    /// <summary>Rewrites the library's "BertFineTuneOptions.X" in a message as the flag the user typed.</summary>
    public string InFlags(string message)
    {
        foreach (var (property, flag) in _flagOfProperty)
            message = message.Replace($"BertFineTuneOptions.{property} ", $"{flag} ", StringComparison.Ordinal);
        return message;
    }

    private void Value<T>(string flag, string property, string description, Action<BertFineTuneOptions, T> set) where T : struct
    {
        var option = new Option<T?>(flag) { Description = description };
        Add(option, property, (r, o) => { if (r.GetValue(option) is T v) set(o, v); });
    }

    private void Add(Option option, string property, Action<ParseResult, BertFineTuneOptions> apply)
    {
        _bindings.Add((option, apply));
        _flagOfProperty[property] = option.Name;
    }
}
