using System.Diagnostics;
using System.Text.Json.Nodes;
using MLNetTuning.Models;

namespace MLNetTuning.Tests.Hostile;

/// <summary>Hostile and mistyped config.json files fail with InvalidDataException naming the file and the field.</summary>
public sealed class ConfigFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnt-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteConfig(Action<JsonObject> edit)
    {
        var json = TinyBert.Config().ToJson();
        json.Remove("id2label");
        json.Remove("label2id");
        edit(json);
        return WriteText(json.ToJsonString());
    }

    /// <summary>A config whose <paramref name="field"/> is the raw JSON <paramref name="value"/> (which may be no .NET string).</summary>
    private string WriteRaw(string field, string value)
    {
        var json = TinyBert.Config().ToJson();
        json.Remove("id2label");
        json.Remove("label2id");
        json[field] = "RAW-VALUE";
        return WriteText(json.ToJsonString().Replace("\"RAW-VALUE\"", value));
    }

    private string WriteText(string text)
    {
        string path = Path.Combine(_dir, "config.json");
        File.WriteAllText(path, text);
        return path;
    }

    private static string Fails(string path)
    {
        var error = Assert.Throws<InvalidDataException>(() => BertConfig.FromFile(path));
        Assert.Contains(path, error.Message);
        return error.Message;
    }

    [Fact]
    public void NumLabelsOfTwoBillion_WithoutId2Label_IsRefused_BeforeAnyLabelIsMade()
    {
        string path = WriteConfig(j => j["num_labels"] = 2_000_000_000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var watch = Stopwatch.StartNew();

        string message = Fails(path);

        Assert.Contains("num_labels is 2000000000", message);
        Assert.Contains("1,000,000", message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20, "label names were allocated");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void NumLabelsWithinTheCap_WithoutId2Label_StillNamesEachLabel()
    {
        var config = BertConfig.FromFile(WriteConfig(j => j["num_labels"] = 3));
        Assert.Equal(["LABEL_0", "LABEL_1", "LABEL_2"], config.Labels);
    }

    [Fact]
    public void Id2LabelKeysZeroAndDoubleZero_AreRefused_InsteadOfOneReplacingTheOther()
    {
        string message = Fails(WriteConfig(j => j["id2label"] = new JsonObject { ["0"] = "ham", ["00"] = "spam" }));
        Assert.Contains("id2label has the key '00'", message);
    }

    [Theory]
    [InlineData("5")]
    [InlineData("null")]
    [InlineData("[\"a\"]")]
    [InlineData("\"\\ud800\"")]
    public void Id2LabelEntriesThatAreNotNames_AreRefused_NamingTheEntry(string value)
    {
        string path = WriteRaw("id2label", $"{{\"0\": \"ham\", \"1\": {value}}}");
        Assert.Contains("id2label[\"1\"] must be a class name string", Fails(path));
    }

    [Theory]
    [InlineData("hidden_size", "\"big\"", "'hidden_size' must be an integer")]
    [InlineData("hidden_size", "\"\\ud800\"", "'hidden_size' must be an integer, but it is a string that is not valid Unicode")]
    [InlineData("layer_norm_eps", "[1]", "'layer_norm_eps' must be a number")]
    [InlineData("hidden_act", "7", "'hidden_act' must be a string")]
    [InlineData("num_labels", "\"2\"", "'num_labels' must be an integer")]
    [InlineData("architectures", "[1]", "'architectures' must be a list of class names")]
    [InlineData("id2label", "[\"a\"]", "'id2label' must be an object")]
    public void MistypedFields_AreInvalidData_NamingTheField_NotInvalidOperation(string field, string value, string expected)
    {
        string path = WriteRaw(field, value);
        Assert.Contains(expected, Fails(path));
    }

    [Fact]
    public void AKeyGivenTwice_IsInvalidData()
    {
        string text = TinyBert.Config().ToJsonString();
        string path = WriteText(text.Replace("\"vocab_size\":", "\"vocab_size\": 5, \"vocab_size\":"));
        Fails(path);
    }

    [Fact]
    public void AConfigJsonAboveSixteenMegabytes_IsRefusedBeforeItIsRead()
    {
        string text = TinyBert.Config().ToJsonString();
        string path = WriteText(text.TrimEnd().TrimEnd('}') + ", \"padding\": \"" + new string('x', 16 << 20) + "\"}");
        string message = Fails(path);
        Assert.Contains("16,777,216-byte limit for a config.json", message);
    }
}
