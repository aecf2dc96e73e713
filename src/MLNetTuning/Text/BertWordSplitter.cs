using System.Text;
using Microsoft.ML.Tokenizers;

namespace MLNetTuning.Text;

/// <summary>
/// Hugging Face's BertPreTokenizer: split normalized text at whitespace (dropped) and around every punctuation
/// character (kept as a one-character word). Punctuation is any Unicode P* character plus all ASCII symbols
/// (<c>$ + &lt; = &gt; ^ ` | ~</c>).
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers' <c>CreateWordOrPunctuation</c> uses <c>\w+|\p{P}</c>, which silently drops symbols such
/// as <c>$</c>, <c>=</c>, <c>©</c> and emoji and keeps <c>_</c> inside words, so it cannot reproduce BERT's ids.
/// </remarks>
internal sealed class BertWordSplitter : PreTokenizer
{
    public static readonly BertWordSplitter Instance = new();

    private BertWordSplitter() { }

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => PreTokenize(text.AsSpan());

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text)
    {
        // A span cannot live in an iterator, so the words are collected eagerly.
        var words = new List<(int Offset, int Length)>(text.Length / 4 + 1);
        int wordStart = -1;
        int i = 0;
        while (i < text.Length)
        {
            int width = 1;
            bool isSpace, isPunctuation;
            char c = text[i];
            if (c < 0x80)
            {
                isSpace = c is ' ' or '\t' or '\n' or '\r' or '\v' or '\f';
                isPunctuation = c is (>= '!' and <= '/') or (>= ':' and <= '@') or (>= '[' and <= '`') or (>= '{' and <= '~');
            }
            else
            {
                Rune.DecodeFromUtf16(text[i..], out Rune rune, out width);
                isSpace = Rune.IsWhiteSpace(rune);
                isPunctuation = Rune.IsPunctuation(rune);
            }

            if (isSpace || isPunctuation)
            {
                if (wordStart >= 0) words.Add((wordStart, i - wordStart));
                wordStart = -1;
                if (isPunctuation) words.Add((i, width));
            }
            else if (wordStart < 0)
            {
                wordStart = i;
            }

            i += width;
        }

        if (wordStart >= 0) words.Add((wordStart, text.Length - wordStart));
        return words;
    }
}
