using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNetTuning.Models;

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
        JsonObject json;
        try { json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: expected a JSON object."); }
        catch (JsonException e) { throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e); }
        return FromJson(json, path);
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
            config.Architectures = arch.Select(a => a?.GetValue<string>() ?? "").ToArray();
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
        if (node is JsonValue v && v.TryGetValue(out int i)) return i;
        if (node is JsonValue d && d.TryGetValue(out double x) && x == Math.Floor(x) && Math.Abs(x) < int.MaxValue) return (int)x;
        throw new InvalidDataException($"{source}: '{key}' must be an integer, but it is {node.ToJsonString()}.");
    }

    private static double? TakeDouble(JsonObject json, string key, string source)
    {
        var node = Take(json, key);
        if (node is null) return null;
        if (node is JsonValue v && v.TryGetValue(out double d)) return d;
        throw new InvalidDataException($"{source}: '{key}' must be a number, but it is {node.ToJsonString()}.");
    }

    private static string? TakeString(JsonObject json, string key, string source)
    {
        var node = Take(json, key);
        if (node is null) return null;
        if (node is JsonValue v && v.TryGetValue(out string? s)) return s;
        throw new InvalidDataException($"{source}: '{key}' must be a string, but it is {node.ToJsonString()}.");
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
        int? numLabels = json["num_labels"] is JsonValue n && n.TryGetValue(out int k) ? k : null;
        if (id2label is not JsonObject map)
            return numLabels is int count and > 0 ? Enumerable.Range(0, count).Select(i => $"LABEL_{i}").ToArray() : null;
        var labels = new string[map.Count];
        foreach (var (key, value) in map)
        {
            if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out int id) || id >= labels.Length)
                throw new InvalidDataException($"{source}: id2label has the key '{key}'; keys must be the class indices 0..{labels.Length - 1}.");
            labels[id] = value?.GetValue<string>() ?? throw new InvalidDataException($"{source}: id2label[{key}] is null.");
        }
        return labels;
    }
}
