using MLNetTuning.Models;
using MLNetTuning.Text;
using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>A fine-tuned BERT with everything needed to score text: weights, tokenizer, labels and scoring settings.</summary>
internal sealed class FineTunedBert : IDisposable
{
    private readonly object _gate = new();

    /// <summary>A model as a zip or a test rebuilds it: the task from its kind, the head's labels and the label standardisation.</summary>
    public FineTunedBert(BertTaskModel model, ITextTokenizer tokenizer, BertTask task, int maxSequenceLength,
        int scoringBatchSize, float labelMean, float labelScale, TrainingHistory history, Device device)
        : this(model, tokenizer, FineTuneTasks.ForScoring(task, model.Config.Labels, labelMean, labelScale), maxSequenceLength, scoringBatchSize, history, device)
    {
    }

    public FineTunedBert(BertTaskModel model, ITextTokenizer tokenizer, FineTuneTask task, int maxSequenceLength,
        int scoringBatchSize, TrainingHistory history, Device device)
    {
        _model = model;
        Tokenizer = tokenizer;
        Task = task;
        MaxSequenceLength = maxSequenceLength;
        ScoringBatchSize = scoringBatchSize;
        History = history;
        Device = device;
        model.eval();
        // Nothing trains a fitted model again, so its linear layers may keep weights prepared for scoring.
        model.Bert.ScoringOnly = true;
    }

    private readonly BertTaskModel _model;
    private bool _disposed;

    /// <summary>The weights; throws once disposed, rather than letting a save write a checkpoint with no tensors.</summary>
    public BertTaskModel Model => _disposed ? throw DisposedModel.Error(nameof(BertFineTuneTransformer)) : _model;
    public ITextTokenizer Tokenizer { get; }
    public FineTuneTask Task { get; }
    public BertConfig Config => _model.Config;
    public int MaxSequenceLength { get; }
    public int ScoringBatchSize { get; }
    public TrainingHistory History { get; }
    public Device Device { get; }

    /// <summary>The number format the model scores in (what it trained in, unless this CPU lacks bfloat16 instructions).</summary>
    public NumericPrecision Precision => Model.Precision;

    /// <summary>Logits [N, K] row-major for texts (and pairs), in input order; regression scores come back in label units.</summary>
    public float[] Score(IReadOnlyList<string?> texts, IReadOnlyList<string?>? pairs)
    {
        var examples = Tokenize(Tokenizer, texts, pairs, Enumerable.Repeat(0f, texts.Count).ToList(), MaxSequenceLength);
        float[] logits = Logits(examples);
        Task.ToLabelUnits(logits);
        return logits;
    }

    /// <summary>The head's raw outputs for tokenized examples, in input order (see <see cref="FineTuneLoop.Predict"/>).</summary>
    public float[] Logits(IReadOnlyList<TokenizedExample> examples)
    {
        // One forward pass at a time per model: TorchSharp modules are not documented as safe for concurrent forwards.
        lock (_gate) return FineTuneLoop.Predict(Model, null, examples, ScoringBatchSize, Tokenizer.PadId, Device).Logits;
    }

    /// <summary>Tokenizes once per Fit, in parallel: a tokenizer holds no per-call state.</summary>
    internal static List<TokenizedExample> Tokenize(ITextTokenizer tokenizer, IReadOnlyList<string?> texts, IReadOnlyList<string?>? pairs,
        IReadOnlyList<float> labels, int maxLength)
    {
        var examples = new TokenizedExample[texts.Count];
        Parallel.For(0, texts.Count, i =>
        {
            var encoded = tokenizer.Encode(texts[i] ?? "", pairs?[i] ?? (pairs is null ? null : ""), maxLength);
            examples[i] = new TokenizedExample(encoded.Ids, encoded.TypeIds, labels[i]);
        });
        return [.. examples];
    }

    /// <summary>Frees the weights once any forward pass in progress has finished; later scoring throws ObjectDisposedException.</summary>
    public void Dispose()
    {
        // A PredictionEngine disposed on one thread disposes the model that another engine may be scoring with right now.
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _model.Dispose();
        }
    }
}
