using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using MLNetTuning.Checkpoints;
using MLNetTuning.Native;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

public sealed class SafeTensorsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnt-st").FullName;

    public SafeTensorsTests() => TorchNativeLoader.EnsureLoaded();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    [Fact]
    public void Float32_RoundTripsBitExact_WithShapesAndNames()
    {
        random.manual_seed(3);
        using var matrix = randn(5, 7);
        using var scalar = tensor(float.Epsilon);   // a denormal survives only a bit-exact copy
        using var empty = zeros(0, 3);
        using var special = tensor(new[] { float.NaN, float.PositiveInfinity, -0f, float.MaxValue });
        var source = new Dictionary<string, Tensor> { ["b.matrix"] = matrix, ["a.scalar"] = scalar, ["c.empty"] = empty, ["d.special"] = special };
        string path = PathOf("f32.safetensors");

        SafeTensors.Save(path, source);
        var loaded = SafeTensors.Load(path);
        try
        {
            Assert.Equal(source.Keys.Order(), loaded.Keys.Order());
            foreach (var (key, expected) in source) AssertBitEqual(expected, loaded[key], key);
        }
        finally { DisposeAll(loaded); }
    }

    [Theory]
    [InlineData(ScalarType.Float16, "F16")]
    [InlineData(ScalarType.BFloat16, "BF16")]
    public void HalfPrecision_IsStoredHalf_LoadsAsFloat32_AndASecondRoundTripIsExact(ScalarType storage, string dtypeName)
    {
        random.manual_seed(4);
        using var weights = randn(4, 6);
        string first = PathOf("first.safetensors"), second = PathOf("second.safetensors");

        SafeTensors.Save(first, [new("w", weights)], floatDType: storage);
        Assert.Equal(dtypeName, (string?)ParseHeader(first).Header["w"]!["dtype"]);
        Assert.Equal(8 + ParseHeader(first).HeaderLength + weights.NumberOfElements * 2, new FileInfo(first).Length);

        var loaded = SafeTensors.Load(first);
        using var roundedOnce = weights.to_type(storage).to_type(ScalarType.Float32);
        try
        {
            Assert.Equal(ScalarType.Float32, loaded["w"].dtype);
            AssertBitEqual(roundedOnce, loaded["w"], "w");
            Assert.False(SafeTensorsTests.SameValues(weights, loaded["w"]), "rounding to half precision should have changed random float32 values");

            // Values that are already representable in half precision survive the conversion both ways exactly.
            SafeTensors.Save(second, loaded, floatDType: storage);
            Assert.Equal(File.ReadAllBytes(first), File.ReadAllBytes(second));
            var again = SafeTensors.Load(second);
            try { AssertBitEqual(loaded["w"], again["w"], "w"); }
            finally { DisposeAll(again); }

            // Without a target dtype the stored precision is kept.
            var raw = SafeTensors.Load(first, floatDType: null);
            try { Assert.Equal(storage, raw["w"].dtype); }
            finally { DisposeAll(raw); }
        }
        finally { DisposeAll(loaded); }
    }

    [Fact]
    public void IntegerAndBoolTensors_KeepTheirTypes_EvenWhenFloatsAreConverted()
    {
        using var ids = tensor(new long[] { long.MinValue, -1, 0, 1, long.MaxValue });
        using var mask = tensor(new[] { true, false, true });
        using var weights = ones(2, dtype: ScalarType.Float64);
        string path = PathOf("ints.safetensors");

        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["ids"] = ids, ["mask"] = mask, ["w"] = weights }, floatDType: ScalarType.Float16);
        var header = ParseHeader(path).Header;
        Assert.Equal("I64", (string?)header["ids"]!["dtype"]);
        Assert.Equal("BOOL", (string?)header["mask"]!["dtype"]);
        Assert.Equal("F16", (string?)header["w"]!["dtype"]);

        var loaded = SafeTensors.Load(path);
        try
        {
            AssertBitEqual(ids, loaded["ids"], "ids");
            AssertBitEqual(mask, loaded["mask"], "mask");
            Assert.Equal(ScalarType.Float32, loaded["w"].dtype);
        }
        finally { DisposeAll(loaded); }
    }

    [Fact]
    public void Metadata_RoundTrips_AndDefaultsToFormatPt()
    {
        using var t = ones(1);
        string withMeta = PathOf("meta.safetensors"), plain = PathOf("plain.safetensors");
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode \"quoted\"" };

        SafeTensors.Save(withMeta, [new("t", t)], metadata: metadata);
        SafeTensors.Save(plain, [new("t", t)]);

        Assert.Equal(metadata, SafeTensors.ReadMetadata(withMeta));
        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt" }, SafeTensors.ReadMetadata(plain));
    }

    [Fact]
    public void SavedFile_HasExactlyTheSpecLayout_PaddedSortedAndTiled()
    {
        random.manual_seed(5);
        using var z = randn(3);
        using var a = arange(6, dtype: ScalarType.Int64).reshape(2, 3);
        using var m = randn(2, 2).t();   // not contiguous: must be written in logical (row-major) order
        var tensors = new Dictionary<string, Tensor> { ["z"] = z, ["a"] = a, ["m"] = m };
        string path = PathOf("layout.safetensors");

        SafeTensors.Save(path, tensors);
        byte[] file = File.ReadAllBytes(path);

        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.Equal(0, headerLength % 8);
        string headerText = Encoding.UTF8.GetString(file, 8, (int)headerLength);
        Assert.Equal(headerText.TrimEnd(' ').Length, headerText.TrimEnd().Length);   // padding is spaces only
        Assert.True(headerText.TrimEnd(' ').Length > headerLength - 8, "padding is shorter than 8 bytes");
        var header = JsonNode.Parse(headerText)!.AsObject();

        var names = header.Select(kv => kv.Key).Where(k => k != "__metadata__").ToList();
        Assert.Equal(["a", "m", "z"], names);
        long dataStart = 8 + headerLength, expectedBegin = 0;
        foreach (string name in names)
        {
            var entry = header[name]!.AsObject();
            Assert.Equal(["dtype", "shape", "data_offsets"], entry.Select(kv => kv.Key));
            long[] shape = entry["shape"]!.AsArray().Select(d => (long)d!).ToArray();
            long begin = (long)entry["data_offsets"]![0]!, end = (long)entry["data_offsets"]![1]!;
            Assert.Equal(tensors[name].shape, shape);
            Assert.Equal(expectedBegin, begin);
            using var contiguous = tensors[name].contiguous();
            Assert.Equal(contiguous.bytes.ToArray(), file[(int)(dataStart + begin)..(int)(dataStart + end)]);
            expectedBegin = end;
        }
        Assert.Equal(file.Length, dataStart + expectedBegin);
        Assert.Equal("F32", (string?)header["z"]!["dtype"]);
        Assert.Equal("I64", (string?)header["a"]!["dtype"]);
    }

    [Fact]
    public void Save_LeavesNoTempFile_AndReplacesAnExistingFile()
    {
        string path = PathOf("replace.safetensors");
        File.WriteAllText(path, "old contents");
        using var t = ones(2);

        SafeTensors.Save(path, [new("t", t)]);

        Assert.Equal([path], Directory.GetFiles(_dir));
        var loaded = SafeTensors.Load(path);
        try { AssertBitEqual(t, loaded["t"], "t"); }
        finally { DisposeAll(loaded); }
    }

    [Fact]
    public void Save_RefusesAnUnsupportedDType_NamingTheTensor()
    {
        using var complexTensor = zeros(2, dtype: ScalarType.ComplexFloat32);
        string path = PathOf("complex.safetensors");

        var e = Assert.Throws<ArgumentException>(() => SafeTensors.Save(path, [new("weird.weight", complexTensor)]));

        Assert.Contains("weird.weight", e.Message);
        Assert.Contains("ComplexFloat32", e.Message);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    public static TheoryData<string, string, string[]> BadFiles => new()
    {
        // name, how to build it (see WriteBadFile), text the message must contain
        { "short", "short", ["fewer than the 8-byte header length"] },
        { "header-beyond-file", "header-beyond-file", ["claims 1000 bytes"] },
        { "header-absurd", "header-absurd", [(1UL << 62).ToString()] },
        { "invalid-json", """{"t": {"dtype": "F32", """, ["not valid JSON"] },
        { "not-an-object", "[1, 2]", ["not a JSON object"] },
        { "unknown-dtype", """{"t": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 8]}}""", ["'t'", "F8_E4M3"] },
        { "offsets-outside", """{"t": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}""", ["'t'", "outside the 8 data bytes"] },
        { "offsets-reversed", """{"t": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}}""", ["'t'", "data_offsets [8, 0)"] },
        { "overlap", """{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "c": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}""", ["overlaps"] },
        { "gap", """{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [0], "data_offsets": [8, 8]}}""", ["'b'", "bytes [4, 8)", "belong to no tensor"] },
        { "trailing-bytes", """{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}""", ["cover 4 data bytes", "has 8"] },
        { "count-mismatch", """{"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}""", ["'t'", "[3]", "12 bytes", "8 bytes of data"] },
        { "negative-dim", """{"t": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}""", ["'t'", "invalid dimension -2"] },
        { "fractional-dim", """{"t": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 8]}}""", ["'t'", "invalid dimension 1.5"] },
        { "shape-overflow", """{"t": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}}""", ["'t'", "overflows"] },
        { "byte-overflow", """{"t": {"dtype": "F64", "shape": [2305843009213693952], "data_offsets": [0, 8]}}""", ["'t'", "overflows"] },
        { "no-shape", """{"t": {"dtype": "F32", "data_offsets": [0, 8]}}""", ["'t'", "no shape"] },
        { "no-offsets", """{"t": {"dtype": "F32", "shape": [2]}}""", ["'t'", "data_offsets"] },
        { "not-an-entry", """{"t": 5}""", ["'t'", "not described by a JSON object"] },
        { "duplicate-name", """{"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "t": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}""", ["'t'", "not valid JSON"] },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void BadFile_ThrowsInvalidDataException_NamingTheFile(string name, string header, string[] mentions)
    {
        string path = PathOf(name + ".safetensors");
        WriteBadFile(path, header);

        var load = Assert.Throws<InvalidDataException>(() => DisposeAll(SafeTensors.Load(path)));
        var metadata = Assert.Throws<InvalidDataException>(() => SafeTensors.ReadMetadata(path));

        foreach (var e in new[] { load, metadata })
        {
            Assert.Contains(path, e.Message);
            foreach (string mention in mentions) Assert.Contains(mention, e.Message);
        }
    }

    [Fact]
    public void MissingFile_ThrowsFileNotFound_NamingIt()
    {
        string path = PathOf("absent.safetensors");
        Assert.Contains(path, Assert.Throws<FileNotFoundException>(() => SafeTensors.Load(path)).Message);
    }

    [Fact]
    public void ShardedFolder_WritesHuggingFaceNamesAndIndex_AndLoadsBackEqual()
    {
        random.manual_seed(6);
        var state = Enumerable.Range(0, 5).ToDictionary(i => $"layer.{i}.weight", i => randn(4, 4));   // 64 bytes each
        state["ids"] = arange(3, dtype: ScalarType.Int64);
        try
        {
            SafeTensors.SaveFolderWeights(_dir, state, maxShardBytes: 150);

            var files = Directory.GetFiles(_dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", SafeTensors.IndexFile], files);
            var index = JsonNode.Parse(File.ReadAllText(PathOf(SafeTensors.IndexFile)))!;
            var weightMap = index["weight_map"]!.AsObject();
            Assert.Equal(state.Keys.Order(), weightMap.Select(kv => kv.Key).Order());
            Assert.Equal(5 * 64 + 3 * 8, (long)index["metadata"]!["total_size"]!);
            foreach (var (key, shard) in weightMap)
                Assert.Contains(key, SafeTensors.Load(PathOf((string)shard!)).Keys);

            var loaded = SafeTensors.LoadFolderWeights(_dir);
            try
            {
                Assert.Equal(state.Keys.Order(), loaded.Keys.Order());
                foreach (var (key, expected) in state) AssertBitEqual(expected, loaded[key], key);
            }
            finally { DisposeAll(loaded); }
        }
        finally { DisposeAll(state); }
    }

    [Fact]
    public void ShardSizes_CountTheStoredPrecision()
    {
        using var a = ones(4, 4);   // 64 bytes as F32, 32 as F16
        using var b = ones(4, 4);
        var state = new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b };
        string half = Directory.CreateDirectory(PathOf("half")).FullName, full = Directory.CreateDirectory(PathOf("full")).FullName;

        SafeTensors.SaveFolderWeights(half, state, floatDType: ScalarType.Float16, maxShardBytes: 64);
        SafeTensors.SaveFolderWeights(full, state, maxShardBytes: 64);

        Assert.Equal([Path.Combine(half, SafeTensors.SingleFile)], Directory.GetFiles(half));
        Assert.Equal(3, Directory.GetFiles(full).Length);   // two shards and the index
    }

    [Fact]
    public void SmallFolder_IsOneModelSafetensorsFile()
    {
        using var t = ones(3);
        SafeTensors.SaveFolderWeights(_dir, new Dictionary<string, Tensor> { ["t"] = t });
        Assert.Equal([PathOf(SafeTensors.SingleFile)], Directory.GetFiles(_dir));
    }

    [Theory]
    [InlineData("../outside.safetensors")]
    [InlineData("/tmp/outside.safetensors")]
    [InlineData("sub/inner.safetensors")]
    [InlineData("..")]
    public void Index_WhoseShardLeavesTheFolder_IsRefused(string shard)
    {
        string folder = Directory.CreateDirectory(PathOf("model")).FullName;
        using var t = ones(2);
        // The escaping target really exists, so only the name check can refuse it.
        Directory.CreateDirectory(Path.Combine(folder, "sub"));
        SafeTensors.Save(PathOf("outside.safetensors"), [new("t", t)]);
        SafeTensors.Save(Path.Combine(folder, "sub", "inner.safetensors"), [new("t", t)]);
        WriteIndex(folder, ("t", shard));

        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.LoadFolderWeights(folder));

        Assert.Contains(SafeTensors.IndexFile, e.Message);
        Assert.Contains($"'{shard}'", e.Message);
    }

    [Fact]
    public void Index_ListingAKeyItsShardLacks_IsRefused()
    {
        using var t = ones(2);
        SafeTensors.Save(PathOf("model-00001-of-00001.safetensors"), [new("present", t)]);
        WriteIndex(_dir, ("present", "model-00001-of-00001.safetensors"), ("absent", "model-00001-of-00001.safetensors"));

        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.LoadFolderWeights(_dir));

        Assert.Contains(PathOf(SafeTensors.IndexFile), e.Message);
        Assert.Contains("absent", e.Message);
        Assert.DoesNotContain("present", e.Message);
    }

    [Fact]
    public void Index_NamingATensorTwice_IsRefused()
    {
        using var t = ones(2);
        SafeTensors.Save(PathOf("a.safetensors"), [new("t", t)]);
        SafeTensors.Save(PathOf("b.safetensors"), [new("t", t)]);
        File.WriteAllText(PathOf(SafeTensors.IndexFile), """{"weight_map": {"t": "a.safetensors", "t": "b.safetensors"}}""");

        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.LoadFolderWeights(_dir));

        Assert.Contains(PathOf(SafeTensors.IndexFile), e.Message);
        Assert.Contains("'t'", e.Message);
    }

    [Fact]
    public void Shard_HoldingAKeyTheIndexDoesNotAssign_IsRefused()
    {
        using var t = ones(2);
        SafeTensors.Save(PathOf("shard.safetensors"), new Dictionary<string, Tensor> { ["listed"] = t, ["stowaway"] = t });
        WriteIndex(_dir, ("listed", "shard.safetensors"));

        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.LoadFolderWeights(_dir));

        Assert.Contains("stowaway", e.Message);
        Assert.Contains("shard.safetensors", e.Message);
    }

    [Fact]
    public void Folder_WithOnlyPytorchModelBin_GetsThePickleRefusal()
    {
        File.WriteAllBytes(PathOf("pytorch_model.bin"), [0x80, 0x02]);

        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.LoadFolderWeights(_dir));

        Assert.Contains(_dir, e.Message);
        Assert.Contains("pytorch_model.bin", e.Message);
        Assert.Contains("pickle", e.Message);
        Assert.Contains("safe_serialization=True", e.Message);
    }

    [Fact]
    public void Folder_WithNoWeights_SaysWhatItExpected()
    {
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.LoadFolderWeights(_dir));
        Assert.Contains(_dir, e.Message);
        Assert.Contains(SafeTensors.SingleFile, e.Message);
        Assert.Contains(SafeTensors.IndexFile, e.Message);
    }

    /// <summary>Builds a malformed file: a few named special cases, otherwise the given header over 8 data bytes.</summary>
    private static void WriteBadFile(string path, string header)
    {
        switch (header)
        {
            case "short":
                File.WriteAllBytes(path, [1, 0, 0]);
                return;
            case "header-beyond-file":
                File.WriteAllBytes(path, [.. LengthPrefix(1000), .. "{}"u8]);
                return;
            case "header-absurd":
                // 2^62 bytes could never be allocated: the check must come before any allocation.
                File.WriteAllBytes(path, [.. LengthPrefix(1UL << 62), .. "{}"u8]);
                return;
        }
        byte[] json = Encoding.UTF8.GetBytes(header);
        File.WriteAllBytes(path, [.. LengthPrefix((ulong)json.Length), .. json, .. new byte[8]]);
    }

    private static byte[] LengthPrefix(ulong length)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, length);
        return bytes;
    }

    private static void WriteIndex(string folder, params (string Key, string Shard)[] entries)
    {
        var map = new JsonObject();
        foreach (var (key, shard) in entries) map[key] = shard;
        File.WriteAllText(Path.Combine(folder, SafeTensors.IndexFile), new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());
    }

    private static (long HeaderLength, JsonObject Header) ParseHeader(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        long length = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        return (length, JsonNode.Parse(Encoding.UTF8.GetString(file, 8, (int)length))!.AsObject());
    }

    internal static void AssertBitEqual(Tensor expected, Tensor actual, string name)
    {
        Assert.True(expected.dtype == actual.dtype, $"{name}: dtype {actual.dtype}, expected {expected.dtype}");
        Assert.True(expected.shape.SequenceEqual(actual.shape), $"{name}: shape [{string.Join(", ", actual.shape)}], expected [{string.Join(", ", expected.shape)}]");
        using var e = expected.contiguous();
        using var a = actual.contiguous();
        Assert.True(e.bytes.SequenceEqual(a.bytes), $"{name}: the bytes differ");
    }

    /// <summary>Same shape and exactly the same values (float comparison, so -0 equals 0 and NaN equals nothing).</summary>
    internal static bool SameValues(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.allclose(b, rtol: 0, atol: 0);

    internal static void DisposeAll(Dictionary<string, Tensor> tensors)
    {
        foreach (var t in tensors.Values) t.Dispose();
    }
}
