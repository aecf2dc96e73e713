using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace MLNetTuning.Checkpoints;

/// <summary>
/// Reads and writes the safetensors format (an 8-byte header length, a JSON header, then raw little-endian data),
/// treating every file as untrusted: each number is checked before anything is allocated from it.
/// </summary>
internal static class SafeTensors
{
    public const string SingleFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";
    private const long MaxHeaderBytes = 100L << 20;

    private static readonly Dictionary<string, (ScalarType Type, int Size)> DTypes = new()
    {
        ["F64"] = (ScalarType.Float64, 8), ["F32"] = (ScalarType.Float32, 4), ["F16"] = (ScalarType.Float16, 2), ["BF16"] = (ScalarType.BFloat16, 2),
        ["I64"] = (ScalarType.Int64, 8), ["I32"] = (ScalarType.Int32, 4), ["I16"] = (ScalarType.Int16, 2), ["I8"] = (ScalarType.Int8, 1),
        ["U8"] = (ScalarType.Byte, 1), ["BOOL"] = (ScalarType.Bool, 1),
    };

    private sealed record Entry(string Name, ScalarType Type, int ElementSize, long[] Shape, long Begin, long End);

    /// <summary>Loads every tensor; floating-point tensors are converted to <paramref name="floatDType"/> when it is given.</summary>
    /// <exception cref="InvalidDataException">The file is truncated or inconsistent; the message names the file and tensor.</exception>
    public static Dictionary<string, Tensor> Load(string path, ScalarType? floatDType = ScalarType.Float32)
    {
        var (entries, dataStart, _) = ReadHeader(path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        if (entries.Count == 0) return result;
        using var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        using var view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        try
        {
            foreach (var entry in entries)
            {
                var bytes = new byte[entry.End - entry.Begin];
                view.ReadArray(dataStart + entry.Begin, bytes, 0, bytes.Length);
                var tensor = empty(entry.Shape, entry.Type);
                if (bytes.Length > 0) tensor.bytes = bytes;
                if (floatDType is ScalarType target && tensor.is_floating_point() && tensor.dtype != target)
                {
                    var converted = tensor.to_type(target);
                    tensor.Dispose();
                    tensor = converted;
                }
                result[entry.Name] = tensor;
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>The header's <c>__metadata__</c> strings.</summary>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string path) => ReadHeader(path).Metadata;

    /// <summary>Writes tensors (contiguous, CPU, keys sorted) atomically; floats are stored as <paramref name="floatDType"/> when given.</summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, ScalarType? floatDType = null,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        var meta = new JsonObject();
        foreach (var (key, value) in metadata ?? new Dictionary<string, string> { ["format"] = "pt" }) meta[key] = value;
        header["__metadata__"] = meta;
        var blobs = new List<byte[]>();
        long offset = 0;
        foreach (var (name, source) in tensors.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            using var cpu = source.detach().to(CPU);
            using var typed = floatDType is ScalarType target && cpu.is_floating_point() ? cpu.to_type(target) : cpu.alias();
            using var contiguous = typed.contiguous();
            string dtype = DTypes.FirstOrDefault(d => d.Value.Type == contiguous.dtype).Key
                ?? throw new ArgumentException($"Tensor '{name}' has dtype {contiguous.dtype}, which safetensors cannot store here; supported: {string.Join(", ", DTypes.Values.Select(d => d.Type))}.", nameof(tensors));
            byte[] bytes = contiguous.bytes.ToArray();
            header[name] = new JsonObject
            {
                ["dtype"] = dtype,
                ["shape"] = new JsonArray(contiguous.shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes.Length),
            };
            blobs.Add(bytes);
            offset += bytes.Length;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        // Pad the header with spaces to a multiple of 8, as the reference implementation does, so the data is aligned.
        int padded = (json.Length + 7) / 8 * 8;
        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
            stream.Write(length);
            stream.Write(json);
            for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var blob in blobs) stream.Write(blob);
        });
    }

    /// <summary>
    /// Loads <c>model.safetensors</c>, or every shard of <c>model.safetensors.index.json</c>, from a Hugging Face folder.
    /// Pickle files (<c>pytorch_model.bin</c>) are refused: unpickling can run arbitrary code.
    /// </summary>
    public static Dictionary<string, Tensor> LoadFolderWeights(string folder, ScalarType? floatDType = ScalarType.Float32)
    {
        string single = Path.Combine(folder, SingleFile), index = Path.Combine(folder, IndexFile);
        if (File.Exists(single)) return Load(single, floatDType);
        if (!File.Exists(index))
        {
            if (File.Exists(Path.Combine(folder, "pytorch_model.bin")))
                throw new InvalidDataException($"'{folder}' has only pytorch_model.bin, a pickle file, which is not read because unpickling can run arbitrary code. " +
                    "Convert it once in Python: AutoModel.from_pretrained(folder).save_pretrained(folder, safe_serialization=True).");
            throw new InvalidDataException($"'{folder}' has no weights: expected {SingleFile} or {IndexFile}.");
        }
        var weightMap = ReadIndex(index, folder);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var shard in weightMap.Values.Distinct())
                foreach (var (key, value) in Load(Path.Combine(folder, shard), floatDType))
                {
                    if (!weightMap.TryGetValue(key, out var expected) || expected != shard)
                    {
                        value.Dispose();
                        throw new InvalidDataException($"{Path.Combine(folder, shard)} holds '{key}', which {index} does not assign to it.");
                    }
                    result[key] = value;
                }
            var missing = weightMap.Keys.Where(k => !result.ContainsKey(k)).ToList();
            if (missing.Count > 0)
                throw new InvalidDataException($"{index} lists tensors that its shards lack: {string.Join(", ", missing.Take(20))}{(missing.Count > 20 ? $" and {missing.Count - 20} more" : "")}.");
            return result;
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>Writes <c>model.safetensors</c>, or shards named as Hugging Face names them plus the index, when larger than <paramref name="maxShardBytes"/>.</summary>
    public static void SaveFolderWeights(string folder, IReadOnlyDictionary<string, Tensor> stateDict, ScalarType? floatDType = null, long maxShardBytes = long.MaxValue)
    {
        long? floatSize = null;
        if (floatDType is ScalarType f)
        {
            using var probe = empty(0, f);
            floatSize = probe.ElementSize;
        }
        long Bytes(Tensor t) => t.NumberOfElements * (floatSize is long size && t.is_floating_point() ? size : t.ElementSize);
        var shards = new List<List<string>> { new() };
        long current = 0;
        foreach (var key in stateDict.Keys.Order(StringComparer.Ordinal))
        {
            long size = Bytes(stateDict[key]);
            if (current > 0 && current + size > maxShardBytes) { shards.Add([]); current = 0; }
            shards[^1].Add(key);
            current += size;
        }
        if (shards.Count == 1)
        {
            Save(Path.Combine(folder, SingleFile), stateDict, floatDType);
            return;
        }
        var weightMap = new JsonObject();
        long total = 0;
        for (int i = 0; i < shards.Count; i++)
        {
            string name = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            Save(Path.Combine(folder, name), shards[i].Select(k => new KeyValuePair<string, Tensor>(k, stateDict[k])), floatDType);
            foreach (var key in shards[i]) { weightMap[key] = name; total += Bytes(stateDict[key]); }
        }
        var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = weightMap };
        AtomicFile.Write(Path.Combine(folder, IndexFile), s => s.Write(Encoding.UTF8.GetBytes(index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }))));
    }

    private static Dictionary<string, string> ReadIndex(string index, string folder)
    {
        JsonNode? json;
        try { json = JsonNode.Parse(File.ReadAllText(index), documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }); }
        catch (JsonException e) { throw new InvalidDataException($"{index} is not valid JSON: {e.Message}", e); }
        if (json?["weight_map"] is not JsonObject map)
            throw new InvalidDataException($"{index} has no \"weight_map\" object mapping tensor names to shard files.");
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in map)
        {
            string shard = value is JsonValue v && v.TryGetValue(out string? s) ? s : throw new InvalidDataException($"{index}: the shard of '{key}' is not a file name.");
            // A shard must be a plain file in the folder: an index must not make us read outside it.
            if (shard != Path.GetFileName(shard) || shard is "." or ".." || !File.Exists(Path.Combine(folder, shard)))
                throw new InvalidDataException($"{index}: the shard '{shard}' of '{key}' is not a file in '{folder}'.");
            result[key] = shard;
        }
        return result;
    }

    private static (List<Entry> Entries, long DataStart, Dictionary<string, string> Metadata) ReadHeader(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"The weights file '{path}' does not exist.", path);
        using var stream = File.OpenRead(path);
        long fileLength = stream.Length;
        Span<byte> prefix = stackalloc byte[8];
        if (stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8)
            throw new InvalidDataException($"{path} is not a safetensors file: it has {fileLength} bytes, fewer than the 8-byte header length.");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)Math.Min(MaxHeaderBytes, fileLength - 8))
            throw new InvalidDataException($"{path}: the header claims {headerLength} bytes, but the file has {fileLength - 8} after the length (and headers are capped at {MaxHeaderBytes} bytes). The file is truncated or not safetensors.");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        long dataStart = 8 + (long)headerLength, dataLength = fileLength - dataStart;
        JsonObject header;
        // Two entries with one name would be a silent choice between tensors: duplicates are a parse error.
        var strict = new JsonDocumentOptions { AllowDuplicateProperties = false };
        try { header = JsonNode.Parse(headerBytes, documentOptions: strict) as JsonObject ?? throw new InvalidDataException($"{path}: the header is not a JSON object."); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: the header is not valid JSON: {e.Message}", e); }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<Entry>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                if (node is JsonObject meta)
                    foreach (var (k, v) in meta) metadata[k] = v is JsonValue value && value.TryGetValue(out string? text) ? text : v?.ToJsonString() ?? "";
                continue;
            }
            entries.Add(ParseEntry(path, name, node, dataLength));
        }
        // Regions must tile the data exactly: no overlap (aliasing) and no gaps (hidden bytes), as the format requires.
        long expected = 0;
        foreach (var entry in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (entry.Begin != expected)
                throw new InvalidDataException(entry.Begin < expected
                    ? $"{path}: tensor '{entry.Name}' at bytes [{entry.Begin}, {entry.End}) overlaps the previous tensor, which ends at {expected}."
                    : $"{path}: bytes [{expected}, {entry.Begin}) before tensor '{entry.Name}' belong to no tensor.");
            expected = entry.End;
        }
        if (expected != dataLength)
            throw new InvalidDataException($"{path}: the tensors cover {expected} data bytes, but the file has {dataLength}.");
        return (entries, dataStart, metadata);
    }

    private static Entry ParseEntry(string path, string name, JsonNode? node, long dataLength)
    {
        InvalidDataException Bad(string what) => new($"{path}: tensor '{name}' {what}");
        if (node is not JsonObject o) throw Bad("is not described by a JSON object.");
        string dtype = o["dtype"] is JsonValue d && d.TryGetValue(out string? s) ? s : throw Bad("has no dtype.");
        if (!DTypes.TryGetValue(dtype, out var type)) throw Bad($"has dtype '{dtype}', which is not one of {string.Join(", ", DTypes.Keys)}.");
        if (o["shape"] is not JsonArray shapeNode) throw Bad("has no shape.");
        var shape = new long[shapeNode.Count];
        long elements = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shapeNode[i] is not JsonValue dim || !dim.TryGetValue(out long size) || size < 0) throw Bad($"has an invalid dimension {shapeNode[i]?.ToJsonString()} in its shape.");
            shape[i] = size;
            try { elements = checked(elements * size); }
            catch (OverflowException) { throw Bad("has a shape whose element count overflows."); }
        }
        if (o["data_offsets"] is not JsonArray { Count: 2 } offsets
            || offsets[0] is not JsonValue b || !b.TryGetValue(out long begin) || offsets[1] is not JsonValue e || !e.TryGetValue(out long end))
            throw Bad("has no [begin, end] data_offsets.");
        if (begin < 0 || end < begin || end > dataLength)
            throw Bad($"has data_offsets [{begin}, {end}) outside the {dataLength} data bytes of the file (truncated?).");
        long expectedBytes;
        try { expectedBytes = checked(elements * type.Size); }
        catch (OverflowException) { throw Bad("has a shape whose byte count overflows."); }
        if (end - begin != expectedBytes)
            throw Bad($"has shape [{string.Join(", ", shape)}] of {dtype} ({expectedBytes} bytes) but {end - begin} bytes of data.");
        return new Entry(name, type.Type, type.Size, shape, begin, end);
    }
}

/// <summary>Writes a file beside its target and renames it over the target, so a reader never sees half a file.</summary>
internal static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
