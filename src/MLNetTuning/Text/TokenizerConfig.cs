using System.Text.Json.Nodes;
using static MLNetTuning.Text.HuggingFaceJson;

namespace MLNetTuning.Text;

/// <summary>
/// The settings of a Hugging Face tokenizer folder: tokenizer_config.json overridden key by key by special_tokens_map.json,
/// as transformers merges them. Every tokenizer kind reads its special tokens and flags from here; each value remembers
/// the file it came from, so that an error names that file.
/// </summary>
internal sealed class TokenizerConfig
{
    private readonly Dictionary<string, (JsonNode? Value, string Path)> _values = new(StringComparer.Ordinal);

    private TokenizerConfig() { }

    /// <summary>Reads tokenizer_config.json, then special_tokens_map.json, from <paramref name="folder"/>; either may be absent.</summary>
    /// <exception cref="InvalidDataException">A file is too large, not UTF-8, not JSON or not an object; the message names it.</exception>
    public static TokenizerConfig Read(string folder)
    {
        var config = new TokenizerConfig();
        foreach (string name in new[] { TokenizerFolder.TokenizerConfigFile, TokenizerFolder.SpecialTokensMapFile })
        {
            string path = Path.Combine(folder, name);
            if (File.Exists(path)) config.Add(Parse(path, IO.FileLimits.MaxConfigJsonBytes), path);
        }
        return config;
    }

    /// <summary>Reads one tokenizer_config.json from a stream (a model zip's entry); <paramref name="name"/> names it in errors.</summary>
    public static TokenizerConfig FromStream(Stream tokenizerConfigJson, string name)
    {
        var config = new TokenizerConfig();
        config.Add(Parse(tokenizerConfigJson, name), name);
        return config;
    }

    private void Add(JsonNode root, string path)
    {
        var settings = root as JsonObject ?? throw Invalid(path, "is not a JSON object");
        // Enumerating an object whose key is given twice throws ArgumentException: Checked names the file.
        Checked(path, () =>
        {
            foreach (var (key, value) in settings) _values[key] = (value, path);
            return 0;
        });
    }

    /// <summary>Whether either file sets <paramref name="key"/> (to any value, null included).</summary>
    public bool Has(string key) => _values.ContainsKey(key);

    /// <summary>A special token: a string, or an object with "content" (an AddedToken); <paramref name="current"/> when absent.</summary>
    public string Token(string key, string current)
    {
        if (!_values.TryGetValue(key, out var entry) || entry.Value is null) return current;
        // An AddedToken object that gives a key twice throws ArgumentException when read: Checked names the file.
        return Checked(entry.Path, () => entry.Value switch
        {
            JsonValue v when TryGet(v, out string? s) && s is not null => s,
            JsonObject o when o["content"] is JsonValue c && TryGet(c, out string? s) && s is not null => s,
            var node => throw Invalid(entry.Path, $"has {key} = {Describe(node)}, expected a string or an object with \"content\""),
        });
    }

    /// <summary>A true/false setting; null when absent or JSON null.</summary>
    public bool? Flag(string key) =>
        _values.TryGetValue(key, out var entry) ? GetBool(entry.Value, entry.Path, key) : null;

    /// <summary>model_max_length: null when absent, <see cref="int.MaxValue"/> for transformers' 1e30 "no limit".</summary>
    public int? ModelMaxLength()
    {
        if (!_values.TryGetValue("model_max_length", out var entry) || entry.Value is null) return null;
        double length = entry.Value is JsonValue v && TryGet(v, out double d) ? d : throw Mistyped(entry.Value, entry.Path, "model_max_length", "a number");
        return length >= int.MaxValue ? int.MaxValue : length >= 2 ? (int)length : throw Invalid(entry.Path, $"has model_max_length = {length}, expected at least 2");
    }
}
