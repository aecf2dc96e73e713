using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using MLNetTuning.Checkpoints;

namespace MLNetTuning.Tests.Hostile;

/// <summary>Damaged and hostile model zips and model folders: each fails at load with an error that names the field.</summary>
public sealed class HostileZipTests(HostileZipFixture tiny) : IClassFixture<HostileZipFixture>
{
    private const string Model = HostileZipFixture.ModelEntrySuffix;

    [Fact]
    public void TheUntouchedZip_Loads()
    {
        using var loaded = (BertFineTuneTransformer)ZipSurgery.Load(tiny.Bytes);
        Assert.Equal(HostileZipFixture.MaxLength, loaded.FineTuned.MaxSequenceLength);
    }

    [Fact]
    public void DeflateBomb_IsRefusedFromTheCentralDirectory_BeforeItIsUnpacked()
    {
        // 300 MiB of zeros deflate to about 300 kB: 1000:1, where model weights are about 1.1:1.
        var bomb = ZipSurgery.ReplaceEntry(tiny.Bytes, Model, s =>
        {
            var zeros = new byte[1 << 20];
            for (int i = 0; i < 300; i++) s.Write(zeros);
        }, CompressionLevel.Optimal);
        Assert.True(bomb.Length < 2 << 20, $"the bomb is {bomb.Length} bytes");
        var watch = Stopwatch.StartNew();

        string message = ZipSurgery.LoadFails(bomb);

        Assert.Contains("deflate bomb", message);
        Assert.Contains(Model, message);
        Assert.Contains("314,572,800 bytes", message);   // the declared size
        // The message comes from the check that runs before ML.NET unpacks the entry (it inflates whole entries to a temp
        // file or memory before a loader sees a byte), so nothing was inflated; the time bound says the same.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
    }

    [Fact]
    public void AFileClaimingMoreBytesThanTheEntryHolds_IsRefusedBeforeWriting()
    {
        var pack = Pack(("config.json", new byte[10]));
        BitConverter.TryWriteBytes(pack.AsSpan(pack.Length - 18, 8), 1L << 40);   // the length field before the 10 bytes
        string message = ZipSurgery.LoadFails(ZipSurgery.ReplaceEntry(tiny.Bytes, Model, pack));
        Assert.Contains("config.json", message);
        Assert.Contains("1,099,511,627,776 bytes", message);
        Assert.Contains("only 10 bytes are left", message);
    }

    [Fact]
    public void AConfigJsonAboveItsCap_IsRefused_NamingTheFileAndTheLimit()
    {
        var pack = Pack(("config.json", new byte[(16 << 20) + 1]));
        string message = ZipSurgery.LoadFails(ZipSurgery.ReplaceEntry(tiny.Bytes, Model, pack));
        Assert.Contains("config.json", message);
        Assert.Contains("16,777,217 bytes", message);
        Assert.Contains("16,777,216-byte limit", message);
    }

    [Fact]
    public void AnEntryCutInTheMiddleOfAFileName_IsInvalidData_NotEndOfStream()
    {
        // Found by the property pass: BinaryReader's EndOfStreamException escaped the loader.
        var pack = Pack(("config.json", "{}"u8.ToArray()));
        BitConverter.TryWriteBytes(pack.AsSpan(0, 4), 2);   // claims a second file that is not there
        string message = ZipSurgery.LoadFails(ZipSurgery.ReplaceEntry(tiny.Bytes, Model, pack));
        Assert.Contains("truncated or damaged", message);
    }

    [Theory]
    [InlineData("config\0.json")]
    [InlineData("../config.json")]
    [InlineData("a-name-longer-than-any-file-system-allows-a-name-longer-than-any-file-system-allows-a-name-longer-than-any-file-system-allows-a-name-longer-than-any-file-system-allows-a-name-longer-than-any-file-system-allows-a-name-longer-than-any-file-system-allows")]
    public void AFileNameThatCannotBeAPlainFileName_IsInvalidData(string name)
    {
        string message = ZipSurgery.LoadFails(ZipSurgery.ReplaceEntry(tiny.Bytes, Model, Pack((name, "{}"u8.ToArray()))));
        Assert.Contains("bad file name", message);
    }

    [Fact]
    public void TheSameFileTwice_IsRefused()
    {
        var files = Unpack(ZipSurgery.ReadEntry(tiny.Bytes, Model));
        var config = files.First(f => f.Name == "config.json");
        string message = ZipSurgery.LoadFails(ZipSurgery.ReplaceEntry(tiny.Bytes, Model, Pack([.. files, config])));
        Assert.Contains("'config.json' twice", message);
    }

    [Theory]
    [InlineData(100_000, HostileZipFixture.BatchSize, "maximum sequence length is 100000")]
    [InlineData(2, HostileZipFixture.BatchSize, "maximum sequence length is 2")]
    [InlineData(HostileZipFixture.MaxLength, 0, "batch size is 0")]
    [InlineData(HostileZipFixture.MaxLength, 2_000_000_000, "batch size is 2000000000")]
    public void ScoringSettingsOutOfRange_FailAtLoad_NamingTheField(int maxLength, int batchSize, string expected)
    {
        var main = ZipSurgery.ReadEntry(tiny.Bytes, MainStreamSuffix());
        var edited = ZipSurgery.ReplaceInt32Pair(main, HostileZipFixture.MaxLength, HostileZipFixture.BatchSize, maxLength, batchSize);
        string message = ZipSurgery.LoadFails(ZipSurgery.ReplaceEntry(tiny.Bytes, MainStreamSuffix(), edited));
        Assert.Contains(expected, message);
        Assert.Contains("expected", message);
    }

    [Fact]
    public void AConfigWhoseLabelsDoNotMatchTheHead_FailsAtLoad_BeforeTheModelIsBuilt()
    {
        var files = Unpack(ZipSurgery.ReadEntry(tiny.Bytes, Model));
        var config = JsonNode.Parse(files.First(f => f.Name == "config.json").Bytes)!.AsObject();
        config["id2label"] = new JsonObject { ["0"] = "a", ["1"] = "b", ["2"] = "c" };
        config.Remove("label2id");
        var edited = files.Select(f => f.Name == "config.json" ? (f.Name, Encoding.UTF8.GetBytes(config.ToJsonString())) : f).ToArray();
        string message = ZipSurgery.LoadFails(ZipSurgery.ReplaceEntry(tiny.Bytes, Model, Pack(edited)));
        Assert.Contains("number of labels in config.json (id2label) is 3", message);
        Assert.Contains("classifier.weight", message);
    }

    [Theory]
    [InlineData("vocab_size", 2_000_000_000, "vocab_size × hidden_size give [2000000000, 16]")]
    [InlineData("hidden_size", 1_000_000, "vocab_size × hidden_size give")]
    [InlineData("max_position_embeddings", 2_000_000_000, "max_position_embeddings × hidden_size give [2000000000, 16]")]
    [InlineData("num_hidden_layers", 2_000_000_000, "num_hidden_layers is 2000000000, but")]
    [InlineData("intermediate_size", 2_000_000_000, "intermediate_size × hidden_size give [2000000000, 16]")]
    public void AConfigThatDisagreesWithItsWeights_FailsBeforeTheModelIsAllocated(string field, int value, string expected)
    {
        string folder = CopyFolder(tiny.Folder);
        try
        {
            string configPath = Path.Combine(folder, "config.json");
            var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
            config[field] = value;
            if (field == "hidden_size") config["num_attention_heads"] = 1;
            File.WriteAllText(configPath, config.ToJsonString());

            // Building any of these models would need gigabytes (2e9 × 16 floats is 128 GB): an InvalidDataException
            // from the shape check, not an allocation failure, shows that it ran first.
            var error = Assert.Throws<InvalidDataException>(() => HuggingFaceFolder.Load(folder));

            Assert.Contains(expected, error.Message);
            Assert.Contains(configPath, error.Message);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    private string MainStreamSuffix()
    {
        using var archive = new ZipArchive(new MemoryStream(tiny.Bytes), ZipArchiveMode.Read);
        string model = archive.Entries.First(e => e.FullName.EndsWith(Model, StringComparison.Ordinal)).FullName;
        return model[..^Model.Length] + "Model.key";
    }

    internal static string CopyFolder(string source)
    {
        string target = Directory.CreateTempSubdirectory("mlnt-hostile-").FullName;
        foreach (var file in Directory.GetFiles(source)) File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        return target;
    }

    /// <summary>The layout EmbeddedFolder writes: a file count, then each file's name, length and bytes.</summary>
    internal static byte[] Pack(params (string Name, byte[] Bytes)[] files)
    {
        var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(files.Length);
            foreach (var (name, bytes) in files)
            {
                writer.Write(name);
                writer.Write((long)bytes.Length);
                writer.Write(bytes);
            }
        }
        return stream.ToArray();
    }

    internal static (string Name, byte[] Bytes)[] Unpack(byte[] pack)
    {
        using var reader = new BinaryReader(new MemoryStream(pack));
        int count = reader.ReadInt32();
        return Enumerable.Range(0, count).Select(_ => (reader.ReadString(), reader.ReadBytes((int)reader.ReadInt64()))).ToArray();
    }
}
