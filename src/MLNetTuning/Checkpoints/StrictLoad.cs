using static TorchSharp.torch;

namespace MLNetTuning.Checkpoints;

/// <summary>
/// Loads a checkpoint's state dict into a module only when every key and every shape matches, and otherwise explains
/// every difference at once, so a half-loaded model (random weights where the checkpoint had none) is never trained.
/// </summary>
internal static class StrictLoad
{
    /// <summary>A module key that both sides have with the same shape, and the checkpoint key it comes from.</summary>
    internal sealed record Match(string ModuleKey, string CheckpointKey);

    /// <summary>A module key that both sides have, with different shapes.</summary>
    internal sealed record ShapeMismatch(string ModuleKey, string CheckpointKey, long[] ModuleShape, long[] CheckpointShape);

    /// <summary>How a checkpoint lines up with a module; <see cref="IsExact"/> when it can be loaded.</summary>
    internal sealed record Comparison(
        IReadOnlyList<Match> Matches,
        IReadOnlyList<string> Missing,
        IReadOnlyList<(string ModuleKey, string CheckpointKey)> Unexpected,
        IReadOnlyList<ShapeMismatch> ShapeMismatches,
        IReadOnlyList<(string ModuleKey, IReadOnlyList<string> CheckpointKeys)> Collisions)
    {
        internal bool IsExact => Missing.Count == 0 && Unexpected.Count == 0 && ShapeMismatches.Count == 0 && Collisions.Count == 0;
    }

    /// <summary>
    /// Copies <paramref name="stateDict"/> into <paramref name="module"/>'s parameters and buffers in place (the
    /// <c>Parameter</c> objects stay the same, so optimizers built earlier still see them; values are converted to each
    /// parameter's dtype and device).
    /// </summary>
    /// <param name="module">The module to fill.</param>
    /// <param name="stateDict">Checkpoint tensors by checkpoint key.</param>
    /// <param name="source">What the checkpoint is (a file or folder), named in the error.</param>
    /// <param name="mapKey">Renames a checkpoint key to the module's key; returning null drops the tensor.</param>
    /// <param name="isIgnorableMissing">Module keys that may stay as initialised when the checkpoint lacks them.</param>
    /// <param name="isIgnorableUnexpected">Mapped keys the module lacks that may be skipped silently.</param>
    /// <exception cref="InvalidDataException">Any missing key, unexpected key, shape mismatch or two checkpoint keys
    /// mapped to one module key; the message lists all of them and nothing is copied.</exception>
    internal static void LoadInto(nn.Module module, IReadOnlyDictionary<string, Tensor> stateDict, string source,
        Func<string, string?>? mapKey = null, Func<string, bool>? isIgnorableMissing = null, Func<string, bool>? isIgnorableUnexpected = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(stateDict);
        var target = module.state_dict();
        var comparison = Compare(target, stateDict, mapKey, isIgnorableMissing, isIgnorableUnexpected);
        if (!comparison.IsExact)
        {
            var lines = Describe(comparison);
            throw new InvalidDataException(
                $"{source}: the checkpoint does not match the {module.GetType().Name} model ({string.Join("; ", Summary(comparison))}). " +
                "Check that the checkpoint belongs to this architecture and that config.json matches it." + Environment.NewLine +
                string.Join(Environment.NewLine, lines));
        }
        using (no_grad())
        {
            // copy_ returns the parameter itself; it must not be disposed.
            foreach (var match in comparison.Matches)
                target[match.ModuleKey].copy_(stateDict[match.CheckpointKey]);
        }
    }

    /// <summary>Lines up checkpoint keys (after <paramref name="mapKey"/>) with a module's state dict.</summary>
    internal static Comparison Compare(IReadOnlyDictionary<string, Tensor> moduleState, IReadOnlyDictionary<string, Tensor> stateDict,
        Func<string, string?>? mapKey = null, Func<string, bool>? isIgnorableMissing = null, Func<string, bool>? isIgnorableUnexpected = null)
    {
        var sources = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var checkpointKey in stateDict.Keys.Order(StringComparer.Ordinal))
        {
            string? moduleKey = mapKey is null ? checkpointKey : mapKey(checkpointKey);
            if (moduleKey is null) continue;
            if (!sources.TryGetValue(moduleKey, out var list)) sources[moduleKey] = list = [];
            list.Add(checkpointKey);
        }

        var matches = new List<Match>();
        var unexpected = new List<(string, string)>();
        var mismatches = new List<ShapeMismatch>();
        var collisions = new List<(string, IReadOnlyList<string>)>();
        foreach (var (moduleKey, checkpointKeys) in sources.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (checkpointKeys.Count > 1) { collisions.Add((moduleKey, checkpointKeys)); continue; }
            string checkpointKey = checkpointKeys[0];
            if (!moduleState.TryGetValue(moduleKey, out var parameter))
            {
                if (isIgnorableUnexpected?.Invoke(moduleKey) != true) unexpected.Add((moduleKey, checkpointKey));
                continue;
            }
            var checkpointShape = stateDict[checkpointKey].shape;
            if (!parameter.shape.SequenceEqual(checkpointShape))
                mismatches.Add(new ShapeMismatch(moduleKey, checkpointKey, parameter.shape, checkpointShape));
            else
                matches.Add(new Match(moduleKey, checkpointKey));
        }
        var missing = moduleState.Keys.Where(k => !sources.ContainsKey(k) && isIgnorableMissing?.Invoke(k) != true)
            .Order(StringComparer.Ordinal).ToList();
        return new Comparison(matches, missing, unexpected, mismatches, collisions);
    }

    /// <summary>One line per problem, grouped by kind, each naming the key(s) and, for shapes, both shapes.</summary>
    internal static List<string> Describe(Comparison comparison)
    {
        var lines = new List<string>();
        if (comparison.Missing.Count > 0)
        {
            lines.Add($"Missing from the checkpoint ({comparison.Missing.Count}):");
            lines.AddRange(comparison.Missing.Select(k => $"  {k}"));
        }
        if (comparison.Unexpected.Count > 0)
        {
            lines.Add($"Unexpected in the checkpoint, not in the model ({comparison.Unexpected.Count}):");
            lines.AddRange(comparison.Unexpected.Select(u => $"  {Named(u.ModuleKey, u.CheckpointKey)}"));
        }
        if (comparison.ShapeMismatches.Count > 0)
        {
            lines.Add($"Shape mismatches, model vs checkpoint ({comparison.ShapeMismatches.Count}):");
            lines.AddRange(comparison.ShapeMismatches.Select(m =>
                $"  {Named(m.ModuleKey, m.CheckpointKey)}: {FormatShape(m.ModuleShape)} vs {FormatShape(m.CheckpointShape)}"));
        }
        if (comparison.Collisions.Count > 0)
        {
            lines.Add($"Several checkpoint keys renamed to one model key ({comparison.Collisions.Count}):");
            lines.AddRange(comparison.Collisions.Select(c => $"  {c.ModuleKey} <- {string.Join(", ", c.CheckpointKeys)}"));
        }
        return lines;
    }

    /// <summary>A shape as Python prints it in these messages: <c>[384, 768]</c>.</summary>
    internal static string FormatShape(long[] shape) => $"[{string.Join(", ", shape)}]";

    private static IEnumerable<string> Summary(Comparison c)
    {
        if (c.Missing.Count > 0) yield return $"{c.Missing.Count} missing";
        if (c.Unexpected.Count > 0) yield return $"{c.Unexpected.Count} unexpected";
        if (c.ShapeMismatches.Count > 0) yield return $"{c.ShapeMismatches.Count} shape mismatches";
        if (c.Collisions.Count > 0) yield return $"{c.Collisions.Count} renaming collisions";
    }

    private static string Named(string moduleKey, string checkpointKey) =>
        moduleKey == checkpointKey ? moduleKey : $"{moduleKey} (checkpoint key '{checkpointKey}')";
}
