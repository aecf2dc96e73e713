using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNetTuning.OnnxScoring;

/// <summary>
/// What <c>mlnet_scoring.json</c> (written by MLNetTuning's <c>ExportOnnx</c>) says about the graph beside it: the task,
/// the head's labels, the maximum length, regression scaling and multi-label thresholds.
/// </summary>
internal sealed record OnnxScoringSettings(string Task, IReadOnlyList<string> HeadLabels, int MaxLength, float LabelMean, float LabelScale,
    IReadOnlyList<float> Thresholds, string? TextColumn, string? SecondTextColumn)
{
    public const string FileName = "mlnet_scoring.json";

    /// <summary>The tasks this package scores: one prediction per text or text pair.</summary>
    public static readonly string[] SupportedTasks = ["BinaryClassification", "MulticlassClassification", "Regression", "MultiLabelClassification"];

    /// <exception cref="InvalidDataException">The JSON is invalid, lacks a key, or names a task this package does not score; the message names <paramref name="source"/>.</exception>
    public static OnnxScoringSettings Parse(string json, string source)
    {
        JsonObject root;
        try { root = JsonNode.Parse(json) as JsonObject ?? throw new InvalidDataException($"{source}: expected a JSON object."); }
        catch (JsonException e) { throw new InvalidDataException($"{source} is not valid JSON: {e.Message}", e); }

        T Required<T>(string key)
        {
            if (root[key] is not JsonNode node) throw new InvalidDataException($"{source}: the key '{key}' is missing; export the model again with ExportOnnx.");
            try { return node.GetValue<T>(); }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            { throw new InvalidDataException($"{source}: '{key}' must be a {typeof(T).Name}, but it is {node.ToJsonString()}.", e); }
        }
        int version = Required<int>("format_version");
        if (version != 1) throw new InvalidDataException($"{source}: format_version {version} is newer than this MLNetTuning.Onnx reads (1); update the package.");
        string task = Required<string>("task");
        if (task is "TokenClassification" or "QuestionAnswering")
            throw new InvalidDataException($"{source}: the task is {task}, which MLNetTuning.Onnx does not score yet (it scores {string.Join(", ", SupportedTasks)}). " +
                "Run the graph with ONNX Runtime directly: its outputs are the raw per-token logits.");
        if (!SupportedTasks.Contains(task))
            throw new InvalidDataException($"{source}: unknown task '{task}'; expected one of {string.Join(", ", SupportedTasks)}.");
        var labels = (root["head_labels"] as JsonArray ?? throw new InvalidDataException($"{source}: the key 'head_labels' is missing."))
            .Select(n => n?.GetValue<string>() ?? throw new InvalidDataException($"{source}: 'head_labels' holds a null.")).ToArray();
        float[] thresholds = root["thresholds"] is JsonArray t ? t.Select(n => n!.GetValue<float>()).ToArray() : [];
        if (task == "MultiLabelClassification" && thresholds.Length != labels.Length)
            throw new InvalidDataException($"{source}: {labels.Length} labels but {thresholds.Length} thresholds; a multi-label model needs one threshold per label.");
        int maxLength = Required<int>("max_length");
        if (maxLength < 2) throw new InvalidDataException($"{source}: max_length {maxLength} is too small; it must leave room for [CLS] and [SEP].");
        return new OnnxScoringSettings(task, labels, maxLength, Required<float>("label_mean"), Required<float>("label_scale"), thresholds,
            (string?)root["text_column"], (string?)root["second_text_column"]);
    }
}
