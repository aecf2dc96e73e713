using System.Text;
using MLNetTuning.Checkpoints;
using Xunit.Abstractions;

namespace MLNetTuning.Tests;

/// <summary>
/// Offsets hold their invariants on random text for every tokenizer kind: the fixtures' trained tokenizers (Data/hf-reference)
/// on 1,500 random strings each, drawn from a fixed seed out of the characters that move offsets: spaces, tabs and new
/// lines, combining accents, control and zero-width characters, the byte-order mark, emoji (surrogate pairs), CJK,
/// ligatures, compatibility and full-width forms. Every range lies inside its text, never cuts a surrogate pair, and the
/// ranges of a text start in order.
/// </summary>
public sealed class TokenizerOffsetPropertyTests(ITestOutputHelper output)
{
    private static readonly string[] Pieces =
    [
        "a", "b", "the", "word", "Hello", "ing", "'s", ".", ",", "!", "?", "-", "(", ")", "\"", "$5", "3.14",
        " ", " ", " ", "  ", "\t", "\n", "\r\n",
        "é", "e\u0301", "n\u0303", "\u0301", "Å", "ß", "ẞ", "İ",
        "\u0000", "\u0007", "\u001F", "\u007F", "\u200B", "\u200C", "\u200D", "\u200E", "\uFEFF", "\u00AD", "\u00A0", "\u3000",
        "😀", "👍🏽", "🅱️", "\U0002A6D6",
        "中", "文", "字", "。", "ｆｕｌｌ", "ﬁ", "™", "½", "①", "ｶ",
    ];

    public static TheoryData<string> Families => new() { "bert-uncased", "bert-cased", "roberta", "xlm-roberta", "distilbert" };

    [Theory]
    [MemberData(nameof(Families))]
    public void RandomText_OffsetsStayInsideTheText_KeepSurrogatePairsWhole_AndStartInOrder(string family)
    {
        using var pretrained = HuggingFaceFolder.Load(Path.Combine(AppContext.BaseDirectory, "Data", "hf-reference", family, "sequence-classification"));
        var tokenizer = pretrained.Tokenizer;
        var random = new Random(20261130);
        int tokens = 0;
        for (int i = 0; i < 1500; i++)
        {
            string first = RandomText(random), second = RandomText(random);
            var encoded = i % 3 == 0 ? tokenizer.Encode(first, second, int.MaxValue) : tokenizer.Encode(first, null, int.MaxValue);
            int previousStart = 0, previousSequence = -1;
            for (int t = 0; t < encoded.Length; t++)
            {
                int sequence = encoded.SequenceIndex[t];
                if (sequence < 0) continue;
                string text = sequence == 0 ? first : second;
                var (start, end) = encoded.Offsets[t];
                string where = $"{family}, input {i}, token {t} ({start}, {end}) of {Escape(text)}";
                Assert.True(0 <= start && start <= end && end <= text.Length, $"{where}: outside the text");
                Assert.False(start > 0 && start < text.Length && char.IsLowSurrogate(text[start]) && char.IsHighSurrogate(text[start - 1]), $"{where}: starts inside a surrogate pair");
                Assert.False(end > 0 && end < text.Length && char.IsLowSurrogate(text[end]) && char.IsHighSurrogate(text[end - 1]), $"{where}: ends inside a surrogate pair");
                if (sequence == previousSequence) Assert.True(start >= previousStart, $"{where}: starts before the previous token ({previousStart})");
                (previousStart, previousSequence) = (start, sequence);
                tokens++;
            }
        }
        output.WriteLine($"{family}: {tokens:N0} tokens checked");
        Assert.True(tokens > 10_000);
    }

    private static string RandomText(Random random)
    {
        var text = new StringBuilder();
        int pieces = random.Next(0, 24);
        for (int p = 0; p < pieces; p++) text.Append(Pieces[random.Next(Pieces.Length)]);
        return text.ToString();
    }

    private static string Escape(string text) =>
        "\"" + string.Concat(text.Select(c => c < ' ' || c > '~' ? $"\\u{(int)c:X4}" : c.ToString())) + "\"";
}
