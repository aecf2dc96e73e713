using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;

namespace MLNetTuning.Text;

/// <summary>
/// XLM-RoBERTa's tokenizer: a SentencePiece Unigram model (sentencepiece.bpe.model, despite the name) run by
/// Microsoft.ML.Tokenizers' <see cref="SentencePieceTokenizer"/>, with fairseq's ids as Hugging Face's
/// <c>XLMRobertaTokenizer</c> lays them out: <c>&lt;s&gt;</c> 0, <c>&lt;pad&gt;</c> 1, <c>&lt;/s&gt;</c> 2, <c>&lt;unk&gt;</c> 3,
/// every SentencePiece piece at its id + 1, and <c>&lt;mask&gt;</c> last.
/// </summary>
internal sealed class SentencePieceTextTokenizer : PieceTokenizer
{
    public const string ModelFile = "sentencepiece.bpe.model";

    /// <summary>fairseq put its four specials first and kept SentencePiece's pieces one id later (its <c>&lt;unk&gt;</c>, 0, became 3).</summary>
    private const int FairseqOffset = 1;

    /// <summary>fairseq's four special tokens, ids 0 to 3.</summary>
    internal static readonly string[] FairseqSpecials = ["<s>", "<pad>", "</s>", "<unk>"];

    private readonly SentencePieceTokenizer _model;
    private readonly byte[] _modelBytes;
    private readonly string?[] _tokens;

    private SentencePieceTextTokenizer(byte[] modelBytes, SentencePieceTokenizer model, string?[] tokens, HuggingFaceSpecialTokens specials, string source)
        : base(specials, token => Array.IndexOf(tokens, token) is var i and >= 0 ? i : null, source)
    {
        _modelBytes = modelBytes;
        _model = model;
        _tokens = tokens;
    }

    public override int VocabSize => _tokens.Length;

    public override string? TokenOf(int id) => (uint)id < (uint)_tokens.Length
        ? _tokens[id]
        : throw new ArgumentOutOfRangeException(nameof(id), id, $"Token ids run from 0 to {_tokens.Length - 1}.");

    /// <summary>Reads a SentencePiece model (the bytes of sentencepiece.bpe.model) with fairseq's id layout.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a SentencePiece model; the message names <paramref name="source"/>.</exception>
    public static SentencePieceTextTokenizer FromModel(byte[] modelBytes, HuggingFaceSpecialTokens? specials = null, string source = ModelFile)
    {
        SentencePieceTokenizer model;
        try
        {
            using var stream = new MemoryStream(modelBytes, writable: false);
            model = SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"{source} is not a SentencePiece model that Microsoft.ML.Tokenizers can read: {e.Message}", e);
        }
        int pieces = model.Vocabulary.Count == 0 ? 0 : model.Vocabulary.Values.Max() + 1;
        // fairseq's specials, then the pieces shifted by one (SentencePiece's own <unk>, <s>, </s> at 0..2 land on 1..3 and
        // are shadowed by the specials), then <mask>.
        var tokens = new string?[pieces + FairseqOffset + 1];
        foreach (var (piece, id) in model.Vocabulary) tokens[id + FairseqOffset] = piece;
        for (int i = 0; i < FairseqSpecials.Length; i++) tokens[i] = FairseqSpecials[i];
        tokens[^1] = (specials ?? new HuggingFaceSpecialTokens()).Mask;
        return new SentencePieceTextTokenizer(modelBytes, model, tokens, specials ?? new HuggingFaceSpecialTokens(), source);
    }

    /// <summary>Loads a Hugging Face XLM-RoBERTa tokenizer folder (see <see cref="FromFolder(string, TokenizerConfig)"/>).</summary>
    public static SentencePieceTextTokenizer FromFolder(string folder) => (SentencePieceTextTokenizer)TokenizerFolder.Load(folder, TokenizerKind.SentencePieceUnigram);

    /// <summary>
    /// sentencepiece.bpe.model, or else tokenizer.json's Unigram model (all that transformers 5 saves), with the special
    /// tokens of the folder's <paramref name="config"/>.
    /// </summary>
    internal static SentencePieceTextTokenizer FromFolder(string folder, TokenizerConfig config)
    {
        var specials = TokenizerFolder.SpecialTokens(config, new HuggingFaceSpecialTokens());
        string path = Path.Combine(folder, ModelFile);
        if (File.Exists(path))
        {
            IO.FileLimits.CheckFileSize(path, IO.FileLimits.MaxTokenizerFileBytes, $"a {ModelFile}");
            return FromModel(File.ReadAllBytes(path), specials, path);
        }
        if (TokenizerFolder.ReadTokenizerJson(folder) is var (root, json))
            return FromModel(SentencePieceModelProto.FromUnigramTokenizerJson(root, json), specials, json);
        throw new FileNotFoundException(
            $"No SentencePiece tokenizer in '{folder}': looked for {ModelFile} and for {TokenizerFolder.TokenizerJsonFile}. " +
            "An XLM-RoBERTa folder from save_pretrained holds one of them.", path);
    }

    /// <summary>The raw SentencePiece ids of a text, as <c>spm_encode --output_format=id</c> writes them (no fairseq offset).</summary>
    internal IReadOnlyList<int> SentencePieceIds(string text) => Pieces(text, out _).Select(p => p.Id).ToList();

    /// <summary>
    /// The library's pieces with consecutive unknown characters fused into one <c>&lt;unk&gt;</c>, as SentencePiece's own
    /// Unigram encoder (and Hugging Face's) does; Microsoft.ML.Tokenizers gives one per character.
    /// </summary>
    private List<(int Id, string Value, int Offset, int Length)> Pieces(string text, out string normalized)
    {
        var pieces = new List<(int Id, string Value, int Offset, int Length)>();
        var encoded = _model.EncodeToTokens(text, out string? normalizedText, addBeginningOfSentence: false, addEndOfSentence: false);
        normalized = normalizedText ?? text;
        foreach (EncodedToken piece in encoded)
        {
            (int offset, int length) = piece.Offset.GetOffsetAndLength(normalized.Length);
            if (piece.Id == _model.UnknownId && pieces.Count > 0 && pieces[^1].Id == _model.UnknownId && pieces[^1].Offset + pieces[^1].Length == offset)
                pieces[^1] = (piece.Id, pieces[^1].Value + piece.Value, pieces[^1].Offset, pieces[^1].Length + length);
            else
                pieces.Add((piece.Id, piece.Value, offset, length));
        }
        return pieces;
    }

    protected override void AppendPieces(string text, int start, int end, List<(int Id, int Start, int End)> tokens)
    {
        var (segment, sourceOf) = NmtPrepared(text, start, end);
        // A range of the prepared segment → the range of the original text it came from. Ranges start in order even where
        // the alignment below is unsure (a combining mark left alone by a removed control character, say).
        int lastFrom = 0;
        void Add(int id, int from, int to)
        {
            from = Math.Max(from, lastFrom);
            to = Math.Max(to, from);
            lastFrom = from;
            tokens.Add((id, from < segment.Length ? sourceOf[from] : end, to > from ? sourceOf[to - 1] + 1 : from < segment.Length ? sourceOf[from] : end));
        }

        // Offsets from the library point into the normalized text (NFKC, "▁" for spaces); each piece is found again in the
        // segment instead, so that answers and tags map back to what the user wrote.
        int cursor = 0;
        // A character NFKC expands into several (™ → TM, ﬁ → fi) can give several pieces: all of them get its range.
        int expansionLeft = 0, expandedFrom = 0, expandedTo = 0;
        foreach (var piece in Pieces(segment, out string normalized))
        {
            int id = piece.Id == _model.UnknownId ? UnkId : piece.Id + FairseqOffset;
            // An unknown piece's value is "<unk>"; its characters are the normalized text it covers.
            string surface = (piece.Id == _model.UnknownId ? normalized.Substring(piece.Offset, piece.Length) : piece.Value).TrimStart('\u2581');
            if (surface.Length == 0)
            {
                // A lone "▁" is the word start of the next piece: Hugging Face gives it the next character's range, not the
                // space's (its Metaspace prepends "▁" to each word; transformers 5.17, Data/hf-reference).
                int next = cursor;
                while (next < segment.Length && char.IsWhiteSpace(segment[next])) next++;
                Add(id, next, Math.Min(segment.Length, next + CharWidth(segment, next)));
                cursor = next;
                expansionLeft = 0;   // a new word: no character's expansion runs on into it
                continue;
            }
            if (expansionLeft > 0)
            {
                Add(id, expandedFrom, expandedTo);
                expansionLeft -= surface.Length;
                continue;
            }
            // The piece as written, at the cursor or after the spaces and the characters NFKC drops (format characters,
            // combining marks composed into the previous piece) that lie before it.
            int found = cursor;
            if (!segment.AsSpan(found).StartsWith(surface, StringComparison.Ordinal))
            {
                while (found < segment.Length && IsSkippedBeforePiece(segment[found])) found++;
                if (!segment.AsSpan(found).StartsWith(surface, StringComparison.Ordinal)) found = -1;
            }
            if (found >= 0)
            {
                Add(id, found, found + surface.Length);
                cursor = found + surface.Length;
                continue;
            }
            // A piece NFKC changed (composed accents, full-width forms, compatibility characters) is not found verbatim: it
            // came from the next characters, each with the combining marks NFKC composed into it, as many as it takes to
            // make the piece. Its range ends with the last base character (Hugging Face aligns a composed character to its
            // base); a character that makes more than the piece (™ → T, M) gives its range to the next pieces too.
            while (cursor < segment.Length && char.IsWhiteSpace(segment[cursor])) cursor++;
            int from = cursor, rangeEnd = cursor, produced = 0;
            while (cursor < segment.Length && produced < surface.Length && (cursor == from || !char.IsWhiteSpace(segment[cursor])))
            {
                int baseEnd = Math.Min(segment.Length, cursor + CharWidth(segment, cursor)), elementEnd = baseEnd;
                while (elementEnd < segment.Length && CharUnicodeInfo.GetUnicodeCategory(segment[elementEnd]) == UnicodeCategory.NonSpacingMark) elementEnd++;
                produced += segment[cursor..elementEnd].Normalize(System.Text.NormalizationForm.FormKC).Length;
                (rangeEnd, cursor) = (baseEnd, elementEnd);
            }
            Add(id, from, rangeEnd);
            (expansionLeft, expandedFrom, expandedTo) = (produced - surface.Length, from, rangeEnd);
        }
    }

    private static bool IsSkippedBeforePiece(char c) =>
        char.IsWhiteSpace(c) || CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.Format or UnicodeCategory.NonSpacingMark;

    /// <summary>1, or 2 where <paramref name="index"/> starts a surrogate pair.</summary>
    private static int CharWidth(string text, int index) =>
        index + 1 < text.Length && char.IsSurrogatePair(text[index], text[index + 1]) ? 2 : 1;

    /// <summary>
    /// What SentencePiece's nmt_nfkc rules do before NFKC and Microsoft.ML.Tokenizers does not (measured with
    /// <c>spm_normalize</c> on every control, format and space character of the BMP): control characters are removed, and
    /// the zero-width space and non-joiner, direction marks, the byte-order mark, form feed and ogham space become spaces.
    /// Returns the prepared text of <paramref name="text"/>[start, end) and, for each of its characters, its index in
    /// <paramref name="text"/>.
    /// </summary>
    private static (string Segment, int[] SourceOf) NmtPrepared(string text, int start, int end)
    {
        var chars = new char[end - start];
        var sourceOf = new int[end - start];
        int n = 0;
        for (int i = start; i < end; i++)
        {
            char c = text[i];
            if (c is < ' ' and not ('\t' or '\n' or '\r' or '\f') or '\u007F' or '\u008F' or '\u009F') continue;
            chars[n] = c is '\u200B' or '\u200C' or '\u200E' or '\u200F' or '\uFEFF' or '\f' or '\u1680' ? ' ' : c;
            sourceOf[n++] = i;
        }
        return (new string(chars, 0, n), sourceOf);
    }

    /// <summary>Writes sentencepiece.bpe.model, tokenizer_config.json and special_tokens_map.json.</summary>
    public override void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        IO.AtomicFile.WriteAllBytes(Path.Combine(folder, ModelFile), _modelBytes);
        TokenizerFolder.WriteConfigs(folder, "XLMRobertaTokenizer", Specials);
    }
}
