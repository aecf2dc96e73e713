using static TorchSharp.torch;

namespace MLNetTuning.Checkpoints;

/// <summary>Copies a checkpoint into a module only when every key and shape matches, and otherwise says exactly what differs.</summary>
internal static class StrictLoad
{
    /// <param name="module">The module to fill; its parameters keep their identity (values are copied in).</param>
    /// <param name="stateDict">The checkpoint's tensors by checkpoint key.</param>
    /// <param name="source">The file or folder, for messages.</param>
    /// <param name="mapKey">Renames a checkpoint key to a module key; null drops the key on purpose.</param>
    /// <exception cref="InvalidDataException">Keys are missing or unexpected, or shapes differ; all are listed.</exception>
    /// <param name="mayBeMissing">Module keys that may stay as they are (a part the checkpoint lacks by design).</param>
    public static void LoadInto(nn.Module module, IReadOnlyDictionary<string, Tensor> stateDict, string source, Func<string, string?>? mapKey = null,
        Func<string, bool>? mayBeMissing = null)
    {
        var target = module.state_dict();
        var mapped = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var mappedFrom = new Dictionary<string, string>(StringComparer.Ordinal);
        var unexpected = new List<string>();
        var duplicated = new List<string>();
        foreach (var (key, value) in stateDict)
        {
            string? name = mapKey is null ? key : mapKey(key);
            if (name is null) continue;
            if (!target.ContainsKey(name)) unexpected.Add(key);
            // Two checkpoint keys for one weight (say "x.gamma" and "x.weight"): taking either would be a silent guess.
            else if (mappedFrom.TryGetValue(name, out var first)) duplicated.Add($"{name} <- {first} and {key}");
            else { mapped[name] = value; mappedFrom[name] = key; }
        }
        var missing = target.Keys.Where(k => !mapped.ContainsKey(k) && !(mayBeMissing?.Invoke(k) ?? false)).ToList();
        var mismatched = mapped.Where(kv => !kv.Value.shape.SequenceEqual(target[kv.Key].shape))
            .Select(kv => $"{kv.Key}: checkpoint [{string.Join(", ", kv.Value.shape)}] vs model [{string.Join(", ", target[kv.Key].shape)}]").ToList();
        if (missing.Count + unexpected.Count + mismatched.Count + duplicated.Count > 0)
        {
            var lines = new List<string> { $"The checkpoint '{source}' does not match the model ({module.GetName()}):" };
            if (missing.Count > 0) lines.Add($"  missing keys ({missing.Count}): {string.Join(", ", missing)}");
            if (unexpected.Count > 0) lines.Add($"  unexpected keys ({unexpected.Count}): {string.Join(", ", unexpected)}");
            if (mismatched.Count > 0) lines.Add($"  shape mismatches ({mismatched.Count}): {string.Join("; ", mismatched)}");
            if (duplicated.Count > 0) lines.Add($"  keys given twice ({duplicated.Count}): {string.Join("; ", duplicated)}");
            lines.Add("Check that the checkpoint's config.json matches its weights, and that it is a BERT checkpoint.");
            throw new InvalidDataException(string.Join(Environment.NewLine, lines));
        }
        using var noGrad = no_grad();
        foreach (var (name, value) in mapped) target[name].copy_(value);
    }
}
