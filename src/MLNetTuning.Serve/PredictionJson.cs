using System.Text.Json.Nodes;

namespace MLNetTuning.Serve;

/// <summary>
/// The JSON of one prediction per task, shared by the ONNX and the model-zip predictors so that a client sees the same
/// shape whichever file is served.
/// </summary>
internal static class PredictionJson
{
    /// <summary>Binary and multiclass: <c>{"label": "spam", "probabilities": {"ham": 0.1, "spam": 0.9}}</c>.</summary>
    public static JsonObject Classification(IReadOnlyList<string> labels, IReadOnlyList<float> probabilities)
    {
        int best = 0;
        for (int i = 1; i < probabilities.Count; i++) if (probabilities[i] > probabilities[best]) best = i;
        return new JsonObject { ["label"] = labels[best], ["probabilities"] = Probabilities(labels, probabilities) };
    }

    /// <summary>Regression: <c>{"score": 3.25}</c> in label units.</summary>
    public static JsonObject Regression(float score) => new() { ["score"] = score };

    /// <summary>Multi-label: the labels at or above their thresholds, most probable first, and every label's probability.</summary>
    public static JsonObject MultiLabel(IReadOnlyList<string> labels, IReadOnlyList<float> probabilities, IReadOnlyList<bool> chosen)
    {
        var picked = Enumerable.Range(0, labels.Count).Where(i => chosen[i]).OrderByDescending(i => probabilities[i])
            .Select(i => (JsonNode?)labels[i]).ToArray();
        return new JsonObject { ["labels"] = new JsonArray(picked), ["probabilities"] = Probabilities(labels, probabilities) };
    }

    /// <summary>A span of the input text: [start, end) characters, that text, its type and score.</summary>
    public sealed record Entity(string Type, int Start, int End, string Text, double Score);

    /// <summary>Token classification: the entities (omitted when the tags name none, as part-of-speech tags) and one tag per word.</summary>
    public static JsonObject Tagged(IReadOnlyList<Entity>? entities, IReadOnlyList<string> tags)
    {
        var json = new JsonObject();
        if (entities is not null)
            json["entities"] = new JsonArray(entities.Select(e => (JsonNode?)new JsonObject
            {
                ["type"] = e.Type, ["start"] = e.Start, ["end"] = e.End, ["text"] = e.Text, ["score"] = e.Score,
            }).ToArray());
        json["tags"] = new JsonArray(tags.Select(t => (JsonNode?)t).ToArray());
        return json;
    }

    /// <summary>Question answering: <c>context[start..end]</c>; no answer is an empty answer with start and end -1.</summary>
    public static JsonObject Answer(string answer, int start, int end, double score) =>
        new() { ["answer"] = answer, ["start"] = start, ["end"] = end, ["score"] = score };

    private static JsonObject Probabilities(IReadOnlyList<string> labels, IReadOnlyList<float> probabilities)
    {
        var json = new JsonObject();
        for (int i = 0; i < labels.Count; i++) json[labels[i]] = probabilities[i];
        return json;
    }
}
