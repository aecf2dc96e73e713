using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetTuning.Text;
using MLNetTuning.Training;

namespace MLNetTuning.OnnxScoring;

/// <summary>
/// What <c>mlnet_scoring.json</c> (written by MLNetTuning's <c>ExportOnnx</c>) says about the graph beside it: the task,
/// the head's labels, the maximum length, regression scaling and multi-label thresholds, the family's tokenizer kind, and
/// the windows of token classification (<see cref="Words"/>) and question answering (<see cref="Answers"/>).
/// </summary>
internal sealed record OnnxScoringSettings(string Task, IReadOnlyList<string> HeadLabels, int MaxLength, float LabelMean, float LabelScale,
    IReadOnlyList<float> Thresholds, string? TextColumn, string? SecondTextColumn)
{
    public const string FileName = "mlnet_scoring.json";

    /// <summary>The tasks this package scores, as <c>BertTask</c> names them.</summary>
    public static readonly string[] SupportedTasks =
        ["BinaryClassification", "MulticlassClassification", "Regression", "MultiLabelClassification", "TokenClassification", "QuestionAnswering"];

    /// <summary>config.json's <c>model_type</c> of the exported model (exports before families say nothing: BERT).</summary>
    public string ModelType { get; init; } = "bert";

    /// <summary>The tokenizer kind whose files are beside the graph (exports before families wrote WordPiece only).</summary>
    public TokenizerKind Tokenizer { get; init; } = TokenizerKind.WordPiece;

    /// <summary>Token classification: how words are read and long sentences cut; null for other tasks.</summary>
    public WordInput? Words { get; init; }

    /// <summary>Question answering: windows, answer length, top k and the empty answer; null for other tasks.</summary>
    public AnswerSettings? Answers { get; init; }

    /// <summary>Whether the task gives one row of outputs per text (or pair) rather than per word or per answer.</summary>
    public bool IsTextLevel => Task is not ("TokenClassification" or "QuestionAnswering");

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
        T Optional<T>(string key, T fallback) => root[key] is null ? fallback : Required<T>(key);
        int version = Required<int>("format_version");
        if (version != 1) throw new InvalidDataException($"{source}: format_version {version} is newer than this MLNetTuning.Onnx reads (1); update the package.");
        string task = Required<string>("task");
        if (!SupportedTasks.Contains(task))
            throw new InvalidDataException($"{source}: unknown task '{task}'; expected one of {string.Join(", ", SupportedTasks)}.");
        var labels = (root["head_labels"] as JsonArray ?? throw new InvalidDataException($"{source}: the key 'head_labels' is missing."))
            .Select(n => n?.GetValue<string>() ?? throw new InvalidDataException($"{source}: 'head_labels' holds a null.")).ToArray();
        float[] thresholds = root["thresholds"] is JsonArray t ? t.Select(n => n!.GetValue<float>()).ToArray() : [];
        if (task == "MultiLabelClassification" && thresholds.Length != labels.Length)
            throw new InvalidDataException($"{source}: {labels.Length} labels but {thresholds.Length} thresholds; a multi-label model needs one threshold per label.");
        int maxLength = Required<int>("max_length");
        if (maxLength < 2) throw new InvalidDataException($"{source}: max_length {maxLength} is too small; it must leave room for [CLS] and [SEP].");
        string tokenizerName = Optional("tokenizer", nameof(TokenizerKind.WordPiece));
        if (!Enum.TryParse<TokenizerKind>(tokenizerName, out var tokenizer) || !Enum.IsDefined(tokenizer))
            throw new InvalidDataException($"{source}: unknown tokenizer '{tokenizerName}'; expected one of {string.Join(", ", Enum.GetNames<TokenizerKind>())}.");
        WordInput? words = task == "TokenClassification" ? new WordInput(Required<bool>("words_are_vector"), Required<int>("window_stride")) : null;
        AnswerSettings? answers = null;
        if (task == "QuestionAnswering")
        {
            answers = new AnswerSettings(Required<int>("document_stride"), Required<int>("max_answer_length"), Required<int>("top_k"), Required<bool>("allow_no_answer"));
            if (answers.MaxAnswerLength < 1 || answers.TopK < 1 || answers.DocumentStride < 0)
                throw new InvalidDataException($"{source}: max_answer_length ({answers.MaxAnswerLength}) and top_k ({answers.TopK}) must be at least 1 and document_stride ({answers.DocumentStride}) at least 0.");
        }
        return new OnnxScoringSettings(task, labels, maxLength, Required<float>("label_mean"), Required<float>("label_scale"), thresholds,
            (string?)root["text_column"], (string?)root["second_text_column"])
        {
            ModelType = Optional("model_type", "bert"),
            Tokenizer = tokenizer,
            Words = words,
            Answers = answers,
        };
    }

    /// <summary>The settings in the export's own key names, so that one parser reads both the export and a model zip.</summary>
    public string ToJson()
    {
        var json = new JsonObject
        {
            ["format_version"] = 1,
            ["task"] = Task,
            ["model_type"] = ModelType,
            ["tokenizer"] = Tokenizer.ToString(),
            ["head_labels"] = new JsonArray(HeadLabels.Select(l => (JsonNode?)l).ToArray()),
            ["max_length"] = MaxLength,
            ["label_mean"] = LabelMean,
            ["label_scale"] = LabelScale,
            ["thresholds"] = new JsonArray(Thresholds.Select(t => (JsonNode?)t).ToArray()),
        };
        if (Words is { } w)
        {
            json["words_are_vector"] = w.WordsAreVector;
            json["window_stride"] = w.WindowStride;
        }
        if (Answers is { } a)
        {
            json["document_stride"] = a.DocumentStride;
            json["max_answer_length"] = a.MaxAnswerLength;
            json["top_k"] = a.TopK;
            json["allow_no_answer"] = a.AllowNoAnswer;
        }
        return json.ToJsonString();
    }
}
