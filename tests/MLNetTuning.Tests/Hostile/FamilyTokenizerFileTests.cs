using System.Text;
using System.Text.Json.Nodes;
using MLNetTuning.Text;

namespace MLNetTuning.Tests.Hostile;

/// <summary>
/// Every tokenizer kind reads a Hugging Face folder through the same code (TokenizerFolder, TokenizerConfig,
/// HuggingFaceJson), so the hardening that the fuzzer and the property pass bought WordPiece holds for byte-level BPE and
/// SentencePiece folders too: size caps, UTF-8 checks, typed errors naming the file and the field, no huge allocations.
/// </summary>
public sealed class FamilyTokenizerFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnt-family-tokenizer-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A byte-level BPE folder small enough to write by hand: RoBERTa's specials, "Ġ" + "h", "i".</summary>
    private void WriteBpeFolder(JsonObject? vocabOverride = null)
    {
        var vocab = vocabOverride ?? new JsonObject
        {
            ["<s>"] = 0, ["<pad>"] = 1, ["</s>"] = 2, ["<unk>"] = 3, ["h"] = 4, ["i"] = 5, ["Ġ"] = 6, ["Ġh"] = 7, ["Ġhi"] = 8, ["<mask>"] = 9,
            ["<x>"] = 10,
        };
        File.WriteAllText(Path.Combine(_dir, "vocab.json"), vocab.ToJsonString());
        File.WriteAllText(Path.Combine(_dir, "merges.txt"), "#version: 0.2\nĠ h\nĠh i\n");
    }

    private string Fails(TokenizerKind kind, string file)
    {
        var error = Assert.Throws<InvalidDataException>(() => TokenizerFolder.Load(_dir, kind));
        Assert.Contains(Path.Combine(_dir, file), error.Message);
        return error.Message;
    }

    [Fact]
    public void TheHandWrittenBpeFolder_Loads_AndEncodes()
    {
        WriteBpeFolder();
        var tokenizer = ByteLevelBpeTextTokenizer.FromFolder(_dir);
        // No space before the first word (RoBERTa adds none to a plain text); the second word merges to "Ġhi".
        Assert.Equal([0, 4, 5, 8, 2], tokenizer.Encode("hi hi", maxLength: 8).Ids);
    }

    [Theory]
    [InlineData(nameof(TokenizerKind.ByteLevelBpe))]
    [InlineData(nameof(TokenizerKind.SentencePieceUnigram))]
    public void ATokenizerConfigThatIsNotUtf8_IsRefused_NamingTheFile(string kindName)
    {
        var kind = Enum.Parse<TokenizerKind>(kindName);
        WriteBpeFolder();
        File.WriteAllBytes(Path.Combine(_dir, "tokenizer_config.json"), [.. "{\"bos_token\": \""u8, 0xC3, 0x28, .. "\"}"u8]);

        Assert.Contains("not valid UTF-8", Fails(kind, "tokenizer_config.json"));
    }

    [Fact]
    public void AnAddedTokenObjectThatGivesContentTwice_IsRefused_NamingTheFile()
    {
        WriteBpeFolder();
        File.WriteAllText(Path.Combine(_dir, "special_tokens_map.json"), "{\"bos_token\": {\"content\": \"<s>\", \"content\": \"<x>\"}}");

        Fails(TokenizerKind.ByteLevelBpe, "special_tokens_map.json");
    }

    [Fact]
    public void SpecialTokensMap_OverridesTokenizerConfig_KeyByKey_AsForWordPiece()
    {
        WriteBpeFolder();
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), "{\"bos_token\": \"<unk>\", \"mask_token\": \"<x>\"}");
        File.WriteAllText(Path.Combine(_dir, "special_tokens_map.json"), "{\"bos_token\": {\"content\": \"<x>\"}}");

        var specials = ByteLevelBpeTextTokenizer.FromFolder(_dir).Specials;

        Assert.Equal(("<x>", "<x>", "</s>"), (specials.Bos, specials.Mask, specials.Eos));
    }

    [Fact]
    public void ASparseIdOfTwoBillionInVocabJson_IsRefused_InsteadOfAllocatingAnArrayThatLarge()
    {
        WriteBpeFolder(new JsonObject { ["<s>"] = 0, ["<pad>"] = 1, ["</s>"] = 2, ["<unk>"] = 3, ["<mask>"] = 2_000_000_000 });
        long before = GC.GetAllocatedBytesForCurrentThread();

        string message = Fails(TokenizerKind.ByteLevelBpe, "vocab.json");

        Assert.Contains("the id 2,000,000,000", message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 << 20, "the token array was allocated");
    }

    [Fact]
    public void AVocabJsonIdThatIsNotAnInteger_NamesTheToken()
    {
        WriteBpeFolder(new JsonObject { ["<s>"] = "zero" });

        Assert.Contains("gives token '<s>' in vocab the id '\"zero\"'", Fails(TokenizerKind.ByteLevelBpe, "vocab.json"));
    }

    [Fact]
    public void ATokenizerJsonMergeOfNumbers_IsRefused_NamingTheField()
    {
        var json = new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["vocab"] = new JsonObject { ["<s>"] = 0, ["<pad>"] = 1, ["</s>"] = 2, ["<unk>"] = 3, ["<mask>"] = 4 },
                ["merges"] = new JsonArray(new JsonArray(1, 2)),
            },
        };
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), json.ToJsonString());

        Assert.Contains("model.merges[][0] = 1, expected a string", Fails(TokenizerKind.ByteLevelBpe, "tokenizer.json"));
    }

    [Fact]
    public void ASentencePieceModelOverTheCap_IsRefusedBeforeItIsRead()
    {
        string path = Path.Combine(_dir, SentencePieceTextTokenizer.ModelFile);
        using (var file = File.Create(path)) file.SetLength(MLNetTuning.IO.FileLimits.MaxTokenizerFileBytes + 1);   // sparse: no disk used

        Assert.Contains("sentencepiece.bpe.model", Fails(TokenizerKind.SentencePieceUnigram, SentencePieceTextTokenizer.ModelFile));
    }
    /// <summary>An XLM-R folder with tokenizer.json alone (as transformers 5 saves it) whose Unigram model is not XLM-R's.</summary>
    [Theory]
    [InlineData("""{"model": {"type": "BPE", "vocab": {}, "merges": []}}""", "expected 'Unigram'")]
    [InlineData("""{"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["a", -1.0], ["b", -2.0], ["c", -3.0], ["d", -4.0], ["<mask>", 0.0]]}}""", "as XLM-RoBERTa does")]
    [InlineData("""{"model": {"type": "Unigram", "unk_id": 3, "vocab": [["<s>", 0.0], ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0], ["a", "high"], ["<mask>", 0.0]]}}""", "expected [piece, score]")]
    [InlineData("""{"model": {"type": "Unigram", "unk_id": 3, "vocab": [["<s>", 0.0], ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0], ["a", -1.0], ["<mask>", 0.0]]}, "normalizer": {"type": "Precompiled", "precompiled_charsmap": "not base64!"}}""", "not base64")]
    public void AnXlmRobertaTokenizerJsonThatIsNotXlmRobertas_IsRefused_NamingTheFile(string json, string expected)
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), json);
        Assert.Contains(expected, Fails(TokenizerKind.SentencePieceUnigram, "tokenizer.json"));
    }
}
