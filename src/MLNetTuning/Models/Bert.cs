using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetTuning.Models;

// The BERT family, top to bottom (config, embeddings, attention, layer, encoder, pooler, heads), with Hugging Face's parameter names so that `BertModel`,
// `BertForSequenceClassification`, `BertForTokenClassification` and `BertForQuestionAnswering` checkpoints load strictly.
// Every module takes the family config, never loose numbers. Field names that must match checkpoint keys
// are given with [ComponentName]; TorchSharp's RegisterComponents uses them as state-dict keys.

/// <summary>
/// A Hugging Face BERT <c>config.json</c>: the sizes, activations and dropouts of one checkpoint, plus its labels. The other
/// families of BERT-style encoders (RoBERTa, DistilBERT) derive from it, so that the loop, the heads and the exporter read
/// one shape of config; each family file says how its own keys map onto it.
/// </summary>
/// <remarks>Keys not modelled here (for example <c>transformers_version</c>) are kept and written back unchanged.</remarks>
internal class BertConfig : PretrainedConfig
{
    private static readonly string[] SupportedActivations = ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"];

    public override string ModelType => "bert";

    public int VocabSize { get; set; }
    public int HiddenSize { get; set; }
    public int NumHiddenLayers { get; set; }
    public int NumAttentionHeads { get; set; }
    public int IntermediateSize { get; set; }
    public string HiddenAct { get; set; } = "gelu";
    public double HiddenDropoutProb { get; set; } = 0.1;
    public double AttentionProbsDropoutProb { get; set; } = 0.1;
    /// <summary>Hugging Face's <c>classifier_dropout</c>; null means "use <see cref="HiddenDropoutProb"/>".</summary>
    public double? ClassifierDropout { get; set; }
    public int MaxPositionEmbeddings { get; set; } = 512;
    /// <summary>Token types (segments) the embeddings know; 0 for a family without token-type embeddings (DistilBERT).</summary>
    public int TypeVocabSize { get; set; } = 2;
    public double LayerNormEps { get; set; } = 1e-12;
    public int PadTokenId { get; set; }
    public double InitializerRange { get; set; } = 0.02;
    public string PositionEmbeddingType { get; set; } = "absolute";

    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Dropout before the question-answering head: none in BERT and RoBERTa.</summary>
    public virtual double QuestionAnsweringDropout => 0;

    /// <summary>
    /// [B, T] input ids → [B, T] position ids. BERT counts 0..T-1 in every row; computed, not a buffer, so `position_ids`
    /// in old checkpoints is just tolerated.
    /// </summary>
    /// <summary>Dropout before the token-classification head: <c>classifier_dropout</c>, else the hidden dropout.</summary>
    public virtual double TokenClassifierDropout => ClassifierDropout ?? HiddenDropoutProb;

    /// <summary>The longest input the position table takes (RoBERTa spends rows on padding).</summary>
    public virtual int MaxTokens => MaxPositionEmbeddings;

    public virtual Tensor PositionIds(Tensor inputIds) =>
        arange(inputIds.shape[1], dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0);

    public BertConfig Clone() => (BertConfig)CloneBase();

    /// <summary>Reads and validates a Hugging Face <c>config.json</c> of any registered family (<see cref="ModelFamilies"/>).</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">A required key is missing, or a value is invalid or unsupported.</exception>
    public static BertConfig FromFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"The model config '{path}' does not exist. A Hugging Face model folder needs a config.json.", path);
        IO.FileLimits.CheckFileSize(path, IO.FileLimits.MaxConfigJsonBytes, "a config.json");
        JsonObject json;
        try { json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: expected a JSON object."); }
        catch (JsonException e) { throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e); }
        // JsonObject reports a key given twice (ArgumentException) and an escaped lone surrogate (InvalidOperationException)
        // only when it is read; both mean a damaged file, and the fields read by name already say which one they were.
        try { return FromJson(json, path); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path} is not a valid config.json: {e.Message} Replace it with the config.json of the model's original folder.", e);
        }
    }

    /// <summary>Reads a parsed config.json: its <c>model_type</c> (BERT when absent) picks the family, which reads the rest.</summary>
    public static BertConfig FromJson(JsonObject json, string source)
    {
        string modelType = json["model_type"] is JsonValue v && TryGet(v, out string? s) && s is not null ? s
            : json["model_type"] is null ? "bert"
            : throw new InvalidDataException($"{source}: 'model_type' must be a string, but it is {Describe(json["model_type"])}.");
        var config = ModelFamilies.Get(modelType, source).NewConfig();
        config.Read(json, source);
        return config;
    }

    protected override void ReadFamilyKeys(JsonObject json, string source)
    {
        VocabSize = TakeInt(json, "vocab_size", source) ?? throw Missing("vocab_size", source);
        HiddenSize = TakeInt(json, "hidden_size", source) ?? throw Missing("hidden_size", source);
        NumHiddenLayers = TakeInt(json, "num_hidden_layers", source) ?? throw Missing("num_hidden_layers", source);
        NumAttentionHeads = TakeInt(json, "num_attention_heads", source) ?? throw Missing("num_attention_heads", source);
        IntermediateSize = TakeInt(json, "intermediate_size", source) ?? throw Missing("intermediate_size", source);
        HiddenAct = TakeString(json, "hidden_act", source) ?? HiddenAct;
        HiddenDropoutProb = TakeDouble(json, "hidden_dropout_prob", source) ?? HiddenDropoutProb;
        AttentionProbsDropoutProb = TakeDouble(json, "attention_probs_dropout_prob", source) ?? AttentionProbsDropoutProb;
        ClassifierDropout = TakeDouble(json, "classifier_dropout", source);
        MaxPositionEmbeddings = TakeInt(json, "max_position_embeddings", source) ?? MaxPositionEmbeddings;
        TypeVocabSize = TakeInt(json, "type_vocab_size", source) ?? TypeVocabSize;
        LayerNormEps = TakeDouble(json, "layer_norm_eps", source) ?? LayerNormEps;
        PadTokenId = TakeInt(json, "pad_token_id", source) ?? PadTokenId;
        InitializerRange = TakeDouble(json, "initializer_range", source) ?? InitializerRange;
        PositionEmbeddingType = TakeString(json, "position_embedding_type", source) ?? PositionEmbeddingType;
    }

    protected override void WriteFamilyKeys(JsonObject json)
    {
        json["vocab_size"] = VocabSize;
        json["hidden_size"] = HiddenSize;
        json["num_hidden_layers"] = NumHiddenLayers;
        json["num_attention_heads"] = NumAttentionHeads;
        json["intermediate_size"] = IntermediateSize;
        json["hidden_act"] = HiddenAct;
        json["hidden_dropout_prob"] = HiddenDropoutProb;
        json["attention_probs_dropout_prob"] = AttentionProbsDropoutProb;
        json["classifier_dropout"] = ClassifierDropout;
        json["max_position_embeddings"] = MaxPositionEmbeddings;
        json["type_vocab_size"] = TypeVocabSize;
        json["layer_norm_eps"] = LayerNormEps;
        json["pad_token_id"] = PadTokenId;
        json["initializer_range"] = InitializerRange;
        json["position_embedding_type"] = PositionEmbeddingType;
    }

    /// <summary>Checks every value; the message names the key, the value and what is allowed.</summary>
    public override void Validate(string source = "config")
    {
        void Positive(string key, int value)
        {
            if (value <= 0) throw new InvalidDataException($"{source}: {key} must be a positive integer, but it is {value}.");
        }
        Positive(Key("vocab_size"), VocabSize);
        Positive(Key("hidden_size"), HiddenSize);
        Positive(Key("num_hidden_layers"), NumHiddenLayers);
        Positive(Key("num_attention_heads"), NumAttentionHeads);
        Positive(Key("intermediate_size"), IntermediateSize);
        Positive(Key("max_position_embeddings"), MaxPositionEmbeddings);
        if (TypeVocabSize < 0 || (TypeVocabSize == 0 && ModelFamilies.Get(ModelType, source).HasTokenTypes))
            throw new InvalidDataException($"{source}: type_vocab_size must be a positive integer, but it is {TypeVocabSize}.");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new InvalidDataException($"{source}: the hidden size ({HiddenSize}) is not a multiple of the number of attention heads ({NumAttentionHeads}); see {Key("hidden_size")} and {Key("num_attention_heads")}.");
        if (!SupportedActivations.Contains(HiddenAct))
            throw new InvalidDataException($"{source}: {Key("hidden_act")} '{HiddenAct}' is not supported; use one of {string.Join(", ", SupportedActivations)}.");
        foreach (var (key, p) in new[] { (Key("hidden_dropout_prob"), HiddenDropoutProb), (Key("attention_probs_dropout_prob"), AttentionProbsDropoutProb), (Key("classifier_dropout"), ClassifierDropout ?? 0) })
            if (p < 0 || p >= 1 || double.IsNaN(p)) throw new InvalidDataException($"{source}: {key} must be in [0, 1), but it is {p.ToString(CultureInfo.InvariantCulture)}.");
        if (LayerNormEps <= 0) throw new InvalidDataException($"{source}: layer_norm_eps must be positive, but it is {LayerNormEps}.");
        if (PadTokenId < 0 || PadTokenId >= VocabSize) throw new InvalidDataException($"{source}: pad_token_id {PadTokenId} is outside the vocabulary [0, {VocabSize}).");
        if (PositionEmbeddingType != "absolute")
            throw new InvalidDataException($"{source}: position_embedding_type '{PositionEmbeddingType}' is not supported; only 'absolute' is.");
        base.Validate(source);
    }

    /// <summary>The family's name for one of BERT's config keys, so that a message names the key the user's file has.</summary>
    protected virtual string Key(string bertKey) => bertKey;

    private InvalidDataException Missing(string key, string source) =>
        new($"{source}: the required key '{key}' is missing. A {ModelType} config.json must give {string.Join(", ", new[] { "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size" }.Select(Key))}.");
}

/// <summary>Word, position and token-type embeddings, summed, then LayerNorm and dropout.</summary>
internal sealed class BertEmbeddings : nn.Module<Tensor, Tensor, Tensor>
{
    [ComponentName(Name = "word_embeddings")] private readonly Embedding _wordEmbeddings;
    [ComponentName(Name = "position_embeddings")] private readonly Embedding _positionEmbeddings;
    [ComponentName(Name = "token_type_embeddings")] private readonly Embedding _tokenTypeEmbeddings;
    // "LayerNorm" is not camel-cased, to match the original TensorFlow variable name that checkpoints keep.
    [ComponentName(Name = "LayerNorm")] private readonly LayerNorm _layerNorm;
    private readonly double _dropout;
    private readonly BertConfig _config;

    public Embedding WordEmbeddings => _wordEmbeddings;

    public BertEmbeddings(BertConfig config, Device? device = null) : base("BertEmbeddings")
    {
        _config = config;
        _wordEmbeddings = nn.Embedding(config.VocabSize, config.HiddenSize, padding_idx: config.PadTokenId, device: device);
        _positionEmbeddings = nn.Embedding(config.MaxPositionEmbeddings, config.HiddenSize, device: device);
        _tokenTypeEmbeddings = nn.Embedding(config.TypeVocabSize, config.HiddenSize, device: device);
        _layerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, device: device);
        _dropout = config.HiddenDropoutProb;
        RegisterComponents();
    }

    /// <summary>[B, T] ids and token types → [B, T, H].</summary>
    public override Tensor forward(Tensor inputIds, Tensor tokenTypeIds)
    {
        using var scope = NewDisposeScope();
        // The family's rule: 0..T-1 for BERT, counted from padding_idx + 1 over real tokens for RoBERTa.
        var positions = _config.PositionIds(inputIds);
        var sum = _wordEmbeddings.forward(inputIds) + _positionEmbeddings.forward(positions) + _tokenTypeEmbeddings.forward(tokenTypeIds);
        return FastDropout.Apply(_layerNorm.forward(sum), _dropout, training).MoveToOuterDisposeScope();
    }
}

/// <summary>Multi-head self-attention: query, key and value projections and scaled dot-product attention.</summary>
internal sealed class BertSelfAttention : nn.Module<Tensor, Tensor?, Tensor>, ILinearKernelUser
{
    [ComponentName(Name = "query")] private readonly Linear _query;
    [ComponentName(Name = "key")] private readonly Linear _key;
    [ComponentName(Name = "value")] private readonly Linear _value;
    private readonly int _heads;
    private readonly int _headDim;
    private readonly double _dropout;

    public BertSelfAttention(BertConfig config, Device? device = null) : base("BertSelfAttention")
    {
        _query = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        _key = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        _value = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        _heads = config.NumAttentionHeads;
        _headDim = config.HeadDim;
        _dropout = config.AttentionProbsDropoutProb;
        RegisterComponents();
    }

    public LinearKernelMode Kernel { get; set; } = LinearKernelMode.Default;

    /// <summary>[B, T, H] hidden states and a [B, 1, 1, T] additive mask (null: no padding) → [B, T, H] context.</summary>
    public override Tensor forward(Tensor hidden, Tensor? additiveMask)
    {
        using var scope = NewDisposeScope();
        long batch = hidden.shape[0], length = hidden.shape[1];
        // One product for query, key and value (a [3H, H] weight built from the three): one larger matrix product is more
        // efficient than three small ones, and in mixed precision the input is cast once.
        // A model that is only scored keeps the joined weight (PreparedWeights); otherwise it is joined on every pass.
        var projected = LinearKernel.Apply(hidden, this, QueryKeyValue, Kernel).view(batch, length, 3, _heads, _headDim).permute(2, 0, 3, 1, 4);
        var (query, key, value) = (projected[0], projected[1], projected[2]);
        var context = Attend(query, key, value, additiveMask, training ? _dropout : 0);
        // [B, heads, T, headDim] -> [B, T, H]
        return context.transpose(1, 2).reshape(batch, length, _heads * _headDim).MoveToOuterDisposeScope();
    }

    /// <summary>The [3H, H] weight and [3H] bias of query, key and value, joined.</summary>
    private (Tensor, Tensor?) QueryKeyValue() =>
        (cat([_query.weight!, _key.weight!, _value.weight!], 0), cat([_query.bias!, _key.bias!, _value.bias!], 0));

    /// <summary>
    /// softmax(QKᵀ/√d + mask) V, written out with float32 softmax whatever the product type, as autocast does. libtorch's
    /// fused scaled_dot_product_attention was slower on this CPU in every case measured (MiniLM layer at 16×128, forward
    /// 11.3 against 6.6 ms in float32 and 9.8 against 4.7 ms in bfloat16; forward and backward 35 against 22 ms and 55
    /// against 11 ms), and it has no CPU kernel for attention dropout at all (bench/README.md).
    /// </summary>
    internal static Tensor Attend(Tensor query, Tensor key, Tensor value, Tensor? additiveMask, double dropout)
    {
        using var scope = NewDisposeScope();
        using var scale = (1.0 / Math.Sqrt(query.shape[^1])).ToScalar();
        using var one = 1.ToScalar();
        // Scalars as using locals: see "Scalar lifetime" in Kernels.cs.
        var scores = matmul(query, key.transpose(-1, -2)).mul_(scale);
        if (additiveMask is not null) scores = scores.add_(additiveMask, one);
        // Without autograd or dropout the probabilities go straight into the product in its type: libtorch's softmax on
        // bfloat16 sums in float32 and rounds once, bit for bit what a float32 softmax cast to bfloat16 gives, one pass
        // over [B, heads, T, T] sooner (2 ms of a 150 ms bf16 forward at 16×128).
        if (dropout <= 0 && !scores.requires_grad)
            return matmul(softmax(scores, -1).to_type(value.dtype), value).MoveToOuterDisposeScope();
        var probabilities = FastDropout.Apply(softmax(scores, -1, ScalarType.Float32), dropout, training: dropout > 0);
        return matmul(probabilities.to_type(value.dtype), value).MoveToOuterDisposeScope();
    }
}

/// <summary>The projection after a sub-block, with dropout, residual and LayerNorm (Hugging Face's BertSelfOutput/BertOutput).</summary>
internal sealed class BertResidualOutput : nn.Module<Tensor, Tensor, Tensor>, ILinearKernelUser
{
    [ComponentName(Name = "dense")] private readonly Linear _dense;
    [ComponentName(Name = "LayerNorm")] private readonly LayerNorm _layerNorm;
    private readonly double _dropout;

    public BertResidualOutput(BertConfig config, int inputSize, Device? device = null) : base("BertResidualOutput")
    {
        _dense = nn.Linear(inputSize, config.HiddenSize, device: device);
        _layerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, device: device);
        _dropout = config.HiddenDropoutProb;
        RegisterComponents();
    }

    public LinearKernelMode Kernel { get; set; } = LinearKernelMode.Default;

    public override Tensor forward(Tensor states, Tensor residual)
    {
        using var scope = NewDisposeScope();
        using var one = 1.ToScalar();   // not add(residual)'s temporary alpha: see "Scalar lifetime" in Kernels.cs
        // The residual stream stays in the weights' type: a low-precision product added to it promotes back, so LayerNorm's
        // mean and variance are always taken in float32.
        var sum = FastDropout.Apply(LinearKernel.Apply(_dense, states, Kernel), _dropout, training).add(residual, one);
        return _layerNorm.forward(sum).MoveToOuterDisposeScope();
    }
}

/// <summary>Self-attention plus its output block: keys <c>attention.self.*</c> and <c>attention.output.*</c>.</summary>
internal sealed class BertAttention : nn.Module<Tensor, Tensor?, Tensor>
{
    // "self" is a C# keyword, hence the field name differs from the checkpoint key.
    [ComponentName(Name = "self")] private readonly BertSelfAttention _selfAttention;
    [ComponentName(Name = "output")] private readonly BertResidualOutput _output;

    public BertAttention(BertConfig config, Device? device = null) : base("BertAttention")
    {
        _selfAttention = new BertSelfAttention(config, device);
        _output = new BertResidualOutput(config, config.HiddenSize, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, Tensor? additiveMask) =>
        _output.forward(_selfAttention.forward(hidden, additiveMask), hidden);
}

/// <summary>The feed-forward expansion with the configured activation: key <c>intermediate.dense</c>.</summary>
internal sealed class BertIntermediate : nn.Module<Tensor, Tensor>, ILinearKernelUser
{
    [ComponentName(Name = "dense")] private readonly Linear _dense;
    private readonly string _activation;

    public BertIntermediate(BertConfig config, Device? device = null) : base("BertIntermediate")
    {
        _dense = nn.Linear(config.HiddenSize, config.IntermediateSize, device: device);
        _activation = config.HiddenAct;
        RegisterComponents();
    }

    public LinearKernelMode Kernel { get; set; } = LinearKernelMode.Default;

    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        return LinearKernel.Apply(_dense, hidden, Kernel, _activation).MoveToOuterDisposeScope();
    }
}

/// <summary>One transformer layer: attention, then the feed-forward block.</summary>
internal sealed class BertLayer : nn.Module<Tensor, Tensor?, Tensor>
{
    [ComponentName(Name = "attention")] private readonly BertAttention _attention;
    [ComponentName(Name = "intermediate")] private readonly BertIntermediate _intermediate;
    [ComponentName(Name = "output")] private readonly BertResidualOutput _output;

    public BertLayer(BertConfig config, Device? device = null) : base("BertLayer")
    {
        _attention = new BertAttention(config, device);
        _intermediate = new BertIntermediate(config, device);
        _output = new BertResidualOutput(config, config.IntermediateSize, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, Tensor? additiveMask)
    {
        using var scope = NewDisposeScope();
        var attended = _attention.forward(hidden, additiveMask);
        return _output.forward(_intermediate.forward(attended), attended).MoveToOuterDisposeScope();
    }
}

/// <summary>The stack of layers: keys <c>encoder.layer.{i}.*</c>.</summary>
internal sealed class BertEncoder : nn.Module<Tensor, Tensor?, Tensor>
{
    [ComponentName(Name = "layer")] private readonly ModuleList<BertLayer> _layers;

    public BertEncoder(BertConfig config, Device? device = null) : base("BertEncoder")
    {
        _layers = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new BertLayer(config, device)).ToArray());
        RegisterComponents();
    }

    public IReadOnlyList<BertLayer> Layers => _layers.ToList();

    public override Tensor forward(Tensor hidden, Tensor? additiveMask)
    {
        using var scope = NewDisposeScope();
        foreach (var layer in _layers) hidden = layer.forward(hidden, additiveMask);
        return hidden.MoveToOuterDisposeScope();
    }
}

/// <summary>The [CLS] token's hidden state through a dense layer and tanh.</summary>
internal sealed class BertPooler : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "dense")] private readonly Linear _dense;

    public BertPooler(BertConfig config, Device? device = null) : base("BertPooler")
    {
        _dense = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor lastHidden)
    {
        using var scope = NewDisposeScope();
        return tanh(_dense.forward(lastHidden.select(1, 0))).MoveToOuterDisposeScope();
    }
}

/// <summary>The bare encoder (Hugging Face's <c>BertModel</c>, and <c>RobertaModel</c>, whose keys are the same): embeddings, encoder and an optional pooler.</summary>
internal sealed class BertModel : EncoderModel
{
    [ComponentName(Name = "embeddings")] private readonly BertEmbeddings _embeddings;
    [ComponentName(Name = "encoder")] private readonly BertEncoder _encoder;
    [ComponentName(Name = "pooler")] private readonly BertPooler? _pooler;

    public BertModel(BertConfig config, bool addPoolingLayer = true, Device? device = null) : base("BertModel", config)
    {
        _embeddings = new BertEmbeddings(config, device);
        _encoder = new BertEncoder(config, device);
        _pooler = addPoolingLayer ? new BertPooler(config, device) : null;
        RegisterComponents();
    }

    public BertEmbeddings Embeddings => _embeddings;
    public BertEncoder Encoder => _encoder;
    public BertPooler? Pooler => _pooler;
    public override nn.Module EmbeddingModule => _embeddings;
    public override Embedding WordEmbeddings => _embeddings.WordEmbeddings;
    public override IReadOnlyList<nn.Module> Layers => _encoder.Layers;
    public override nn.Module? PoolerModule => _pooler;

    /// <summary>
    /// [B, T] ids, mask (1 = real token) and token types → last hidden state [B, T, H] and pooled output [B, H]
    /// (null without a pooler).
    /// </summary>
    public override (Tensor LastHidden, Tensor? Pooled) Forward(Tensor inputIds, Tensor attentionMask, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        tokenTypeIds ??= zeros_like(inputIds);
        var hidden = _embeddings.forward(inputIds, tokenTypeIds);
        var last = _encoder.forward(hidden, AdditiveMask(attentionMask, MaskType(hidden)));
        var pooled = _pooler?.forward(last);
        return (last.MoveToOuterDisposeScope(), pooled?.MoveToOuterDisposeScope());
    }
}

/// <summary>Hugging Face's initialisation: Linear and Embedding weights N(0, range), biases 0, padding row 0, LayerNorm 1 and 0.</summary>
internal static class BertInit
{
    public static void Apply(nn.Module root, double range, long? paddingIndex = null)
    {
        using var noGrad = no_grad();
        // TorchSharp's named_modules() leaves out the root itself, which matters when the root is a lone head.
        foreach (var module in root.named_modules().Select(m => m.module).Prepend(root).Distinct())
        {
            // init.*_ returns the parameter itself: never dispose its result.
            switch (module)
            {
                case Linear linear:
                    nn.init.normal_(linear.weight, 0, range);
                    if (linear.bias is not null) nn.init.zeros_(linear.bias);
                    break;
                case Embedding embedding:
                    nn.init.normal_(embedding.weight!, 0, range);
                    break;
                case LayerNorm norm:
                    nn.init.ones_(norm.weight!);
                    nn.init.zeros_(norm.bias!);
                    break;
            }
        }
    }
}


/// <summary>Hugging Face's <c>BertForSequenceClassification</c>: the pooled output, dropout and a linear classifier.</summary>
internal sealed class BertForSequenceClassification : SequenceClassifierModel
{
    [ComponentName(Name = "bert")] private readonly BertModel _bert;
    private readonly double _dropout;
    [ComponentName(Name = "classifier")] private readonly Linear _classifier;

    public BertForSequenceClassification(BertConfig config, Device? device = null) : base("BertForSequenceClassification")
    {
        _bert = new BertModel(config, addPoolingLayer: true, device);
        _dropout = config.ClassifierDropout ?? config.HiddenDropoutProb;
        _classifier = nn.Linear(config.HiddenSize, config.NumLabels, device: device);
        RegisterComponents();
        // A new head starts as Hugging Face starts it; the encoder's weights come from a checkpoint.
        BertInit.Apply(_classifier, config.InitializerRange);
    }

    public override BertConfig Config => _bert.Config;
    public override EncoderModel Bert => _bert;
    public override Linear Classifier => _classifier;

    /// <summary>[B, T] ids, mask and token types → logits [B, NumLabels].</summary>
    public override Tensor Forward(Tensor inputIds, Tensor attentionMask, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        var (_, pooled) = _bert.Forward(inputIds, attentionMask, tokenTypeIds);
        return _classifier.forward(FastDropout.Apply(pooled!, _dropout, training)).MoveToOuterDisposeScope();
    }
}

/// <summary>How checkpoint keys of the BERT family map onto our modules (kept for callers that know they hold a BERT).</summary>
internal static class BertCheckpointKeys
{
    /// <inheritdoc cref="ModelFamily.MapKey"/>
    public static string? Map(string key, string targetPrefix) => ModelFamilies.Get("bert", "BertCheckpointKeys").MapKey(key, targetPrefix);

    /// <inheritdoc cref="ModelFamily.IsReplacedHead"/>
    public static bool IsReplacedHead(string checkpointKey) => ModelFamily.IsReplacedHead(checkpointKey);
}
