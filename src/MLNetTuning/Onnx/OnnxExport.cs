using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using MLNetTuning.IO;
using MLNetTuning.Training;
using Onnx;

namespace MLNetTuning.Onnx;

/// <summary>
/// Writes a fine-tuned model as an ONNX graph (opset 17, dynamic batch and sequence axes, Hugging Face's input and output
/// names) beside its tokenizer files and <see cref="ScoringFile"/>, which holds what turns the raw outputs into the
/// transformer's columns (labels, regression scaling, multi-label thresholds, lengths and windows).
/// </summary>
/// <remarks>
/// The graph gives the head's raw outputs, exactly what <c>BertTaskModel.Forward</c> gives: <c>logits</c> [B, K] per text,
/// [B, T, K] per token, or <c>start_logits</c> and <c>end_logits</c> [B, T] for question answering. Post-processing stays
/// outside the graph, as in Hugging Face's exports, so that one graph serves every runtime; the JSON says what it is.
/// </remarks>
internal static class OnnxExport
{
    /// <summary>The post-processing settings written beside the graph.</summary>
    public const string ScoringFile = "mlnet_scoring.json";
    public const string BatchAxis = "batch_size";
    public const string SequenceAxis = "sequence_length";

    // Buffers that the TorchSharp model does not register as parameters, kept by some checkpoints.
    private static readonly string[] IgnoredKeys = ["position_ids"];

    /// <summary>Builds, validates by construction and writes the graph and its side files. Each file is replaced atomically.</summary>
    /// <remarks>
    /// <c>path</c> is the .onnx file; the tokenizer files and <see cref="ScoringFile"/> go to its folder. The text columns,
    /// when given, are recorded so that a scorer can default to them.
    /// </remarks>
    public static void Save(string path, FineTunedBert model, OnnxQuantization quantization, string? textColumn = null, string? secondTextColumn = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!Enum.IsDefined(quantization))
            throw new ArgumentOutOfRangeException(nameof(quantization), $"Unknown OnnxQuantization {(int)quantization}; use None or Int8.");
        string fullPath = Path.GetFullPath(path);
        if (Directory.Exists(fullPath)) throw new IOException($"The ONNX output '{path}' is a folder; give a file path such as {Path.Combine(path, "model.onnx")}.");

        var graph = BuildTaskModel(model, out var outputs);
        if (quantization == OnnxQuantization.Int8) OnnxInt8.Quantize(graph.Graph);
        string folder = Path.GetDirectoryName(fullPath)!;
        Directory.CreateDirectory(folder);
        AtomicFile.WriteStream(fullPath, stream => graph.WriteTo(stream));
        model.Tokenizer.Save(folder);
        AtomicFile.WriteAllText(Path.Combine(folder, ScoringFile),
            ScoringJson(model, Path.GetFileName(fullPath), outputs, quantization, textColumn, secondTextColumn).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>The task model (encoder plus head) as an ONNX model; <paramref name="outputs"/> names its outputs in order.</summary>
    public static ModelProto BuildTaskModel(FineTunedBert model, out string[] outputs)
    {
        var state = model.Model.state_dict();
        var weights = new OnnxWeights(state, "the fine-tuned model");
        var g = new OnnxGraphBuilder();
        var encoder = OnnxEncoderGraphs.For(model.Config);
        var inputs = Inputs(g, encoder.UsesTokenTypes);
        var encoded = encoder.Build(g, weights, Models.ModelFamilies.Of(model.Config).Prefix + ".", inputs);
        outputs = OnnxHeads.Build(g, weights, model.Task, model.Model.HeadName, encoder, encoded);
        CheckEverythingExported(weights, "the fine-tuned model");
        return g.ToModel(ProducerVersion, Metadata(model));
    }

    /// <summary>
    /// A bare encoder (Hugging Face's <c>BertModel</c>, no prefix) as ONNX with outputs <c>last_hidden_state</c> and, with a
    /// pooler, <c>pooler_output</c>: what a feature-extraction export gives, and what the embedded model.onnx gives.
    /// </summary>
    public static ModelProto BuildEncoder(Models.BertConfig config, IReadOnlyDictionary<string, TorchSharp.torch.Tensor> stateDict)
    {
        var weights = new OnnxWeights(stateDict, "the encoder");
        var g = new OnnxGraphBuilder();
        var encoder = OnnxEncoderGraphs.For(config);
        var encoded = encoder.Build(g, weights, "", Inputs(g, encoder.UsesTokenTypes));
        g.Output(encoded.LastHiddenState, "last_hidden_state", TensorProto.Types.DataType.Float, BatchAxis, SequenceAxis, encoded.HiddenSize);
        if (encoded.PooledOutput is { } pooled) g.Output(pooled, "pooler_output", TensorProto.Types.DataType.Float, BatchAxis, encoded.HiddenSize);
        CheckEverythingExported(weights, "the encoder");
        return g.ToModel(ProducerVersion, []);
    }

    private static OnnxEncoderInputs Inputs(OnnxGraphBuilder g, bool tokenTypes) => new(
        g.Input("input_ids", TensorProto.Types.DataType.Int64, BatchAxis, SequenceAxis),
        g.Input("attention_mask", TensorProto.Types.DataType.Int64, BatchAxis, SequenceAxis),
        tokenTypes ? g.Input("token_type_ids", TensorProto.Types.DataType.Int64, BatchAxis, SequenceAxis) : null);

    // A weight the graph never reads would be a model that silently scores differently from the one trained.
    private static void CheckEverythingExported(OnnxWeights weights, string source)
    {
        var unused = weights.Unused(IgnoredKeys).ToList();
        if (unused.Count > 0)
            throw new InvalidOperationException($"The ONNX graph of {source} does not use {unused.Count} weight(s): {string.Join(", ", unused.Take(10))}. The exporter does not know this model's layout.");
    }

    private static string ProducerVersion => typeof(OnnxExport).Assembly.GetName().Version?.ToString() ?? "0";

    private static IEnumerable<KeyValuePair<string, string>> Metadata(FineTunedBert model) =>
    [
        new("task", model.Task.Kind.ToString()),
        new("labels", string.Join("\n", model.Task.HeadLabels)),
    ];

    /// <summary>The side file: everything a scorer needs besides the graph and the tokenizer, in plain names.</summary>
    internal static JsonObject ScoringJson(FineTunedBert model, string graphFile, string[] outputs, OnnxQuantization quantization, string? textColumn, string? secondTextColumn)
    {
        var task = model.Task;
        var json = new JsonObject
        {
            ["format_version"] = 1,
            ["model"] = graphFile,
            ["model_type"] = model.Config.ModelType,
            ["tokenizer"] = Models.ModelFamilies.Of(model.Config).Tokenizer.ToString(),
            ["task"] = task.Kind.ToString(),
            ["quantization"] = quantization.ToString(),
            ["max_length"] = model.MaxSequenceLength,
            ["inputs"] = Models.ModelFamilies.Of(model.Config).HasTokenTypes
                ? new JsonArray("input_ids", "attention_mask", "token_type_ids") : new JsonArray("input_ids", "attention_mask"),
            ["outputs"] = new JsonArray(outputs.Select(o => (JsonNode?)o).ToArray()),
            ["head_labels"] = new JsonArray(task.HeadLabels.Select(l => (JsonNode?)l).ToArray()),
            ["class_names"] = new JsonArray(task.ClassNames.Select(l => (JsonNode?)l).ToArray()),
            ["post_processing"] = task.Kind switch
            {
                BertTask.BinaryClassification => "sigmoid",
                BertTask.MulticlassClassification or BertTask.TokenClassification => "softmax",
                BertTask.Regression => "label_mean + label_scale * logits",
                BertTask.MultiLabelClassification => "sigmoid, then probability >= threshold",
                BertTask.QuestionAnswering => "best start <= end span within max_answer_length",
                _ => "none",
            },
        };
        if (textColumn is not null) json["text_column"] = textColumn;
        if (secondTextColumn is not null) json["second_text_column"] = secondTextColumn;
        var (mean, scale) = task.LabelScaling;
        json["label_mean"] = mean;
        json["label_scale"] = scale;
        if (task is MultiLabelClassificationTask multiLabel)
            json["thresholds"] = new JsonArray(multiLabel.Thresholds.Select(t => (JsonNode?)t).ToArray());
        if (task is TokenClassificationTask tokens)
        {
            json["words_are_vector"] = tokens.Words.WordsAreVector;
            json["window_stride"] = tokens.Words.WindowStride;
        }
        if (task is QuestionAnsweringTask answers)
        {
            json["document_stride"] = answers.Settings.DocumentStride;
            json["max_answer_length"] = answers.Settings.MaxAnswerLength;
            json["top_k"] = answers.Settings.TopK;
            json["allow_no_answer"] = answers.Settings.AllowNoAnswer;
        }
        json["exported_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture);
        return json;
    }
}

/// <summary>The task heads on top of any family's encoder outputs, named as Hugging Face's ONNX exporter names them.</summary>
internal static class OnnxHeads
{
    public static string[] Build(OnnxGraphBuilder g, OnnxWeights w, FineTuneTask task, string headName, IOnnxEncoderGraph encoder, OnnxEncoderOutputs encoded)
    {
        const TensorProto.Types.DataType F = TensorProto.Types.DataType.Float;
        string b = OnnxExport.BatchAxis, t = OnnxExport.SequenceAxis;
        int k = task.HeadLabels.Count;
        switch (task.Kind)
        {
            case BertTask.QuestionAnswering:
                // [B, T, H] -> [B, T, 2] -> start [B, T] and end [B, T]
                var spans = Head(g, w, headName, encoded.LastHiddenState);
                g.Output(g.Node("Gather", [spans, g.Scalar(0L)], "start", ("axis", 2L)), "start_logits", F, b, t);
                g.Output(g.Node("Gather", [spans, g.Scalar(1L)], "end", ("axis", 2L)), "end_logits", F, b, t);
                return ["start_logits", "end_logits"];
            case BertTask.TokenClassification:
                g.Output(Head(g, w, headName, encoded.LastHiddenState), "logits", F, b, t, k);
                return ["logits"];
            default:
                g.Output(Head(g, w, headName, encoder.SequenceFeatures(g, w, encoded, headName)), "logits", F, b, k);
                return ["logits"];
        }
    }

    /// <summary>The head's Linear; its node names start with <c>head/</c> so that the int8 pass leaves it in float32.</summary>
    private static string Head(OnnxGraphBuilder g, OnnxWeights w, string module, string x) =>
        BertEncoderGraph.Linear(g, w, module, x, OnnxInt8.KeepFloatPrefix + module);
}
