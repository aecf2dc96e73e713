using Microsoft.ML.OnnxRuntime;
using MLNetTuning.Scoring;
using MLNetTuning.Text;

namespace MLNetTuning.OnnxScoring;

/// <summary>An exported graph in an ONNX Runtime session with its tokenizer and settings: texts (and pairs) in, head outputs in label units out.</summary>
internal sealed class OnnxTextModel : IDisposable
{
    private readonly InferenceSession _session;
    private readonly bool _usesTokenTypes;

    public OnnxTextModel(byte[] graph, BertTextTokenizer tokenizer, OnnxScoringSettings settings, string source)
    {
        Graph = graph;
        Tokenizer = tokenizer;
        Settings = settings;
        try { _session = new InferenceSession(graph, new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL }); }
        catch (OnnxRuntimeException e) { throw new InvalidDataException($"{source}: ONNX Runtime cannot load the graph: {e.Message}", e); }
        foreach (var input in new[] { "input_ids", "attention_mask" })
            if (!_session.InputMetadata.ContainsKey(input))
                throw new InvalidDataException($"{source}: the graph has no input '{input}'; its inputs are {string.Join(", ", _session.InputMetadata.Keys)}.");
        if (!_session.OutputMetadata.ContainsKey("logits"))
            throw new InvalidDataException($"{source}: the graph has no output 'logits'; its outputs are {string.Join(", ", _session.OutputMetadata.Keys)}.");
        _usesTokenTypes = _session.InputMetadata.ContainsKey("token_type_ids");
        Outputs = OutputsFor(settings);
    }

    /// <summary>The columns a task fills: the same code as the TorchSharp stage's.</summary>
    public static TextOutputs OutputsFor(OnnxScoringSettings settings) => settings.Task switch
    {
        "MulticlassClassification" => TextOutputs.Multiclass(settings.HeadLabels),
        "BinaryClassification" => TextOutputs.Binary(),
        "Regression" => TextOutputs.Regression(),
        _ => TextOutputs.MultiLabel(settings.HeadLabels, settings.Thresholds),
    };

    public byte[] Graph { get; }
    public BertTextTokenizer Tokenizer { get; }
    public OnnxScoringSettings Settings { get; }
    public TextOutputs Outputs { get; }

    /// <summary>Head outputs [N, K] row-major for texts (and pairs) in input order; regression comes back in label units.</summary>
    public float[] Score(IReadOnlyList<string?> texts, IReadOnlyList<string?>? pairs)
    {
        int k = Settings.HeadLabels.Count;
        if (texts.Count == 0) return [];
        var encoded = new EncodedText[texts.Count];
        // A missing pair scores as an empty second segment, as the TorchSharp stage does.
        Parallel.For(0, texts.Count, i => encoded[i] = Tokenizer.Encode(texts[i] ?? "", pairs is null ? null : pairs[i] ?? "", Settings.MaxLength));
        var batch = Tokenizer.Pad(encoded);
        long[] shape = [batch.BatchSize, batch.SequenceLength];
        using var ids = OrtValue.CreateTensorValueFromMemory(batch.InputIds, shape);
        using var mask = OrtValue.CreateTensorValueFromMemory(batch.AttentionMask, shape);
        using var types = OrtValue.CreateTensorValueFromMemory(batch.TokenTypeIds, shape);
        var inputs = new Dictionary<string, OrtValue> { ["input_ids"] = ids, ["attention_mask"] = mask };
        if (_usesTokenTypes) inputs["token_type_ids"] = types;
        using var runOptions = new RunOptions();
        using var results = _session.Run(runOptions, inputs, ["logits"]);
        float[] logits = results[0].GetTensorDataAsSpan<float>().ToArray();
        if (logits.Length != texts.Count * k)
            throw new InvalidDataException($"The graph gave {logits.Length} logits for {texts.Count} texts; mlnet_scoring.json names {k} labels.");
        if (Settings.Task == "Regression")
            for (int i = 0; i < logits.Length; i++) logits[i] = logits[i] * Settings.LabelScale + Settings.LabelMean;
        return logits;
    }

    public void Dispose() => _session.Dispose();
}
