using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNetTuning.Text;

/// <summary>
/// Reads the tokenizer of a Hugging Face model folder as its kind says: the one place that knows which files each kind
/// reads. Every kind reads tokenizer.json, tokenizer_config.json and special_tokens_map.json through here and
/// <see cref="TokenizerConfig"/>, with the same size caps, UTF-8 checks and error messages (<see cref="HuggingFaceJson"/>);
/// the kind itself only interprets its own vocabulary files.
/// </summary>
internal static class TokenizerFolder
{
    public const string TokenizerJsonFile = "tokenizer.json";
    public const string TokenizerConfigFile = "tokenizer_config.json";
    public const string SpecialTokensMapFile = "special_tokens_map.json";

    internal static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true };

    /// <summary>Loads the folder's tokenizer of <paramref name="kind"/>.</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The files the kind needs are not in the folder; the message lists them.</exception>
    /// <exception cref="InvalidDataException">A file is malformed; the message names it.</exception>
    public static ITextTokenizer Load(string folder, TokenizerKind kind)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"Tokenizer folder '{folder}' does not exist.");
        var config = TokenizerConfig.Read(folder);
        return kind switch
        {
            TokenizerKind.WordPiece => BertTextTokenizer.FromFolder(folder, config),
            TokenizerKind.ByteLevelBpe => ByteLevelBpeTextTokenizer.FromFolder(folder, config),
            TokenizerKind.SentencePieceUnigram => SentencePieceTextTokenizer.FromFolder(folder, config),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown tokenizer kind."),
        };
    }

    /// <summary>The folder's tokenizer.json and its path, or null when the folder has none.</summary>
    public static (JsonNode Root, string Path)? ReadTokenizerJson(string folder)
    {
        string path = Path.Combine(folder, TokenizerJsonFile);
        return File.Exists(path) ? (HuggingFaceJson.Parse(path, IO.FileLimits.MaxTokenizerFileBytes), path) : null;
    }

    /// <summary>The special tokens of a RoBERTa-style tokenizer: <paramref name="defaults"/> overridden by the folder's settings.</summary>
    public static HuggingFaceSpecialTokens SpecialTokens(TokenizerConfig config, HuggingFaceSpecialTokens defaults) =>
        new(config.Token("bos_token", defaults.Bos), config.Token("eos_token", defaults.Eos), config.Token("unk_token", defaults.Unk),
            config.Token("pad_token", defaults.Pad), config.Token("mask_token", defaults.Mask));

    /// <summary>Writes tokenizer_config.json (with <paramref name="tokenizerClass"/>) and special_tokens_map.json.</summary>
    public static void WriteConfigs(string folder, string tokenizerClass, HuggingFaceSpecialTokens specials, JsonObject? extra = null)
    {
        var map = new JsonObject();
        foreach (var (key, token) in specials.All) map[key] = token;
        var config = extra ?? new JsonObject();
        config["tokenizer_class"] = tokenizerClass;
        foreach (var (key, value) in map) config[key] = value?.DeepClone();
        WriteText(Path.Combine(folder, TokenizerConfigFile), config.ToJsonString(IndentedJson));
        WriteText(Path.Combine(folder, SpecialTokensMapFile), map.ToJsonString(IndentedJson));
        DeleteStaleTokenizerJson(folder);
    }

    /// <summary>
    /// Deletes a tokenizer.json left in a folder the saved files now describe: transformers prefers it over them, and an old
    /// one would describe another tokenizer.
    /// </summary>
    public static void DeleteStaleTokenizerJson(string folder)
    {
        string stale = Path.Combine(folder, TokenizerJsonFile);
        if (File.Exists(stale)) File.Delete(stale);
    }

    public static void WriteText(string path, string text) =>
        IO.AtomicFile.WriteStream(path, stream => stream.Write(new UTF8Encoding(false).GetBytes(text)));
}

/// <summary>A RoBERTa-style tokenizer's special tokens, by their Hugging Face keys.</summary>
internal sealed record HuggingFaceSpecialTokens(string Bos = "<s>", string Eos = "</s>", string Unk = "<unk>", string Pad = "<pad>", string Mask = "<mask>")
{
    /// <summary>Every token with its key, as special_tokens_map.json writes them (RoBERTa's cls and sep are its bos and eos).</summary>
    public IEnumerable<(string Key, string Token)> All =>
        [("bos_token", Bos), ("eos_token", Eos), ("unk_token", Unk), ("sep_token", Eos), ("pad_token", Pad), ("cls_token", Bos), ("mask_token", Mask)];
}
