using System.Text;
using System.Text.Json.Nodes;
using MLNetTuning.Text;

namespace MLNetTuning.Tests.Hostile;

/// <summary>Hostile and mistyped Hugging Face tokenizer files fail with InvalidDataException naming the file and the field.</summary>
public sealed class TokenizerFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnt-tokenizer-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static JsonObject ValidTokenizerJson() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(Parsers.DataFolder, "corpus", "tokenizer", "tokenizer.json")))!.AsObject();

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private string Fails(string file)
    {
        var error = Assert.Throws<InvalidDataException>(() => BertTextTokenizer.FromFolder(_dir));
        Assert.Contains(Path.Combine(_dir, file), error.Message);
        return error.Message;
    }

    [Fact]
    public void TheSeedTokenizer_Loads()
    {
        Write("tokenizer.json", ValidTokenizerJson().ToJsonString());
        Assert.Equal(19, BertTextTokenizer.FromFolder(_dir).VocabSize);
    }

    [Theory]
    [InlineData("model.vocab")]
    [InlineData("added_tokens")]
    public void ASparseIdOfTwoBillion_IsRefused_InsteadOfAllocatingAnArrayThatLarge(string where)
    {
        var json = ValidTokenizerJson();
        if (where == "model.vocab") json["model"]!["vocab"]!["sparse"] = 2_000_000_000;
        else json["added_tokens"]!.AsArray().Add(new JsonObject { ["id"] = 2_000_000_000, ["content"] = "<far>" });
        Write("tokenizer.json", json.ToJsonString());
        long before = GC.GetAllocatedBytesForCurrentThread();

        string message = Fails("tokenizer.json");

        Assert.Contains("the id 2,000,000,000", message);
        Assert.Contains("lists only", message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 << 20, "the vocabulary array was allocated");
    }

    [Fact]
    public void AFewGapsInTheIds_AreTolerated()
    {
        var json = ValidTokenizerJson();
        json["model"]!["vocab"]!["gap"] = 40;
        Write("tokenizer.json", json.ToJsonString());
        Assert.Equal(41, BertTextTokenizer.FromFolder(_dir).VocabSize);
    }

    [Theory]
    [InlineData("model", "type", "5", "model.type = 5, expected a string")]
    [InlineData("model", "unk_token", "[1]", "model.unk_token = [1], expected a string")]
    [InlineData("model", "max_input_chars_per_word", "\"many\"", "model.max_input_chars_per_word = \"many\", expected an integer")]
    [InlineData("normalizer", "lowercase", "\"yes\"", "normalizer.lowercase = \"yes\", expected true or false")]
    [InlineData("model", "max_input_chars_per_word", "0", "model.max_input_chars_per_word = 0, expected a positive integer")]
    [InlineData("model", "max_input_chars_per_word", "2000000000", "model.max_input_chars_per_word = 2000000000, expected a positive integer of at most 10,000")]
    [InlineData("normalizer", "type", "\"\\ud800\"", "normalizer.type = a string that is not valid Unicode, expected a string")]
    [InlineData("pre_tokenizer", "type", "{}", "pre_tokenizer.type = {}, expected a string")]
    public void MistypedFields_AreInvalidData_NamingTheField_NotInvalidOperation(string parent, string field, string value, string expected)
    {
        var json = ValidTokenizerJson();
        json[parent]![field] = "RAW-VALUE";
        Write("tokenizer.json", json.ToJsonString().Replace("\"RAW-VALUE\"", value));
        Assert.Contains(expected, Fails("tokenizer.json"));
    }

    [Fact]
    public void AnAddedTokenWhoseContentIsNotAString_IsInvalidData()
    {
        var json = ValidTokenizerJson();
        json["added_tokens"]!.AsArray().Add(new JsonObject { ["id"] = 19, ["content"] = 3 });
        Write("tokenizer.json", json.ToJsonString());
        Assert.Contains("added_tokens[].content = 3", Fails("tokenizer.json"));
    }

    [Fact]
    public void ATokenizerJsonThatIsNotUtf8_IsInvalidData()
    {
        byte[] bytes = Encoding.UTF8.GetBytes(ValidTokenizerJson().ToJsonString());
        int at = Array.IndexOf(bytes, (byte)'h');   // inside "hello"
        bytes[at] = 0xC3;
        bytes[at + 1] = 0x28;
        File.WriteAllBytes(Path.Combine(_dir, "tokenizer.json"), bytes);
        Assert.Contains("is not valid UTF-8", Fails("tokenizer.json"));
    }

    [Fact]
    public void ATokenizerConfigWithAKeyTwice_IsInvalidData()
    {
        Write("tokenizer.json", ValidTokenizerJson().ToJsonString());
        Write("tokenizer_config.json", "{\"do_lower_case\": true, \"do_lower_case\": false}");
        Fails("tokenizer_config.json");
    }

    [Fact]
    public void ATokenizerConfigAboveSixteenMegabytes_IsRefusedBeforeItIsRead()
    {
        Write("tokenizer.json", ValidTokenizerJson().ToJsonString());
        Write("tokenizer_config.json", "{\"padding\": \"" + new string('x', 16 << 20) + "\"}");
        Assert.Contains("16,777,216-byte limit", Fails("tokenizer_config.json"));
    }
}
