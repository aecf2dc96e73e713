using static TorchSharp.torch;

namespace MLNetTuning.Models;

/// <summary>
/// One model family: what config.json's <c>model_type</c> selects. Everything that differs between families lives in its
/// model file under Models/; this record is the one place the rest of the code asks.
/// </summary>
/// <param name="ModelType">config.json's <c>model_type</c>.</param>
/// <param name="Prefix">The encoder's key prefix in head checkpoints (<c>bert</c> in <c>bert.encoder.layer.0…</c>).</param>
/// <param name="ClassPrefix">The prefix of Hugging Face's class names (<c>Bert</c>ForSequenceClassification), for config.json's architectures.</param>
/// <param name="Tokenizer">The tokenizer kind its checkpoints ship.</param>
/// <param name="HasTokenTypes">Whether the embeddings add token-type (segment) embeddings that pairs can use.</param>
/// <param name="NewConfig">An empty config of the family, which reads config.json's keys.</param>
/// <param name="CreateEncoder">The bare encoder (config, with a pooler, device).</param>
/// <param name="CreateSequenceClassifier">The family's <c>*ForSequenceClassification</c>.</param>
internal sealed record ModelFamily(
    string ModelType,
    string Prefix,
    string ClassPrefix,
    TokenizerKind Tokenizer,
    bool HasTokenTypes,
    Func<BertConfig> NewConfig,
    Func<BertConfig, bool, Device?, EncoderModel> CreateEncoder,
    Func<BertConfig, Device?, BertTaskModel> CreateSequenceClassifier)
{
    /// <summary>The first parts of the keys of a bare encoder, whatever the family.</summary>
    private static readonly string[] EncoderKeyStarts = ["embeddings.", "encoder.", "pooler.", "transformer."];

    /// <summary>The family's <c>*ForTokenClassification</c>: one shared head (see Models/TaskHeads.cs).</summary>
    public BertTaskModel CreateTokenClassifier(BertConfig config, Device? device = null) => new BertForTokenClassification(config, device);

    /// <summary>The family's <c>*ForQuestionAnswering</c>: one shared head (see Models/TaskHeads.cs).</summary>
    public BertTaskModel CreateQuestionAnswering(BertConfig config, Device? device = null) => new BertForQuestionAnswering(config, device);

    /// <summary>Hugging Face's class name of a head model of this family, from BERT's name (<c>BertForTokenClassification</c> → <c>RobertaForTokenClassification</c>).</summary>
    public string Architecture(string bertArchitecture) =>
        bertArchitecture.StartsWith("Bert", StringComparison.Ordinal) ? ClassPrefix + bertArchitecture["Bert".Length..] : bertArchitecture;

    /// <summary>
    /// Maps a checkpoint key onto a module whose keys start with <paramref name="targetPrefix"/> (the family's prefix and a
    /// dot for a head model, "" for the bare encoder). Accepts keys with or without the prefix and TensorFlow's LayerNorm
    /// <c>gamma</c>/<c>beta</c>; returns null for <c>position_ids</c> (and RoBERTa's <c>token_type_ids</c> buffer), which
    /// are computed instead of stored.
    /// </summary>
    public string? MapKey(string key, string targetPrefix)
    {
        if (key.EndsWith("embeddings.position_ids", StringComparison.Ordinal) || key.EndsWith("embeddings.token_type_ids", StringComparison.Ordinal)) return null;
        if (key.EndsWith(".gamma", StringComparison.Ordinal)) key = key[..^".gamma".Length] + ".weight";
        else if (key.EndsWith(".beta", StringComparison.Ordinal)) key = key[..^".beta".Length] + ".bias";
        string prefix = Prefix + ".";
        if (key.StartsWith(prefix, StringComparison.Ordinal))
            return targetPrefix == prefix ? key : key[prefix.Length..];
        bool encoderKey = EncoderKeyStarts.Any(start => key.StartsWith(start, StringComparison.Ordinal));
        return encoderKey ? targetPrefix + key : key;
    }

    /// <summary>
    /// Pretraining heads (<c>cls.*</c>, <c>lm_head.*</c>, DistilBERT's <c>vocab_*</c>) and another task's head, which a new
    /// fine-tuning run replaces by design.
    /// </summary>
    public static bool IsReplacedHead(string checkpointKey) =>
        checkpointKey.StartsWith("cls.", StringComparison.Ordinal) || checkpointKey.StartsWith("classifier.", StringComparison.Ordinal)
        || checkpointKey.StartsWith("qa_outputs.", StringComparison.Ordinal) || checkpointKey.StartsWith("pre_classifier.", StringComparison.Ordinal)
        || checkpointKey.StartsWith("lm_head.", StringComparison.Ordinal) || checkpointKey.StartsWith("vocab_", StringComparison.Ordinal);

    /// <summary>
    /// Hugging Face's no-decay rule (Trainer's <c>get_decay_parameter_names</c>): biases and every LayerNorm's parameters,
    /// whatever the family calls them (<c>LayerNorm</c>, DistilBERT's <c>sa_layer_norm</c> and <c>output_layer_norm</c>).
    /// </summary>
    public static bool NoWeightDecay(string parameterName) =>
        parameterName.EndsWith(".bias", StringComparison.Ordinal)
        || parameterName.Contains("LayerNorm", StringComparison.Ordinal) || parameterName.Contains("layer_norm", StringComparison.Ordinal);
}

/// <summary>
/// The registry of model families, keyed by config.json's <c>model_type</c> (Hugging Face's <c>CONFIG_MAPPING_NAMES</c>).
/// A new family is one file under Models/ and one line here (plus a tokenizer kind in Text/ if it brings a new one).
/// </summary>
internal static class ModelFamilies
{
    private static readonly ModelFamily[] All =
    [
        new("bert", "bert", "Bert", TokenizerKind.WordPiece, HasTokenTypes: true,
            () => new BertConfig(), (c, pooler, d) => new BertModel(c, pooler, d), (c, d) => new BertForSequenceClassification(c, d)),
        new("roberta", "roberta", "Roberta", TokenizerKind.ByteLevelBpe, HasTokenTypes: false,
            () => new RobertaConfig("roberta"), (c, pooler, d) => new BertModel(c, pooler, d), (c, d) => new RobertaForSequenceClassification(c, d)),
        new("xlm-roberta", "roberta", "XLMRoberta", TokenizerKind.SentencePieceUnigram, HasTokenTypes: false,
            () => new RobertaConfig("xlm-roberta"), (c, pooler, d) => new BertModel(c, pooler, d), (c, d) => new RobertaForSequenceClassification(c, d)),
        new("distilbert", "distilbert", "DistilBert", TokenizerKind.WordPiece, HasTokenTypes: false,
            () => new DistilBertConfig(), (c, _, d) => new DistilBertModel(c, d), (c, d) => new DistilBertForSequenceClassification(c, d)),
    ];

    /// <summary>The <c>model_type</c>s supported, in registry order.</summary>
    public static IReadOnlyList<string> ModelTypes { get; } = All.Select(f => f.ModelType).ToArray();

    /// <summary>The family of <paramref name="modelType"/>.</summary>
    /// <param name="modelType">config.json's <c>model_type</c>.</param>
    /// <param name="source">Names the config in the message.</param>
    /// <exception cref="InvalidDataException">No family has that model type; the message lists the supported ones.</exception>
    public static ModelFamily Get(string modelType, string source) =>
        All.FirstOrDefault(f => f.ModelType == modelType)
        ?? throw new InvalidDataException($"{source}: model_type is '{modelType}', which is not supported; the supported model types are {string.Join(", ", ModelTypes.Select(t => $"'{t}'"))}. " +
            "Use a checkpoint of one of these families.");

    /// <summary>The family a config belongs to.</summary>
    public static ModelFamily Of(BertConfig config) => Get(config.ModelType, "config");
}
