using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace MLNetTuning.Models;

// The DistilBERT family (model_type "distilbert"), top to bottom as Hugging Face's modeling_distilbert.py: its config keys
// (dim, n_layers, …), embeddings without token types, its own parameter names (q_lin, sa_layer_norm, ffn.lin1, …), no
// pooler, and its sequence head (pre_classifier, ReLU, classifier on the first token). The fast paths are BERT's:
// LinearKernel for every projection, BertSelfAttention.Attend, FastDropout and ILinearKernelUser.

/// <summary>
/// A DistilBERT <c>config.json</c>, read onto <see cref="BertConfig"/>'s properties (<c>dim</c> is the hidden size,
/// <c>hidden_dim</c> the feed-forward size, <c>dropout</c> the hidden dropout, <c>seq_classif_dropout</c> the classifier's).
/// </summary>
internal sealed class DistilBertConfig : BertConfig
{
    private static readonly Dictionary<string, string> KeyNames = new()
    {
        ["hidden_size"] = "dim", ["num_hidden_layers"] = "n_layers", ["num_attention_heads"] = "n_heads", ["intermediate_size"] = "hidden_dim",
        ["hidden_act"] = "activation", ["hidden_dropout_prob"] = "dropout", ["attention_probs_dropout_prob"] = "attention_dropout",
        ["classifier_dropout"] = "seq_classif_dropout",
    };

    public DistilBertConfig()
    {
        TypeVocabSize = 0;
        ClassifierDropout = 0.2;
        // DistilBERT's LayerNorms use a fixed eps that its config does not name.
        LayerNormEps = 1e-12;
    }

    public override string ModelType => "distilbert";

    /// <summary>config.json's <c>qa_dropout</c>: dropout before <c>qa_outputs</c>.</summary>
    public double QaDropout { get; set; } = 0.1;

    public override double QuestionAnsweringDropout => QaDropout;

    /// <summary>DistilBERT's token head uses <c>dropout</c>; <c>seq_classif_dropout</c> is the sequence head's alone.</summary>
    public override double TokenClassifierDropout => HiddenDropoutProb;

    protected override string Key(string bertKey) => KeyNames.GetValueOrDefault(bertKey, bertKey);

    protected override void ReadFamilyKeys(JsonObject json, string source)
    {
        InvalidDataException Missing(string key) => new(
            $"{source}: the required key '{key}' is missing. A distilbert config.json must give vocab_size, dim, n_layers, n_heads and hidden_dim.");
        VocabSize = TakeInt(json, "vocab_size", source) ?? throw Missing("vocab_size");
        HiddenSize = TakeInt(json, "dim", source) ?? throw Missing("dim");
        NumHiddenLayers = TakeInt(json, "n_layers", source) ?? throw Missing("n_layers");
        NumAttentionHeads = TakeInt(json, "n_heads", source) ?? throw Missing("n_heads");
        IntermediateSize = TakeInt(json, "hidden_dim", source) ?? throw Missing("hidden_dim");
        HiddenAct = TakeString(json, "activation", source) ?? HiddenAct;
        HiddenDropoutProb = TakeDouble(json, "dropout", source) ?? HiddenDropoutProb;
        AttentionProbsDropoutProb = TakeDouble(json, "attention_dropout", source) ?? AttentionProbsDropoutProb;
        ClassifierDropout = TakeDouble(json, "seq_classif_dropout", source) ?? ClassifierDropout;
        QaDropout = TakeDouble(json, "qa_dropout", source) ?? QaDropout;
        MaxPositionEmbeddings = TakeInt(json, "max_position_embeddings", source) ?? MaxPositionEmbeddings;
        PadTokenId = TakeInt(json, "pad_token_id", source) ?? PadTokenId;
        InitializerRange = TakeDouble(json, "initializer_range", source) ?? InitializerRange;
        if (TakeBool(json, "sinusoidal_pos_embds", source) == true)
            throw new InvalidDataException($"{source}: sinusoidal_pos_embds is true, which is not supported; only learned position embeddings (false, as every published DistilBERT has) are.");
    }

    protected override void WriteFamilyKeys(JsonObject json)
    {
        json["vocab_size"] = VocabSize;
        json["dim"] = HiddenSize;
        json["n_layers"] = NumHiddenLayers;
        json["n_heads"] = NumAttentionHeads;
        json["hidden_dim"] = IntermediateSize;
        json["activation"] = HiddenAct;
        json["dropout"] = HiddenDropoutProb;
        json["attention_dropout"] = AttentionProbsDropoutProb;
        json["seq_classif_dropout"] = ClassifierDropout ?? HiddenDropoutProb;
        json["qa_dropout"] = QaDropout;
        json["max_position_embeddings"] = MaxPositionEmbeddings;
        json["sinusoidal_pos_embds"] = false;
        json["pad_token_id"] = PadTokenId;
        json["initializer_range"] = InitializerRange;
    }

    public override void Validate(string source = "config")
    {
        base.Validate(source);
        if (QaDropout < 0 || QaDropout >= 1 || double.IsNaN(QaDropout)) throw new InvalidDataException($"{source}: qa_dropout must be in [0, 1), but it is {QaDropout}.");
    }
}

/// <summary>Word and position embeddings (no token types), summed, then LayerNorm and dropout.</summary>
internal sealed class DistilBertEmbeddings : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "word_embeddings")] private readonly Embedding _wordEmbeddings;
    [ComponentName(Name = "position_embeddings")] private readonly Embedding _positionEmbeddings;
    [ComponentName(Name = "LayerNorm")] private readonly LayerNorm _layerNorm;
    private readonly double _dropout;

    public DistilBertEmbeddings(BertConfig config, Device? device = null) : base("Embeddings")
    {
        _wordEmbeddings = nn.Embedding(config.VocabSize, config.HiddenSize, padding_idx: config.PadTokenId, device: device);
        _positionEmbeddings = nn.Embedding(config.MaxPositionEmbeddings, config.HiddenSize, device: device);
        _layerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, device: device);
        _dropout = config.HiddenDropoutProb;
        RegisterComponents();
    }

    public Embedding WordEmbeddings => _wordEmbeddings;

    /// <summary>[B, T] ids → [B, T, H].</summary>
    public override Tensor forward(Tensor inputIds)
    {
        using var scope = NewDisposeScope();
        var positions = arange(inputIds.shape[1], dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0);
        var sum = _wordEmbeddings.forward(inputIds) + _positionEmbeddings.forward(positions);
        return FastDropout.Apply(_layerNorm.forward(sum), _dropout, training).MoveToOuterDisposeScope();
    }
}

/// <summary>Hugging Face's <c>MultiHeadSelfAttention</c>: <c>q_lin</c>, <c>k_lin</c>, <c>v_lin</c> and <c>out_lin</c>.</summary>
internal sealed class DistilBertSelfAttention : nn.Module<Tensor, Tensor?, Tensor>, ILinearKernelUser
{
    [ComponentName(Name = "q_lin")] private readonly Linear _query;
    [ComponentName(Name = "k_lin")] private readonly Linear _key;
    [ComponentName(Name = "v_lin")] private readonly Linear _value;
    [ComponentName(Name = "out_lin")] private readonly Linear _output;
    private readonly int _heads;
    private readonly int _headDim;
    private readonly double _dropout;

    public DistilBertSelfAttention(BertConfig config, Device? device = null) : base("MultiHeadSelfAttention")
    {
        _query = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        _key = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        _value = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        _output = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        _heads = config.NumAttentionHeads;
        _headDim = config.HeadDim;
        _dropout = config.AttentionProbsDropoutProb;
        RegisterComponents();
    }

    public LinearKernelMode Kernel { get; set; } = LinearKernelMode.Default;

    /// <summary>[B, T, H] hidden states and a [B, 1, 1, T] additive mask → [B, T, H], after <c>out_lin</c>.</summary>
    public override Tensor forward(Tensor hidden, Tensor? additiveMask)
    {
        using var scope = NewDisposeScope();
        long batch = hidden.shape[0], length = hidden.shape[1];
        // One product for query, key and value, as in BertSelfAttention.
        // [B, T, 3H] -> [3, B, heads, T, headDim]
        var projected = LinearKernel.Apply(hidden, this, QueryKeyValue, Kernel).view(batch, length, 3, _heads, _headDim).permute(2, 0, 3, 1, 4);
        var context = BertSelfAttention.Attend(projected[0], projected[1], projected[2], additiveMask, training ? _dropout : 0);
        // [B, heads, T, headDim] -> [B, T, H]
        var merged = context.transpose(1, 2).reshape(batch, length, _heads * _headDim);
        return LinearKernel.Apply(_output, merged, Kernel).MoveToOuterDisposeScope();
    }

    /// <summary>The [3H, H] weight and [3H] bias of <c>q_lin</c>, <c>k_lin</c> and <c>v_lin</c>, joined.</summary>
    private (Tensor, Tensor?) QueryKeyValue() =>
        (cat([_query.weight!, _key.weight!, _value.weight!], 0), cat([_query.bias!, _key.bias!, _value.bias!], 0));
}

/// <summary>Hugging Face's <c>FFN</c>: <c>lin1</c>, the activation, <c>lin2</c> and dropout.</summary>
internal sealed class DistilBertFeedForward : nn.Module<Tensor, Tensor>, ILinearKernelUser
{
    [ComponentName(Name = "lin1")] private readonly Linear _lin1;
    [ComponentName(Name = "lin2")] private readonly Linear _lin2;
    private readonly string _activation;
    private readonly double _dropout;

    public DistilBertFeedForward(BertConfig config, Device? device = null) : base("FFN")
    {
        _lin1 = nn.Linear(config.HiddenSize, config.IntermediateSize, device: device);
        _lin2 = nn.Linear(config.IntermediateSize, config.HiddenSize, device: device);
        _activation = config.HiddenAct;
        _dropout = config.HiddenDropoutProb;
        RegisterComponents();
    }

    public LinearKernelMode Kernel { get; set; } = LinearKernelMode.Default;

    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        var x = LinearKernel.Apply(_lin1, hidden, Kernel, _activation);
        return FastDropout.Apply(LinearKernel.Apply(_lin2, x, Kernel), _dropout, training).MoveToOuterDisposeScope();
    }
}

/// <summary>Hugging Face's <c>TransformerBlock</c>: attention, <c>sa_layer_norm</c>, the feed-forward block, <c>output_layer_norm</c>.</summary>
internal sealed class DistilBertLayer : nn.Module<Tensor, Tensor?, Tensor>
{
    [ComponentName(Name = "attention")] private readonly DistilBertSelfAttention _attention;
    [ComponentName(Name = "sa_layer_norm")] private readonly LayerNorm _attentionNorm;
    [ComponentName(Name = "ffn")] private readonly DistilBertFeedForward _feedForward;
    [ComponentName(Name = "output_layer_norm")] private readonly LayerNorm _outputNorm;

    public DistilBertLayer(BertConfig config, Device? device = null) : base("TransformerBlock")
    {
        _attention = new DistilBertSelfAttention(config, device);
        _attentionNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, device: device);
        _feedForward = new DistilBertFeedForward(config, device);
        _outputNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, device: device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, Tensor? additiveMask)
    {
        using var scope = NewDisposeScope();
        // The residual stream stays float32: a bf16 product added to it promotes back before LayerNorm.
        using var one = 1.ToScalar();   // not add()'s temporary alpha: see "Scalar lifetime" in Kernels.cs
        var attended = _attentionNorm.forward(_attention.forward(hidden, additiveMask).add(hidden, one));
        return _outputNorm.forward(_feedForward.forward(attended).add(attended, one)).MoveToOuterDisposeScope();
    }
}

/// <summary>Hugging Face's <c>Transformer</c>: the stack of blocks, keys <c>transformer.layer.{i}.*</c>.</summary>
internal sealed class DistilBertTransformer : nn.Module<Tensor, Tensor?, Tensor>
{
    [ComponentName(Name = "layer")] private readonly ModuleList<DistilBertLayer> _layers;

    public DistilBertTransformer(BertConfig config, Device? device = null) : base("Transformer")
    {
        _layers = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new DistilBertLayer(config, device)).ToArray());
        RegisterComponents();
    }

    public IReadOnlyList<DistilBertLayer> Layers => _layers.ToList();

    public override Tensor forward(Tensor hidden, Tensor? additiveMask)
    {
        using var scope = NewDisposeScope();
        foreach (var layer in _layers) hidden = layer.forward(hidden, additiveMask);
        return hidden.MoveToOuterDisposeScope();
    }
}

/// <summary>The bare encoder (Hugging Face's <c>DistilBertModel</c>): embeddings and transformer, no pooler.</summary>
internal sealed class DistilBertModel : EncoderModel
{
    [ComponentName(Name = "embeddings")] private readonly DistilBertEmbeddings _embeddings;
    [ComponentName(Name = "transformer")] private readonly DistilBertTransformer _transformer;

    public DistilBertModel(BertConfig config, Device? device = null) : base("DistilBertModel", config)
    {
        _embeddings = new DistilBertEmbeddings(config, device);
        _transformer = new DistilBertTransformer(config, device);
        RegisterComponents();
    }

    public override nn.Module EmbeddingModule => _embeddings;
    public override Embedding WordEmbeddings => _embeddings.WordEmbeddings;
    public override IReadOnlyList<nn.Module> Layers => _transformer.Layers;
    public override nn.Module? PoolerModule => null;

    /// <summary>[B, T] ids and mask → last hidden state [B, T, H]; no pooled output, and token types are ignored (DistilBERT has none).</summary>
    public override (Tensor LastHidden, Tensor? Pooled) Forward(Tensor inputIds, Tensor attentionMask, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        var hidden = _embeddings.forward(inputIds);
        var last = _transformer.forward(hidden, AdditiveMask(attentionMask, MaskType(hidden)));
        return (last.MoveToOuterDisposeScope(), null);
    }
}

/// <summary>Hugging Face's <c>DistilBertForSequenceClassification</c>: the first token through <c>pre_classifier</c>, ReLU, dropout and <c>classifier</c>.</summary>
internal sealed class DistilBertForSequenceClassification : SequenceClassifierModel
{
    [ComponentName(Name = "distilbert")] private readonly DistilBertModel _distilbert;
    [ComponentName(Name = "pre_classifier")] private readonly Linear _preClassifier;
    [ComponentName(Name = "classifier")] private readonly Linear _classifier;
    private readonly double _dropout;

    public DistilBertForSequenceClassification(BertConfig config, Device? device = null) : base("DistilBertForSequenceClassification")
    {
        _distilbert = new DistilBertModel(config, device);
        _preClassifier = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        _classifier = nn.Linear(config.HiddenSize, config.NumLabels, device: device);
        _dropout = config.ClassifierDropout ?? config.HiddenDropoutProb;
        RegisterComponents();
        BertInit.Apply(_preClassifier, config.InitializerRange);
        BertInit.Apply(_classifier, config.InitializerRange);
    }

    public override EncoderModel Bert => _distilbert;
    public override Linear Classifier => _classifier;

    /// <summary>[B, T] ids and mask → logits [B, NumLabels].</summary>
    public override Tensor Forward(Tensor inputIds, Tensor attentionMask, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        var (last, _) = _distilbert.Forward(inputIds, attentionMask);
        var pooled = nn.functional.relu(_preClassifier.forward(last.select(1, 0)));
        return _classifier.forward(FastDropout.Apply(pooled, _dropout, training)).MoveToOuterDisposeScope();
    }
}
