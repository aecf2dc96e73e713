using System.Collections.Concurrent;
using Microsoft.ML.OnnxRuntime;
using MLNetTuning.Pretrained;

namespace MLNetTuning.Tests;

/// <summary>
/// Runs an embedded model's own ONNX export with ONNX Runtime: the reference that our TorchSharp BERT must reproduce.
/// </summary>
internal static class OrtReference
{
    private const string LastHiddenStateOutput = "last_hidden_state";

    /// <summary>Outputs of one batch; arrays are row-major.</summary>
    /// <param name="LastHiddenState">[Batch, Length, Hidden].</param>
    /// <param name="Pooled">[Batch, Hidden], or null when the export has no pooler output.</param>
    internal sealed record Output(float[] LastHiddenState, float[]? Pooled, int Batch, int Length, int Hidden);

    // Creating a session parses 90 MB and optimizes the graph (seconds), so each model gets one, shared by all tests.
    private static readonly ConcurrentDictionary<string, Lazy<InferenceSession>> Sessions = new(StringComparer.Ordinal);

    public static InferenceSession Session(EmbeddedModel model) =>
        Sessions.GetOrAdd(model.Name, _ => new Lazy<InferenceSession>(() => CreateSession(model))).Value;

    /// <summary>Runs the graph on token ids laid out [batch, length], row-major.</summary>
    public static Output Run(EmbeddedModel model, long[] inputIds, long[] attentionMask, long[] tokenTypeIds, int batch, int length)
    {
        long size = (long)batch * length;
        foreach (var (name, values) in new[] { ("input_ids", inputIds), ("attention_mask", attentionMask), ("token_type_ids", tokenTypeIds) })
            if (values.Length != size)
                throw new ArgumentException($"{name} has {values.Length} values, but batch {batch} × length {length} needs {size}.", name);

        var session = Session(model);
        long[] shape = [batch, length];
        using var ids = OrtValue.CreateTensorValueFromMemory(inputIds, shape);
        using var mask = OrtValue.CreateTensorValueFromMemory(attentionMask, shape);
        using var types = OrtValue.CreateTensorValueFromMemory(tokenTypeIds, shape);
        var inputs = new Dictionary<string, OrtValue> { ["input_ids"] = ids, ["attention_mask"] = mask, ["token_type_ids"] = types };

        string? pooledName = PooledOutputName(session);
        var outputNames = pooledName is null ? new[] { LastHiddenStateOutput } : [LastHiddenStateOutput, pooledName];
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, inputs, outputNames);

        float[] lastHidden = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        int hidden = checked((int)(lastHidden.Length / size));
        float[]? pooled = pooledName is null ? null : outputs[1].GetTensorDataAsSpan<float>().ToArray();
        return new Output(lastHidden, pooled, batch, length, hidden);
    }

    /// <summary>The pooler's output: torch.onnx gives it a numbered name (<c>924</c> in all-MiniLM-L6-v2's export).</summary>
    public static string? PooledOutputName(InferenceSession session) =>
        session.OutputMetadata.Where(o => o.Key != LastHiddenStateOutput && o.Value.Dimensions.Length == 2)
            .Select(o => o.Key).SingleOrDefault();

    private static InferenceSession CreateSession(EmbeddedModel model)
    {
        byte[] bytes;
        using (var onnx = model.OpenOnnx())
        using (var copy = new MemoryStream(checked((int)onnx.Length)))
        {
            onnx.CopyTo(copy);
            bytes = copy.GetBuffer().Length == copy.Length ? copy.GetBuffer() : copy.ToArray();
        }
        var options = new SessionOptions { IntraOpNumThreads = Math.Max(1, Environment.ProcessorCount) };
        var session = new InferenceSession(bytes, options);
        string[] expectedInputs = ["input_ids", "attention_mask", "token_type_ids"];
        var actualInputs = session.InputMetadata.Keys.Order(StringComparer.Ordinal).ToArray();
        if (!expectedInputs.Order(StringComparer.Ordinal).SequenceEqual(actualInputs))
            throw new InvalidDataException($"{model.OnnxResourceName}: expected the inputs {string.Join(", ", expectedInputs)}, found {string.Join(", ", actualInputs)}.");
        foreach (var (name, metadata) in session.InputMetadata)
            if (metadata.ElementType != typeof(long) || metadata.Dimensions.Length != 2)
                throw new InvalidDataException($"{model.OnnxResourceName}: input '{name}' is {metadata.ElementType.Name} of rank {metadata.Dimensions.Length}; expected int64 [batch, sequence].");
        return session;
    }
}
