using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetTuning.Serve;

/// <summary>
/// Serves a graph written by <c>ExportOnnx</c> (<c>mlnet-tune export --format onnx</c>) through MLNetTuning.Onnx's
/// <c>BertOnnxScorer</c>: no TorchSharp, no libtorch. It reads the task, the pair column and the quantization from
/// <c>mlnet_scoring.json</c> beside the graph.
/// </summary>
internal sealed class OnnxPredictor : IPredictor
{
    private readonly MLContext _ml = new(seed: 1);
    private readonly BertOnnxScoringTransformer _scorer;
    private readonly bool _pairs;

    private OnnxPredictor(BertOnnxScoringTransformer scorer, ModelCard card, bool pairs) => (_scorer, Card, _pairs) = (scorer, card, pairs);

    public ModelCard Card { get; }

    /// <exception cref="FileNotFoundException">The graph or its <c>mlnet_scoring.json</c> is missing.</exception>
    /// <exception cref="InvalidDataException">A file is invalid, or the task is one this server scores only from the model zip.</exception>
    public static OnnxPredictor Open(string path)
    {
        string full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"The model '{path}' does not exist. Export one with: mlnet-tune export model.zip {path} --format onnx", path);
        string settingsPath = Path.Combine(Path.GetDirectoryName(full)!, "mlnet_scoring.json");
        if (!File.Exists(settingsPath))
            throw new FileNotFoundException($"'{settingsPath}' is missing: serve needs the settings file that `mlnet-tune export --format onnx` writes beside '{Path.GetFileName(full)}'.", settingsPath);
        JsonObject settings;
        try { settings = JsonNode.Parse(File.ReadAllText(settingsPath)) as JsonObject ?? throw new InvalidDataException($"{settingsPath}: expected a JSON object."); }
        catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{settingsPath} is not valid JSON: {e.Message}", e); }
        string task = (string?)settings["task"] ?? throw new InvalidDataException($"{settingsPath}: the key 'task' is missing; export the model again.");
        if (task is "TokenClassification" or "QuestionAnswering")
            throw new InvalidDataException($"{path} is a {task} model; serve scores token-classification and question-answering models from the model zip " +
                "(mlnet-tune serve model.zip). Its ONNX form serves one prediction per text or pair (classification, regression, multi-label).");
        bool pairs = settings["second_text_column"] is not null;
        var ml = new MLContext(seed: 1);
        var scorer = ml.Transforms.Text.BertOnnxScorer(full, "Text", pairs ? "Text2" : null).Fit(ml.Data.LoadFromEnumerable(Array.Empty<Row>()));
        var labels = task switch
        {
            "BinaryClassification" => settings["class_names"] is JsonArray { Count: 2 } names ? names.Select(n => (string)n!).ToArray() : ["false", "true"],
            "Regression" => [],
            _ => scorer.Labels.ToArray(),
        };
        string precision = (string?)settings["quantization"] is "Int8" ? "int8" : "float32";
        return new OnnxPredictor(scorer, new ModelCard(task, labels, full, precision, pairs ? InputKind.Pairs : InputKind.Texts), pairs);
    }

    public IReadOnlyList<JsonObject> Predict(IReadOnlyList<PredictInput> inputs)
    {
        var scored = _scorer.Transform(_ml.Data.LoadFromEnumerable(inputs.Select(i => new Row { Text = i.Text, Text2 = _pairs ? i.Second ?? "" : "" }).ToList()));
        var labels = Card.Labels;
        switch (Card.Task)
        {
            case "BinaryClassification":
                return scored.GetColumn<float>("Probability").Select(p => PredictionJson.Classification(labels, [1 - p, p])).ToList();
            case "MulticlassClassification":
                return scored.GetColumn<float[]>("Score").Select(p => PredictionJson.Classification(labels, p)).ToList();
            case "Regression":
                return scored.GetColumn<float>("Score").Select(PredictionJson.Regression).ToList();
            default:
                var chosen = scored.GetColumn<bool[]>("PredictedLabel").ToList();
                return scored.GetColumn<float[]>("Score").Select((p, i) => PredictionJson.MultiLabel(labels, p, chosen[i])).ToList();
        }
    }

    public void Dispose() => _scorer.Dispose();

    private sealed class Row
    {
        public string Text { get; set; } = "";
        public string Text2 { get; set; } = "";
    }
}
