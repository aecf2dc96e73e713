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

    private static readonly string[] FairseqSpecials = ["<s>", "<pad>", "</s>", "<unk>"];

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

    /// <summary>sentencepiece.bpe.model, with the special tokens of the folder's <paramref name="config"/>.</summary>
    internal static SentencePieceTextTokenizer FromFolder(string folder, TokenizerConfig config)
    {
        string path = Path.Combine(folder, ModelFile);
        if (!File.Exists(path))
            throw new FileNotFoundException(
                $"No SentencePiece model in '{folder}': looked for {ModelFile}. An XLM-RoBERTa folder from save_pretrained holds it; " +
                $"a folder with only {TokenizerFolder.TokenizerJsonFile} is not supported yet (Microsoft.ML.Tokenizers builds a Unigram model only from the .model file).", path);
        IO.FileLimits.CheckFileSize(path, IO.FileLimits.MaxTokenizerFileBytes, $"a {ModelFile}");
        return FromModel(File.ReadAllBytes(path), TokenizerFolder.SpecialTokens(config, new HuggingFaceSpecialTokens()), path);
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
        string segment = text[start..end];
        // Offsets from the library point into the normalized text (NFKC, "▁" for spaces); each piece is found again in the
        // original text instead, so that answers and tags map back to what the user wrote.
        int cursor = 0;
        foreach (var piece in Pieces(segment, out string normalized))
        {
            int id = piece.Id == _model.UnknownId ? UnkId : piece.Id + FairseqOffset;
            // An unknown piece's value is "<unk>"; its characters are the normalized text it covers.
            string surface = (piece.Id == _model.UnknownId ? normalized.Substring(piece.Offset, piece.Length) : piece.Value).TrimStart('\u2581');
            if (surface.Length == 0)
            {
                // A lone "▁" stands for the space before the next piece: it covers the spaces at the cursor.
                int spaces = cursor;
                while (spaces < segment.Length && char.IsWhiteSpace(segment[spaces])) spaces++;
                tokens.Add((id, start + cursor, start + spaces));
                cursor = spaces;
                continue;
            }
            int found = segment.IndexOf(surface, cursor, StringComparison.Ordinal);
            // A piece the normalizer changed (full-width forms, compatibility characters) is not found verbatim: it gets the
            // characters up to the next piece that is, which is where it came from.
            if (found >= 0 && found - cursor <= 8)
            {
                tokens.Add((id, start + found, start + found + surface.Length));
                cursor = found + surface.Length;
            }
            else
            {
                while (cursor < segment.Length && char.IsWhiteSpace(segment[cursor])) cursor++;
                int next = Math.Min(segment.Length, cursor + Math.Max(1, surface.Length));
                tokens.Add((id, start + cursor, start + next));
                cursor = next;
            }
        }
    }

    /// <summary>Writes sentencepiece.bpe.model, tokenizer_config.json and special_tokens_map.json.</summary>
    public override void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        IO.AtomicFile.WriteAllBytes(Path.Combine(folder, ModelFile), _modelBytes);
        TokenizerFolder.WriteConfigs(folder, "XLMRobertaTokenizer", Specials);
    }
}
