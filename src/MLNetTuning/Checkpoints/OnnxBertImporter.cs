using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using Google.Protobuf;
using MLNetTuning.Models;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetTuning.Checkpoints;

/// <summary>
/// Reads the weights of a BERT encoder out of a <c>torch.onnx</c> export and names them as a Hugging Face
/// <c>BertModel</c> state dict (no <c>bert.</c> prefix), in Hugging Face's layouts.
/// </summary>
/// <remarks>
/// torch.onnx keeps the names of parameters it uses as they are (embeddings, biases, LayerNorms, a pooler exported
/// as <c>Gemm</c>), but constant-folds each <c>Linear</c> weight that feeds a <c>MatMul</c> into a new anonymous
/// initializer (<c>927</c> in a torch 1.10 export, <c>onnx::MatMul_788</c> in a torch 2.x one) holding the
/// transposed weight, [in, out]. Such a weight is named after the bias its product is added to:
/// <c>MatMul(x, W) -> Add(X.bias)</c> makes W <c>X.weight</c>, transposed back to [out, in].
/// </remarks>
internal static class OnnxBertImporter
{
    private const string PoolerPrefix = "pooler.";
    // Keys that torch exports but that are not parameters of BertModel's state dict (a non-persistent buffer).
    private static readonly string[] IgnoredKeys = ["embeddings.position_ids"];
    private static readonly string[] ModelKeyRoots = ["embeddings.", "encoder.", PoolerPrefix];

    /// <summary>Imports every <c>BertModel</c> weight from an ONNX graph and checks each shape against <paramref name="config"/>.</summary>
    /// <param name="onnxModel">The serialized <c>ModelProto</c>; read to its end, not disposed.</param>
    /// <param name="config">The sizes the weights must have.</param>
    /// <param name="source">Names the model in error messages (a file path or an embedded model's name).</param>
    /// <param name="allowMissingPooler">
    /// Whether a graph without <c>pooler.dense</c> is accepted. Exports of sentence-embedding models often drop the
    /// pooler, whose output they do not use; the returned dictionary then lacks the two pooler keys.
    /// </param>
    /// <returns>CPU float32 tensors owned by the caller, keyed as in Hugging Face's <c>BertModel.state_dict()</c>.</returns>
    /// <exception cref="InvalidDataException">
    /// The stream is not an ONNX model, or a weight is missing, unexpected, of an unsupported type or of the wrong shape.
    /// The message names <paramref name="source"/> and every offending key.
    /// </exception>
    public static Dictionary<string, Tensor> ImportStateDict(Stream onnxModel, BertConfig config, string source, bool allowMissingPooler = false)
    {
        ArgumentNullException.ThrowIfNull(onnxModel);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrWhiteSpace(source);

        var graph = ReadGraph(onnxModel, source);
        var expected = ExpectedShapes(config);
        var located = LocateWeights(graph, source);
        CheckAgainstConfig(graph, expected, located, source, allowMissingPooler);

        using var scope = NewDisposeScope();
        var stateDict = new Dictionary<string, Tensor>(expected.Count);
        foreach (var key in expected.Keys)
        {
            if (located.TryGetValue(key, out var weight))
                stateDict[key] = ToTensor(weight, key, source);
        }
        foreach (var tensor in stateDict.Values) tensor.MoveToOuterDisposeScope();
        return stateDict;
    }

    /// <summary>The keys of a Hugging Face <c>BertModel</c> state dict and their shapes under <paramref name="config"/>, in module order.</summary>
    public static IReadOnlyDictionary<string, long[]> ExpectedShapes(BertConfig config)
    {
        long hidden = config.HiddenSize, intermediate = config.IntermediateSize;
        var shapes = new Dictionary<string, long[]>
        {
            ["embeddings.word_embeddings.weight"] = [config.VocabSize, hidden],
            ["embeddings.position_embeddings.weight"] = [config.MaxPositionEmbeddings, hidden],
            ["embeddings.token_type_embeddings.weight"] = [config.TypeVocabSize, hidden],
            ["embeddings.LayerNorm.weight"] = [hidden],
            ["embeddings.LayerNorm.bias"] = [hidden],
        };
        void Linear(string module, long outFeatures, long inFeatures)
        {
            shapes[module + ".weight"] = [outFeatures, inFeatures];
            shapes[module + ".bias"] = [outFeatures];
        }
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            string layer = $"encoder.layer.{i}.";
            Linear(layer + "attention.self.query", hidden, hidden);
            Linear(layer + "attention.self.key", hidden, hidden);
            Linear(layer + "attention.self.value", hidden, hidden);
            Linear(layer + "attention.output.dense", hidden, hidden);
            shapes[layer + "attention.output.LayerNorm.weight"] = [hidden];
            shapes[layer + "attention.output.LayerNorm.bias"] = [hidden];
            Linear(layer + "intermediate.dense", intermediate, hidden);
            Linear(layer + "output.dense", hidden, intermediate);
            shapes[layer + "output.LayerNorm.weight"] = [hidden];
            shapes[layer + "output.LayerNorm.bias"] = [hidden];
        }
        Linear("pooler.dense", hidden, hidden);
        return shapes;
    }

    /// <summary>An initializer found for a Hugging Face key; <paramref name="Transposed"/> when the graph holds it as [in, out].</summary>
    internal readonly record struct LocatedWeight(TensorProto Initializer, bool Transposed)
    {
        public long[] HuggingFaceShape =>
            Transposed ? Initializer.Dims.Reverse().ToArray() : Initializer.Dims.ToArray();

        public string Describe() => Transposed
            ? $"the MatMul initializer '{Initializer.Name}' {Format(Initializer.Dims)} [in, out], transposed to {Format(HuggingFaceShape)}"
            : $"the initializer '{Initializer.Name}' {Format(HuggingFaceShape)}";
    }

    internal static GraphProto ReadGraph(Stream onnxModel, string source)
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(onnxModel);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{source} is not a readable ONNX model (the file may be truncated or not ONNX): {e.Message}", e);
        }
        // Any byte string that happens to parse as protobuf yields a ModelProto; a real export always has a graph.
        if (model.Graph is null || model.Graph.Initializer.Count == 0)
            throw new InvalidDataException($"{source} holds no ONNX graph with weights (no initializers). Expected a torch.onnx export of a BERT model.");
        return model.Graph;
    }

    /// <summary>Maps Hugging Face keys to the initializers that hold them, by name or by following MatMul/Gemm into the bias Add.</summary>
    internal static Dictionary<string, LocatedWeight> LocateWeights(GraphProto graph, string source)
    {
        var initializers = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var init in graph.Initializer) initializers[init.Name] = init;

        var located = new Dictionary<string, LocatedWeight>(StringComparer.Ordinal);
        foreach (var init in graph.Initializer)
        {
            string key = HuggingFaceKey(init.Name);
            if (IsModelKey(key) && !IgnoredKeys.Contains(key))
                Add(key, new LocatedWeight(init, Transposed: false));
        }

        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
            foreach (var output in node.Output) producers[output] = node;

        foreach (var node in graph.Node)
        {
            if (node.OpType == "Add" && node.Input.Count == 2)
            {
                // torch.onnx writes Add(bias, product) or Add(product, bias), depending on the version.
                for (int b = 0; b < 2; b++)
                {
                    string? module = BiasModule(node.Input[b], initializers);
                    if (module is null || !producers.TryGetValue(node.Input[1 - b], out var product)) continue;
                    if (product.OpType == "MatMul" && product.Input.Count == 2 && initializers.TryGetValue(product.Input[1], out var w))
                        AddIfUnnamed(module + ".weight", new LocatedWeight(w, Transposed: true));
                }
            }
            else if (node.OpType == "Gemm" && node.Input.Count == 3 && initializers.TryGetValue(node.Input[1], out var w))
            {
                string? module = BiasModule(node.Input[2], initializers);
                bool transB = node.Attribute.Any(a => a.Name == "transB" && a.I != 0);
                bool transA = node.Attribute.Any(a => a.Name == "transA" && a.I != 0);
                // Gemm computes A·op(B) + C; with transB the initializer is already Linear's [out, in].
                if (module is not null && !transA) AddIfUnnamed(module + ".weight", new LocatedWeight(w, Transposed: !transB));
            }
        }
        return located;

        void Add(string key, LocatedWeight weight)
        {
            if (located.TryGetValue(key, out var other) && !ReferenceEquals(other.Initializer, weight.Initializer))
                throw new InvalidDataException($"{source}: two initializers claim the key '{key}': '{other.Initializer.Name}' and '{weight.Initializer.Name}'. Is the graph two models in one?");
            located[key] = weight;
        }

        // A weight exported under its own name wins over one found through the graph: the name is authoritative.
        void AddIfUnnamed(string key, LocatedWeight weight)
        {
            if (located.TryGetValue(key, out var named) && !named.Transposed && HuggingFaceKey(named.Initializer.Name) == key) return;
            Add(key, weight);
        }
    }

    private static string? BiasModule(string input, Dictionary<string, TensorProto> initializers)
    {
        if (!initializers.ContainsKey(input)) return null;
        string key = HuggingFaceKey(input);
        return IsModelKey(key) && key.EndsWith(".bias", StringComparison.Ordinal) ? key[..^".bias".Length] : null;
    }

    // BertForXxx exports name the encoder's weights "bert.encoder...", BertModel exports "encoder...".
    private static string HuggingFaceKey(string onnxName) =>
        onnxName.StartsWith("bert.", StringComparison.Ordinal) ? onnxName["bert.".Length..] : onnxName;

    private static bool IsModelKey(string key) => ModelKeyRoots.Any(root => key.StartsWith(root, StringComparison.Ordinal));

    private static void CheckAgainstConfig(GraphProto graph, IReadOnlyDictionary<string, long[]> expected,
        Dictionary<string, LocatedWeight> located, string source, bool allowMissingPooler)
    {
        var missing = expected.Keys.Where(k => !located.ContainsKey(k))
            .Where(k => !(allowMissingPooler && k.StartsWith(PoolerPrefix, StringComparison.Ordinal))).ToList();
        var unexpected = located.Keys.Where(k => !expected.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var mismatches = expected
            .Where(e => located.TryGetValue(e.Key, out var w) && !w.HuggingFaceShape.SequenceEqual(e.Value))
            .Select(e => $"  {e.Key}: the config expects {Format(e.Value)}, but the graph has {located[e.Key].Describe()}")
            .ToList();
        if (missing.Count == 0 && unexpected.Count == 0 && mismatches.Count == 0) return;

        var message = new System.Text.StringBuilder($"{source} does not match the BERT config:");
        if (mismatches.Count > 0)
            message.Append($"\n{mismatches.Count} weight(s) have the wrong shape (is the config for another model size?):\n").AppendJoin('\n', mismatches);
        if (missing.Count > 0)
        {
            message.Append($"\n{missing.Count} weight(s) are missing from the graph: ").AppendJoin(", ", missing);
            var used = located.Values.Select(w => w.Initializer.Name).ToHashSet(StringComparer.Ordinal);
            var unnamed = graph.Initializer
                .Where(i => i.Dims.Count == 2 && i.DataType == (int)TensorProto.Types.DataType.Float && !used.Contains(i.Name))
                .Select(i => $"'{i.Name}' {Format(i.Dims)}").ToList();
            if (unnamed.Count > 0)
                message.Append($"\n  These float matrices feed no MatMul -> Add(<module>.bias) or Gemm pattern, so they could not be named: ").AppendJoin(", ", unnamed.Take(20));
            if (missing.All(k => k.StartsWith(PoolerPrefix, StringComparison.Ordinal)))
                message.Append("\n  Only the pooler is missing: the export dropped it. Import with allowMissingPooler to keep a freshly initialised pooler.");
        }
        if (unexpected.Count > 0)
            message.Append($"\n{unexpected.Count} weight(s) in the graph are not in a BertModel with this config (more layers than num_hidden_layers?): ").AppendJoin(", ", unexpected);
        throw new InvalidDataException(message.ToString());
    }

    private static Tensor ToTensor(LocatedWeight weight, string key, string source)
    {
        var init = weight.Initializer;
        if (init.DataLocation == TensorProto.Types.DataLocation.External)
            throw new InvalidDataException($"{source}: '{key}' ('{init.Name}') is stored in an external data file, which this importer does not read. Re-export with the weights inside the .onnx file.");
        if (init.DataType != (int)TensorProto.Types.DataType.Float)
            throw new InvalidDataException($"{source}: '{key}' ('{init.Name}') has ONNX data type {(TensorProto.Types.DataType)init.DataType}; only float32 weights are supported.");

        long[] dims = init.Dims.ToArray();
        long count = dims.Aggregate(1L, (a, d) => a * d);
        var stored = empty(dims, ScalarType.Float32);   // the initializer's own layout
        // Tensor.bytes spans the tensor's own CPU memory, so each weight is copied once out of the protobuf.
        var destination = MemoryMarshal.Cast<byte, float>(stored.bytes);
        if (!init.RawData.IsEmpty)
        {
            var raw = init.RawData.Span;
            if (raw.Length != count * sizeof(float))
                throw new InvalidDataException($"{source}: '{key}' ('{init.Name}') {Format(dims)} needs {count * sizeof(float)} bytes of raw data, but has {raw.Length}. The file is damaged.");
            if (BitConverter.IsLittleEndian) raw.CopyTo(MemoryMarshal.AsBytes(destination));
            else for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(i * sizeof(float))..]);
        }
        else
        {
            if (init.FloatData.Count != count)
                throw new InvalidDataException($"{source}: '{key}' ('{init.Name}') {Format(dims)} needs {count} floats, but has {init.FloatData.Count}. The file is damaged.");
            for (int i = 0; i < destination.Length; i++) destination[i] = init.FloatData[i];
        }
        if (!weight.Transposed) return stored;
        // [in, out] -> [out, in]: contiguous() makes the copy that Linear's weight needs.
        using (stored)
        using (var view = stored.t())
            return view.contiguous();
    }

    internal static string Format(IEnumerable<long> shape) =>
        "[" + string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";
}
