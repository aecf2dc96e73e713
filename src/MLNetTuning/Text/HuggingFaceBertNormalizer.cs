using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace MLNetTuning.Text;

/// <summary>
/// Hugging Face's BERT text clean-up (BasicTokenizer: clean_text, CJK padding, lower-casing, accent stripping), done
/// character by character so that every output character remembers the original characters it came from.
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers' own BERT normalizer differs from Hugging Face's in ways that change ids: it drops tabs and
/// newlines instead of turning them into spaces, keeps format characters (Cf, such as zero-width spaces), strips spacing
/// marks (Mc) as well as non-spacing ones, and re-composes the text at the end. So we normalize here and let
/// Microsoft.ML.Tokenizers do the WordPiece part.
/// </remarks>
internal static class HuggingFaceBertNormalizer
{
    /// <summary>The normalized text, and for each of its characters the [start, end) range of original characters it came from.</summary>
    public static (string Text, int[] Starts, int[] Ends) Normalize(string original, bool lowerCase, bool stripAccents, bool splitCjk)
    {
        var text = new StringBuilder(original.Length + 8);
        var starts = new List<int>(original.Length + 8);
        var ends = new List<int>(original.Length + 8);
        void Add(string piece, int start, int end)
        {
            text.Append(piece);
            for (int i = 0; i < piece.Length; i++) { starts.Add(start); ends.Add(end); }
        }

        // A text element (base character plus combining marks) is the unit, so that Hugging Face's NFC step sees it whole.
        var elements = StringInfo.GetTextElementEnumerator(original);
        while (elements.MoveNext())
        {
            int start = elements.ElementIndex;
            string element = (string)elements.Current;
            int end = start + element.Length;
            // Control and format characters go, one by one: a prepended format character (U+0605) must not take its cluster with it.
            if (element.EnumerateRunes().Any(Dropped)) element = string.Concat(element.EnumerateRunes().Where(r => !Dropped(r)).Select(r => r.ToString()));
            if (element.Length == 0) continue;
            var first = RuneAt(element, 0);
            if (IsWhitespace(first)) { Add(" ", start, end); continue; }
            if (splitCjk && IsCjk(first.Value))
            {
                Add(" " + element + " ", start, end);
                continue;
            }
            string piece = element.Normalize(NormalizationForm.FormC);
            // Python's str.lower() on the whole text, then NFD and the removal of non-spacing marks (Mn only).
            if (lowerCase) piece = piece.ToLowerInvariant();
            if (stripAccents)
            {
                var kept = new StringBuilder(piece.Length);
                foreach (var rune in piece.Normalize(NormalizationForm.FormD).EnumerateRunes())
                    if (Rune.GetUnicodeCategory(rune) != UnicodeCategory.NonSpacingMark) kept.Append(rune.ToString());
                piece = kept.ToString();
            }
            Add(piece, start, end);
        }
        return (text.ToString(), [.. starts], [.. ends]);
    }

    private static bool Dropped(Rune rune) => rune.Value is 0 or 0xFFFD || IsControl(rune);

    /// <summary>The code point at <paramref name="index"/>; a lone surrogate reads as U+FFFD, which the normalizer drops.</summary>
    internal static Rune RuneAt(string text, int index) =>
        Rune.DecodeFromUtf16(text.AsSpan(index), out var rune, out _) == System.Buffers.OperationStatus.Done ? rune : Rune.ReplacementChar;

    /// <summary>Hugging Face's _is_control: tab, newline and carriage return are whitespace; any other "C*" category is control.</summary>
    internal static bool IsControl(Rune rune)
    {
        if (rune.Value is '\t' or '\n' or '\r') return false;
        var category = Rune.GetUnicodeCategory(rune);
        return category is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.OtherNotAssigned
            or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate;
    }

    internal static bool IsWhitespace(Rune rune) =>
        rune.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(rune) == UnicodeCategory.SpaceSeparator;

    /// <summary>Hugging Face's _is_punctuation: all non-alphanumeric ASCII, plus every Unicode "P*" category.</summary>
    internal static bool IsPunctuation(Rune rune)
    {
        int c = rune.Value;
        if (c is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126) return true;
        return Rune.GetUnicodeCategory(rune) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    /// <summary>The CJK Unified Ideographs blocks, as Hugging Face's _is_chinese_char defines them.</summary>
    internal static bool IsCjk(int c) =>
        c is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}

/// <summary>
/// Hugging Face's basic split of normalized text: on whitespace, with every punctuation character a word of its own.
/// Symbols and emoji stay inside words (WordPiece then makes them [UNK]), where Microsoft.ML.Tokenizers' default
/// <c>\w+|\p{P}</c> split would silently drop them.
/// </summary>
internal sealed class HuggingFaceBasicPreTokenizer : PreTokenizer
{
    public static HuggingFaceBasicPreTokenizer Instance { get; } = new();

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => Split(text);

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text.ToString());

    private static List<(int Offset, int Length)> Split(string text)
    {
        var words = new List<(int, int)>();
        int wordStart = -1;
        for (int i = 0; i < text.Length;)
        {
            var rune = HuggingFaceBertNormalizer.RuneAt(text, i);
            int width = Rune.DecodeFromUtf16(text.AsSpan(i), out _, out int consumed) == System.Buffers.OperationStatus.Done ? consumed : 1;
            if (HuggingFaceBertNormalizer.IsWhitespace(rune) || HuggingFaceBertNormalizer.IsPunctuation(rune))
            {
                if (wordStart >= 0) { words.Add((wordStart, i - wordStart)); wordStart = -1; }
                if (!HuggingFaceBertNormalizer.IsWhitespace(rune)) words.Add((i, width));
            }
            else if (wordStart < 0) wordStart = i;
            i += width;
        }
        if (wordStart >= 0) words.Add((wordStart, text.Length - wordStart));
        return words;
    }
}
