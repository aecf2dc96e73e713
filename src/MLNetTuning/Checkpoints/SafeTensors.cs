using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetTuning.Checkpoints;

/// <summary>
/// Reads and writes Hugging Face <c>.safetensors</c> files: an 8-byte little-endian header length N, N bytes of
/// JSON header <c>{name: {dtype, shape, data_offsets:[begin,end]}, "__metadata__": {string: string}}</c>, then the
/// tensor bytes.
/// </summary>
/// <remarks>
/// Files are treated as untrusted: every number in the header is checked before it decides an allocation or a read.
/// The data region must be covered exactly, each byte by one tensor, with no gaps, no overlaps and no trailing bytes.
/// That is the rule of the reference (Rust) implementation's <c>validate</c>; a file that breaks it was not written by
/// a conforming writer, so something else may be hiding in the gap.
/// </remarks>
internal static partial class SafeTensors
{
    /// <summary>The reference implementation's header cap (<c>MAX_HEADER_SIZE</c>); BERT-large's header is ~40 kB.</summary>
    internal const long MaxHeaderBytes = 100_000_000;
    internal const string MetadataKey = "__metadata__";
    // Span-based copies into native memory are limited to int.MaxValue bytes; 1 GiB chunks stay well within that.
    private const long ChunkBytes = 1L << 30;

    private static readonly Dictionary<string, ScalarType> DTypeByName = new(StringComparer.Ordinal)
    {
        ["F64"] = ScalarType.Float64, ["F32"] = ScalarType.Float32, ["F16"] = ScalarType.Float16,
        ["BF16"] = ScalarType.BFloat16, ["I64"] = ScalarType.Int64, ["I32"] = ScalarType.Int32,
        ["I16"] = ScalarType.Int16, ["I8"] = ScalarType.Int8, ["U8"] = ScalarType.Byte, ["BOOL"] = ScalarType.Bool,
    };
    private static readonly Dictionary<ScalarType, string> NameByDType = DTypeByName.ToDictionary(p => p.Value, p => p.Key);

    /// <summary>One tensor's header entry after validation.</summary>
    internal sealed record TensorEntry(string Key, ScalarType DType, long[] Shape, long Begin, long End);

    /// <summary>A validated header: entries sorted by offset, and where the data region lies in the file.</summary>
    internal sealed record Header(IReadOnlyList<TensorEntry> Tensors, IReadOnlyDictionary<string, string> Metadata, long DataStart);

    /// <summary>Loads every tensor of a safetensors file onto the CPU.</summary>
    /// <param name="path">The file.</param>
    /// <param name="floatDType">F32/F16/BF16 tensors are converted to this type; null keeps them as stored.
    /// F64 and integer tensors are always kept as stored.</param>
    /// <exception cref="InvalidDataException">The file is not a well-formed safetensors file.</exception>
    internal static Dictionary<string, Tensor> Load(string path, ScalarType? floatDType = ScalarType.Float32)
    {
        CheckFloatDType(floatDType, nameof(floatDType));
        using var stream = OpenRead(path);
        var header = ReadHeader(stream, path);
        var result = new Dictionary<string, Tensor>(header.Tensors.Count, StringComparer.Ordinal);
        try
        {
            // Entries are sorted by offset and contiguous, so this is one sequential pass over the file.
            stream.Seek(header.DataStart, SeekOrigin.Begin);
            foreach (var entry in header.Tensors)
            {
                var tensor = empty(entry.Shape, entry.DType);
                result.Add(entry.Key, tensor);
                try { ForEachChunk(tensor, stream.ReadExactly); }
                catch (EndOfStreamException e)
                {
                    throw new InvalidDataException($"{path}: tensor '{entry.Key}': the file ended while reading its data; " +
                        "it was truncated or changed while being read.", e);
                }
                if (entry.DType == ScalarType.Bool) CheckBoolBytes(tensor, path, entry.Key);
                if (floatDType is { } target && target != entry.DType && IsConvertibleFloat(entry.DType))
                {
                    result[entry.Key] = tensor.to_type(target);
                    tensor.Dispose();
                }
            }
            return result;
        }
        catch
        {
            foreach (var tensor in result.Values) tensor.Dispose();
            throw;
        }
    }

    /// <summary>Reads the <c>__metadata__</c> map of a safetensors file (empty when it has none); the header is validated.</summary>
    internal static IReadOnlyDictionary<string, string> ReadMetadata(string path)
    {
        using var stream = OpenRead(path);
        return ReadHeader(stream, path).Metadata;
    }

    /// <summary>Reads and validates the header of a safetensors file without reading tensor data.</summary>
    internal static Header ReadHeader(string path)
    {
        using var stream = OpenRead(path);
        return ReadHeader(stream, path);
    }

    /// <summary>
    /// Writes tensors as a safetensors file that Hugging Face's <c>safetensors</c> reads: header keys sorted, header
    /// padded with spaces to a multiple of 8 bytes, data ordered by element size then name so that every tensor is
    /// aligned to its element size. The file is written beside the target and renamed into place.
    /// </summary>
    /// <param name="path">The target file; replaced if it exists.</param>
    /// <param name="tensors">Name and tensor pairs; any device, any layout (copied to contiguous CPU memory one at a time).</param>
    /// <param name="floatDType">F32/F16/BF16 tensors are written as this type; null keeps each as it is.</param>
    /// <param name="metadata">The <c>__metadata__</c> map; <c>"format": "pt"</c> is added when absent, because
    /// <c>transformers</c> refuses safetensors files without it.</param>
    internal static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors,
        ScalarType? floatDType = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        CheckFloatDType(floatDType, nameof(floatDType));
        var entries = new SortedDictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (key, tensor) in tensors)
        {
            if (key == MetadataKey)
                throw new ArgumentException($"'{MetadataKey}' is reserved for the metadata map and cannot name a tensor.", nameof(tensors));
            ArgumentNullException.ThrowIfNull(tensor, $"{nameof(tensors)}['{key}']");
            if (!entries.TryAdd(key, tensor))
                throw new ArgumentException($"Tensor name '{key}' appears twice; safetensors names must be unique.", nameof(tensors));
        }

        var layout = entries.Select(p => (Key: p.Key, Source: p.Value, DType: StoredDType(p.Key, p.Value.dtype, floatDType)))
            .OrderByDescending(e => ElementSize(e.DType)).ThenBy(e => e.Key, StringComparer.Ordinal).ToList();
        var offsets = new Dictionary<string, (long Begin, long End)>(StringComparer.Ordinal);
        long position = 0;
        foreach (var e in layout)
        {
            long bytes = checked(e.Source.numel() * ElementSize(e.DType));
            offsets[e.Key] = (position, position + bytes);
            position = checked(position + bytes);
        }
        byte[] header = BuildHeader(entries, layout.ToDictionary(e => e.Key, e => e.DType), offsets, metadata);

        WriteAtomically(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            stream.Write(length);
            stream.Write(header);
            foreach (var e in layout)
            {
                using var scope = NewDisposeScope();
                var data = e.Source.detach().cpu();
                if (data.dtype != e.DType) data = data.to_type(e.DType);
                data = data.contiguous();
                ForEachChunk(data, chunk => stream.Write(chunk));
            }
        });
    }

    private static byte[] BuildHeader(SortedDictionary<string, Tensor> entries, Dictionary<string, ScalarType> dtypes,
        Dictionary<string, (long Begin, long End)> offsets, IReadOnlyDictionary<string, string>? metadata)
    {
        var output = new MemoryStream();
        using (var json = new Utf8JsonWriter(output))
        {
            json.WriteStartObject();
            json.WriteStartObject(MetadataKey);
            var meta = new SortedDictionary<string, string>(StringComparer.Ordinal);
            if (metadata is not null) foreach (var (k, v) in metadata) meta[k] = v ?? throw new ArgumentNullException(nameof(metadata), $"Metadata value of '{k}' is null; safetensors metadata values are strings.");
            meta.TryAdd("format", "pt");
            foreach (var (k, v) in meta) json.WriteString(k, v);
            json.WriteEndObject();
            foreach (var (key, tensor) in entries)
            {
                json.WriteStartObject(key);
                json.WriteString("dtype", NameByDType[dtypes[key]]);
                json.WriteStartArray("shape");
                foreach (long dim in tensor.shape) json.WriteNumberValue(dim);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offsets[key].Begin);
                json.WriteNumberValue(offsets[key].End);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        // Pad with spaces (valid JSON whitespace) so the data region starts 8-byte aligned, as the Python writer does.
        int padding = (int)((8 - output.Length % 8) % 8);
        for (int i = 0; i < padding; i++) output.WriteByte((byte)' ');
        return output.ToArray();
    }

    private static ScalarType StoredDType(string key, ScalarType dtype, ScalarType? floatDType)
    {
        if (!NameByDType.ContainsKey(dtype))
            throw new ArgumentException($"Tensor '{key}' has dtype {dtype}, which this writer does not store " +
                $"(supported: {string.Join(", ", NameByDType.Keys)}). Convert it first.", "tensors");
        return floatDType is { } target && IsConvertibleFloat(dtype) ? target : dtype;
    }

    /// <summary>Reads the length prefix and JSON header, and checks every entry against the file's real size.</summary>
    private static Header ReadHeader(FileStream stream, string path)
    {
        long fileLength = stream.Length;
        if (fileLength < 8)
            throw Bad(path, null, $"the file is {fileLength} bytes long, shorter than the 8-byte header length prefix; it is not a safetensors file");
        Span<byte> prefix = stackalloc byte[8];
        stream.ReadExactly(prefix);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderBytes)
            throw Bad(path, null, $"the header length prefix says {headerLength} bytes, above the {MaxHeaderBytes}-byte limit; the file is corrupt or not a safetensors file");
        if (headerLength > (ulong)(fileLength - 8))
            throw Bad(path, null, $"the header length prefix says {headerLength} bytes, but only {fileLength - 8} bytes follow it; the file is truncated or not a safetensors file");
        if (headerLength < 2)
            throw Bad(path, null, $"the header is {headerLength} bytes long; expected at least '{{}}'");

        var headerBytes = new byte[(int)headerLength];
        stream.ReadExactly(headerBytes);
        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;
        if (headerBytes[0] != (byte)'{')
            throw Bad(path, null, $"the header must start with '{{', found byte 0x{headerBytes[0]:X2}; the file is not a safetensors file");

        // System.Text.Json checks a string's UTF-8 only when it is read (GetString, Name) and then throws
        // InvalidOperationException; the reference implementation requires the header to be UTF-8, so check it here.
        if (!System.Text.Unicode.Utf8.IsValid(headerBytes))
            throw Bad(path, null, "the header is not valid UTF-8; the file is corrupt or not a safetensors file");
        JsonDocument document;
        try { document = JsonDocument.Parse(headerBytes, new JsonDocumentOptions { MaxDepth = 8 }); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: the header is not valid JSON: {e.Message}", e); }
        using (document)
        {
            var tensors = new List<TensorEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw Bad(path, null, $"the header must be a JSON object, found {document.RootElement.ValueKind}");
            try { ReadEntries(document.RootElement, path, dataLength, tensors, metadata, seen); }
            catch (InvalidOperationException e)
            {
                // An escaped lone surrogate ("\ud800") is valid JSON but no .NET string.
                throw new InvalidDataException($"{path}: the header holds a name or string that is not valid Unicode: {e.Message}", e);
            }
            tensors.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
            long expectedBegin = 0;
            string? previous = null;
            foreach (var t in tensors)
            {
                if (t.Begin < expectedBegin)
                    throw Bad(path, t.Key, $"data_offsets [{t.Begin}, {t.End}] overlap the bytes of tensor '{previous}', which end at {expectedBegin}; every byte must belong to one tensor");
                if (t.Begin > expectedBegin)
                    throw Bad(path, t.Key, $"data_offsets [{t.Begin}, {t.End}] leave a gap of {t.Begin - expectedBegin} unclaimed bytes after offset {expectedBegin}; the format requires the data to be covered exactly");
                expectedBegin = t.End;
                previous = t.Key;
            }
            if (expectedBegin != dataLength)
                throw Bad(path, previous, $"the tensors cover {expectedBegin} bytes of data but the file holds {dataLength} bytes after the header; unclaimed trailing bytes are not allowed");
            return new Header(tensors, metadata, dataStart);
        }
    }

    private static void ReadEntries(JsonElement root, string path, long dataLength, List<TensorEntry> tensors,
        Dictionary<string, string> metadata, HashSet<string> seen)
    {
        foreach (var property in root.EnumerateObject())
        {
            // System.Text.Json keeps duplicate names; a second entry could silently shadow the first.
            if (!seen.Add(property.Name))
                throw Bad(path, property.Name, "the header names this key twice; names must be unique");
            if (property.Name == MetadataKey) ReadMetadataEntry(property.Value, path, metadata);
            else tensors.Add(ReadTensorEntry(property.Name, property.Value, path, dataLength));
        }
    }

    private static void ReadMetadataEntry(JsonElement value, string path, Dictionary<string, string> metadata)
    {
        if (value.ValueKind == JsonValueKind.Null) return;
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(path, MetadataKey, $"expected an object of string values, found {value.ValueKind}");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw Bad(path, MetadataKey, $"metadata value '{item.Name}' must be a string, found {item.Value.ValueKind}");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw Bad(path, MetadataKey, $"metadata key '{item.Name}' appears twice");
        }
    }

    private static TensorEntry ReadTensorEntry(string key, JsonElement value, string path, long dataLength)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(path, key, $"expected an object with dtype, shape and data_offsets, found {value.ValueKind}");
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Bad(path, key, "expected a string 'dtype'");
        string dtypeName = dtypeElement.GetString()!;
        if (!DTypeByName.TryGetValue(dtypeName, out var dtype))
            throw Bad(path, key, $"dtype '{dtypeName}' is not supported; expected one of {string.Join(", ", DTypeByName.Keys)}");

        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw Bad(path, key, "expected a 'shape' array");
        var shape = new long[shapeElement.GetArrayLength()];
        ulong elements = 1;
        int axis = 0;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long size) || size < 0)
                throw Bad(path, key, $"shape {shapeElement.GetRawText()}: dimension {axis} must be a non-negative integer, found {dim.GetRawText()}");
            shape[axis++] = size;
            try { elements = checked(elements * (ulong)size); }
            catch (OverflowException) { throw Bad(path, key, $"shape {shapeElement.GetRawText()} has more elements than fit in 64 bits"); }
        }

        if (!value.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array
            || offsetsElement.GetArrayLength() != 2)
            throw Bad(path, key, "expected 'data_offsets' as an array [begin, end]");
        if (!offsetsElement[0].TryGetUInt64(out ulong begin) || !offsetsElement[1].TryGetUInt64(out ulong end))
            throw Bad(path, key, $"data_offsets {offsetsElement.GetRawText()} must be non-negative integers");
        if (end < begin)
            throw Bad(path, key, $"data_offsets [{begin}, {end}] end before they begin");
        if (end > (ulong)dataLength)
            throw Bad(path, key, $"data_offsets [{begin}, {end}] reach past the data region: expected an end of at most {dataLength} (bytes after the header), found {end}; the file is truncated or corrupt");

        ulong expectedBytes;
        try { expectedBytes = checked(elements * (ulong)ElementSize(dtype)); }
        catch (OverflowException) { throw Bad(path, key, $"shape {shapeElement.GetRawText()} of {dtypeName} has more bytes than fit in 64 bits"); }
        if (expectedBytes != end - begin)
            throw Bad(path, key, $"shape {shapeElement.GetRawText()} of {dtypeName} needs {elements} × {ElementSize(dtype)} = {expectedBytes} bytes, but data_offsets [{begin}, {end}] hold {end - begin}");
        return new TensorEntry(key, dtype, shape, (long)begin, (long)end);
    }

    private static void CheckBoolBytes(Tensor tensor, string path, string key)
    {
        // Any byte other than 0/1 in a torch bool is undefined behaviour in its kernels.
        bool bad = false;
        ForEachChunk(tensor, chunk => bad |= chunk.IndexOfAnyExcept((byte)0, (byte)1) >= 0);
        if (bad) throw Bad(path, key, "a BOOL tensor holds a byte other than 0 or 1");
    }

    internal delegate void ChunkAction(Span<byte> chunk);

    /// <summary>Hands the tensor's native bytes (it must be contiguous and on the CPU) to the action in spans of at most
    /// <paramref name="chunkBytes"/> (whole elements).</summary>
    internal static void ForEachChunk(Tensor tensor, ChunkAction action, long chunkBytes = ChunkBytes)
    {
        long totalBytes = tensor.numel() * tensor.element_size();
        if (totalBytes == 0) return;
        if (totalBytes <= chunkBytes) { action(tensor.bytes); return; }
        using var flat = tensor.view(-1);
        long perChunk = Math.Max(1, chunkBytes / tensor.element_size());
        for (long start = 0; start < flat.numel(); start += perChunk)
        {
            // A narrow of a contiguous 1-D view is contiguous; its data pointer includes the storage offset.
            using var part = flat.narrow(0, start, Math.Min(perChunk, flat.numel() - start));
            action(part.bytes);
        }
    }

    private static FileStream OpenRead(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Safetensors file not found: {path}", path);
        // Unbuffered: tensor bytes are read straight into native tensor memory.
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
    }

    /// <summary>Writes through <paramref name="write"/> into a temp file beside <paramref name="path"/>, then renames it over the target.</summary>
    internal static void WriteAtomically(string path, Action<FileStream> write) => IO.AtomicFile.WriteStream(path, write);

    private static bool IsConvertibleFloat(ScalarType dtype) =>
        dtype is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16;

    private static void CheckFloatDType(ScalarType? floatDType, string parameter)
    {
        if (floatDType is { } d && !IsConvertibleFloat(d) && d != ScalarType.Float64)
            throw new ArgumentOutOfRangeException(parameter, d, "Expected Float32, Float16, BFloat16 or Float64 (or null to keep stored types).");
    }

    internal static int ElementSize(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        ScalarType.Int8 or ScalarType.Byte or ScalarType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a safetensors dtype."),
    };

    private static InvalidDataException Bad(string path, string? key, string what) =>
        new(key is null ? $"{path}: {what}." : $"{path}: tensor '{key}': {what}.");
}
