using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;
using static MLNetTuning.Text.HuggingFaceJson;

namespace MLNetTuning.Text;

/// <summary>
/// GPT-2's byte-level BPE as RoBERTa uses it, through Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> (byte level, GPT-2's
/// pre-tokenizer regex): read from vocab.json and merges.txt, or from a tokenizer.json with a BPE model. Words of a
/// pre-split sentence get the space before them (Hugging Face's <c>add_prefix_space=True</c>, which RoBERTa needs for
/// token classification).
/// </summary>
internal sealed class ByteLevelBpeTextTokenizer : PieceTokenizer
{
    public const string VocabJsonFile = "vocab.json";
    public const string MergesFile = "merges.txt";

    private readonly BpeTokenizer _bpe;
    private readonly string?[] _tokens;
    private readonly IReadOnlyDictionary<string, int> _vocabulary;
    private readonly IReadOnlyList<string> _merges;

    private ByteLevelBpeTextTokenizer(IReadOnlyDictionary<string, int> vocabulary, IReadOnlyList<string> merges, HuggingFaceSpecialTokens specials, string source)
        : base(specials, token => vocabulary.TryGetValue(token, out int id) ? id : null, source)
    {
        _vocabulary = vocabulary;
        _merges = merges;
        int size = vocabulary.Count == 0 ? 0 : vocabulary.Values.Max() + 1;
        _tokens = new string?[size];
        foreach (var (token, id) in vocabulary)
        {
            if (id < 0) throw new InvalidDataException($"{source}: token '{token}' has the negative id {id}.");
            _tokens[id] = token;
        }
        _bpe = BpeTokenizer.Create(new BpeOptions(vocabulary)
        {
            Merges = merges,
            ByteLevel = true,
            // GPT-2's split (contractions, letters, digits, other, spaces), which RoBERTa's ByteLevel pre-tokenizer is.
            PreTokenizer = RobertaPreTokenizer.Instance,
        });
    }

    public override int VocabSize => _tokens.Length;

    public override string? TokenOf(int id) => (uint)id < (uint)_tokens.Length
        ? _tokens[id]
        : throw new ArgumentOutOfRangeException(nameof(id), id, $"Token ids run from 0 to {_tokens.Length - 1}.");

    /// <summary>Builds the tokenizer from a vocabulary (token → id) and merges ("a b" lines, highest priority first).</summary>
    public static ByteLevelBpeTextTokenizer Create(IReadOnlyDictionary<string, int> vocabulary, IReadOnlyList<string> merges, HuggingFaceSpecialTokens? specials = null, string source = VocabJsonFile) =>
        new(vocabulary, merges, specials ?? new HuggingFaceSpecialTokens(), source);

    /// <summary>Loads a Hugging Face RoBERTa tokenizer folder (see <see cref="FromFolder(string, TokenizerConfig)"/>).</summary>
    public static ByteLevelBpeTextTokenizer FromFolder(string folder) => (ByteLevelBpeTextTokenizer)TokenizerFolder.Load(folder, TokenizerKind.ByteLevelBpe);

    /// <summary>tokenizer.json (a BPE model) or else vocab.json and merges.txt, with the special tokens of the folder's <paramref name="config"/>.</summary>
    internal static ByteLevelBpeTextTokenizer FromFolder(string folder, TokenizerConfig config)
    {
        var specials = TokenizerFolder.SpecialTokens(config, new HuggingFaceSpecialTokens());
        string vocabPath = Path.Combine(folder, VocabJsonFile), mergesPath = Path.Combine(folder, MergesFile);
        if (TokenizerFolder.ReadTokenizerJson(folder) is var (root, json))
        {
            var (vocabulary, merges) = Checked(json, () => ReadTokenizerJson(root, json));
            return new(vocabulary, merges, specials, json);
        }
        if (File.Exists(vocabPath) && File.Exists(mergesPath))
            return new(ReadVocabJson(vocabPath), ReadMerges(mergesPath), specials, vocabPath);
        throw new FileNotFoundException(
            $"No byte-level BPE tokenizer in '{folder}': looked for {TokenizerFolder.TokenizerJsonFile}, and for {VocabJsonFile} with {MergesFile}. " +
            "A RoBERTa model folder (save_pretrained) holds one of them.", vocabPath);
    }

    protected override string WordText(string word) => " " + word;

    protected override void AppendPieces(string text, int start, int end, List<(int Id, int Start, int End)> tokens)
    {
        var span = text.AsSpan(start, end - start);
        foreach (EncodedToken piece in _bpe.EncodeToTokens(span, out _, considerPreTokenization: true, considerNormalization: false))
        {
            (int offset, int length) = piece.Offset.GetOffsetAndLength(span.Length);
            int first = start + offset, last = start + offset + length;
            // The bytes of a character outside the BMP cover both of its UTF-16 units (the library gives the first only).
            if (first > 0 && first < text.Length && char.IsLowSurrogate(text[first]) && char.IsHighSurrogate(text[first - 1])) first--;
            if (last > 0 && last < text.Length && char.IsHighSurrogate(text[last - 1]) && char.IsLowSurrogate(text[last])) last++;
            (first, last) = TrimOffsets(_tokens[piece.Id] ?? piece.Value, first, last);
            tokens.Add((piece.Id, first, last));
        }
    }

    /// <summary>
    /// RoBERTa's <c>trim_offsets</c> (Hugging Face's ByteLevel post-processor): a token's spaces ('Ġ', the space byte) at
    /// either end are not part of its character range, so "Ġworld" covers "world" and a lone "Ġ" an empty range after it.
    /// </summary>
    private static (int Start, int End) TrimOffsets(string token, int start, int end)
    {
        const char SpaceByte = '\u0120';
        int leading = 0, trailing = 0;
        while (leading < token.Length && token[leading] == SpaceByte) leading++;
        while (trailing < token.Length && token[token.Length - 1 - trailing] == SpaceByte) trailing++;
        if (leading > 0) start = Math.Min(start + leading, end);
        if (trailing > 0 && end >= trailing) end = Math.Max(end - trailing, start);
        return (start, end);
    }

    /// <summary>Writes vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json.</summary>
    public override void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        var vocab = new JsonObject();
        foreach (var (token, id) in _vocabulary.OrderBy(kv => kv.Value)) vocab[token] = id;
        TokenizerFolder.WriteText(Path.Combine(folder, VocabJsonFile), vocab.ToJsonString());
        TokenizerFolder.WriteText(Path.Combine(folder, MergesFile), "#version: 0.2\n" + string.Join("\n", _merges) + "\n");
        TokenizerFolder.WriteConfigs(folder, "RobertaTokenizer", Specials, new JsonObject { ["add_prefix_space"] = false, ["errors"] = "replace" });
    }

    private static Dictionary<string, int> ReadVocabJson(string path)
    {
        var root = Parse(path, IO.FileLimits.MaxTokenizerFileBytes) as JsonObject ?? throw Invalid(path, "is not a JSON object {token: id}");
        return Checked(path, () => ReadVocabObject(root, path, "vocab"));
    }

    private static Dictionary<string, int> ReadVocabObject(JsonObject vocab, string path, string where)
    {
        var result = new Dictionary<string, int>(vocab.Count, StringComparer.Ordinal);
        foreach (var (token, node) in vocab) result[token] = GetTokenId(node, token, path, where);
        // The tokens are an array indexed by id: a sparse id (2,000,000,000) must not become an array that large.
        int size = result.Count == 0 ? 0 : result.Values.Max() + 1;
        if (size > 2L * result.Count + 1024)
            throw Invalid(path, $"gives a token the id {size - 1:N0}, but lists only {result.Count:N0} tokens; ids must number the tokens from 0 without large gaps");
        return result;
    }

    private static List<string> ReadMerges(string path)
    {
        IO.FileLimits.CheckFileSize(path, IO.FileLimits.MaxTokenizerFileBytes, "a merges.txt");
        var merges = new List<string>(50_000);
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            // The first line of GPT-2's merges.txt is "#version: 0.2"; blank lines end some files.
            if (line.Length == 0 || (lineNumber == 1 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            if (line.Split(' ').Length != 2) throw Invalid(path, $"line {lineNumber} is '{line}', expected two tokens separated by one space");
            merges.Add(line);
        }
        return merges;
    }

    private static (Dictionary<string, int> Vocabulary, List<string> Merges) ReadTokenizerJson(JsonNode root, string path)
    {
        var model = root["model"] as JsonObject ?? throw Invalid(path, "has no \"model\" object");
        string? type = GetString(model["type"], path, "model.type");
        if (type != "BPE") throw Invalid(path, $"has model type '{type ?? "(missing)"}', expected 'BPE' for a RoBERTa byte-level BPE tokenizer");
        var vocabulary = ReadVocabObject(model["vocab"] as JsonObject ?? throw Invalid(path, "has no \"model.vocab\" object {token: id}"), path, "model.vocab");
        var merges = new List<string>();
        foreach (var merge in model["merges"] as JsonArray ?? throw Invalid(path, "has no \"model.merges\" array"))
        {
            // tokenizers writes merges as "a b" strings (before 0.20) or as ["a", "b"] pairs.
            merges.Add(merge switch
            {
                JsonValue v when TryGet(v, out string? s) && s is not null => s,
                JsonArray { Count: 2 } pair => $"{GetString(pair[0], path, "model.merges[][0]")} {GetString(pair[1], path, "model.merges[][1]")}",
                _ => throw Invalid(path, $"has the merge {(merge is null ? "null" : Describe(merge))}, expected \"a b\" or [\"a\", \"b\"]"),
            });
        }
        if (root["added_tokens"] is JsonArray added)
            foreach (var entry in added)
            {
                string content = GetString((entry as JsonObject)?["content"], path, "added_tokens[].content") ?? throw Invalid(path, "has an added_tokens entry without \"content\"");
                vocabulary[content] = GetTokenId(entry!["id"], content, path, "added_tokens");
            }
        return (vocabulary, merges);
    }
}
