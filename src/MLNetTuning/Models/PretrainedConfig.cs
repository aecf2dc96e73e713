using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNetTuning.Models;

/// <summary>
/// What every Hugging Face <c>config.json</c> shares whatever the family (Hugging Face's <c>PretrainedConfig</c>): the labels,
/// the problem type, the architectures, and every key the family does not model, kept and written back unchanged. Each
/// family's config reads and writes its own keys through <see cref="ReadFamilyKeys"/> and <see cref="WriteFamilyKeys"/>.
/// </summary>
internal abstract class PretrainedConfig
{
    /// <summary>config.json's <c>model_type</c>, which picks the family in <see cref="ModelFamilies"/>.</summary>
    public abstract string ModelType { get; }

    /// <summary>regression, single_label_classification or multi_label_classification; null lets the head decide.</summary>
    public string? ProblemType { get; set; }
    /// <summary>Class names by class index. Its count is the number of labels.</summary>
    public IReadOnlyList<string> Labels { get; set; } = ["LABEL_0", "LABEL_1"];
    public IReadOnlyList<string> Architectures { get; set; } = [];

    private JsonObject _extra = new();

    public int NumLabels => Labels.Count;

    /// <summary>A copy that keeps the derived type (a RoBERTa config stays one).</summary>
    protected PretrainedConfig CloneBase()
    {
        var copy = (PretrainedConfig)MemberwiseClone();
        copy._extra = (JsonObject)_extra.DeepClone();
        return copy;
    }

    /// <summary>Takes the family's own keys out of <paramref name="json"/> (what is left is kept as extra keys).</summary>
    protected abstract void ReadFamilyKeys(JsonObject json, string source);

    /// <summary>Writes the family's own keys with Hugging Face's names.</summary>
    protected abstract void WriteFamilyKeys(JsonObject json);

    /// <summary>Checks every value; the message names the key, the value and what is allowed.</summary>
    public virtual void Validate(string source = "config")
    {
        if (ProblemType is not (null or "regression" or "single_label_classification" or "multi_label_classification"))
            throw new InvalidDataException($"{source}: problem_type '{ProblemType}' is not one of regression, single_label_classification, multi_label_classification.");
        if (Labels.Count == 0) throw new InvalidDataException($"{source}: id2label is empty; a head needs at least one label.");
    }

    /// <summary>Fills this config from a parsed config.json: the shared keys here, the family's in <see cref="ReadFamilyKeys"/>.</summary>
    protected void Read(JsonObject json, string source)
    {
        json = (JsonObject)json.DeepClone();
        Take(json, "model_type");   // the registry read it to pick this family; ToJson writes it back
        ReadFamilyKeys(json, source);
        ProblemType = TakeString(json, "problem_type", source);
        if (json["architectures"] is JsonArray arch)
        {
            Architectures = arch.Select(a => a is JsonValue v && TryGet(v, out string? name) && name is not null ? name
                : throw new InvalidDataException($"{source}: 'architectures' must be a list of class names, but it holds {Describe(a)}.")).ToArray();
            json.Remove("architectures");
        }
        Labels = TakeLabels(json, source) ?? Labels;
        json.Remove("num_labels");   // derived from the labels
        // Unknown keys are kept and written back on save: a key or value that cannot be written (an escaped lone surrogate,
        // found by the property pass) is refused here, naming the key, and not later when the model is saved.
        string key = "";
        try
        {
            foreach (var (name, value) in json)
            {
                key = name;
                value?.ToJsonString();
            }
        }
        catch (InvalidOperationException)
        {
            throw new InvalidDataException($"{source}: an extra key's name or value is a string that is not valid Unicode (an escaped lone surrogate)" +
                (key.Length > 0 ? $", at or just after key '{key}'. " : ". ") +
                "The file is damaged: replace config.json with the one from the model's original folder.");
        }
        _extra = json;
        Validate(source);
    }

    /// <summary>Writes the config with Hugging Face's key names, so that <c>AutoConfig.from_pretrained</c> reads it.</summary>
    public JsonObject ToJson()
    {
        var json = (JsonObject)_extra.DeepClone();
        json["model_type"] = ModelType;
        if (Architectures.Count > 0) json["architectures"] = new JsonArray(Architectures.Select(a => (JsonNode?)a).ToArray());
        WriteFamilyKeys(json);
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

    protected static int? TakeInt(JsonObject json, string key, string source)
    {
        var node = Take(json, key);
        if (node is null) return null;
        if (node is JsonValue v && TryGet(v, out int i)) return i;
        if (node is JsonValue d && TryGet(d, out double x) && x == Math.Floor(x) && Math.Abs(x) < int.MaxValue) return (int)x;
        throw new InvalidDataException($"{source}: '{key}' must be an integer, but it is {Describe(node)}.");
    }

    protected static double? TakeDouble(JsonObject json, string key, string source)
    {
        var node = Take(json, key);
        if (node is null) return null;
        if (node is JsonValue v && TryGet(v, out double d)) return d;
        throw new InvalidDataException($"{source}: '{key}' must be a number, but it is {Describe(node)}.");
    }

    protected static string? TakeString(JsonObject json, string key, string source)
    {
        var node = Take(json, key);
        if (node is null) return null;
        if (node is JsonValue v && TryGet(v, out string? s)) return s;
        throw new InvalidDataException($"{source}: '{key}' must be a string, but it is {Describe(node)}.");
    }

    protected static bool? TakeBool(JsonObject json, string key, string source)
    {
        var node = Take(json, key);
        if (node is null) return null;
        if (node is JsonValue v && TryGet(v, out bool b)) return b;
        throw new InvalidDataException($"{source}: '{key}' must be true or false, but it is {Describe(node)}.");
    }

    /// <summary>TryGetValue that answers false instead of throwing InvalidOperationException for a string that is no
    /// .NET string (an escaped lone surrogate), so that the caller's error names the field.</summary>
    protected static bool TryGet<T>(JsonValue value, out T result)
    {
        try { return value.TryGetValue(out result!); }
        catch (InvalidOperationException) { result = default!; return false; }
    }

    protected static string Describe(JsonNode? node)
    {
        if (node is null) return "null";
        try { string json = node.ToJsonString(); return json.Length > 80 ? json[..80] + "…" : json; }
        catch (InvalidOperationException) { return "a string that is not valid Unicode"; }
    }

    protected static JsonNode? Take(JsonObject json, string key)
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
