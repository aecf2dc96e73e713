using static TorchSharp.torch;

namespace MLNetTuning.Onnx;

/// <summary>
/// A model's weights by their state-dict keys, as graph initializers. Keys are what Hugging Face names them
/// (<c>bert.encoder.layer.0.attention.self.query.weight</c>), so a family's graph builder reads the same names as its checkpoints.
/// </summary>
internal sealed class OnnxWeights(IReadOnlyDictionary<string, Tensor> stateDict, string source)
{
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    /// <summary>The weight <paramref name="key"/> as it is stored, as an initializer of the same name.</summary>
    /// <exception cref="InvalidDataException">The state dict has no such key; the message names it.</exception>
    public string Add(OnnxGraphBuilder graph, string key)
    {
        var tensor = Get(key);
        return graph.Initializer(key, Floats(tensor), tensor.shape);
    }

    /// <summary>
    /// A <c>Linear</c> weight [out, in] as the [in, out] right operand of a MatMul (what torch.onnx writes), named
    /// <c>key</c> + <c>.T</c>, so that <c>MatMul(x, W.T) + b</c> is <c>x Wᵀ + b</c>.
    /// </summary>
    public string AddTransposed(OnnxGraphBuilder graph, string key)
    {
        var tensor = Get(key);
        if (tensor.dim() != 2) throw new InvalidDataException($"{source}: '{key}' has shape [{string.Join(", ", tensor.shape)}]; a Linear weight is [out, in].");
        using var transposed = tensor.t().contiguous();
        return graph.Initializer(key + ".T", Floats(transposed), transposed.shape);
    }

    /// <summary>Whether the state dict has <paramref name="key"/> (optional modules such as a pooler).</summary>
    public bool Has(string key) => stateDict.ContainsKey(key);

    /// <summary>The keys the graph did not read, so that an exporter can refuse to drop weights silently.</summary>
    public IEnumerable<string> Unused(IEnumerable<string> ignored) =>
        stateDict.Keys.Where(k => !_used.Contains(k) && !ignored.Any(k.EndsWith)).Order(StringComparer.Ordinal);

    private Tensor Get(string key)
    {
        if (!stateDict.TryGetValue(key, out var tensor))
            throw new InvalidDataException($"{source}: the state dict has no '{key}', which the ONNX graph needs.");
        _used.Add(key);
        return tensor;
    }

    private static float[] Floats(Tensor tensor)
    {
        using var cpu = tensor.detach().to(ScalarType.Float32, CPU).contiguous();
        return cpu.data<float>().ToArray();
    }
}
