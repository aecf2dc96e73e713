using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNetTuning.Text;

/// <summary>
/// Reads the JSON files of a Hugging Face tokenizer folder (tokenizer.json, tokenizer_config.json,
/// special_tokens_map.json, vocab.json) the same way for every tokenizer kind: size-capped before a byte is buffered,
/// checked for valid UTF-8, and with every malformed or mistyped value reported as <see cref="InvalidDataException"/>
/// naming the file and the field. Each rule here was found by the property pass or the fuzzer on a hostile file.
/// </summary>
internal static class HuggingFaceJson
{
    /// <summary>Parses the file at <paramref name="path"/>, refusing it before reading when it is longer than <paramref name="maxBytes"/>.</summary>
    public static JsonNode Parse(string path, long maxBytes)
    {
        using var stream = File.OpenRead(path);
        if (stream.Length > maxBytes) throw IO.FileLimits.TooLarge(path, stream.Length, maxBytes, $"a {Path.GetFileName(path)}");
        return Parse(stream, path);
    }

    /// <summary>Parses <paramref name="stream"/> to its end; <paramref name="name"/> names it in errors.</summary>
    public static JsonNode Parse(Stream stream, string name)
    {
        var bytes = new MemoryStream();
        stream.CopyTo(bytes);
        // System.Text.Json checks a string's UTF-8 only when it is read, and then throws InvalidOperationException.
        if (!System.Text.Unicode.Utf8.IsValid(bytes.GetBuffer().AsSpan(0, (int)bytes.Length)))
            throw Invalid(name, "is not valid UTF-8 text; the file is damaged");
        try
        {
            return JsonNode.Parse(bytes.GetBuffer().AsSpan(0, (int)bytes.Length)) ?? throw Invalid(name, "is empty (JSON null)");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{name} is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>
    /// Runs a read of a file's JSON, turning what JsonNode reports only when a value is read (a key given twice, an escaped
    /// lone surrogate) into InvalidDataException naming the file; the typed reads below already name their field.
    /// </summary>
    public static T Checked<T>(string path, Func<T> read)
    {
        try { return read(); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path} is not a valid tokenizer file: {e.Message} Replace it with the file from the model's original folder.", e);
        }
    }

    /// <summary>A JSON string (null when absent), or InvalidDataException naming the field.</summary>
    public static string? GetString(JsonNode? node, string path, string field) =>
        node is null ? null : node is JsonValue v && TryGet(v, out string? s) ? s : throw Mistyped(node, path, field, "a string");

    /// <summary>A JSON boolean (null when absent), or InvalidDataException naming the field.</summary>
    public static bool? GetBool(JsonNode? node, string path, string field) =>
        node is null ? null : node is JsonValue v && TryGet(v, out bool b) ? b : throw Mistyped(node, path, field, "true or false");

    /// <summary>A JSON integer that fits an int (null when absent), or InvalidDataException naming the field.</summary>
    public static int? GetInt(JsonNode? node, string path, string field) =>
        node is null ? null : node is JsonValue v && TryGet(v, out int i) ? i : throw Mistyped(node, path, field, "an integer");

    /// <summary>A token id: a non-negative integer, or InvalidDataException naming the token and where it was listed.</summary>
    public static int GetTokenId(JsonNode? node, string token, string path, string where) =>
        node is JsonValue value && TryGet(value, out int id) && id >= 0
            ? id
            : throw Invalid(path, $"gives token '{token}' in {where} the id '{(node is null ? "null" : Describe(node))}', expected a non-negative integer");

    /// <summary>TryGetValue that answers false instead of throwing InvalidOperationException for a string that is no
    /// .NET string (an escaped lone surrogate).</summary>
    public static bool TryGet<T>(JsonValue value, out T? result)
    {
        try { return value.TryGetValue(out result); }
        catch (InvalidOperationException) { result = default; return false; }
    }

    /// <summary>The node as JSON for an error message, cut at 80 characters.</summary>
    public static string Describe(JsonNode node)
    {
        try { string json = node.ToJsonString(); return json.Length > 80 ? json[..80] + "…" : json; }
        catch (InvalidOperationException) { return "a string that is not valid Unicode"; }
    }

    public static InvalidDataException Invalid(string path, string problem) => new($"{path} {problem}.");

    public static InvalidDataException Mistyped(JsonNode node, string path, string field, string expected) =>
        Invalid(path, $"has {field} = {Describe(node)}, expected {expected}");
}
