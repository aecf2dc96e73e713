using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Tagging;

namespace MLNetTuning.Serve;

/// <summary>
/// Serves a graph written by <c>ExportOnnx</c> (<c>mlnet-tune export --format onnx</c>) through MLNetTuning.Onnx's
/// <c>BertOnnxScorer</c>: no TorchSharp, no libtorch. It reads the task, the pair column and the quantization from
/// <c>mlnet_scoring.json</c> beside the graph. Every task the scorer scores is served, with the same JSON as the model zip
/// (ZipPredictor): token classification through the same word splitting and entity chunking as `predict`
/// (<see cref="TaggedTexts"/>), question answering as the answer's span of its context.
/// </summary>
internal sealed class OnnxPredictor : IPredictor
{
    private readonly MLContext _ml = new(seed: 1);
    private readonly BertOnnxScoringTransformer _scorer;
    private readonly bool _pairs, _wordsAreVector;

    private OnnxPredictor(BertOnnxScoringTransformer scorer, ModelCard card, bool pairs, bool wordsAreVector) =>
        (_scorer, Card, _pairs, _wordsAreVector) = (scorer, card, pairs, wordsAreVector);

    public ModelCard Card { get; }

    /// <exception cref="FileNotFoundException">The graph or its <c>mlnet_scoring.json</c> is missing.</exception>
    /// <exception cref="InvalidDataException">A file is invalid.</exception>
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
        // Question answering always reads a question and its context; token classification one text, split into words here.
        bool pairs = task == "QuestionAnswering" || task != "TokenClassification" && settings["second_text_column"] is not null;
        bool wordsAreVector = task == "TokenClassification" && (bool?)settings["words_are_vector"] != false;
        var ml = new MLContext(seed: 1);
        var empty = wordsAreVector ? ml.Data.LoadFromEnumerable(Array.Empty<WordsRow>()) : ml.Data.LoadFromEnumerable(Array.Empty<Row>());
        var scorer = ml.Transforms.Text.BertOnnxScorer(full, "Text", pairs ? "Text2" : null).Fit(empty);
        var labels = task switch
        {
            "BinaryClassification" => settings["class_names"] is JsonArray { Count: 2 } names ? names.Select(n => (string)n!).ToArray() : ["false", "true"],
            "Regression" or "QuestionAnswering" => [],
            _ => scorer.Labels.ToArray(),
        };
        string precision = (string?)settings["quantization"] is "Int8" ? "int8" : "float32";
        var input = task switch
        {
            "QuestionAnswering" => InputKind.Questions,
            _ => pairs ? InputKind.Pairs : InputKind.Texts,
        };
        return new OnnxPredictor(scorer, new ModelCard(task, labels, full, precision, input), pairs, wordsAreVector);
    }

    public IReadOnlyList<JsonObject> Predict(IReadOnlyList<PredictInput> inputs)
    {
        if (Card.Task == "TokenClassification") return PredictTags(inputs);
        var scored = _scorer.Transform(_ml.Data.LoadFromEnumerable(inputs.Select(i => new Row { Text = i.Text, Text2 = _pairs ? i.Second ?? "" : "" }).ToList()));
        var labels = Card.Labels;
        switch (Card.Task)
        {
            case "BinaryClassification":
                return scored.GetColumn<float>("Probability").Select(p => PredictionJson.Classification(labels, [1 - p, p])).ToList();
            case "MulticlassClassification":
                return scored.GetColumn<float[]>("Score").Select(p => PredictionJson.Classification(labels, p)).ToList();
            case "QuestionAnswering":
                var answers = scored.GetColumn<string>("PredictedAnswer").ToList();
                var starts = scored.GetColumn<int>("PredictedAnswerStart").ToList();
                // The answer is context[start..end]; no answer is an empty answer at -1, as `predict` writes it.
                return scored.GetColumn<float>("Score").Select((score, i) =>
                    PredictionJson.Answer(answers[i], starts[i], starts[i] < 0 ? -1 : starts[i] + answers[i].Length, score)).ToList();
            case "Regression":
                return scored.GetColumn<float>("Score").Select(PredictionJson.Regression).ToList();
            default:
                var chosen = scored.GetColumn<bool[]>("PredictedLabel").ToList();
                return scored.GetColumn<float[]>("Score").Select((p, i) => PredictionJson.MultiLabel(labels, p, chosen[i])).ToList();
        }
    }

    private List<JsonObject> PredictTags(IReadOnlyList<PredictInput> inputs)
    {
        // A model trained on one text per row splits it on whitespace itself, into the same words as TaggedTexts.Words.
        var tagged = TaggedTexts.Predict(Card.Labels, inputs.Select(i => i.Text).ToList(), sentences => _scorer.Transform(_wordsAreVector
            ? _ml.Data.LoadFromEnumerable(sentences.Select(words => new WordsRow { Text = words }).ToList())
            : _ml.Data.LoadFromEnumerable(sentences.Select(words => new Row { Text = string.Join(' ', words) }).ToList())));
        return tagged.Select(t => PredictionJson.Tagged(t.Entities?.Select(e => new PredictionJson.Entity(e.Type, e.Start, e.End, e.Text, e.Score)).ToList(), t.Tags)).ToList();
    }

    public void Dispose() => _scorer.Dispose();

    private sealed class Row
    {
        public string Text { get; set; } = "";
        public string Text2 { get; set; } = "";
    }

    private sealed class WordsRow
    {
        public string[] Text { get; set; } = [];
    }
}
