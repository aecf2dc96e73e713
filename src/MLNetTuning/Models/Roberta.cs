using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace MLNetTuning.Models;

// The RoBERTa family (model_types "roberta" and "xlm-roberta"), as Hugging Face's modeling_roberta.py and
// modeling_xlm_roberta.py: BERT's encoder with the same parameter names (so BertModel serves as RobertaModel), one token
// type, positions counted from padding_idx + 1, and its own sequence-classification head. XLM-RoBERTa differs only in
// its tokenizer (SentencePiece Unigram), which the registry names.

/// <summary>
/// A RoBERTa or XLM-RoBERTa <c>config.json</c>: BERT's keys with RoBERTa's defaults (pad id 1, one token type,
/// LayerNorm eps 1e-5, 514 positions).
/// </summary>
internal sealed class RobertaConfig : BertConfig
{
    public RobertaConfig(string modelType)
    {
        ModelType = modelType;
        PadTokenId = 1;
        TypeVocabSize = 1;
        LayerNormEps = 1e-5;
        MaxPositionEmbeddings = 514;
    }

    public override string ModelType { get; }

    /// <summary>
    /// Hugging Face's <c>create_position_ids_from_input_ids</c>: real tokens count 1, 2, 3, … from <c>padding_idx + 1</c>,
    /// and padding keeps <c>padding_idx</c>, so a padded row embeds its real tokens exactly as an unpadded one does.
    /// </summary>
    public override Tensor PositionIds(Tensor inputIds)
    {
        using var scope = NewDisposeScope();
        // Scalars as using locals: see "Scalar lifetime" in Kernels.cs.
        using var pad = PadTokenId.ToScalar();
        using var one = 1.ToScalar();
        var real = inputIds.ne(pad).to_type(ScalarType.Int64);   // [B, T]
        return cumsum(real, 1).mul_(real).add_(pad, one).MoveToOuterDisposeScope();
    }

    /// <summary>The position table spends its first <c>padding_idx + 1</c> rows on padding, so 514 positions take 512 tokens.</summary>
    public override int MaxTokens => MaxPositionEmbeddings - PadTokenId - 1;

    public override void Validate(string source = "config")
    {
        base.Validate(source);
        if (MaxTokens <= 0)
            throw new InvalidDataException($"{source}: max_position_embeddings ({MaxPositionEmbeddings}) leaves no position for a token: RoBERTa's positions start at pad_token_id + 1 ({PadTokenId + 1}).");
    }
}

/// <summary>Hugging Face's <c>RobertaClassificationHead</c>: the first token (<c>&lt;s&gt;</c>) through dropout, dense, tanh, dropout and <c>out_proj</c>.</summary>
internal sealed class RobertaClassificationHead : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "dense")] private readonly Linear _dense;
    [ComponentName(Name = "out_proj")] private readonly Linear _outProj;
    private readonly double _dropout;

    public RobertaClassificationHead(BertConfig config, Device? device = null) : base("RobertaClassificationHead")
    {
        _dense = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        _outProj = nn.Linear(config.HiddenSize, config.NumLabels, device: device);
        _dropout = config.ClassifierDropout ?? config.HiddenDropoutProb;
        RegisterComponents();
    }

    public Linear OutProj => _outProj;

    /// <summary>[B, T, H] last hidden state → [B, NumLabels].</summary>
    public override Tensor forward(Tensor lastHidden)
    {
        using var scope = NewDisposeScope();
        var x = FastDropout.Apply(lastHidden.select(1, 0), _dropout, training);
        x = FastDropout.Apply(tanh(_dense.forward(x)), _dropout, training);
        return _outProj.forward(x).MoveToOuterDisposeScope();
    }
}

/// <summary>Hugging Face's <c>RobertaForSequenceClassification</c> (and XLM-RoBERTa's): the encoder without a pooler and <see cref="RobertaClassificationHead"/>.</summary>
internal sealed class RobertaForSequenceClassification : SequenceClassifierModel
{
    [ComponentName(Name = "roberta")] private readonly BertModel _roberta;
    [ComponentName(Name = "classifier")] private readonly RobertaClassificationHead _classifier;

    public RobertaForSequenceClassification(BertConfig config, Device? device = null) : base(ModelFamilies.Of(config).ClassPrefix + "ForSequenceClassification")
    {
        // Hugging Face builds RoBERTa's sequence head without the pooler: the head has its own dense layer.
        _roberta = new BertModel(config, addPoolingLayer: false, device);
        _classifier = new RobertaClassificationHead(config, device);
        RegisterComponents();
        BertInit.Apply(_classifier, config.InitializerRange);
    }

    public override EncoderModel Bert => _roberta;
    public override Linear Classifier => _classifier.OutProj;
    public override string HeadName => "classifier.out_proj";

    /// <summary>[B, T] ids and mask → logits [B, NumLabels]; token types are all 0 in RoBERTa.</summary>
    public override Tensor Forward(Tensor inputIds, Tensor attentionMask, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        var (last, _) = _roberta.Forward(inputIds, attentionMask, tokenTypeIds);
        return _classifier.forward(last).MoveToOuterDisposeScope();
    }
}
