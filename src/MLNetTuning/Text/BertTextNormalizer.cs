using System.Buffers;
using System.Globalization;
using System.Text;

namespace MLNetTuning.Text;

/// <summary>
/// Hugging Face's BertNormalizer (clean text, pad CJK ideographs with spaces, strip accents, lower-case), applied one
/// code point at a time so that every output character remembers which original character it came from.
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers' own BERT normalizer cannot be used: it deletes tab/newline instead of turning them into
/// spaces (gluing words across lines), strips spacing marks (Mc) as well as non-spacing ones, re-composes to NFC
/// (Hugging Face leaves Hangul decomposed) and reports offsets into the normalized text only.
/// Per-code-point processing equals Hugging Face's whole-string NFD except where canonical reordering would move a
/// kept combining mark across a character boundary, which needs a spacing mark with a non-zero combining class.
/// </remarks>
internal sealed class NormalizedText : IDisposable
{
    private char[] _chars;
    private int[] _sources;

    public NormalizedText(int capacity)
    {
        _chars = ArrayPool<char>.Shared.Rent(Math.Max(16, capacity));
        _sources = ArrayPool<int>.Shared.Rent(_chars.Length);
    }

    public int Length { get; private set; }

    public ReadOnlySpan<char> Chars => _chars.AsSpan(0, Length);

    /// <summary>Index in the original text of the code point that produced normalized character <paramref name="index"/>.</summary>
    public int SourceIndex(int index) => _sources[index];

    public void Clear() => Length = 0;

    public void Append(char c, int source)
    {
        if (Length == _chars.Length) Grow();
        _chars[Length] = c;
        _sources[Length] = source;
        Length++;
    }

    public void Append(Rune rune, int source)
    {
        if (rune.IsBmp) { Append((char)rune.Value, source); return; }
        Span<char> pair = stackalloc char[2];
        rune.EncodeToUtf16(pair);
        Append(pair[0], source);
        Append(pair[1], source);
    }

    private void Grow()
    {
        var chars = ArrayPool<char>.Shared.Rent(_chars.Length * 2);
        var sources = ArrayPool<int>.Shared.Rent(chars.Length);
        _chars.AsSpan(0, Length).CopyTo(chars);
        _sources.AsSpan(0, Length).CopyTo(sources);
        ArrayPool<char>.Shared.Return(_chars);
        ArrayPool<int>.Shared.Return(_sources);
        _chars = chars;
        _sources = sources;
    }

    public void Dispose()
    {
        ArrayPool<char>.Shared.Return(_chars);
        ArrayPool<int>.Shared.Return(_sources);
        _chars = [];
        _sources = [];
    }
}

/// <summary>The normalization rules; see <see cref="NormalizedText"/>.</summary>
internal static class BertTextNormalizer
{
    private const int CapitalIWithDotAbove = 0x130;

    /// <summary>Appends the normalized form of <paramref name="text"/>[start, end) to <paramref name="output"/>.</summary>
    public static void Normalize(string text, int start, int end, bool lowerCase, bool stripAccents, bool splitCjk, NormalizedText output)
    {
        int i = start;
        while (i < end)
        {
            char c = text[i];
            if (c < 0x80)
            {
                // ASCII fast path: controls other than \t \n \r are removed, whitespace becomes ' '.
                if (c is '\t' or '\n' or '\r' or ' ') output.Append(' ', i);
                else if (c >= 0x20 && c != 0x7F) output.Append(lowerCase && c is >= 'A' and <= 'Z' ? (char)(c + 32) : c, i);
                i++;
                continue;
            }

            // A lone surrogate decodes as U+FFFD with length 1 and is removed like U+FFFD itself.
            Rune.DecodeFromUtf16(text.AsSpan(i, end - i), out Rune rune, out int consumed);
            AppendNormalized(rune, i, lowerCase, stripAccents, splitCjk, output);
            i += consumed;
        }
    }

    private static void AppendNormalized(Rune rune, int source, bool lowerCase, bool stripAccents, bool splitCjk, NormalizedText output)
    {
        if (rune.Value == 0xFFFD) return;
        var category = Rune.GetUnicodeCategory(rune);
        if (IsOther(category)) return;  // Hugging Face's clean_text drops Cc, Cf, Cn, Co and Cs
        if (Rune.IsWhiteSpace(rune)) { output.Append(' ', source); return; }

        bool isCjk = splitCjk && IsCjkIdeograph(rune.Value);
        if (isCjk) output.Append(' ', source);

        if (stripAccents && !rune.IsAscii)
        {
            Span<char> single = stackalloc char[2];
            Span<char> decomposed = stackalloc char[32];
            int length = rune.EncodeToUtf16(single);
            ReadOnlySpan<char> form = single[..length];
            if (!form.IsNormalized(NormalizationForm.FormD) && form.TryNormalize(decomposed, out int written, NormalizationForm.FormD))
            {
                form = decomposed[..written];
            }

            foreach (Rune part in form.EnumerateRunes())
            {
                if (Rune.GetUnicodeCategory(part) != UnicodeCategory.NonSpacingMark) AppendLowered(part, source, lowerCase, output);
            }
        }
        else
        {
            AppendLowered(rune, source, lowerCase, output);
        }

        if (isCjk) output.Append(' ', source);
    }

    private static void AppendLowered(Rune rune, int source, bool lowerCase, NormalizedText output)
    {
        if (!lowerCase) { output.Append(rune, source); return; }
        if (rune.Value == CapitalIWithDotAbove)
        {
            // Rust's char::to_lowercase applies the one unconditional multi-character mapping; .NET maps it to 'i'.
            output.Append('i', source);
            output.Append('\u0307', source);
            return;
        }

        output.Append(Rune.ToLowerInvariant(rune), source);
    }

    private static bool IsOther(UnicodeCategory category) => category is UnicodeCategory.Control or UnicodeCategory.Format
        or UnicodeCategory.OtherNotAssigned or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate;

    /// <summary>The CJK Unified/Compatibility Ideograph blocks Hugging Face's BERT treats as one-character words.</summary>
    internal static bool IsCjkIdeograph(int codePoint) =>
        codePoint is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF)
            or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B820 and <= 0x2CEAF)
            or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);
}
