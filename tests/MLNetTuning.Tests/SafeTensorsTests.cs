using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using MLNetTuning.Checkpoints;
using MLNetTuning.Native;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

public sealed class SafeTensorsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "st-tests-" + Guid.NewGuid().ToString("N"));

    private static bool SameValues(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    public SafeTensorsTests()
    {
        TorchNativeLoader.EnsureLoaded();
        Directory.CreateDirectory(_dir);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static Tensor Random(params long[] shape)
    {
        manual_seed(shape.Sum() + shape.Length);
        return randn(shape);
    }

    private static byte[] BytesOf(Tensor t) => t.contiguous().bytes.ToArray();

    [Fact]
    public void Float32RoundTripIsBitExactIncludingSpecialValues()
    {
        using var x = Random(3, 5);
        x[0, 0] = float.NaN; x[0, 1] = float.PositiveInfinity; x[0, 2] = -0.0f; x[0, 3] = 1e-45f;   // NaN, inf, -0, subnormal
        string path = PathOf("f32.safetensors");
        SafeTensors.Save(path, [new("x", x)]);

        var loaded = SafeTensors.Load(path);
        Assert.Equal(ScalarType.Float32, loaded["x"].dtype);
        Assert.Equal(x.shape, loaded["x"].shape);
        Assert.Equal(BytesOf(x), BytesOf(loaded["x"]));
    }

    [Theory]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    public void HalfPrecisionValuesSurviveASecondRoundTripExactly(ScalarType half)
    {
        using var x = Random(4, 6) * 100;
        string first = PathOf("first.safetensors"), second = PathOf("second.safetensors");
        SafeTensors.Save(first, [new("x", x)], floatDType: half);

        var stored = SafeTensors.Load(first, floatDType: null)["x"];
        Assert.Equal(half, stored.dtype);
        var asFloat = SafeTensors.Load(first)["x"];   // default converts to Float32
        Assert.Equal(ScalarType.Float32, asFloat.dtype);
        Assert.Equal(BytesOf(x.to_type(half).to_type(ScalarType.Float32)), BytesOf(asFloat));
        Assert.False(SameValues(x, asFloat));   // the conversion really rounded

        SafeTensors.Save(second, [new("x", asFloat)], floatDType: half);
        Assert.Equal(BytesOf(stored), BytesOf(SafeTensors.Load(second, floatDType: null)["x"]));
    }

    [Fact]
    public void NonFloatAndEdgeShapedTensorsAreKeptAsStored()
    {
        var tensors = new Dictionary<string, Tensor>
        {
            ["f64"] = tensor(new[] { 1.0 / 3, -2.5 }),
            ["i64"] = tensor(new[] { long.MinValue, long.MaxValue }),
            ["i32"] = tensor(new[] { int.MinValue, 7 }),
            ["i16"] = tensor(new short[] { short.MinValue, 3 }),
            ["i8"] = tensor(new sbyte[] { -128, 127 }),
            ["u8"] = tensor(new byte[] { 0, 255, 9 }),
            ["bool"] = tensor(new[] { true, false, true }),
            ["scalar"] = tensor(3.5f),
            ["empty"] = zeros(0, 3),
        };
        string path = PathOf("mixed.safetensors");
        SafeTensors.Save(path, tensors, floatDType: ScalarType.BFloat16);

        var loaded = SafeTensors.Load(path, floatDType: ScalarType.Float32);
        Assert.Equal(tensors.Keys.Order(), loaded.Keys.Order());
        foreach (var (key, original) in tensors)
        {
            var expected = key is "scalar" or "empty" ? original.to_type(ScalarType.BFloat16).to_type(ScalarType.Float32) : original;
            Assert.Equal(expected.dtype, loaded[key].dtype);
            Assert.Equal(expected.shape, loaded[key].shape);
            Assert.Equal(BytesOf(expected), BytesOf(loaded[key]));
        }
    }

    [Fact]
    public void WrittenFileFollowsTheHuggingFaceLayout()
    {
        string path = PathOf("layout.safetensors");
        SafeTensors.Save(path, [new("b.u8", tensor(new byte[] { 1, 2, 3 })), new("a.f32", ones(2, 2)), new("c.f16", ones(3).to_type(ScalarType.Float16))]);

        byte[] file = File.ReadAllBytes(path);
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.Equal(0, headerLength % 8);
        string header = Encoding.UTF8.GetString(file, 8, (int)headerLength);
        using var json = JsonDocument.Parse(header);
        var names = json.RootElement.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(["__metadata__", "a.f32", "b.u8", "c.f16"], names);
        Assert.Equal("pt", json.RootElement.GetProperty("__metadata__").GetProperty("format").GetString());
        foreach (var p in json.RootElement.EnumerateObject().Skip(1))
        {
            long begin = p.Value.GetProperty("data_offsets")[0].GetInt64();
            int size = p.Value.GetProperty("dtype").GetString() switch { "F32" => 4, "F16" => 2, _ => 1 };
            Assert.Equal(0, begin % size);   // each tensor aligned to its element size
        }
        Assert.Equal(16 + 6 + 3, file.Length - 8 - headerLength);
    }

    [Fact]
    public void MetadataRoundTripsAndGetsTheFormatKey()
    {
        string path = PathOf("meta.safetensors");
        SafeTensors.Save(path, [new("x", ones(1))], metadata: new Dictionary<string, string> { ["source"] = "unit test", ["ünïcode"] = "✓" });
        var metadata = SafeTensors.ReadMetadata(path);
        Assert.Equal("unit test", metadata["source"]);
        Assert.Equal("✓", metadata["ünïcode"]);
        Assert.Equal("pt", metadata["format"]);
    }

    [Fact]
    public void NonContiguousTensorsAreSavedByValue()
    {
        using var x = Random(3, 4);
        using var transposed = x.t();
        Assert.False(transposed.is_contiguous());
        string path = PathOf("t.safetensors");
        SafeTensors.Save(path, [new("t", transposed)]);
        Assert.True(SameValues(transposed, SafeTensors.Load(path)["t"]));
    }

    [Fact]
    public void SaveRejectsDuplicateAndReservedNamesAndLeavesNoFileBehind()
    {
        string path = PathOf("dup.safetensors");
        var duplicate = Assert.Throws<ArgumentException>(() => SafeTensors.Save(path, [new("x", ones(1)), new("x", ones(2))]));
        Assert.Contains("'x'", duplicate.Message);
        Assert.Throws<ArgumentException>(() => SafeTensors.Save(path, [new("__metadata__", ones(1))]));
        var complex = Assert.Throws<ArgumentException>(() => SafeTensors.Save(path, [new("c", zeros(2, ScalarType.ComplexFloat32))]));
        Assert.Contains("'c'", complex.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Fact]
    public void SaveReplacesAnExistingFileAndLeavesNoTempFiles()
    {
        string path = PathOf("replace.safetensors");
        SafeTensors.Save(path, [new("old", ones(100))]);
        SafeTensors.Save(path, [new("new", zeros(2))]);
        Assert.Equal(["new"], SafeTensors.Load(path).Keys);
        Assert.Equal([path], Directory.GetFiles(_dir));
    }

    [Fact]
    public void ChunkedAccessCoversEveryByteOnceInOrder()
    {
        // Tensors above 1 GiB are read and written in chunks; the same path runs here with 12-byte chunks.
        using var x = Random(7, 5);
        var seen = new List<byte>();
        var sizes = new List<int>();
        SafeTensors.ForEachChunk(x, chunk => { seen.AddRange(chunk.ToArray()); sizes.Add(chunk.Length); }, chunkBytes: 12);
        Assert.Equal(BytesOf(x), seen);
        Assert.All(sizes.SkipLast(1), size => Assert.Equal(12, size));
        Assert.Equal(12, sizes.Count);   // 140 bytes = 11 × 12 + 8

        using var target = zeros(7, 5);
        int offset = 0;
        byte[] source = BytesOf(x);
        SafeTensors.ForEachChunk(target, chunk => { source.AsSpan(offset, chunk.Length).CopyTo(chunk); offset += chunk.Length; }, chunkBytes: 12);
        Assert.True(SameValues(x, target));
    }

    /// <summary>Writes a file from a raw header string and a data region of <paramref name="dataBytes"/> bytes.</summary>
    private string WriteRaw(string header, int dataBytes, ulong? lengthPrefix = null, byte fill = 0)
    {
        string path = PathOf("bad.safetensors");
        byte[] headerBytes = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + headerBytes.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(file, lengthPrefix ?? (ulong)headerBytes.Length);
        headerBytes.CopyTo(file, 8);
        file.AsSpan(8 + headerBytes.Length).Fill(fill);
        File.WriteAllBytes(path, file);
        return path;
    }

    [Theory]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8, "1000000000000", "above the 100000000-byte limit")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8, "5000", "says 5000 bytes, but only")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]""", 8, null, "not valid JSON")]
    [InlineData("""["w"]""", 0, null, "must start with '{'")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}""", 8, null, "tensor 'w': data_offsets [0, 16] reach past the data region: expected an end of at most 8")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", 8, null, "tensor 'w': data_offsets [8, 0] end before")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12, null, "tensor 'v': data_offsets [4, 12] overlap the bytes of tensor 'w'")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}""", 16, null, "tensor 'v': data_offsets [12, 16] leave a gap of 4")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 12, null, "cover 8 bytes of data but the file holds 12")]
    [InlineData("""{"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}""", 2, null, "tensor 'w': dtype 'F8_E4M3' is not supported")]
    [InlineData("""{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8, null, "tensor 'w': shape [3] of F32 needs 3 × 4 = 12 bytes, but data_offsets [0, 8] hold 8")]
    [InlineData("""{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", 8, null, "tensor 'w': shape [-2]: dimension 0 must be a non-negative integer, found -2")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}""", 8, null, "dimension 0 must be a non-negative integer, found 2.5")]
    [InlineData("""{"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,8]}}""", 8, null, "tensor 'w': shape [4294967296,4294967296] has more elements than fit in 64 bits")]
    [InlineData("""{"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}""", 8, null, "of F64 has more bytes than fit in 64 bits")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8, null, "tensor 'w': the header names this key twice")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[-1,8]}}""", 8, null, "must be non-negative integers")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2]}}""", 8, null, "tensor 'w': expected 'data_offsets'")]
    [InlineData("""{"__metadata__":{"n":3}}""", 0, null, "metadata value 'n' must be a string")]
    [InlineData("""{"w":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}""", 2, null, "tensor 'w': a BOOL tensor holds a byte other than 0 or 1", (byte)2)]
    public void MalformedFilesAreRefusedWithTheFileTheKeyAndTheNumbers(string header, int dataBytes, string? lengthPrefix, string expected, byte fill = 0)
    {
        string path = WriteRaw(header, dataBytes, lengthPrefix is null ? null : ulong.Parse(lengthPrefix), fill);
        var error = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path));
        Assert.Contains(path, error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void FilesShorterThanThePrefixAreRefused()
    {
        string path = PathOf("short.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        var error = Assert.Throws<InvalidDataException>(() => SafeTensors.ReadMetadata(path));
        Assert.Contains("3 bytes long", error.Message);
    }

    [Fact]
    public void AHandWrittenValidFileIsReadWithTrailingHeaderSpaces()
    {
        // Written independently of Save: 2 F32 values 1.5 and -2, header padded with spaces as Python does.
        string path = WriteRaw("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}    """, 8);
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(bytes.Length - 8), 1.5f);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(bytes.Length - 4), -2f);
        File.WriteAllBytes(path, bytes);
        var w = SafeTensors.Load(path)["w"];
        Assert.Equal([1.5f, -2f], w.data<float>().ToArray());
    }

    private static Dictionary<string, Tensor> SmallStateDict() => new()
    {
        ["encoder.a.weight"] = Random(4, 4),        // 64 bytes
        ["encoder.b.weight"] = Random(4, 8),        // 128 bytes
        ["encoder.c.bias"] = Random(4),             // 16 bytes
        ["embeddings.ids"] = arange(6L),            // 48 bytes
    };

    [Fact]
    public void ShardedSaveWritesHuggingFaceNamesAndLoadsBack()
    {
        var sd = SmallStateDict();
        SafeTensors.SaveFolderWeights(_dir, sd, floatDType: null, maxShardBytes: 130);

        var files = Directory.GetFiles(_dir).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors",
            "model.safetensors.index.json"], files);
        using var index = JsonDocument.Parse(File.ReadAllText(PathOf(SafeTensors.IndexFileName)));
        Assert.Equal(64 + 128 + 16 + 48, index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());
        Assert.Equal(sd.Keys.Order(), index.RootElement.GetProperty("weight_map").EnumerateObject().Select(p => p.Name));

        var loaded = SafeTensors.LoadFolderWeights(_dir, floatDType: null);
        Assert.Equal(sd.Keys.Order(), loaded.Keys.Order());
        foreach (var (key, value) in sd) Assert.Equal(BytesOf(value), BytesOf(loaded[key]));
    }

    [Fact]
    public void SavingOneLayoutRemovesTheOtherSoNoStaleWeightsAreLoaded()
    {
        var sd = SmallStateDict();
        SafeTensors.SaveFolderWeights(_dir, sd, floatDType: null, maxShardBytes: 100);
        Assert.True(File.Exists(PathOf(SafeTensors.IndexFileName)));

        sd["encoder.c.bias"] = zeros(4);
        SafeTensors.SaveFolderWeights(_dir, sd, floatDType: ScalarType.Float16);
        Assert.Equal([SafeTensors.SingleFileName], Directory.GetFiles(_dir).Select(Path.GetFileName));
        var loaded = SafeTensors.LoadFolderWeights(_dir, floatDType: null);
        Assert.Equal(ScalarType.Float16, loaded["encoder.a.weight"].dtype);
        Assert.Equal(ScalarType.Int64, loaded["embeddings.ids"].dtype);
        Assert.Equal(0f, loaded["encoder.c.bias"].to_type(ScalarType.Float32).abs().sum().item<float>());

        SafeTensors.SaveFolderWeights(_dir, sd, floatDType: null, maxShardBytes: 100);
        Assert.False(File.Exists(PathOf(SafeTensors.SingleFileName)));
    }

    private void WriteIndex(params (string Key, string Shard)[] map)
    {
        var weightMap = map.ToDictionary(m => m.Key, m => m.Shard);
        File.WriteAllText(PathOf(SafeTensors.IndexFileName), JsonSerializer.Serialize(new { metadata = new { }, weight_map = weightMap }));
    }

    [Theory]
    [InlineData("../outside.safetensors")]
    [InlineData("sub/../../outside.safetensors")]
    [InlineData("/etc/passwd")]
    [InlineData("..")]
    [InlineData("sub\\x.safetensors")]
    public void IndexShardNamesCannotLeaveTheFolder(string shard)
    {
        string folder = PathOf("model");
        Directory.CreateDirectory(folder);
        SafeTensors.Save(PathOf("outside.safetensors"), [new("w", ones(1))]);   // a real file the traversal would reach
        File.WriteAllText(Path.Combine(folder, SafeTensors.IndexFileName),
            JsonSerializer.Serialize(new { weight_map = new Dictionary<string, string> { ["w"] = shard } }));
        var error = Assert.Throws<InvalidDataException>(() => SafeTensors.LoadFolderWeights(folder, null));
        Assert.Contains("path traversal refused", error.Message);
        Assert.Contains($"'{shard}'", error.Message);
    }

    [Fact]
    public void IndexAndShardsMustAgree()
    {
        SafeTensors.Save(PathOf("model-00001-of-00002.safetensors"), [new("a", ones(1)), new("b", ones(1))]);
        SafeTensors.Save(PathOf("model-00002-of-00002.safetensors"), [new("c", ones(1))]);

        WriteIndex(("a", "model-00001-of-00002.safetensors"), ("b", "model-00001-of-00002.safetensors"),
            ("c", "model-00002-of-00002.safetensors"), ("d", "model-00002-of-00002.safetensors"));
        var missing = Assert.Throws<InvalidDataException>(() => SafeTensors.LoadFolderWeights(_dir, null));
        Assert.Contains("'d' (expected in model-00002-of-00002.safetensors)", missing.Message);

        WriteIndex(("a", "model-00001-of-00002.safetensors"), ("c", "model-00002-of-00002.safetensors"));
        var unlisted = Assert.Throws<InvalidDataException>(() => SafeTensors.LoadFolderWeights(_dir, null));
        Assert.Contains("tensor 'b' is not listed", unlisted.Message);

        WriteIndex(("a", "model-00001-of-00002.safetensors"), ("b", "model-00002-of-00002.safetensors"), ("c", "model-00002-of-00002.safetensors"));
        var misplaced = Assert.Throws<InvalidDataException>(() => SafeTensors.LoadFolderWeights(_dir, null));
        Assert.Contains("'b' is listed in model.safetensors.index.json under shard 'model-00002-of-00002.safetensors'", misplaced.Message);

        WriteIndex(("a", "model-00001-of-00002.safetensors"), ("b", "model-00001-of-00002.safetensors"), ("z", "model-00009-of-00009.safetensors"));
        var absent = Assert.Throws<InvalidDataException>(() => SafeTensors.LoadFolderWeights(_dir, null));
        Assert.Contains("shard 'model-00009-of-00009.safetensors' is listed in weight_map but", absent.Message);

        File.WriteAllText(PathOf(SafeTensors.IndexFileName), """{"weight_map": ["a"]}""");
        Assert.Contains("'weight_map' object", Assert.Throws<InvalidDataException>(() => SafeTensors.LoadFolderWeights(_dir, null)).Message);
    }

    [Fact]
    public void PickleWeightsAreRefusedWithConversionAdvice()
    {
        File.WriteAllBytes(PathOf("pytorch_model.bin"), [0x80, 0x02, (byte)'c']);
        var error = Assert.Throws<InvalidDataException>(() => SafeTensors.LoadFolderWeights(_dir, ScalarType.Float32));
        Assert.Contains(_dir, error.Message);
        Assert.Contains("execute arbitrary code", error.Message);
        Assert.Contains("save_file(", error.Message);
        Assert.Contains("weights_only=True", error.Message);
    }

    [Fact]
    public void AFolderWithoutWeightsSaysWhatItLookedFor()
    {
        var error = Assert.Throws<FileNotFoundException>(() => SafeTensors.LoadFolderWeights(_dir, null));
        Assert.Contains("model.safetensors.index.json", error.Message);
    }
}
