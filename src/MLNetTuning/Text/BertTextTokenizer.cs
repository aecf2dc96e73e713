using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace MLNetTuning.Text;

/// <summary>
/// BERT WordPiece tokenization that reproduces Hugging Face's BertTokenizerFast ids, with offsets into the original
/// text, <c>longest_first</c> pair truncation and batch padding.
/// </summary>
/// <remarks>
/// Normalization and word splitting are ours (<see cref="BertTextNormalizer"/>, <see cref="BertWordSplitter"/>):
/// Microsoft.ML.Tokenizers' basic tokenization differs from Hugging Face's on newlines, ASCII symbols and accents.
/// WordPiece itself and the special-token ids come from Microsoft.ML.Tokenizers' <see cref="BertTokenizer"/>.
/// Special tokens typed in the text (exact case, e.g. "[SEP]") are kept as special tokens, as Hugging Face does.
/// Instances are immutable and safe to share between threads.
/// </remarks>
internal sealed partial class BertTextTokenizer : ITextTokenizer
{
    private readonly BertTokenizer _wordPiece;
    private readonly string?[] _vocabulary;
    private readonly Dictionary<string, int> _addedTokenIds;
    private readonly string[] _addedTokensLongestFirst;
    private readonly SearchValues<string>? _addedTokenSearch;
    private readonly bool _stripAccents;

    private BertTextTokenizer(string?[] vocabulary, BertTokenizerSettings settings, IEnumerable<string> extraAddedTokens, string source)
    {
        Settings = settings;
        _vocabulary = vocabulary;
        _stripAccents = settings.StripsAccents;
        if (settings.MaxInputCharsPerWord <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(settings), settings.MaxInputCharsPerWord, "MaxInputCharsPerWord must be positive (Hugging Face uses 100).");
        }

        var ids = new Dictionary<string, int>(vocabulary.Length, StringComparer.Ordinal);
        for (int id = 0; id < vocabulary.Length; id++)
        {
            string? token = vocabulary[id];
            if (string.IsNullOrEmpty(token)) continue;
            if (token.AsSpan().IndexOfAny('\n', '\r') >= 0)
            {
                throw new InvalidDataException($"{source}: token id {id} contains a line break, which a vocab.txt cannot hold.");
            }

            if (!ids.TryAdd(token, id))
            {
                throw new InvalidDataException($"{source}: token '{token}' appears twice (ids {ids[token]} and {id}). Each vocabulary token must be unique.");
            }
        }

        _addedTokenIds = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string token in settings.SpecialTokens.Select(t => t.Token).Concat(extraAddedTokens))
        {
            if (!ids.TryGetValue(token, out int id))
            {
                throw new InvalidDataException(
                    $"{source}: the special token '{token}' is not in the vocabulary ({vocabulary.Length} tokens). " +
                    "Set the matching *_token in tokenizer_config.json / BertTokenizerSettings to a token the vocabulary has.");
            }

            _addedTokenIds[token] = id;
        }

        _addedTokensLongestFirst = _addedTokenIds.Keys.OrderByDescending(t => t.Length).ToArray();
        _addedTokenSearch = _addedTokensLongestFirst.Length == 0 ? null : SearchValues.Create(_addedTokensLongestFirst, StringComparison.Ordinal);

        var vocabText = string.Join('\n', vocabulary.Select(t => t ?? string.Empty));
        using var vocabStream = new MemoryStream(Encoding.UTF8.GetBytes(vocabText));
        _wordPiece = BertTokenizer.Create(vocabStream, new BertOptions
        {
            // Our normalizer and word splitter run instead of the library's basic tokenization (see remarks).
            ApplyBasicTokenization = false,
            SplitOnSpecialTokens = false,
            PreTokenizer = BertWordSplitter.Instance,
            UnknownToken = settings.UnknownToken,
            ClassificationToken = settings.ClsToken,
            SeparatorToken = settings.SepToken,
            PaddingToken = settings.PadToken,
            MaskingToken = settings.MaskToken,
            ContinuingSubwordPrefix = settings.ContinuingSubwordPrefix,
            // Counted in UTF-16 units here and in code points by Hugging Face: they differ only for a word of 51-100
            // astral characters, which both make [UNK] unless the vocabulary holds astral characters.
            MaxInputCharsPerWord = settings.MaxInputCharsPerWord,
        });
    }

    /// <summary>The normalization rules and special tokens.</summary>
    public BertTokenizerSettings Settings { get; }

    /// <summary>Number of ids, i.e. the size the model's word embedding must have.</summary>
    public int VocabSize => _vocabulary.Length;

    public int PadId => _wordPiece.PaddingTokenId;
    public int ClsId => _wordPiece.ClassificationTokenId;
    public int SepId => _wordPiece.SeparatorTokenId;
    public int UnkId => _wordPiece.UnknownTokenId;
    public int MaskId => _wordPiece.MaskingTokenId;

    /// <summary>The token with id <paramref name="id"/>, or null for an id the vocabulary leaves unused.</summary>
    public string? TokenOf(int id) => (uint)id < (uint)_vocabulary.Length
        ? _vocabulary[id]
        : throw new ArgumentOutOfRangeException(nameof(id), id, $"Token ids run from 0 to {_vocabulary.Length - 1}.");

    /// <summary>
    /// Encodes a text, or a text pair, with special tokens, truncated to <paramref name="maxLength"/> tokens in total
    /// (special tokens included) with Hugging Face's <c>longest_first</c> strategy.
    /// </summary>
    /// <param name="text">The (first) text.</param>
    /// <param name="pair">The second text of a pair, or null.</param>
    /// <param name="maxLength">Maximum tokens including special tokens; <see cref="int.MaxValue"/> disables truncation.</param>
    public EncodedText Encode(string text, string? pair = null, int maxLength = 512)
    {
        ArgumentNullException.ThrowIfNull(text);
        int specialCount = pair is null ? 2 : 3;
        if (maxLength < specialCount)
        {
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength,
                $"maxLength must leave room for the {specialCount} special tokens of a {(pair is null ? "single text" : "text pair")}.");
        }

        using var normalized = new NormalizedText(text.Length + (pair?.Length ?? 0) + 16);
        var first = new List<(int Id, int Start, int End)>(text.Length / 3 + 4);
        AppendTokens(text, first, normalized);
        List<(int Id, int Start, int End)>? second = null;
        if (pair is not null)
        {
            second = new List<(int Id, int Start, int End)>(pair.Length / 3 + 4);
            AppendTokens(pair, second, normalized);
        }

        (int keepFirst, int keepSecond) = LongestFirstLengths(first.Count, second?.Count ?? 0, pair is not null, maxLength - specialCount);
        int total = keepFirst + keepSecond + specialCount;
        var ids = new int[total];
        var typeIds = new int[total];
        var offsets = new (int Start, int End)[total];
        var sequence = new int[total];

        int n = 0;
        ids[n] = ClsId; sequence[n++] = -1;
        for (int i = 0; i < keepFirst; i++, n++)
        {
            (ids[n], offsets[n].Start, offsets[n].End) = first[i];
        }

        ids[n] = SepId; sequence[n++] = -1;
        if (second is not null)
        {
            int secondStart = n;
            for (int i = 0; i < keepSecond; i++, n++)
            {
                (ids[n], offsets[n].Start, offsets[n].End) = second[i];
                sequence[n] = 1;
            }

            ids[n] = SepId; sequence[n++] = -1;
            typeIds.AsSpan(secondStart).Fill(1);
        }

        return new EncodedText(ids, typeIds, offsets, sequence);
    }

    /// <summary>
    /// How many tokens of each sequence <c>longest_first</c> keeps, as Hugging Face tokenizers (Rust) computes it:
    /// tokens are removed from the longer sequence; when both must be cut, the originally longer one keeps the odd
    /// token (the second one on a tie). Python's slow tokenizer differs only in that tie (it keeps the first).
    /// </summary>
    internal static (int First, int Second) LongestFirstLengths(int first, int second, bool isPair, int budget)
    {
        if (first + second <= budget) return (first, second);
        if (!isPair) return (budget, 0);

        bool swapped = first > second;
        int shorter = Math.Min(first, second);
        int longer = shorter > budget ? shorter : Math.Max(shorter, budget - shorter);
        if (shorter + longer > budget)
        {
            shorter = budget / 2;
            longer = shorter + budget % 2;
        }

        return swapped ? (longer, shorter) : (shorter, longer);
    }

    /// <summary>Tokenizes one text without special tokens around it, splitting out special tokens typed in the text.</summary>
    private void AppendTokens(string text, List<(int Id, int Start, int End)> tokens, NormalizedText normalized)
    {
        int position = 0;
        while (position < text.Length)
        {
            int hit = _addedTokenSearch is null ? -1 : text.AsSpan(position).IndexOfAny(_addedTokenSearch);
            int segmentEnd = hit < 0 ? text.Length : position + hit;
            if (segmentEnd > position) AppendWordPieces(text, position, segmentEnd, tokens, normalized);
            if (hit < 0) break;

            string added = _addedTokensLongestFirst.First(t => text.AsSpan(segmentEnd).StartsWith(t, StringComparison.Ordinal));
            tokens.Add((_addedTokenIds[added], segmentEnd, segmentEnd + added.Length));
            position = segmentEnd + added.Length;
        }
    }

    private void AppendWordPieces(string text, int start, int end, List<(int Id, int Start, int End)> tokens, NormalizedText normalized)
    {
        normalized.Clear();
        BertTextNormalizer.Normalize(text, start, end, Settings.LowerCase, _stripAccents, Settings.SplitCjk, normalized);
        if (normalized.Length == 0) return;

        IReadOnlyList<EncodedToken> pieces = _wordPiece.EncodeToTokens(normalized.Chars, out _, considerPreTokenization: true, considerNormalization: false);
        foreach (EncodedToken piece in pieces)
        {
            (int offset, int length) = piece.Offset.GetOffsetAndLength(normalized.Length);
            int last = normalized.SourceIndex(offset + length - 1);
            // Characters the normalizer removed right after the token (a combining accent, a zero-width or control
            // character) are not part of it: Hugging Face's alignments drop them (transformers 5.17, Data/hf-reference).
            int originalEnd = last + (char.IsHighSurrogate(text[last]) && last + 1 < end && char.IsLowSurrogate(text[last + 1]) ? 2 : 1);
            tokens.Add((piece.Id, normalized.SourceIndex(offset), originalEnd));
        }
    }

    /// <inheritdoc cref="ITextTokenizer.Pad"/>
    public BatchEncoding Pad(IReadOnlyList<EncodedText> items, int? fixedLength = null) => Padding.Pad(items, PadId, fixedLength);

    /// <summary>[CLS] a [SEP] and [CLS] a [SEP] b [SEP], with token type 1 on b and its [SEP].</summary>
    public SpecialTokenTemplate Template => _template ??= new([ClsId], [SepId], [SepId], SecondSequenceTypeOne: true);
    private SpecialTokenTemplate? _template;

    /// <inheritdoc/>
    public int[] EncodeWord(string word)
    {
        var ids = Encode(word, null, int.MaxValue).Ids;
        return ids[1..^1];
    }
}
