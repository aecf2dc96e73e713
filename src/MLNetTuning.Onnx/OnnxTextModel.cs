using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using MLNetTuning.MlNet;
using MLNetTuning.Scoring;
using MLNetTuning.Text;
using MLNetTuning.Training;

namespace MLNetTuning.OnnxScoring;

/// <summary>
/// An exported graph in an ONNX Runtime session with its tokenizer and settings: texts (and pairs) in, head outputs in
/// label units out; per word and per answer, the outputs go through the same post-processing files as the TorchSharp stage.
/// </summary>
internal sealed class OnnxTextModel : IDisposable
{
    /// <summary>Windows per ONNX Runtime call for token classification and question answering.</summary>
    private const int WindowBatchSize = 32;

    private readonly InferenceSession _session;
    private readonly bool _usesTokenTypes;
    private readonly string[] _outputNames;
    private readonly TextOutputs? _textOutputs;

    public OnnxTextModel(byte[] graph, ITextTokenizer tokenizer, OnnxScoringSettings settings, string source)
    {
        Graph = graph;
        Tokenizer = tokenizer;
        Settings = settings;
        try { _session = new InferenceSession(graph, new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL }); }
        catch (OnnxRuntimeException e) { throw new InvalidDataException($"{source}: ONNX Runtime cannot load the graph: {e.Message}", e); }
        foreach (var input in new[] { "input_ids", "attention_mask" })
            if (!_session.InputMetadata.ContainsKey(input))
                throw new InvalidDataException($"{source}: the graph has no input '{input}'; its inputs are {string.Join(", ", _session.InputMetadata.Keys)}.");
        _outputNames = settings.Task == "QuestionAnswering" ? ["start_logits", "end_logits"] : ["logits"];
        foreach (var output in _outputNames)
            if (!_session.OutputMetadata.ContainsKey(output))
                throw new InvalidDataException($"{source}: the graph has no output '{output}', which a {settings.Task} model gives; its outputs are {string.Join(", ", _session.OutputMetadata.Keys)}.");
        _usesTokenTypes = _session.InputMetadata.ContainsKey("token_type_ids");
        OutputColumns = OutputColumnsFor(settings);
        _textOutputs = settings.IsTextLevel ? TextOutputsFor(settings) : null;
    }

    /// <summary>The columns a task fills: the same code as the TorchSharp stage's.</summary>
    public static IReadOnlyList<OutputColumn> OutputColumnsFor(OnnxScoringSettings settings) => settings.Task switch
    {
        "TokenClassification" => WordTagger.OutputColumns(settings.HeadLabels),
        "QuestionAnswering" => AnswerSpans.OutputColumns(settings.Answers!.TopK),
        _ => TextOutputsFor(settings).Columns,
    };

    /// <summary>The input columns: one text (or, for token classification, a vector of words), and the pair's or the context's text.</summary>
    public static InputColumn[] InputColumnsFor(OnnxScoringSettings settings, string text, string? second)
    {
        DataViewType textType = settings.Words is { WordsAreVector: true } ? new VectorDataViewType(TextDataViewType.Instance) : TextDataViewType.Instance;
        if (settings.Task == "QuestionAnswering" && second is null)
            throw new ArgumentException($"A question-answering model needs a question column and a context column, but only '{text}' was given; pass secondTextColumnName (the context).");
        return second is null ? [new InputColumn(text, textType)] : [new InputColumn(text, textType), new InputColumn(second, TextDataViewType.Instance)];
    }

    private static TextOutputs TextOutputsFor(OnnxScoringSettings settings) => settings.Task switch
    {
        "MulticlassClassification" => TextOutputs.Multiclass(settings.HeadLabels),
        "BinaryClassification" => TextOutputs.Binary(),
        "Regression" => TextOutputs.Regression(),
        _ => TextOutputs.MultiLabel(settings.HeadLabels, settings.Thresholds),
    };

    public byte[] Graph { get; }
    public ITextTokenizer Tokenizer { get; }
    public OnnxScoringSettings Settings { get; }
    public IReadOnlyList<OutputColumn> OutputColumns { get; }

    /// <summary>Scores one batch of rows into the task's columns, as the TorchSharp stage's task does.</summary>
    public void MapBatch(InputBatch inputs, bool hasPair, OutputBatch outputs)
    {
        switch (Settings.Task)
        {
            case "TokenClassification":
                var words = Settings.Words!;
                WordTagger.Write(WordTagger.Predict(Tokenizer, Settings.MaxLength, words.WindowStride, Settings.HeadLabels.Count, Logits,
                    WordTagger.ReadSentences(inputs, words.WordsAreVector)), outputs);
                break;
            case "QuestionAnswering":
                var (questions, contexts) = AnswerSpans.ReadQuestions(inputs);
                AnswerSpans.Write(AnswerSpans.Predict(Tokenizer, Settings.MaxLength, Settings.Answers!, Logits, questions, contexts), Settings.Answers!.TopK, outputs);
                break;
            default:
                _textOutputs!.Write(Score(inputs.Texts(0), hasPair ? inputs.Texts(1) : null), inputs.Count, outputs);
                break;
        }
    }

    /// <summary>Head outputs [N, K] row-major for texts (and pairs) in input order; regression comes back in label units.</summary>
    public float[] Score(IReadOnlyList<string?> texts, IReadOnlyList<string?>? pairs)
    {
        int k = Settings.HeadLabels.Count;
        if (texts.Count == 0) return [];
        var encoded = new EncodedText[texts.Count];
        // A missing pair scores as an empty second segment, as the TorchSharp stage does.
        Parallel.For(0, texts.Count, i => encoded[i] = Tokenizer.Encode(texts[i] ?? "", pairs is null ? null : pairs[i] ?? "", Settings.MaxLength));
        var batch = Tokenizer.Pad(encoded);
        float[] logits = Run(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds, batch.BatchSize, batch.SequenceLength)[0];
        if (logits.Length != texts.Count * k)
            throw new InvalidDataException($"The graph gave {logits.Length} logits for {texts.Count} texts; mlnet_scoring.json names {k} labels.");
        if (Settings.Task == "Regression")
            for (int i = 0; i < logits.Length; i++) logits[i] = logits[i] * Settings.LabelScale + Settings.LabelMean;
        return logits;
    }

    /// <summary>
    /// Per-token outputs of windows, as <c>FineTunedBert.Logits</c> gives them: each window's real tokens × K
    /// (token classification) or × 2 (start and end interleaved, question answering), concatenated in order.
    /// </summary>
    public float[] Logits(IReadOnlyList<TokenizedExample> examples)
    {
        bool answers = Settings.Task == "QuestionAnswering";
        int k = answers ? 2 : Settings.HeadLabels.Count;
        var result = new float[examples.Sum(e => e.Ids.Length) * k];
        int offset = 0;
        foreach (var chunk in examples.Chunk(WindowBatchSize))
        {
            int length = chunk.Max(e => e.Ids.Length), rows = chunk.Length;
            var (ids, mask, types) = (new long[rows * length], new long[rows * length], new long[rows * length]);
            Array.Fill(ids, Tokenizer.PadId);
            for (int r = 0; r < rows; r++)
                for (int t = 0; t < chunk[r].Ids.Length; t++)
                    (ids[r * length + t], mask[r * length + t], types[r * length + t]) = (chunk[r].Ids[t], 1, chunk[r].TypeIds[t]);
            var outputs = Run(ids, mask, types, rows, length);
            for (int r = 0; r < rows; r++)
            {
                int real = chunk[r].Ids.Length;
                if (answers)
                    for (int t = 0; t < real; t++)
                        (result[offset + t * 2], result[offset + t * 2 + 1]) = (outputs[0][r * length + t], outputs[1][r * length + t]);
                else
                    outputs[0].AsSpan(r * length * k, real * k).CopyTo(result.AsSpan(offset));
                offset += real * k;
            }
        }
        return result;
    }

    private float[][] Run(long[] inputIds, long[] attentionMask, long[] tokenTypeIds, int batchSize, int sequenceLength)
    {
        long[] shape = [batchSize, sequenceLength];
        using var ids = OrtValue.CreateTensorValueFromMemory(inputIds, shape);
        using var mask = OrtValue.CreateTensorValueFromMemory(attentionMask, shape);
        using var types = OrtValue.CreateTensorValueFromMemory(tokenTypeIds, shape);
        var inputs = new Dictionary<string, OrtValue> { ["input_ids"] = ids, ["attention_mask"] = mask };
        if (_usesTokenTypes) inputs["token_type_ids"] = types;
        using var runOptions = new RunOptions();
        using var results = _session.Run(runOptions, inputs, _outputNames);
        return results.Select(r => r.GetTensorDataAsSpan<float>().ToArray()).ToArray();
    }

    public void Dispose() => _session.Dispose();
}
