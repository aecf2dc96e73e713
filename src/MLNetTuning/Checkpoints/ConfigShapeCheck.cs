using System.Globalization;
using MLNetTuning.Models;

namespace MLNetTuning.Checkpoints;

/// <summary>
/// Checks a config.json against the shapes its checkpoint actually holds, before any module is built from the config.
/// </summary>
/// <remarks>
/// A model is allocated from config.json's numbers (vocab_size × hidden_size for the embeddings, num_hidden_layers
/// layers, …), and only afterwards does the strict load compare its shapes with the file. A hostile or mistyped config
/// (vocab_size 2,000,000,000) would make that first allocation fail or take all memory. The checkpoint's shapes are
/// bounded by its file size (the safetensors header is checked against it), so every size the config decides is checked
/// against them here: each embedding table, the number of layers and the first layer's projections.
/// </remarks>
internal static class ConfigShapeCheck
{
    /// <summary>Throws unless the encoder sizes of <paramref name="config"/> match the checkpoint's shapes.</summary>
    /// <param name="config">The config read from <paramref name="configSource"/>.</param>
    /// <param name="shapes">Checkpoint key → shape, keys as saved (with or without <c>bert.</c>).</param>
    /// <param name="configSource">The config file, named in the error.</param>
    /// <param name="checkpointSource">The weights file or folder, named in the error.</param>
    /// <exception cref="InvalidDataException">A size disagrees or a key the sizes are read from is missing; the message
    /// names the config field, both values and the checkpoint key.</exception>
    public static void Check(BertConfig config, IReadOnlyDictionary<string, long[]> shapes, string configSource, string checkpointSource)
    {
        var family = ModelFamilies.Of(config);
        // DistilBERT names its layers transformer.layer.N with q_lin and ffn.lin1; BERT and RoBERTa encoder.layer.N.
        bool distil = family.ModelType == "distilbert";
        string layerPrefix = distil ? "transformer.layer." : "encoder.layer.";
        var encoder = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var original = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, shape) in shapes)
        {
            if (ModelFamily.IsReplacedHead(key) || family.MapKey(key, "") is not { } mapped) continue;
            encoder.TryAdd(mapped, shape);
            original.TryAdd(mapped, key);
        }

        var layers = new SortedSet<int>();
        foreach (var key in encoder.Keys)
        {
            if (!key.StartsWith(layerPrefix, StringComparison.Ordinal)) continue;
            string rest = key[layerPrefix.Length..];
            int dot = rest.IndexOf('.');
            if (dot > 0 && int.TryParse(rest.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out int index)) layers.Add(index);
        }
        if (layers.Count != config.NumHiddenLayers || (layers.Count > 0 && layers.Max != layers.Count - 1))
            throw new InvalidDataException(
                $"{configSource}: num_hidden_layers is {config.NumHiddenLayers}, but {checkpointSource} holds {layers.Count} layer(s)" +
                (layers.Count > 0 ? $" (indices {layers.Min}..{layers.Max})" : "") +
                ". The config does not belong to these weights; use the config.json saved with them.");

        long hidden = config.HiddenSize;
        Expect("embeddings.word_embeddings.weight", [config.VocabSize, hidden], "vocab_size × hidden_size");
        Expect("embeddings.position_embeddings.weight", [config.MaxPositionEmbeddings, hidden], "max_position_embeddings × hidden_size");
        if (family.HasTokenTypes || encoder.ContainsKey("embeddings.token_type_embeddings.weight"))
            Expect("embeddings.token_type_embeddings.weight", [config.TypeVocabSize, hidden], "type_vocab_size × hidden_size");
        if (config.NumHiddenLayers > 0)
        {
            Expect(distil ? "transformer.layer.0.attention.q_lin.weight" : "encoder.layer.0.attention.self.query.weight", [hidden, hidden], "hidden_size × hidden_size");
            Expect(distil ? "transformer.layer.0.ffn.lin1.weight" : "encoder.layer.0.intermediate.dense.weight", [config.IntermediateSize, hidden], "intermediate_size × hidden_size");
        }

        void Expect(string key, long[] expected, string fields)
        {
            if (!encoder.TryGetValue(key, out var actual))
                throw new InvalidDataException(
                    $"{checkpointSource}: the checkpoint has no '{key}' (nor '{family.Prefix}.{key}'), which every {family.ModelType} checkpoint holds; " +
                    $"{configSource}'s sizes cannot be checked against it. The weights file is incomplete or not a {family.ModelType} checkpoint (config.json's model_type).");
            if (!actual.SequenceEqual(expected))
                throw new InvalidDataException(
                    $"{configSource}: {fields} give {OnnxBertImporter.Format(expected)}, but '{original[key]}' in {checkpointSource} is " +
                    $"{OnnxBertImporter.Format(actual)}. The config does not belong to these weights; use the config.json saved with them.");
        }
    }

    /// <summary>Checks the rows of a task head against the label count the config declares (id2label / num_labels).</summary>
    /// <exception cref="InvalidDataException">The head has another number of rows.</exception>
    public static void CheckHeadRows(IReadOnlyDictionary<string, long[]> shapes, string headKey, long expectedRows, string what, string source)
    {
        if (shapes.TryGetValue(headKey, out var shape) && (shape.Length == 0 || shape[0] != expectedRows))
            throw new InvalidDataException(
                $"{source}: {what} is {expectedRows}, but the head '{headKey}' is {OnnxBertImporter.Format(shape)}. " +
                "The model is damaged or its config was edited; save the model again.");
    }
}
