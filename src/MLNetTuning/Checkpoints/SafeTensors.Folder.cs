using System.Text.Json;
using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace MLNetTuning.Checkpoints;

/// <summary>Hugging Face model folders: one <c>model.safetensors</c>, or shards listed by <c>model.safetensors.index.json</c>.</summary>
internal static partial class SafeTensors
{
    internal const string SingleFileName = "model.safetensors";
    internal const string IndexFileName = "model.safetensors.index.json";
    private const string PickleFileName = "pytorch_model.bin";

    [GeneratedRegex(@"^model-\d{5}-of-\d{5}\.safetensors$")]
    private static partial Regex ShardFileName();

    /// <summary>
    /// Loads the weights of a Hugging Face model folder: <c>model.safetensors</c> if present (as <c>transformers</c>
    /// prefers it), otherwise every shard named in <c>model.safetensors.index.json</c>.
    /// </summary>
    /// <exception cref="InvalidDataException">A file is malformed, the index and the shards disagree, a shard name
    /// leaves the folder, or the folder holds only pickle weights (which are never read: unpickling runs code).</exception>
    /// <exception cref="FileNotFoundException">The folder holds no weights file at all.</exception>
    internal static Dictionary<string, Tensor> LoadFolderWeights(string folder, ScalarType? floatDType)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"Model folder not found: {folder}");
        string single = Path.Combine(folder, SingleFileName);
        if (File.Exists(single)) return Load(single, floatDType);
        string index = Path.Combine(folder, IndexFileName);
        if (File.Exists(index)) return LoadShards(folder, index, floatDType);

        string pickle = Path.Combine(folder, PickleFileName);
        if (File.Exists(pickle) || File.Exists(pickle + ".index.json"))
            throw new InvalidDataException(
                $"{folder} holds PyTorch pickle weights ({PickleFileName}) but no {SingleFileName}. Pickle files are not read, " +
                "because loading one can execute arbitrary code. Convert it once, in Python, with the libraries you trust:" + Environment.NewLine +
                "  import torch; from safetensors.torch import save_file" + Environment.NewLine +
                $"  sd = torch.load('{PickleFileName}', map_location='cpu', weights_only=True)" + Environment.NewLine +
                $"  save_file({{k: v.contiguous() for k, v in sd.items()}}, '{SingleFileName}', metadata={{'format': 'pt'}})" + Environment.NewLine +
                "or load the model with transformers and call save_pretrained(folder, safe_serialization=True). " +
                "(If save_file complains about shared tensors, clone them or use save_pretrained.)");
        throw new FileNotFoundException(
            $"{folder} holds no model weights: expected {SingleFileName} or {IndexFileName} (Hugging Face safetensors).", single);
    }

    private static Dictionary<string, Tensor> LoadShards(string folder, string indexPath, ScalarType? floatDType)
    {
        var weightMap = ReadWeightMap(indexPath);
        var result = new Dictionary<string, Tensor>(weightMap.Count, StringComparer.Ordinal);
        try
        {
            foreach (var shard in weightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
            {
                string shardPath = ShardPath(folder, indexPath, shard);
                if (!File.Exists(shardPath))
                    throw new InvalidDataException($"{indexPath}: shard '{shard}' is listed in weight_map but {shardPath} does not exist; the download is incomplete.");
                var loaded = Load(shardPath, floatDType);
                foreach (var (key, tensor) in loaded)
                {
                    // The index is the contract: a tensor it does not place in this shard means index and shards disagree.
                    string? listed = weightMap.GetValueOrDefault(key);
                    if (listed == shard && result.TryAdd(key, tensor)) continue;
                    foreach (var (otherKey, other) in loaded)
                        if (!result.TryGetValue(otherKey, out var kept) || !ReferenceEquals(kept, other)) other.Dispose();
                    throw new InvalidDataException(listed is null
                        ? $"{shardPath}: tensor '{key}' is not listed in {IndexFileName}'s weight_map; the index and the shards disagree."
                        : $"{shardPath}: tensor '{key}' is listed in {IndexFileName} under shard '{listed}', not '{shard}'; the index and the shards disagree.");
                }
            }
            var missing = weightMap.Keys.Where(k => !result.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
            if (missing.Count > 0)
                throw new InvalidDataException($"{indexPath}: {missing.Count} tensor(s) listed in weight_map were not found in their shards: " +
                    string.Join(", ", missing.Select(k => $"'{k}' (expected in {weightMap[k]})")));
            return result;
        }
        catch
        {
            foreach (var tensor in result.Values) tensor.Dispose();
            throw;
        }
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        var info = new FileInfo(indexPath);
        // Real indexes are tens of kB; refuse to buffer anything absurd.
        if (info.Length > MaxHeaderBytes)
            throw new InvalidDataException($"{indexPath}: {info.Length} bytes, above the {MaxHeaderBytes}-byte limit for an index file.");
        byte[] bytes = File.ReadAllBytes(indexPath);
        // Names are read with GetString, which throws InvalidOperationException on bad UTF-8; refuse it here, clearly.
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
            throw new InvalidDataException($"{indexPath}: not valid UTF-8 text; the file is damaged. Download it again with the shards.");
        JsonDocument document;
        try { document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 8 }); }
        catch (JsonException e) { throw new InvalidDataException($"{indexPath}: not valid JSON: {e.Message}", e); }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{indexPath}: expected an object with a 'weight_map' object of tensor name → shard file name.");
            var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            try { ReadWeightMapEntries(indexPath, map, weightMap); }
            catch (InvalidOperationException e)
            {
                // An escaped lone surrogate ("\ud800") is valid JSON but no .NET string.
                throw new InvalidDataException($"{indexPath}: weight_map holds a name that is not valid Unicode: {e.Message}", e);
            }
            return weightMap;
        }
    }

    private static void ReadWeightMapEntries(string indexPath, JsonElement map, Dictionary<string, string> weightMap)
    {
        foreach (var entry in map.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw new InvalidDataException($"{indexPath}: weight_map['{entry.Name}'] must be a shard file name string, found {entry.Value.ValueKind}.");
            if (!weightMap.TryAdd(entry.Name, entry.Value.GetString()!))
                throw new InvalidDataException($"{indexPath}: weight_map lists tensor '{entry.Name}' twice.");
        }
    }

    /// <summary>Resolves a shard name from the index, refusing anything but a plain file name inside the folder.</summary>
    private static string ShardPath(string folder, string indexPath, string shard)
    {
        bool plainName = shard.Length > 0 && shard != "." && shard != ".."
            && shard.IndexOfAny(['/', '\\', ':', '\0']) < 0 && !Path.IsPathRooted(shard);
        string full = Path.GetFullPath(Path.Combine(folder, shard));
        if (!plainName || !string.Equals(Path.GetDirectoryName(full), Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal))
            throw new InvalidDataException($"{indexPath}: shard file name '{shard}' is not a plain file name in the model folder; " +
                "an index may only name files beside it (path traversal refused).");
        return full;
    }

    /// <summary>
    /// Writes a state dict into <paramref name="folder"/> the way <c>save_pretrained</c> does: <c>model.safetensors</c>
    /// when it fits in <paramref name="maxShardBytes"/>, otherwise <c>model-0000i-of-0000n.safetensors</c> shards plus
    /// <c>model.safetensors.index.json</c>. Weight files of the other layout left by an earlier save are deleted, so a
    /// later load cannot pick up stale weights.
    /// </summary>
    /// <param name="folder">The model folder; created if absent.</param>
    /// <param name="stateDict">Tensors by key, as <c>state_dict()</c> returns them.</param>
    /// <param name="floatDType">F32/F16/BF16 tensors are written as this type; null keeps each as it is.</param>
    /// <param name="maxShardBytes">Largest shard size in bytes (after dtype conversion); one tensor bigger than this
    /// gets a shard of its own, as in <c>transformers</c>.</param>
    internal static void SaveFolderWeights(string folder, IDictionary<string, Tensor> stateDict, ScalarType? floatDType,
        long maxShardBytes = long.MaxValue)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentNullException.ThrowIfNull(stateDict);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShardBytes);
        CheckFloatDType(floatDType, nameof(floatDType));
        Directory.CreateDirectory(folder);

        var keys = stateDict.Keys.Order(StringComparer.Ordinal).ToList();
        var sizes = keys.ToDictionary(k => k, k => checked(stateDict[k].numel() * ElementSize(StoredDType(k, stateDict[k].dtype, floatDType))));
        long total = sizes.Values.Sum();
        var shards = new List<List<string>> { new() };
        long current = 0;
        foreach (var key in keys)
        {
            if (shards[^1].Count > 0 && current + sizes[key] > maxShardBytes) { shards.Add([]); current = 0; }
            shards[^1].Add(key);
            current += sizes[key];
        }

        if (shards.Count == 1)
        {
            Save(Path.Combine(folder, SingleFileName), keys.Select(k => KeyValuePair.Create(k, stateDict[k])), floatDType);
            DeleteStaleWeights(folder, keep: []);
            return;
        }
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var written = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < shards.Count; i++)
        {
            string name = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            Save(Path.Combine(folder, name), shards[i].Select(k => KeyValuePair.Create(k, stateDict[k])), floatDType);
            foreach (var key in shards[i]) weightMap[key] = name;
            written.Add(name);
        }
        // The index goes last: until it is in place, no loader sees the new shards as a checkpoint.
        WriteAtomically(Path.Combine(folder, IndexFileName), stream =>
        {
            using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            json.WriteStartObject();
            json.WriteStartObject("metadata");
            json.WriteNumber("total_size", total);
            json.WriteEndObject();
            json.WriteStartObject("weight_map");
            foreach (var (key, shard) in weightMap) json.WriteString(key, shard);
            json.WriteEndObject();
            json.WriteEndObject();
        });
        DeleteStaleWeights(folder, keep: written);
    }

    private static void DeleteStaleWeights(string folder, HashSet<string> keep)
    {
        bool sharded = keep.Count > 0;
        if (sharded) File.Delete(Path.Combine(folder, SingleFileName));
        else File.Delete(Path.Combine(folder, IndexFileName));
        foreach (var file in Directory.EnumerateFiles(folder, "model-*-of-*.safetensors"))
        {
            string name = Path.GetFileName(file);
            if (ShardFileName().IsMatch(name) && !keep.Contains(name)) File.Delete(file);
        }
    }
}
