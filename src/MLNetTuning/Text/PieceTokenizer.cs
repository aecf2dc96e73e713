using System.Buffers;

namespace MLNetTuning.Text;

/// <summary>
/// What the byte-level BPE and SentencePiece tokenizers share: special tokens typed in the text kept whole (as Hugging
/// Face's added tokens), the template, <c>longest_first</c> truncation and padding. A subclass turns one stretch of
/// plain text into (id, start, end) tokens with offsets into the original text.
/// </summary>
internal abstract class PieceTokenizer : ITextTokenizer
{
    private readonly Dictionary<string, int> _specialIds;
    private readonly string[] _specialsLongestFirst;
    private readonly SearchValues<string>? _specialSearch;

    protected PieceTokenizer(HuggingFaceSpecialTokens specials, Func<string, int?> idOf, string source)
    {
        Specials = specials;
        _specialIds = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (key, token) in specials.All)
        {
            _specialIds[token] = idOf(token) ?? throw new InvalidDataException(
                $"{source}: the special token {key} '{token}' is not in the vocabulary. Set {key} in special_tokens_map.json or tokenizer_config.json to a token the vocabulary has.");
        }
        _specialsLongestFirst = _specialIds.Keys.OrderByDescending(t => t.Length).ToArray();
        _specialSearch = _specialsLongestFirst.Length == 0 ? null : SearchValues.Create(_specialsLongestFirst, StringComparison.Ordinal);
        int Id(string token) => _specialIds[token];
        BosId = Id(specials.Bos);
        EosId = Id(specials.Eos);
        PadId = Id(specials.Pad);
        UnkId = Id(specials.Unk);
        // RoBERTa's template: <s> a </s> and <s> a </s></s> b </s>, all token type 0.
        Template = new SpecialTokenTemplate([BosId], [EosId, EosId], [EosId], SecondSequenceTypeOne: false);
    }

    public HuggingFaceSpecialTokens Specials { get; }
    public abstract int VocabSize { get; }
    public int PadId { get; }
    public int UnkId { get; }
    public int BosId { get; }
    public int EosId { get; }
    public SpecialTokenTemplate Template { get; }

    public abstract string? TokenOf(int id);
    public abstract void Save(string folder);

    /// <summary>Appends the tokens of <paramref name="text"/>[<paramref name="start"/>..<paramref name="end"/>), which holds no special token.</summary>
    protected abstract void AppendPieces(string text, int start, int end, List<(int Id, int Start, int End)> tokens);

    /// <summary>The text a word of a pre-split sentence is encoded as (byte-level BPE puts the separating space before it).</summary>
    protected virtual string WordText(string word) => word;

    public EncodedText Encode(string text, string? pair = null, int maxLength = 512)
    {
        ArgumentNullException.ThrowIfNull(text);
        int specialCount = pair is null ? Template.SingleCount : Template.PairCount;
        if (maxLength < specialCount)
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength,
                $"maxLength must leave room for the {specialCount} special tokens of a {(pair is null ? "single text" : "text pair")}.");
        var first = Tokens(text);
        var second = pair is null ? null : Tokens(pair);
        var (keepFirst, keepSecond) = BertTextTokenizer.LongestFirstLengths(first.Count, second?.Count ?? 0, pair is not null, maxLength - specialCount);
        if (keepFirst < first.Count) first.RemoveRange(keepFirst, first.Count - keepFirst);
        if (second is not null && keepSecond < second.Count) second.RemoveRange(keepSecond, second.Count - keepSecond);
        return Template.Apply(first, second);
    }

    public int[] EncodeWord(string word) => Tokens(WordText(word ?? "")).Select(t => t.Id).ToArray();

    public BatchEncoding Pad(IReadOnlyList<EncodedText> items, int? fixedLength = null) => Padding.Pad(items, PadId, fixedLength);

    /// <summary>Tokenizes one text without special tokens around it, splitting out special tokens typed in the text.</summary>
    private List<(int Id, int Start, int End)> Tokens(string text)
    {
        var tokens = new List<(int Id, int Start, int End)>(text.Length / 3 + 4);
        int position = 0;
        while (position < text.Length)
        {
            int hit = _specialSearch is null ? -1 : text.AsSpan(position).IndexOfAny(_specialSearch);
            int segmentEnd = hit < 0 ? text.Length : position + hit;
            if (segmentEnd > position) AppendPieces(text, position, segmentEnd, tokens);
            if (hit < 0) break;
            string special = _specialsLongestFirst.First(t => text.AsSpan(segmentEnd).StartsWith(t, StringComparison.Ordinal));
            tokens.Add((_specialIds[special], segmentEnd, segmentEnd + special.Length));
            position = segmentEnd + special.Length;
        }
        return tokens;
    }
}
