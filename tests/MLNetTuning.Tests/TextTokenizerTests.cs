using System.Text;
using MLNetTuning.Text;
using Xunit;

namespace MLNetTuning.Tests;

public sealed class TextTokenizerTests
{
    // [PAD] is deliberately not id 0, so padding that forgets to write the pad id shows up.
    internal static readonly string[] TinyVocab =
    [
        "[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "hello", "world", ",", "!", "un",
        "##believ", "##able", "cafe", "中", "国", "$", "5", "i", "##\u0307", "naive",
        "é", "a", "##b", "_", "x", "caf",
    ];

    internal static BertTextTokenizer Tiny(BertTokenizerSettings? settings = null) =>
        BertTextTokenizer.FromVocab(new MemoryStream(Encoding.UTF8.GetBytes(string.Join('\n', TinyVocab) + "\n")), settings ?? new BertTokenizerSettings());

    private static int Id(string token) => Array.IndexOf(TinyVocab, token);

    private static int[] Ids(params string[] tokens) => tokens.Select(Id).ToArray();

    [Fact]
    public void SingleTextIsClsTextSepWithOriginalOffsets()
    {
        EncodedText encoded = Tiny().Encode("Hello, WORLD!");

        Assert.Equal(Ids("[CLS]", "hello", ",", "world", "!", "[SEP]"), encoded.Ids);
        Assert.Equal(new int[6], encoded.TypeIds);
        Assert.Equal([-1, 0, 0, 0, 0, -1], encoded.SequenceIndex);
        Assert.Equal([(0, 0), (0, 5), (5, 6), (7, 12), (12, 13), (0, 0)], encoded.Offsets);
    }

    [Fact]
    public void PairHasTwoSeparatorsAndTypeIdsZeroThenOne()
    {
        EncodedText encoded = Tiny().Encode("hello", "world !");

        Assert.Equal(Ids("[CLS]", "hello", "[SEP]", "world", "!", "[SEP]"), encoded.Ids);
        Assert.Equal([0, 0, 0, 1, 1, 1], encoded.TypeIds);
        Assert.Equal([-1, 0, -1, 1, 1, -1], encoded.SequenceIndex);
        Assert.Equal([(0, 0), (0, 5), (0, 0), (0, 5), (6, 7), (0, 0)], encoded.Offsets);
    }

    [Fact]
    public void WordPiecesSplitWordsAndAWordWithAnUnknownPieceBecomesOneUnknown()
    {
        var tokenizer = Tiny();

        EncodedText known = tokenizer.Encode("unbelievable");
        EncodedText unknown = tokenizer.Encode("unbelievablex hello");

        Assert.Equal(Ids("[CLS]", "un", "##believ", "##able", "[SEP]"), known.Ids);
        Assert.Equal([(0, 2), (2, 8), (8, 12)], known.Offsets[1..^1]);
        Assert.Equal(Ids("[CLS]", "[UNK]", "hello", "[SEP]"), unknown.Ids);
        Assert.Equal((0, 13), unknown.Offsets[1]);
    }

    [Fact]
    public void WordsLongerThanOneHundredCharactersBecomeUnknown()
    {
        var tokenizer = Tiny();

        EncodedText hundred = tokenizer.Encode("a" + new string('b', 99));
        EncodedText hundredAndOne = tokenizer.Encode("a" + new string('b', 100));

        Assert.Equal(102, hundred.Length);
        Assert.Equal(Ids("[CLS]", "[UNK]", "[SEP]"), hundredAndOne.Ids);
        Assert.Equal((0, 101), hundredAndOne.Offsets[1]);
    }

    [Fact]
    public void AsciiSymbolsAndUnderscoreArePunctuationButEmojiAreWordCharacters()
    {
        var tokenizer = Tiny();

        Assert.Equal(Ids("[CLS]", "$", "5", "x", "_", "x", "[SEP]"), tokenizer.Encode("$5 x_x").Ids);
        EncodedText emoji = tokenizer.Encode("hello\U0001F44D!");
        Assert.Equal(Ids("[CLS]", "[UNK]", "!", "[SEP]"), emoji.Ids);
        Assert.Equal([(0, 7), (7, 8)], emoji.Offsets[1..^1]);
    }

    [Fact]
    public void WhitespaceSeparatesWordsAndControlCharactersAreRemoved()
    {
        EncodedText encoded = Tiny().Encode("hello\tworld\r\nhel\u200Blo\u0000 \u00A0!");

        Assert.Equal(Ids("[CLS]", "hello", "world", "hello", "!", "[SEP]"), encoded.Ids);
        // The removed zero-width space sits inside the word; the removed NUL right after it is not part of it, as in
        // Hugging Face's alignments (transformers 5.17, Data/hf-reference).
        Assert.Equal([(0, 5), (6, 11), (13, 19), (22, 23)], encoded.Offsets[1..^1]);
    }

    [Fact]
    public void AccentsAreStrippedForUncasedByDefaultWithOffsetsIntoTheOriginal()
    {
        var tokenizer = Tiny();
        Assert.True(tokenizer.Settings.StripsAccents);

        EncodedText composed = tokenizer.Encode("Café NAÏVE");
        EncodedText decomposed = tokenizer.Encode("Cafe\u0301 x");

        Assert.Equal(Ids("[CLS]", "cafe", "naive", "[SEP]"), composed.Ids);
        Assert.Equal([(0, 4), (5, 10)], composed.Offsets[1..^1]);
        Assert.Equal(Ids("[CLS]", "cafe", "x", "[SEP]"), decomposed.Ids);
        // The stripped combining accent after "Cafe" is not part of the token (Hugging Face's alignments drop it).
        Assert.Equal([(0, 4), (6, 7)], decomposed.Offsets[1..^1]);
    }

    [Fact]
    public void AccentsAreKeptWhenStripAccentsIsFalse()
    {
        var tokenizer = Tiny(new BertTokenizerSettings(StripAccents: false));

        Assert.Equal(Ids("[CLS]", "é", "[UNK]", "[SEP]"), tokenizer.Encode("É café").Ids);
        Assert.Equal(Ids("[CLS]", "[UNK]", "[SEP]"), Tiny().Encode("é").Ids);
    }

    [Fact]
    public void CapitalIWithDotLowercasesToTwoCharactersThatMapBackToOne()
    {
        EncodedText kept = Tiny(new BertTokenizerSettings(StripAccents: false)).Encode("x \u0130");
        EncodedText stripped = Tiny().Encode("x \u0130");

        Assert.Equal(Ids("[CLS]", "x", "i", "##\u0307", "[SEP]"), kept.Ids);
        Assert.Equal([(0, 1), (2, 3), (2, 3)], kept.Offsets[1..^1]);
        Assert.Equal(Ids("[CLS]", "x", "i", "[SEP]"), stripped.Ids);
        Assert.Equal((2, 3), stripped.Offsets[2]);
    }

    [Fact]
    public void WordsOfOnlyNonSpacingMarksVanishWhenAccentsAreStripped()
    {
        Assert.Equal(Ids("[CLS]", "x", "x", "[SEP]"), Tiny().Encode("x \u05B7 x").Ids);
    }

    [Fact]
    public void CjkIdeographsAreOneTokenEachUnlessSplitCjkIsOff()
    {
        EncodedText split = Tiny().Encode("hello中国!");
        EncodedText unsplit = Tiny(new BertTokenizerSettings(SplitCjk: false)).Encode("中国");

        Assert.Equal(Ids("[CLS]", "hello", "中", "国", "!", "[SEP]"), split.Ids);
        Assert.Equal([(0, 5), (5, 6), (6, 7), (7, 8)], split.Offsets[1..^1]);
        Assert.Equal(Ids("[CLS]", "[UNK]", "[SEP]"), unsplit.Ids);
    }

    [Fact]
    public void LowerCaseOffKeepsCapitals()
    {
        var cased = Tiny(new BertTokenizerSettings(LowerCase: false));

        Assert.Equal(Ids("[CLS]", "[UNK]", "hello", "[SEP]"), cased.Encode("Hello hello").Ids);
        Assert.False(cased.Settings.StripsAccents);
    }

    [Fact]
    public void SpecialTokensTypedInTheTextStaySpecialOnlyInExactCase()
    {
        EncodedText encoded = Tiny().Encode("hello[SEP]world [sep]");

        Assert.Equal(Id("[SEP]"), encoded.Ids[2]);
        Assert.Equal((5, 10), encoded.Offsets[2]);
        Assert.Equal(0, encoded.SequenceIndex[2]);
        Assert.Equal(Ids("[CLS]", "hello", "[SEP]", "world", "[", "[UNK]", "]", "[SEP]").Length, encoded.Length);
    }

    [Fact]
    public void EmptyAndBlankTextsGiveClsSep()
    {
        Assert.Equal(Ids("[CLS]", "[SEP]"), Tiny().Encode("").Ids);
        Assert.Equal(Ids("[CLS]", "[SEP]", "[SEP]"), Tiny().Encode(" \n\u200B", "").Ids);
    }

    [Fact]
    public void SingleTextTruncationKeepsTheHeadAndTheFinalSeparator()
    {
        EncodedText encoded = Tiny().Encode("hello world hello world", maxLength: 4);

        Assert.Equal(Ids("[CLS]", "hello", "world", "[SEP]"), encoded.Ids);
        Assert.Throws<ArgumentOutOfRangeException>(() => Tiny().Encode("hello", "world", maxLength: 2));
    }

    // Expected lengths are Hugging Face tokenizers' own truncation test table (budget 7 = max length minus specials).
    [Theory]
    [InlineData(4, 4, 3, 4)]
    [InlineData(8, 2, 5, 2)]
    [InlineData(2, 8, 2, 5)]
    [InlineData(8, 4, 4, 3)]
    [InlineData(4, 8, 3, 4)]
    [InlineData(8, 8, 3, 4)]
    [InlineData(2, 4, 2, 4)]
    [InlineData(0, 8, 0, 7)]
    public void PairTruncationIsLongestFirst(int firstWords, int secondWords, int keptFirst, int keptSecond)
    {
        string first = string.Join(' ', Enumerable.Repeat("hello", firstWords));
        string second = string.Join(' ', Enumerable.Repeat("world", secondWords));

        EncodedText encoded = Tiny().Encode(first, second, maxLength: 7 + 3);

        var expected = new List<int> { Id("[CLS]") };
        expected.AddRange(Enumerable.Repeat(Id("hello"), keptFirst));
        expected.Add(Id("[SEP]"));
        expected.AddRange(Enumerable.Repeat(Id("world"), keptSecond));
        expected.Add(Id("[SEP]"));
        Assert.Equal(expected, encoded.Ids);
        Assert.Equal(keptSecond + 1, encoded.TypeIds.Sum());
    }

    [Fact]
    public void PadToLongestFillsPadIdsMaskAndTypeIds()
    {
        var tokenizer = Tiny();
        EncodedText shortOne = tokenizer.Encode("hello");
        EncodedText pair = tokenizer.Encode("hello", "world !");

        BatchEncoding batch = tokenizer.Pad([shortOne, pair]);

        Assert.Equal((2, 6), (batch.BatchSize, batch.SequenceLength));
        long pad = tokenizer.PadId;
        Assert.Equal([1, 5, 2, pad, pad, pad, 1, 5, 2, 6, 8, 2], batch.InputIds);
        Assert.Equal([1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1], batch.AttentionMask);
        Assert.Equal([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1], batch.TokenTypeIds);
    }

    [Fact]
    public void PadToFixedLengthAndRejectLongerItems()
    {
        var tokenizer = Tiny();
        EncodedText item = tokenizer.Encode("hello world");

        BatchEncoding batch = tokenizer.Pad([item], fixedLength: 6);

        Assert.Equal(6, batch.SequenceLength);
        Assert.Equal([1, 5, 6, 2, tokenizer.PadId, tokenizer.PadId], batch.InputIds);
        var error = Assert.Throws<ArgumentException>(() => tokenizer.Pad([item], fixedLength: 3));
        Assert.Contains("4 tokens", error.Message);
        Assert.Throws<ArgumentException>(() => tokenizer.Pad([]));
    }

    [Fact]
    public void RealBertBaseUncasedVocabularyGivesTheWellKnownIds()
    {
        var tokenizer = BertTextTokenizer.FromVocab(new MemoryStream(TokenizerTestData.BertBaseUncasedVocab()), new BertTokenizerSettings());

        Assert.Equal((30522, 0, 100, 101, 102, 103), (tokenizer.VocabSize, tokenizer.PadId, tokenizer.UnkId, tokenizer.ClsId, tokenizer.SepId, tokenizer.MaskId));
        Assert.Equal([101, 7592, 1010, 2026, 3899, 2003, 10140, 102], tokenizer.Encode("Hello, my dog is cute").Ids);
    }
}
