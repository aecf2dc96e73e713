using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetTuning.Models;

namespace MLNetTuning.Text;

/// <summary>
/// Reads the tokenizer of a Hugging Face model folder as the family's tokenizer kind says: the one place that knows which
/// files each kind reads. The special tokens come from tokenizer_config.json, then special_tokens_map.json, each overriding
/// the previous one as transformers does.
/// </summary>
internal static class TokenizerFolder
{
    public const string TokenizerJsonFile = "tokenizer.json";
    public const string TokenizerConfigFile = "tokenizer_config.json";
    public const string SpecialTokensMapFile = "special_tokens_map.json";

    internal static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true };

    /// <summary>Loads the folder's tokenizer of <paramref name="kind"/>.</summary>
    /// <exception cref="FileNotFoundException">The files the kind needs are not in the folder; the message lists them.</exception>
    /// <exception cref="InvalidDataException">A file is malformed; the message names it.</exception>
    public static ITextTokenizer Load(string folder, TokenizerKind kind) => kind switch
    {
        TokenizerKind.WordPiece => BertTextTokenizer.FromFolder(folder),
        TokenizerKind.ByteLevelBpe => ByteLevelBpeTextTokenizer.FromFolder(folder),
        TokenizerKind.SentencePieceUnigram => SentencePieceTextTokenizer.FromFolder(folder),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown tokenizer kind."),
    };

    /// <summary>The special tokens of the folder: <paramref name="defaults"/> overridden by tokenizer_config.json, then special_tokens_map.json.</summary>
    public static HuggingFaceSpecialTokens ReadSpecialTokens(string folder, HuggingFaceSpecialTokens defaults)
    {
        var tokens = defaults;
        foreach (string name in new[] { TokenizerConfigFile, SpecialTokensMapFile })
        {
            string path = Path.Combine(folder, name);
            if (!File.Exists(path)) continue;
            var config = ParseJson(path) as JsonObject ?? throw Invalid(path, "is not a JSON object");
            string Token(string key, string current) => config[key] switch
            {
                null => current,
                JsonValue v when v.TryGetValue(out string? s) => s,
                JsonObject o when o["content"] is JsonValue c && c.TryGetValue(out string? s) => s,
                var node => throw Invalid(path, $"has {key} = {node.ToJsonString()}, expected a string or an object with \"content\""),
            };
            tokens = new HuggingFaceSpecialTokens(Token("bos_token", tokens.Bos), Token("eos_token", tokens.Eos), Token("unk_token", tokens.Unk),
                Token("pad_token", tokens.Pad), Token("mask_token", tokens.Mask));
        }
        return tokens;
    }

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
        // transformers prefers a tokenizer.json over the files written here; an old one would describe another tokenizer.
        string stale = Path.Combine(folder, TokenizerJsonFile);
        if (File.Exists(stale)) File.Delete(stale);
    }

    public static void WriteText(string path, string text) =>
        IO.AtomicFile.WriteStream(path, stream => stream.Write(new UTF8Encoding(false).GetBytes(text)));

    public static JsonNode ParseJson(string path)
    {
        // The cap comes before a byte is buffered: a hostile file must fail with a message, not exhaust memory.
        bool config = Path.GetFileName(path) is TokenizerConfigFile or SpecialTokensMapFile;
        IO.FileLimits.CheckFileSize(path, config ? IO.FileLimits.MaxConfigJsonBytes : IO.FileLimits.MaxTokenizerFileBytes, config ? "a tokenizer config" : "a tokenizer file");
        try
        {
            using var stream = File.OpenRead(path);
            return JsonNode.Parse(stream) ?? throw Invalid(path, "is empty (JSON null)");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e);
        }
    }

    public static InvalidDataException Invalid(string path, string problem) => new($"{path} {problem}.");
}

/// <summary>A RoBERTa-style tokenizer's special tokens, by their Hugging Face keys.</summary>
internal sealed record HuggingFaceSpecialTokens(string Bos = "<s>", string Eos = "</s>", string Unk = "<unk>", string Pad = "<pad>", string Mask = "<mask>")
{
    /// <summary>Every token with its key, as special_tokens_map.json writes them (RoBERTa's cls and sep are its bos and eos).</summary>
    public IEnumerable<(string Key, string Token)> All =>
        [("bos_token", Bos), ("eos_token", Eos), ("unk_token", Unk), ("sep_token", Eos), ("pad_token", Pad), ("cls_token", Bos), ("mask_token", Mask)];
}
