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
/// A Hugging Face BERT <c>config.json</c>: the sizes, activations and dropouts of one checkpoint, plus its labels.
/// </summary>
/// <remarks>Keys not modelled here (for example <c>transformers_version</c>) are kept and written back unchanged.</remarks>
internal sealed class BertConfig
{
    private static readonly string[] SupportedActivations = ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"];

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
    public int TypeVocabSize { get; set; } = 2;
    public double LayerNormEps { get; set; } = 1e-12;
    public int PadTokenId { get; set; }
    public double InitializerRange { get; set; } = 0.02;
    /// <summary>regression, single_label_classification or multi_label_classification; null lets the head decide.</summary>
    public string? ProblemType { get; set; }
    /// <summary>Class names by class index. Its count is the number of labels.</summary>
    public IReadOnlyList<string> Labels { get; set; } = ["LABEL_0", "LABEL_1"];
    public string PositionEmbeddingType { get; set; } = "absolute";
    public IReadOnlyList<string> Architectures { get; set; } = [];

    private JsonObject _extra = new();

    public int NumLabels => Labels.Count;
    public int HeadDim => HiddenSize / NumAttentionHeads;

    public BertConfig Clone()
    {
        var copy = (BertConfig)MemberwiseClone();
        copy._extra = (JsonObject)_extra.DeepClone();
        return copy;
    }

    /// <summary>Reads and validates a Hugging Face <c>config.json</c>.</summary>
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

    public static BertConfig FromJson(JsonObject json, string source)
    {
        json = (JsonObject)json.DeepClone();
        var config = new BertConfig();
        string modelType = TakeString(json, "model_type", source) ?? "bert";
        if (modelType != "bert")
            throw new InvalidDataException($"{source}: model_type is '{modelType}', but only BERT checkpoints (model_type 'bert') are supported.");
        config.VocabSize = TakeInt(json, "vocab_size", source) ?? throw Missing("vocab_size", source);
        config.HiddenSize = TakeInt(json, "hidden_size", source) ?? throw Missing("hidden_size", source);
        config.NumHiddenLayers = TakeInt(json, "num_hidden_layers", source) ?? throw Missing("num_hidden_layers", source);
        config.NumAttentionHeads = TakeInt(json, "num_attention_heads", source) ?? throw Missing("num_attention_heads", source);
        config.IntermediateSize = TakeInt(json, "intermediate_size", source) ?? throw Missing("intermediate_size", source);
        config.HiddenAct = TakeString(json, "hidden_act", source) ?? config.HiddenAct;
        config.HiddenDropoutProb = TakeDouble(json, "hidden_dropout_prob", source) ?? config.HiddenDropoutProb;
        config.AttentionProbsDropoutProb = TakeDouble(json, "attention_probs_dropout_prob", source) ?? config.AttentionProbsDropoutProb;
        config.ClassifierDropout = TakeDouble(json, "classifier_dropout", source);
        config.MaxPositionEmbeddings = TakeInt(json, "max_position_embeddings", source) ?? config.MaxPositionEmbeddings;
        config.TypeVocabSize = TakeInt(json, "type_vocab_size", source) ?? config.TypeVocabSize;
        config.LayerNormEps = TakeDouble(json, "layer_norm_eps", source) ?? config.LayerNormEps;
        config.PadTokenId = TakeInt(json, "pad_token_id", source) ?? config.PadTokenId;
        config.InitializerRange = TakeDouble(json, "initializer_range", source) ?? config.InitializerRange;
        config.ProblemType = TakeString(json, "problem_type", source);
        config.PositionEmbeddingType = TakeString(json, "position_embedding_type", source) ?? config.PositionEmbeddingType;
        if (json["architectures"] is JsonArray arch)
        {
            config.Architectures = arch.Select(a => a is JsonValue v && TryGet(v, out string? name) && name is not null ? name
                : throw new InvalidDataException($"{source}: 'architectures' must be a list of class names, but it holds {Describe(a)}.")).ToArray();
            json.Remove("architectures");
        }
        config.Labels = TakeLabels(json, source) ?? config.Labels;
        json.Remove("num_labels");   // derived from the labels
        config._extra = json;
        config.Validate(source);
        return config;
    }

    /// <summary>Checks every value; the message names the key, the value and what is allowed.</summary>
    public void Validate(string source = "config")
    {
        void Positive(string key, int value)
        {
            if (value <= 0) throw new InvalidDataException($"{source}: {key} must be a positive integer, but it is {value}.");
        }
        Positive("vocab_size", VocabSize);
        Positive("hidden_size", HiddenSize);
        Positive("num_hidden_layers", NumHiddenLayers);
        Positive("num_attention_heads", NumAttentionHeads);
        Positive("intermediate_size", IntermediateSize);
        Positive("max_position_embeddings", MaxPositionEmbeddings);
        Positive("type_vocab_size", TypeVocabSize);
        if (HiddenSize % NumAttentionHeads != 0)
            throw new InvalidDataException($"{source}: the hidden size ({HiddenSize}) is not a multiple of the number of attention heads ({NumAttentionHeads}).");
        if (!SupportedActivations.Contains(HiddenAct))
            throw new InvalidDataException($"{source}: hidden_act '{HiddenAct}' is not supported; use one of {string.Join(", ", SupportedActivations)}.");
        foreach (var (key, p) in new[] { ("hidden_dropout_prob", HiddenDropoutProb), ("attention_probs_dropout_prob", AttentionProbsDropoutProb), ("classifier_dropout", ClassifierDropout ?? 0) })
            if (p < 0 || p >= 1 || double.IsNaN(p)) throw new InvalidDataException($"{source}: {key} must be in [0, 1), but it is {p.ToString(CultureInfo.InvariantCulture)}.");
        if (LayerNormEps <= 0) throw new InvalidDataException($"{source}: layer_norm_eps must be positive, but it is {LayerNormEps}.");
        if (PadTokenId < 0 || PadTokenId >= VocabSize) throw new InvalidDataException($"{source}: pad_token_id {PadTokenId} is outside the vocabulary [0, {VocabSize}).");
        if (PositionEmbeddingType != "absolute")
            throw new InvalidDataException($"{source}: position_embedding_type '{PositionEmbeddingType}' is not supported; only 'absolute' is.");
        if (ProblemType is not (null or "regression" or "single_label_classification" or "multi_label_classification"))
            throw new InvalidDataException($"{source}: problem_type '{ProblemType}' is not one of regression, single_label_classification, multi_label_classification.");
        if (Labels.Count == 0) throw new InvalidDataException($"{source}: id2label is empty; a head needs at least one label.");
    }

    /// <summary>Writes the config with Hugging Face's key names, so that <c>AutoConfig.from_pretrained</c> reads it.</summary>
    public JsonObject ToJson()
    {
        var json = (JsonObject)_extra.DeepClone();
        json["model_type"] = "bert";
        if (Architectures.Count > 0) json["architectures"] = new JsonArray(Architectures.Select(a => (JsonNode?)a).ToArray());
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
        if (ProblemType is not null) json["problem_type"] = ProblemType;
        var id2label = new JsonObject();
        var label2id = new JsonObject();
        for (int i = 0; i < Labels.Count; i++)
        {
            id2label[i.ToString(CultureInfo.InvariantCulture)] = Labels[i];
            label2id[Labels[i]] = i;
        }
        json["id2label"] = id2label;
        json["label2id"] = label2id;
        return json;
    }

    public string ToJsonString() => ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    private static InvalidDataException Missing(string key, string source) =>
        new($"{source}: the required key '{key}' is missing. A BERT config.json must give vocab_size, hidden_size, num_hidden_layers, num_attention_heads and intermediate_size.");

    private static int? TakeInt(JsonObject json, string key, string source)
    {
        var node = Take(json, key);
        if (node is null) return null;
        if (node is JsonValue v && TryGet(v, out int i)) return i;
        if (node is JsonValue d && TryGet(d, out double x) && x == Math.Floor(x) && Math.Abs(x) < int.MaxValue) return (int)x;
        throw new InvalidDataException($"{source}: '{key}' must be an integer, but it is {Describe(node)}.");
    }

    private static double? TakeDouble(JsonObject json, string key, string source)
    {
        var node = Take(json, key);
        if (node is null) return null;
        if (node is JsonValue v && TryGet(v, out double d)) return d;
        throw new InvalidDataException($"{source}: '{key}' must be a number, but it is {Describe(node)}.");
    }

    private static string? TakeString(JsonObject json, string key, string source)
    {
        var node = Take(json, key);
        if (node is null) return null;
        if (node is JsonValue v && TryGet(v, out string? s)) return s;
        throw new InvalidDataException($"{source}: '{key}' must be a string, but it is {Describe(node)}.");
    }

    /// <summary>TryGetValue that answers false instead of throwing InvalidOperationException for a string that is no
    /// .NET string (an escaped lone surrogate), so that the caller's error names the field.</summary>
    private static bool TryGet<T>(JsonValue value, out T result)
    {
        try { return value.TryGetValue(out result!); }
        catch (InvalidOperationException) { result = default!; return false; }
    }

    private static string Describe(JsonNode? node)
    {
        if (node is null) return "null";
        try { string json = node.ToJsonString(); return json.Length > 80 ? json[..80] + "…" : json; }
        catch (InvalidOperationException) { return "a string that is not valid Unicode"; }
    }

    private static JsonNode? Take(JsonObject json, string key)
    {
        if (!json.TryGetPropertyValue(key, out var node)) return null;
        json.Remove(key);
        return node;
    }

    private static string[]? TakeLabels(JsonObject json, string source)
    {
        var id2label = Take(json, "id2label");
        Take(json, "label2id");   // redundant with id2label; rewritten from it on save
        int? numLabels = json["num_labels"] switch
        {
            null => null,
            JsonValue n when TryGet(n, out int k) => k,
            var other => throw new InvalidDataException($"{source}: 'num_labels' must be an integer, but it is {Describe(other)}."),
        };
        // The head is allocated from this count: a hostile num_labels (2,000,000,000) must not become an array of names.
        if (numLabels is int declared && (declared < 0 || declared > IO.FileLimits.MaxLabels))
            throw new InvalidDataException($"{source}: num_labels is {declared}; expected between 1 and {IO.FileLimits.MaxLabels:N0}.");
        if (id2label is not null and not JsonObject)
            throw new InvalidDataException($"{source}: 'id2label' must be an object of class index → name, but it is {Describe(id2label)}.");
        if (id2label is not JsonObject map)
            return numLabels is int count and > 0 ? Enumerable.Range(0, count).Select(i => $"LABEL_{i}").ToArray() : null;
        if (map.Count > IO.FileLimits.MaxLabels)
            throw new InvalidDataException($"{source}: id2label has {map.Count:N0} entries; at most {IO.FileLimits.MaxLabels:N0} are supported.");
        var labels = new string[map.Count];
        foreach (var (key, value) in map)
        {
            // Canonical indices only: "00" would otherwise parse as 0 and silently replace label 0.
            if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out int id) || id >= labels.Length
                || key != id.ToString(CultureInfo.InvariantCulture))
                throw new InvalidDataException($"{source}: id2label has the key '{key}'; keys must be the class indices 0..{labels.Length - 1}, each written once as a plain number.");
            if (labels[id] is not null)
                throw new InvalidDataException($"{source}: id2label gives class {id} twice.");
            labels[id] = value is JsonValue v && TryGet(v, out string? name) && name is not null ? name
                : throw new InvalidDataException($"{source}: id2label[\"{key}\"] must be a class name string, but it is {Describe(value)}.");
        }
        return labels;
    }
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

    public Embedding WordEmbeddings => _wordEmbeddings;

    public BertEmbeddings(BertConfig config, Device? device = null) : base("BertEmbeddings")
    {
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
        long length = inputIds.shape[1];
        // Positions are 0..T-1 for every row; computed, not a buffer, so `position_ids` in old checkpoints is just tolerated.
        var positions = arange(length, dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0);
        var sum = _wordEmbeddings.forward(inputIds) + _positionEmbeddings.forward(positions) + _tokenTypeEmbeddings.forward(tokenTypeIds);
        return FastDropout.Apply(_layerNorm.forward(sum), _dropout, training).MoveToOuterDisposeScope();
    }
}

/// <summary>Multi-head self-attention: query, key and value projections and scaled dot-product attention.</summary>
internal sealed class BertSelfAttention : nn.Module<Tensor, Tensor?, Tensor>, ILowPrecisionCompute
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

    public ScalarType? ComputeType { get; set; }

    /// <summary>[B, T, H] hidden states and a [B, 1, 1, T] additive mask (null: no padding) → [B, T, H] context.</summary>
    public override Tensor forward(Tensor hidden, Tensor? additiveMask)
    {
        using var scope = NewDisposeScope();
        long batch = hidden.shape[0], length = hidden.shape[1];
        // One product for query, key and value (a [3H, H] weight built from the three): one larger matrix product is more
        // efficient than three small ones, and in mixed precision the input is cast once.
        var weight = cat([_query.weight!, _key.weight!, _value.weight!], 0);
        var bias = cat([_query.bias!, _key.bias!, _value.bias!], 0);
        // [B, T, 3H] -> [3, B, heads, T, headDim]
        var projected = LinearKernel.Apply(hidden, weight, bias, ComputeType).view(batch, length, 3, _heads, _headDim).permute(2, 0, 3, 1, 4);
        var (query, key, value) = (projected[0], projected[1], projected[2]);
        var context = Attend(query, key, value, additiveMask, training ? _dropout : 0);
        // [B, heads, T, headDim] -> [B, T, H]
        return context.transpose(1, 2).reshape(batch, length, _heads * _headDim).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// softmax(QKᵀ/√d + mask) V, written out with float32 softmax whatever the product type, as autocast does. libtorch's
    /// fused scaled_dot_product_attention was slower on this CPU in every case measured (MiniLM layer at 16×128, forward
    /// 11.3 against 6.6 ms in float32 and 9.8 against 4.7 ms in bfloat16; forward and backward 35 against 22 ms and 55
    /// against 11 ms), and it has no CPU kernel for attention dropout at all (bench/README.md).
    /// </summary>
    internal static Tensor Attend(Tensor query, Tensor key, Tensor value, Tensor? additiveMask, double dropout)
    {
        using var scope = NewDisposeScope();
        var scores = matmul(query, key.transpose(-1, -2)).mul_(1.0 / Math.Sqrt(query.shape[^1]));
        if (additiveMask is not null) scores = scores.add_(additiveMask);
        var probabilities = FastDropout.Apply(softmax(scores, -1, ScalarType.Float32), dropout, training: dropout > 0);
        return matmul(probabilities.to_type(value.dtype), value).MoveToOuterDisposeScope();
    }
}

/// <summary>The projection after a sub-block, with dropout, residual and LayerNorm (Hugging Face's BertSelfOutput/BertOutput).</summary>
internal sealed class BertResidualOutput : nn.Module<Tensor, Tensor, Tensor>, ILowPrecisionCompute
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

    public ScalarType? ComputeType { get; set; }

    public override Tensor forward(Tensor states, Tensor residual)
    {
        using var scope = NewDisposeScope();
        // The residual stream stays in the weights' type: a low-precision product added to it promotes back, so LayerNorm's
        // mean and variance are always taken in float32.
        var sum = FastDropout.Apply(LinearKernel.Apply(_dense, states, ComputeType), _dropout, training).add(residual);
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
internal sealed class BertIntermediate : nn.Module<Tensor, Tensor>, ILowPrecisionCompute
{
    [ComponentName(Name = "dense")] private readonly Linear _dense;
    private readonly string _activation;

    public BertIntermediate(BertConfig config, Device? device = null) : base("BertIntermediate")
    {
        _dense = nn.Linear(config.HiddenSize, config.IntermediateSize, device: device);
        _activation = config.HiddenAct;
        RegisterComponents();
    }

    public ScalarType? ComputeType { get; set; }

    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        var x = LinearKernel.Apply(_dense, hidden, ComputeType);
        var y = _activation switch
        {
            "gelu" => F.gelu(x),
            // gelu_new and gelu_pytorch_tanh are both the tanh approximation.
            "gelu_new" or "gelu_pytorch_tanh" => F.gelu(x, GELU.Approximate.tanh),
            "relu" => F.relu(x),
            _ => throw new InvalidOperationException($"hidden_act '{_activation}' is not supported."),
        };
        return y.MoveToOuterDisposeScope();
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

/// <summary>The bare encoder (Hugging Face's <c>BertModel</c>): embeddings, encoder and an optional pooler.</summary>
internal sealed class BertModel : nn.Module
{
    [ComponentName(Name = "embeddings")] private readonly BertEmbeddings _embeddings;
    [ComponentName(Name = "encoder")] private readonly BertEncoder _encoder;
    [ComponentName(Name = "pooler")] private readonly BertPooler? _pooler;

    public BertModel(BertConfig config, bool addPoolingLayer = true, Device? device = null) : base("BertModel")
    {
        config.Validate();
        Config = config;
        _embeddings = new BertEmbeddings(config, device);
        _encoder = new BertEncoder(config, device);
        _pooler = addPoolingLayer ? new BertPooler(config, device) : null;
        RegisterComponents();
    }

    public BertConfig Config { get; }
    public BertEmbeddings Embeddings => _embeddings;

    /// <summary>The type of the encoder's matrix products (bfloat16 for mixed precision); the weights stay float32.</summary>
    public NumericPrecision Precision
    {
        get => _precision;
        set
        {
            _precision = value;
            ScalarType? computeType = value == NumericPrecision.Bf16 ? ScalarType.BFloat16 : null;
            foreach (var (_, module) in named_modules())
                if (module is ILowPrecisionCompute lowPrecision) lowPrecision.ComputeType = computeType;
        }
    }
    private NumericPrecision _precision;
    public BertEncoder Encoder => _encoder;
    public BertPooler? Pooler => _pooler;

    /// <summary>
    /// [B, T] ids, mask (1 = real token) and token types → last hidden state [B, T, H] and pooled output [B, H]
    /// (null without a pooler).
    /// </summary>
    public (Tensor LastHidden, Tensor? Pooled) Forward(Tensor inputIds, Tensor attentionMask, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        tokenTypeIds ??= zeros_like(inputIds);
        var hidden = _embeddings.forward(inputIds, tokenTypeIds);
        var maskType = _precision == NumericPrecision.Bf16 ? ScalarType.BFloat16 : hidden.dtype;
        var last = _encoder.forward(hidden, AdditiveMask(attentionMask, maskType));
        var pooled = _pooler?.forward(last);
        return (last.MoveToOuterDisposeScope(), pooled?.MoveToOuterDisposeScope());
    }

    /// <summary>[B, T] 1/0 mask → [B, 1, 1, T] additive mask: 0 where attended, the dtype's minimum where padded.</summary>
    internal static Tensor AdditiveMask(Tensor attentionMask, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var padded = attentionMask.eq(0).unsqueeze(1).unsqueeze(1);
        double min = dtype == ScalarType.Float64 ? double.MinValue : dtype == ScalarType.BFloat16 ? -3.38e38 : float.MinValue;
        return zeros(padded.shape, dtype, attentionMask.device).masked_fill(padded, min).MoveToOuterDisposeScope();
    }

    /// <summary>Initialises every weight as Hugging Face's <c>_init_weights</c> does, for a model trained from scratch.</summary>
    public void InitializeWeights()
    {
        BertInit.Apply(this, Config.InitializerRange);
        // The padding row of the word embeddings starts at zero, as nn.Embedding(padding_idx) makes it.
        using var noGrad = no_grad();
        _embeddings.WordEmbeddings.weight![Config.PadTokenId].zero_();
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

/// <summary>How a sequence head turns logits and labels into a loss, as Hugging Face's <c>problem_type</c> chooses.</summary>
internal enum BertProblemType { Regression, SingleLabelClassification, MultiLabelClassification }

/// <summary>Extra terms of the classification loss, set by the training options.</summary>
internal sealed record BertLossOptions(float[]? ClassWeights = null, double LabelSmoothing = 0);

/// <summary>
/// What the loop, the scorer and the exporter need of a BERT with a task head: the encoder, the linear head (Hugging Face
/// names both <c>bert</c> and <c>classifier</c> in every head model) and a forward pass from ids to logits.
/// </summary>
internal abstract class BertTaskModel(string name) : nn.Module(name)
{
    public virtual BertConfig Config => Bert.Config;
    public abstract BertModel Bert { get; }
    public abstract Linear Classifier { get; }

    /// <summary>Whether the head gives logits for every token ([B, T, K]) rather than one row per text ([B, K]).</summary>
    public virtual bool PerToken => false;

    /// <summary>The encoder's matrix-product precision; the head and the loss stay float32.</summary>
    public NumericPrecision Precision { get => Bert.Precision; set => Bert.Precision = value; }

    /// <summary>[B, T] ids, mask and token types → logits ([B, NumLabels] per text, or [B, T, NumLabels] per token).</summary>
    public abstract Tensor Forward(Tensor inputIds, Tensor attentionMask, Tensor? tokenTypeIds = null);

    /// <summary>The head's loss for <paramref name="logits"/> and the labels the task collates.</summary>
    public abstract Tensor Loss(Tensor logits, Tensor labels, BertLossOptions? options = null);
}

/// <summary>Hugging Face's <c>BertForSequenceClassification</c>: the pooled output, dropout and a linear classifier.</summary>
internal sealed class BertForSequenceClassification : BertTaskModel
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
    public override BertModel Bert => _bert;
    public override Linear Classifier => _classifier;

    /// <summary>[B, T] ids, mask and token types → logits [B, NumLabels].</summary>
    public override Tensor Forward(Tensor inputIds, Tensor attentionMask, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        var (_, pooled) = _bert.Forward(inputIds, attentionMask, tokenTypeIds);
        return _classifier.forward(FastDropout.Apply(pooled!, _dropout, training)).MoveToOuterDisposeScope();
    }

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

/// <summary>Hugging Face's <c>BertForTokenClassification</c>: per-token logits over the hidden states (no pooler).</summary>
internal sealed class BertForTokenClassification : BertTaskModel
{
    /// <summary>The label that marks a token to ignore in the loss (padding, special tokens, word continuations).</summary>
    public const long IgnoreIndex = -100;

    [ComponentName(Name = "bert")] private readonly BertModel _bert;
    private readonly double _dropout;
    [ComponentName(Name = "classifier")] private readonly Linear _classifier;

    public BertForTokenClassification(BertConfig config, Device? device = null) : base("BertForTokenClassification")
    {
        _bert = new BertModel(config, addPoolingLayer: false, device);
        _dropout = config.ClassifierDropout ?? config.HiddenDropoutProb;
        _classifier = nn.Linear(config.HiddenSize, config.NumLabels, device: device);
        RegisterComponents();
        BertInit.Apply(_classifier, config.InitializerRange);
    }

    public override BertConfig Config => _bert.Config;
    public override BertModel Bert => _bert;
    public override Linear Classifier => _classifier;
    public override bool PerToken => true;

    /// <summary>[B, T] ids, mask and token types → logits [B, T, NumLabels].</summary>
    public override Tensor Forward(Tensor inputIds, Tensor attentionMask, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        var (last, _) = _bert.Forward(inputIds, attentionMask, tokenTypeIds);
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
/// Hugging Face's <c>BertForQuestionAnswering</c>: a linear <c>qa_outputs</c> over every hidden state (no pooler, no dropout)
/// giving each token a start and an end logit, [B, T, 2].
/// </summary>
internal sealed class BertForQuestionAnswering : BertTaskModel
{
    [ComponentName(Name = "bert")] private readonly BertModel _bert;
    // Hugging Face names the span head qa_outputs, not classifier; checkpoints and exports need that key.
    [ComponentName(Name = "qa_outputs")] private readonly Linear _qaOutputs;

    public BertForQuestionAnswering(BertConfig config, Device? device = null) : base("BertForQuestionAnswering")
    {
        if (config.NumLabels != 2)
            throw new ArgumentException($"BertForQuestionAnswering needs 2 labels (start and end), but the config has {config.NumLabels}.", nameof(config));
        _bert = new BertModel(config, addPoolingLayer: false, device);
        _qaOutputs = nn.Linear(config.HiddenSize, 2, device: device);
        RegisterComponents();
        BertInit.Apply(_qaOutputs, config.InitializerRange);
    }

    public override BertModel Bert => _bert;
    public override Linear Classifier => _qaOutputs;
    public override bool PerToken => true;

    /// <summary>[B, T] ids, mask and token types → logits [B, T, 2]: the start logit, then the end logit, of each token.</summary>
    public override Tensor Forward(Tensor inputIds, Tensor attentionMask, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        var (last, _) = _bert.Forward(inputIds, attentionMask, tokenTypeIds);
        return _qaOutputs.forward(last).MoveToOuterDisposeScope();
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

/// <summary>How checkpoint keys of the BERT family map onto our modules.</summary>
internal static class BertCheckpointKeys
{
    /// <summary>
    /// Maps a checkpoint key onto a module whose keys start with <paramref name="targetPrefix"/> ("bert." for a head model,
    /// "" for the bare encoder). Accepts keys with or without the <c>bert.</c> prefix and TensorFlow's LayerNorm
    /// <c>gamma</c>/<c>beta</c>; returns null for <c>position_ids</c>, a buffer we compute instead of storing.
    /// </summary>
    public static string? Map(string key, string targetPrefix)
    {
        if (key.EndsWith("embeddings.position_ids", StringComparison.Ordinal)) return null;
        if (key.EndsWith(".gamma", StringComparison.Ordinal)) key = key[..^".gamma".Length] + ".weight";
        else if (key.EndsWith(".beta", StringComparison.Ordinal)) key = key[..^".beta".Length] + ".bias";
        bool encoderKey = key.StartsWith("embeddings.", StringComparison.Ordinal) || key.StartsWith("encoder.", StringComparison.Ordinal) || key.StartsWith("pooler.", StringComparison.Ordinal);
        if (key.StartsWith("bert.", StringComparison.Ordinal))
            return targetPrefix == "bert." ? key : key["bert.".Length..];
        return encoderKey ? targetPrefix + key : key;
    }

    /// <summary>Pretraining heads (<c>cls.*</c>) and another task's head, which a new fine-tuning run replaces by design.</summary>
    public static bool IsReplacedHead(string checkpointKey) =>
        checkpointKey.StartsWith("cls.", StringComparison.Ordinal) || checkpointKey.StartsWith("classifier.", StringComparison.Ordinal)
        || checkpointKey.StartsWith("qa_outputs.", StringComparison.Ordinal);
}
