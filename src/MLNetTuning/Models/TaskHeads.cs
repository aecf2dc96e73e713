using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetTuning.Models;

// The task heads every family shares, and the base of the per-family sequence heads. Hugging Face writes a copy of the
// token-classification and question-answering heads into each modeling_*.py ("Copied from"); they differ only in the
// encoder's key prefix (bert., roberta., distilbert.) and in DistilBERT's dropout before qa_outputs, so here they are
// one class each, and the family registry gives the prefix.

/// <summary>How a sequence head turns logits and labels into a loss, as Hugging Face's <c>problem_type</c> chooses.</summary>
internal enum BertProblemType { Regression, SingleLabelClassification, MultiLabelClassification }

/// <summary>Extra terms of the classification loss, set by the training options.</summary>
internal sealed record BertLossOptions(float[]? ClassWeights = null, double LabelSmoothing = 0);

/// <summary>
/// What the loop, the scorer and the exporter need of an encoder with a task head: the encoder, the final linear layer
/// and its state-dict name, and a forward pass from ids to logits.
/// </summary>
internal abstract class BertTaskModel(string name) : nn.Module(name)
{
    public virtual BertConfig Config => Bert.Config;

    /// <summary>The encoder, of whatever family (the name stays: these are the BERT family of encoders).</summary>
    public abstract EncoderModel Bert { get; }

    /// <summary>The head's last linear layer, whose outputs are the logits.</summary>
    public abstract Linear Classifier { get; }

    /// <summary>The state-dict name of <see cref="Classifier"/>: <c>classifier</c>, <c>classifier.out_proj</c> (RoBERTa) or <c>qa_outputs</c>.</summary>
    public virtual string HeadName => "classifier";

    /// <summary>Whether the head gives logits for every token ([B, T, K]) rather than one row per text ([B, K]).</summary>
    public virtual bool PerToken => false;

    /// <summary>The encoder's matrix-product precision; the head and the loss stay float32.</summary>
    public NumericPrecision Precision { get => Bert.Precision; set => Bert.Precision = value; }

    /// <summary>[B, T] ids, mask and token types → logits ([B, NumLabels] per text, or [B, T, NumLabels] per token).</summary>
    public abstract Tensor Forward(Tensor inputIds, Tensor attentionMask, Tensor? tokenTypeIds = null);

    /// <summary>The head's loss for <paramref name="logits"/> and the labels the task collates.</summary>
    public abstract Tensor Loss(Tensor logits, Tensor labels, BertLossOptions? options = null);

    /// <summary>Builds the family's encoder and registers it under the family's checkpoint prefix (<c>bert</c>, <c>roberta</c>, …).</summary>
    protected EncoderModel RegisterEncoder(BertConfig config, bool addPoolingLayer, Device? device)
    {
        var family = ModelFamilies.Of(config);
        var encoder = family.CreateEncoder(config, addPoolingLayer, device);
        register_module(family.Prefix, encoder);
        return encoder;
    }
}

/// <summary>
/// A head that gives one row of logits per text ([B, K]): the loss for regression, single-label and multi-label
/// classification, which every family's <c>*ForSequenceClassification</c> shares.
/// </summary>
internal abstract class SequenceClassifierModel(string name) : BertTaskModel(name)
{
    /// <summary>Hugging Face's rule when <c>problem_type</c> is unset: one label is regression, integer labels single-label.</summary>
    public BertProblemType ProblemType(ScalarType labelType) => Config.ProblemType switch
    {
        "regression" => BertProblemType.Regression,
        "single_label_classification" => BertProblemType.SingleLabelClassification,
        "multi_label_classification" => BertProblemType.MultiLabelClassification,
        _ when Config.NumLabels == 1 => BertProblemType.Regression,
        _ when labelType is ScalarType.Int64 or ScalarType.Int32 => BertProblemType.SingleLabelClassification,
        _ => BertProblemType.MultiLabelClassification,
    };

    /// <summary>The loss for <paramref name="logits"/> [B, K] and labels: class indices [B], targets [B] or [B, K], or multi-hot [B, K].</summary>
    public override Tensor Loss(Tensor logits, Tensor labels, BertLossOptions? options = null)
    {
        using var scope = NewDisposeScope();
        options ??= new BertLossOptions();
        Tensor loss;
        switch (ProblemType(labels.dtype))
        {
            case BertProblemType.Regression:
                loss = F.mse_loss(Config.NumLabels == 1 ? logits.squeeze(-1) : logits, labels.to_type(logits.dtype));
                break;
            case BertProblemType.SingleLabelClassification:
                using (var weight = options.ClassWeights is null ? null : tensor(options.ClassWeights, device: logits.device).to_type(logits.dtype))
                    loss = F.cross_entropy(logits, labels.to_type(ScalarType.Int64), weight, label_smoothing: options.LabelSmoothing);
                break;
            default:
                loss = F.binary_cross_entropy_with_logits(logits, labels.to_type(logits.dtype));
                break;
        }
        return loss.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Hugging Face's <c>BertForTokenClassification</c> (and RoBERTa's and DistilBERT's, which are the same): per-token logits
/// over the hidden states (no pooler).
/// </summary>
internal sealed class BertForTokenClassification : BertTaskModel
{
    /// <summary>The label that marks a token to ignore in the loss (padding, special tokens, word continuations).</summary>
    public const long IgnoreIndex = -100;

    private readonly EncoderModel _encoder;
    private readonly double _dropout;
    private readonly Linear _classifier;

    public BertForTokenClassification(BertConfig config, Device? device = null) : base(ModelFamilies.Of(config).ClassPrefix + "ForTokenClassification")
    {
        _encoder = RegisterEncoder(config, addPoolingLayer: false, device);
        _dropout = config.TokenClassifierDropout;
        _classifier = nn.Linear(config.HiddenSize, config.NumLabels, device: device);
        register_module("classifier", _classifier);
        BertInit.Apply(_classifier, config.InitializerRange);
    }

    public override EncoderModel Bert => _encoder;
    public override Linear Classifier => _classifier;
    public override bool PerToken => true;

    /// <summary>[B, T] ids, mask and token types → logits [B, T, NumLabels].</summary>
    public override Tensor Forward(Tensor inputIds, Tensor attentionMask, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        var (last, _) = _encoder.Forward(inputIds, attentionMask, tokenTypeIds);
        return _classifier.forward(FastDropout.Apply(last, _dropout, training)).MoveToOuterDisposeScope();
    }

    /// <summary>Cross-entropy over every token whose label is not <see cref="IgnoreIndex"/>.</summary>
    public override Tensor Loss(Tensor logits, Tensor labels, BertLossOptions? options = null)
    {
        using var scope = NewDisposeScope();
        options ??= new BertLossOptions();
        using var weight = options.ClassWeights is null ? null : tensor(options.ClassWeights, device: logits.device).to_type(logits.dtype);
        // [B, T, K] -> [B*T, K] and [B, T] -> [B*T]
        return F.cross_entropy(logits.reshape(-1, Config.NumLabels), labels.reshape(-1).to_type(ScalarType.Int64), weight,
            ignore_index: IgnoreIndex, label_smoothing: options.LabelSmoothing).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Hugging Face's <c>BertForQuestionAnswering</c> (and RoBERTa's and DistilBERT's): a linear <c>qa_outputs</c> over every
/// hidden state (no pooler) giving each token a start and an end logit, [B, T, 2]. DistilBERT's config adds a dropout
/// before it (<see cref="BertConfig.QuestionAnsweringDropout"/>).
/// </summary>
internal sealed class BertForQuestionAnswering : BertTaskModel
{
    private readonly EncoderModel _encoder;
    private readonly double _dropout;
    private readonly Linear _qaOutputs;

    public BertForQuestionAnswering(BertConfig config, Device? device = null) : base(ModelFamilies.Of(config).ClassPrefix + "ForQuestionAnswering")
    {
        if (config.NumLabels != 2)
            throw new ArgumentException($"{ModelFamilies.Of(config).ClassPrefix}ForQuestionAnswering needs 2 labels (start and end), but the config has {config.NumLabels}.", nameof(config));
        _encoder = RegisterEncoder(config, addPoolingLayer: false, device);
        _dropout = config.QuestionAnsweringDropout;
        _qaOutputs = nn.Linear(config.HiddenSize, 2, device: device);
        // Hugging Face names the span head qa_outputs, not classifier; checkpoints and exports need that key.
        register_module("qa_outputs", _qaOutputs);
        BertInit.Apply(_qaOutputs, config.InitializerRange);
    }

    public override EncoderModel Bert => _encoder;
    public override Linear Classifier => _qaOutputs;
    public override string HeadName => "qa_outputs";
    public override bool PerToken => true;

    /// <summary>[B, T] ids, mask and token types → logits [B, T, 2]: the start logit, then the end logit, of each token.</summary>
    public override Tensor Forward(Tensor inputIds, Tensor attentionMask, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        var (last, _) = _encoder.Forward(inputIds, attentionMask, tokenTypeIds);
        return _qaOutputs.forward(FastDropout.Apply(last, _dropout, training)).MoveToOuterDisposeScope();
    }

    /// <summary>The mean of the start and the end cross-entropies; <paramref name="labels"/> is [B, 2] (start, end positions).</summary>
    public override Tensor Loss(Tensor logits, Tensor labels, BertLossOptions? options = null)
    {
        using var scope = NewDisposeScope();
        var positions = labels.to_type(ScalarType.Int64);
        // [B, T, 2] -> [B, T] twice
        var start = F.cross_entropy(logits.select(2, 0), positions.select(1, 0));
        var end = F.cross_entropy(logits.select(2, 1), positions.select(1, 1));
        return ((start + end) / 2).MoveToOuterDisposeScope();
    }
}
