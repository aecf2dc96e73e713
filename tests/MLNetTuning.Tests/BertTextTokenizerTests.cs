using System.Text;
using MLNetTuning.Pretrained;
using MLNetTuning.Text;

namespace MLNetTuning.Tests;

public sealed class BertTextTokenizerTests
{
    private static readonly string[] TinyVocab =
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "un", "##aff", "##able", "cafe", ",", "!", "中", "国", "the", "a", "$", "##s"];

    private static BertTextTokenizer Tiny(BertTokenizerSettings? settings = null) =>
        BertTextTokenizer.FromVocab(new MemoryStream(Encoding.UTF8.GetBytes(string.Join("\n", TinyVocab))), settings ?? new BertTokenizerSettings());

    private static BertTextTokenizer MiniLm()
    {
        using var vocab = EmbeddedModels.Get("all-MiniLM-L6-v2").OpenVocab();
        return BertTextTokenizer.FromVocab(vocab, new BertTokenizerSettings());
    }

    private static string[] Tokens(BertTextTokenizer tokenizer, EncodedText encoded) => encoded.Ids.Select(tokenizer.Token).ToArray();

    [Fact]
    public void SingleTextGetsSpecialTokensLowerCaseAndWordPieces()
    {
        var tokenizer = Tiny();
        var encoded = tokenizer.Encode("Hello, UNAFFABLE world!");
        Assert.Equal(["[CLS]", "hello", ",", "un", "##aff", "##able", "world", "!", "[SEP]"], Tokens(tokenizer, encoded));
        Assert.All(encoded.TypeIds, t => Assert.Equal(0, t));
    }

    [Fact]
    public void AccentsAreStrippedForUncasedModelsAndKeptWhenAsked()
    {
        var tokenizer = Tiny();
        Assert.Equal(["[CLS]", "cafe", "[SEP]"], Tokens(tokenizer, tokenizer.Encode("Café")));
        var keeping = Tiny(new BertTokenizerSettings(StripAccents: false));
        Assert.Equal(["[CLS]", "[UNK]", "[SEP]"], Tokens(keeping, keeping.Encode("Café")));
    }

    [Fact]
    public void CjkCharactersAreSplitAndUnknownWordsBecomeUnk()
    {
        var tokenizer = Tiny();
        Assert.Equal(["[CLS]", "中", "国", "[UNK]", "[SEP]"], Tokens(tokenizer, tokenizer.Encode("中国zebra")));
    }

    [Fact]
    public void SymbolsAndEmojiAreKeptAsHuggingFaceKeepsThem()
    {
        // ASCII symbols are punctuation to Hugging Face; an emoji is a word of its own that WordPiece cannot spell.
        var tokenizer = Tiny();
        Assert.Equal(["[CLS]", "$", "a", "[UNK]", "[SEP]"], Tokens(tokenizer, tokenizer.Encode("$a 🙂")));
        Assert.Equal(["[CLS]", "hello", "world", "[SEP]"], Tokens(tokenizer, tokenizer.Encode("hello\n\tworld\u200b")));
    }

    [Fact]
    public void PairsGetTokenTypesAndLongestFirstTruncation()
    {
        var tokenizer = Tiny();
        var pair = tokenizer.Encode("hello world", "the a the a the", maxLength: 8);
        // 8 - 3 specials = 5 tokens: the longer second text gives up tokens first until both are within one.
        Assert.Equal(["[CLS]", "hello", "world", "[SEP]", "the", "a", "the", "[SEP]"], Tokens(tokenizer, pair));
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 1], pair.TypeIds);
        Assert.Equal([-1, 0, 0, -1, 1, 1, 1, -1], pair.SequenceIndex);
        var single = tokenizer.Encode("hello world the a", maxLength: 4);
        Assert.Equal(["[CLS]", "hello", "world", "[SEP]"], Tokens(tokenizer, single));
    }

    [Fact]
    public void PaddingBuildsMasksToTheLongestOrAFixedLength()
    {
        var tokenizer = Tiny();
        var batch = tokenizer.Pad([tokenizer.Encode("hello"), tokenizer.Encode("hello world", "the")]);
        Assert.Equal((2, 6), (batch.BatchSize, batch.SequenceLength));
        Assert.Equal([2, 5, 3, 0, 0, 0, 2, 5, 6, 3, 15, 3], batch.InputIds);
        Assert.Equal([1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1], batch.AttentionMask);
        Assert.Equal([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1], batch.TokenTypeIds);
        Assert.Equal(10, tokenizer.Pad([tokenizer.Encode("hello")], fixedLength: 10).SequenceLength);
    }

    [Fact]
    public void OffsetsPointIntoTheOriginalText()
    {
        var tokenizer = Tiny();
        const string text = "  CAFÉ, Unaffable\tWORLD 中";
        var encoded = tokenizer.Encode(text);
        var pieces = encoded.Offsets.Zip(encoded.SequenceIndex).Where(p => p.Second >= 0).Select(p => text[p.First.Start..p.First.End]).ToArray();
        Assert.Equal(["CAFÉ", ",", "Un", "aff", "able", "WORLD", "中"], pieces);
        // A decomposed accent belongs to the letter before it.
        const string decomposed = "Cafe\u0301!";
        var d = tokenizer.Encode(decomposed);
        Assert.Equal("Cafe\u0301", decomposed[d.Offsets[1].Start..d.Offsets[1].End]);
        Assert.Equal("!", decomposed[d.Offsets[2].Start..d.Offsets[2].End]);
    }

    [Fact]
    public void SavedFolderLoadsBackAndTokenizerJsonEqualsVocabTxt()
    {
        var folder = Directory.CreateTempSubdirectory("mlnt-tok").FullName;
        var settings = new BertTokenizerSettings(LowerCase: true, StripAccents: false, ModelMaxLength: 256);
        Tiny(settings).Save(folder);
        var loaded = BertTextTokenizer.FromFolder(folder);
        Assert.Equal(settings, loaded.Settings);
        Assert.Equal(Tiny(settings).Encode("Café hello").Ids, loaded.Encode("Café hello").Ids);

        var jsonFolder = Directory.CreateTempSubdirectory("mlnt-tokjson").FullName;
        var vocab = string.Join(", ", TinyVocab.Select((t, i) => $"\"{t}\": {i}"));
        File.WriteAllText(Path.Combine(jsonFolder, "tokenizer.json"),
            $"{{\"normalizer\": {{\"type\": \"BertNormalizer\", \"lowercase\": true, \"strip_accents\": null, \"handle_chinese_chars\": true}}, " +
            $"\"model\": {{\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"continuing_subword_prefix\": \"##\", \"vocab\": {{{vocab}}}}}}}");
        var fromJson = BertTextTokenizer.FromFolder(jsonFolder);
        Assert.Equal(Tiny().Encode("Hello, unaffable 中国 café").Ids, fromJson.Encode("Hello, unaffable 中国 café").Ids);
    }

    [Fact]
    public void MissingTokenizerFilesAreNamed()
    {
        var folder = Directory.CreateTempSubdirectory("mlnt-empty").FullName;
        var error = Assert.Throws<InvalidDataException>(() => BertTextTokenizer.FromFolder(folder));
        Assert.Contains("vocab.txt", error.Message);
        Assert.Contains(folder, error.Message);
    }

    /// <summary>
    /// Cross-check against FastBertTokenizer 1.2.6, an independent WordPiece implementation with tested Hugging Face parity,
    /// on 1,000 real e-mails of the bundled SpamAssassin sample, with the bert-base-uncased vocabulary of all-MiniLM-L6-v2.
    /// </summary>
    [Fact]
    public async Task IdsEqualFastBertTokenizerOnRealEmails()
    {
        var texts = RepoFiles.ReadTsv("samples", "data", "spam", "train.tsv").Take(1000).Select(r => r[2]).ToList();
        Assert.Equal(1000, texts.Count);
        var ours = MiniLm();
        var reference = new FastBertTokenizer.BertTokenizer();
        using (var vocab = new StreamReader(EmbeddedModels.Get("all-MiniLM-L6-v2").OpenVocab()))
            await reference.LoadVocabularyAsync(vocab, convertInputToLowercase: true);

        // Explained disagreements: 4 e-mails (mojibake and CJK spam) hold stand-alone combining marks (category Mn, e.g.
        // U+05B7, U+0342) or unassigned and private-use code points (Cn, Co, e.g. U+05CC). Hugging Face's BasicTokenizer deletes both (strip_accents
        // drops Mn; _clean_text drops every "C*" category), so such a "word" vanishes; FastBertTokenizer makes it [UNK] instead.
        // We follow Hugging Face. The check: apart from [UNK] tokens, the two agree token for token.
        var disagreeing = new SortedSet<int>();
        // One pass per length: FastBertTokenizer reuses its buffers between calls, so lengths are not interleaved.
        foreach (int maxLength in new[] { 256, 100_000 })
            for (int i = 0; i < texts.Count; i++)
            {
                var expected = reference.Encode(texts[i], maxLength).InputIds.ToArray();
                var actual = ours.Encode(texts[i], maxLength: maxLength).Ids.Select(id => (long)id).ToArray();
                if (expected.SequenceEqual(actual)) continue;
                disagreeing.Add(i);
                if (maxLength == 100_000)
                    Assert.True(expected.Where(id => id != ours.UnkId).SequenceEqual(actual.Where(id => id != ours.UnkId)),
                        $"text {i} differs in more than [UNK] tokens: {texts[i][..Math.Min(80, texts[i].Length)]} " + Diff(expected, actual, ours));
            }
        Assert.Equal(4, disagreeing.Count);
        Assert.All(disagreeing, i => Assert.Contains(texts[i], t => HuggingFaceDeletes(t)));
    }

    private static string Diff(long[] expected, long[] actual, BertTextTokenizer tok)
    {
        var e = expected.Where(id => id != tok.UnkId).ToArray();
        var a = actual.Where(id => id != tok.UnkId).ToArray();
        int at = Enumerable.Range(0, Math.Min(e.Length, a.Length)).FirstOrDefault(i => e[i] != a[i]);
        return $"at {at}: FBT [{string.Join(" ", e.Skip(Math.Max(0, at - 3)).Take(8).Select(x => tok.Token((int)x)))}] ours [{string.Join(" ", a.Skip(Math.Max(0, at - 3)).Take(8).Select(x => tok.Token((int)x)))}]";
    }

    private static bool HuggingFaceDeletes(char c) => char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.NonSpacingMark
        or System.Globalization.UnicodeCategory.OtherNotAssigned or System.Globalization.UnicodeCategory.PrivateUse;
    }

