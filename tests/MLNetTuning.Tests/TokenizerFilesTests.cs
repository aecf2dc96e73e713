using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetTuning.Text;
using Xunit;

namespace MLNetTuning.Tests;

public sealed class TokenizerFilesTests : IDisposable
{
    private static readonly string[] Samples =
    [
        "Hello, WORLD!", "unbelievable café 中国 $5", "x_x hello[SEP]world", "naïve \u0130 hello\U0001F44D", "",
    ];

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "mlnet-tokenizer-tests-" + Guid.NewGuid().ToString("N"));

    public TokenizerFilesTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string WriteVocabTxt(string folder)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllLines(Path.Combine(folder, "vocab.txt"), TextTokenizerTests.TinyVocab);
        return folder;
    }

    private static void AssertSameEncodings(BertTextTokenizer expected, BertTextTokenizer actual)
    {
        Assert.Equal(expected.VocabSize, actual.VocabSize);
        foreach (string text in Samples)
        {
            Assert.Equal(expected.Encode(text).Ids, actual.Encode(text).Ids);
            Assert.Equal(expected.Encode(text).Offsets, actual.Encode(text).Offsets);
        }
    }

    [Fact]
    public void VocabTxtFolderAppliesTokenizerConfigAndSpecialTokensMap()
    {
        string folder = WriteVocabTxt(Path.Combine(_folder, "model"));
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"),
            """{"do_lower_case": false, "strip_accents": null, "tokenize_chinese_chars": false, "model_max_length": 1000000000000000019884624838656, "unk_token": "[MASK]", "cls_token": {"content": "[CLS]", "lstrip": false}}""");
        File.WriteAllText(Path.Combine(folder, "special_tokens_map.json"), """{"unk_token": "[UNK]", "mask_token": "[MASK]"}""");

        var tokenizer = BertTextTokenizer.FromFolder(folder);

        Assert.Equal(new BertTokenizerSettings(LowerCase: false, StripAccents: null, SplitCjk: false, ModelMaxLength: int.MaxValue), tokenizer.Settings);
        Assert.Equal(TextTokenizerTests.TinyVocab.Length, tokenizer.VocabSize);
        Assert.Equal(Array.IndexOf(TextTokenizerTests.TinyVocab, "[UNK]"), tokenizer.Encode("Hello").Ids[1]);
    }

    [Fact]
    public void TokenizerJsonLoadsLikeVocabTxt()
    {
        string folder = Path.Combine(_folder, "json");
        Directory.CreateDirectory(folder);
        var vocab = new JsonObject();
        // Reverse order: ids, not the order of the object's members, must decide.
        for (int id = TextTokenizerTests.TinyVocab.Length - 1; id >= 0; id--) vocab[TextTokenizerTests.TinyVocab[id]] = id;
        var addedTokens = new JsonArray();
        foreach (string special in new[] { "[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]" })
        {
            addedTokens.Add(new JsonObject { ["id"] = Array.IndexOf(TextTokenizerTests.TinyVocab, special), ["content"] = special, ["special"] = true, ["normalized"] = false });
        }

        var json = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = addedTokens,
            ["normalizer"] = new JsonObject { ["type"] = "BertNormalizer", ["clean_text"] = true, ["handle_chinese_chars"] = true, ["strip_accents"] = null, ["lowercase"] = true },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "BertPreTokenizer" },
            ["model"] = new JsonObject { ["type"] = "WordPiece", ["unk_token"] = "[UNK]", ["continuing_subword_prefix"] = "##", ["max_input_chars_per_word"] = 100, ["vocab"] = vocab },
        };
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), json.ToJsonString());

        var fromJson = BertTextTokenizer.FromFolder(folder);

        Assert.Equal(new BertTokenizerSettings(), fromJson.Settings);
        AssertSameEncodings(TextTokenizerTests.Tiny(), fromJson);
    }

    [Fact]
    public void TokenizerJsonWithAnotherModelTypeIsRejectedNamingTheFile()
    {
        File.WriteAllText(Path.Combine(_folder, "tokenizer.json"), """{"model": {"type": "BPE", "vocab": {}, "merges": []}}""");

        var error = Assert.Throws<InvalidDataException>(() => BertTextTokenizer.FromFolder(_folder));

        Assert.Contains("tokenizer.json", error.Message);
        Assert.Contains("'BPE'", error.Message);
        Assert.Contains("WordPiece", error.Message);
    }

    [Fact]
    public void SaveThenFromFolderRoundTripsAndWritesWhatTransformersReads()
    {
        var original = TextTokenizerTests.Tiny(new BertTokenizerSettings(StripAccents: false, ModelMaxLength: 128));
        string folder = Path.Combine(_folder, "saved");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), "{ stale }");

        original.Save(folder);
        var reloaded = BertTextTokenizer.FromFolder(folder);

        Assert.Equal(original.Settings, reloaded.Settings);
        AssertSameEncodings(original, reloaded);
        Assert.Equal(["special_tokens_map.json", "tokenizer_config.json", "vocab.txt"], Directory.GetFiles(folder).Select(Path.GetFileName).Order());
        Assert.Equal(TextTokenizerTests.TinyVocab, File.ReadAllLines(Path.Combine(folder, "vocab.txt")));
        JsonNode config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "tokenizer_config.json")))!;
        Assert.Equal("BertTokenizer", config["tokenizer_class"]!.GetValue<string>());
        Assert.False(config["strip_accents"]!.GetValue<bool>());
        Assert.Equal(128, config["model_max_length"]!.GetValue<int>());
        JsonNode map = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "special_tokens_map.json")))!;
        Assert.Equal("[MASK]", map["mask_token"]!.GetValue<string>());
    }

    [Fact]
    public void WriteVocabReproducesTheVocabTxt()
    {
        var tokenizer = BertTextTokenizer.FromVocab(new MemoryStream(TokenizerTestData.BertBaseUncasedVocab()), new BertTokenizerSettings());
        using var written = new MemoryStream();

        tokenizer.WriteVocab(written);

        var reloaded = BertTextTokenizer.FromVocab(new MemoryStream(written.ToArray()), new BertTokenizerSettings());
        Assert.Equal(30522, reloaded.VocabSize);
        Assert.Equal(tokenizer.Encode("Tokenizers are naïve, 中国!").Ids, reloaded.Encode("Tokenizers are naïve, 中国!").Ids);
    }

    [Fact]
    public void VocabAndConfigStreamsRoundTripForModelFiles()
    {
        var original = TextTokenizerTests.Tiny(new BertTokenizerSettings(LowerCase: false, StripAccents: true, SplitCjk: false, ModelMaxLength: 64));
        using var vocab = new MemoryStream();
        using var config = new MemoryStream();
        original.WriteVocab(vocab);
        original.WriteConfig(config);
        vocab.Position = 0;
        config.Position = 0;

        var reloaded = BertTextTokenizer.FromStreams(vocab, config, "model.zip");

        Assert.Equal(original.Settings, reloaded.Settings);
        AssertSameEncodings(original, reloaded);
        var error = Assert.Throws<InvalidDataException>(() => BertTextTokenizer.FromStreams(new MemoryStream(), new MemoryStream("[1]"u8.ToArray()), "model.zip"));
        Assert.Contains("model.zip/tokenizer_config.json", error.Message);
    }

    [Fact]
    public void MissingFilesAreReportedWithTheFolderAndTheFilesLookedFor()
    {
        var missing = Assert.Throws<FileNotFoundException>(() => BertTextTokenizer.FromFolder(_folder));
        Assert.Contains(_folder, missing.Message);
        Assert.Contains("tokenizer.json", missing.Message);
        Assert.Contains("vocab.txt", missing.Message);

        Assert.Throws<DirectoryNotFoundException>(() => BertTextTokenizer.FromFolder(Path.Combine(_folder, "nope")));
    }

    [Fact]
    public void SpecialTokenMissingFromTheVocabularyIsReported()
    {
        string folder = WriteVocabTxt(Path.Combine(_folder, "model"));
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), """{"mask_token": "<mask>"}""");

        var error = Assert.Throws<InvalidDataException>(() => BertTextTokenizer.FromFolder(folder));

        Assert.Contains("'<mask>'", error.Message);
        Assert.Contains("vocab.txt", error.Message);
    }

    [Fact]
    public void MalformedJsonAndDuplicateTokensAreReportedNamingTheFile()
    {
        string folder = WriteVocabTxt(Path.Combine(_folder, "model"));
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), "{ not json");
        var badJson = Assert.Throws<InvalidDataException>(() => BertTextTokenizer.FromFolder(folder));
        Assert.Contains("tokenizer_config.json", badJson.Message);

        File.Delete(Path.Combine(folder, "tokenizer_config.json"));
        File.AppendAllLines(Path.Combine(folder, "vocab.txt"), ["hello"]);
        var duplicate = Assert.Throws<InvalidDataException>(() => BertTextTokenizer.FromFolder(folder));
        Assert.Contains("'hello'", duplicate.Message);
        Assert.Contains("vocab.txt", duplicate.Message);
    }
}
