using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static MLNetTuning.Text.HuggingFaceJson;

namespace MLNetTuning.Text;

// WordPiece's own files (vocab.txt, tokenizer.json's WordPiece model and normalizer) and saving; the folder's shared
// files are read by TokenizerFolder and TokenizerConfig, as for every tokenizer kind.
internal sealed partial class BertTextTokenizer
{
    internal const string VocabFile = "vocab.txt";

    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>The largest max_input_chars_per_word a file may set; longer words become the unknown token anyway.</summary>
    private const int MaxInputCharsPerWordLimit = 10_000;

    /// <summary>Creates a tokenizer from a vocab.txt (one token per line, the line number is the id).</summary>
    /// <param name="vocabTxt">The vocab.txt content (UTF-8); read to its end and left open.</param>
    /// <param name="settings">Normalization rules and special tokens, which must all be in the vocabulary.</param>
    /// <param name="sourceName">Names the vocabulary in error messages.</param>
    public static BertTextTokenizer FromVocab(Stream vocabTxt, BertTokenizerSettings settings, string sourceName = VocabFile)
    {
        ArgumentNullException.ThrowIfNull(vocabTxt);
        ArgumentNullException.ThrowIfNull(settings);
        return new BertTextTokenizer(ReadVocabLines(vocabTxt), settings, [], sourceName);
    }

    /// <summary>Loads a Hugging Face WordPiece tokenizer folder (see <see cref="FromFolder(string, TokenizerConfig)"/>).</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">Neither tokenizer.json nor vocab.txt is in the folder.</exception>
    /// <exception cref="InvalidDataException">A file is malformed or describes an unsupported tokenizer; the message names the file.</exception>
    public static BertTextTokenizer FromFolder(string folder) => (BertTextTokenizer)TokenizerFolder.Load(folder, TokenizerKind.WordPiece);

    /// <summary>
    /// The vocabulary from tokenizer.json (WordPiece) or else vocab.txt; the settings from tokenizer.json's normalizer, then
    /// the folder's <paramref name="config"/> (tokenizer_config.json overridden by special_tokens_map.json), as transformers does.
    /// </summary>
    internal static BertTextTokenizer FromFolder(string folder, TokenizerConfig config)
    {
        string vocabPath = Path.Combine(folder, VocabFile);
        var settings = new BertTokenizerSettings();
        string?[] vocabulary;
        var addedTokens = new List<string>();
        string source;

        if (TokenizerFolder.ReadTokenizerJson(folder) is var (root, jsonPath))
        {
            source = jsonPath;
            (vocabulary, settings) = Checked(jsonPath, () => ReadTokenizerJson(root, jsonPath, settings, addedTokens));
        }
        else if (File.Exists(vocabPath))
        {
            source = vocabPath;
            IO.FileLimits.CheckFileSize(vocabPath, IO.FileLimits.MaxTokenizerFileBytes, "a vocab.txt");
            using var stream = File.OpenRead(vocabPath);
            vocabulary = ReadVocabLines(stream);
        }
        else
        {
            throw new FileNotFoundException(
                $"No tokenizer vocabulary in '{folder}': looked for {TokenizerFolder.TokenizerJsonFile} and {VocabFile}. " +
                "Point to a Hugging Face BERT model folder (the one with config.json) that contains one of them.",
                vocabPath);
        }

        return new BertTextTokenizer(vocabulary, ApplyConfig(config, settings), addedTokens, source);
    }

    /// <summary>Writes the vocabulary as vocab.txt content (UTF-8, one token per line, ids are line numbers).</summary>
    public void WriteVocab(Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using var writer = new StreamWriter(destination, Utf8NoBom, bufferSize: 1 << 16, leaveOpen: true) { NewLine = "\n" };
        foreach (string? token in _vocabulary) writer.WriteLine(token ?? string.Empty);
    }

    /// <summary>
    /// Saves vocab.txt, tokenizer_config.json and special_tokens_map.json so that Hugging Face's
    /// <c>AutoTokenizer.from_pretrained(folder)</c> loads an equivalent tokenizer. Each file is written atomically.
    /// A tokenizer.json already in the folder is deleted, because transformers would prefer it over the saved files.
    /// </summary>
    public void Save(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        Directory.CreateDirectory(folder);
        WriteAtomically(Path.Combine(folder, VocabFile), WriteVocab);

        WriteAtomically(Path.Combine(folder, TokenizerFolder.TokenizerConfigFile), WriteConfig);
        WriteAtomically(Path.Combine(folder, TokenizerFolder.SpecialTokensMapFile), s => JsonSerializer.Serialize(s, SpecialTokensJson(), TokenizerFolder.IndentedJson));
        TokenizerFolder.DeleteStaleTokenizerJson(folder);
    }

    /// <summary>Writes the settings as tokenizer_config.json content, which <see cref="FromStreams"/> reads back.</summary>
    public void WriteConfig(Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var config = new JsonObject
        {
            ["tokenizer_class"] = "BertTokenizer",
            ["do_lower_case"] = Settings.LowerCase,
            ["strip_accents"] = Settings.StripAccents is bool strip ? JsonValue.Create(strip) : null,
            ["tokenize_chinese_chars"] = Settings.SplitCjk,
            ["model_max_length"] = Settings.ModelMaxLength,
            ["clean_up_tokenization_spaces"] = true,
        };
        foreach (var (key, value) in SpecialTokensJson()) config[key] = value?.DeepClone();
        JsonSerializer.Serialize(destination, config, TokenizerFolder.IndentedJson);
    }

    /// <summary>
    /// Recreates a tokenizer from the two entries <see cref="WriteVocab"/> and <see cref="WriteConfig"/> wrote,
    /// e.g. inside a model zip.
    /// </summary>
    /// <param name="vocabTxt">vocab.txt content.</param>
    /// <param name="tokenizerConfigJson">tokenizer_config.json content.</param>
    /// <param name="sourceName">Names the origin (e.g. the zip) in error messages.</param>
    public static BertTextTokenizer FromStreams(Stream vocabTxt, Stream tokenizerConfigJson, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(vocabTxt);
        ArgumentNullException.ThrowIfNull(tokenizerConfigJson);
        var config = TokenizerConfig.FromStream(tokenizerConfigJson, $"{sourceName}/{TokenizerFolder.TokenizerConfigFile}");
        var settings = ApplyConfig(config, new BertTokenizerSettings());
        return new BertTextTokenizer(ReadVocabLines(vocabTxt), settings, [], $"{sourceName}/{VocabFile}");
    }

    private JsonObject SpecialTokensJson()
    {
        var specialTokens = new JsonObject();
        foreach ((string key, string token) in Settings.SpecialTokens) specialTokens[key] = token;
        return specialTokens;
    }

    private static void WriteAtomically(string path, Action<Stream> write) => IO.AtomicFile.WriteStream(path, stream => write(stream));

    private static string?[] ReadVocabLines(Stream stream)
    {
        // transformers' load_vocab keeps every line (only the newline is stripped), so ids are line numbers.
        using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, leaveOpen: true);
        var tokens = new List<string?>(32_000);
        while (reader.ReadLine() is { } line) tokens.Add(line);
        return tokens.ToArray();
    }

    private static (string?[] Vocabulary, BertTokenizerSettings Settings) ReadTokenizerJson(JsonNode root, string path, BertTokenizerSettings settings, List<string> addedTokens)
    {
        var model = root["model"] as JsonObject ?? throw Invalid(path, "has no \"model\" object");
        string? type = GetString(model["type"], path, "model.type");
        if (type != "WordPiece")
        {
            throw Invalid(path, $"has model type '{type ?? "(missing)"}', expected 'WordPiece'. Only BERT-family WordPiece tokenizers are supported");
        }

        var vocabObject = model["vocab"] as JsonObject ?? throw Invalid(path, "has no \"model.vocab\" object {token: id}");
        var byId = new SortedDictionary<int, string>();
        foreach (var (token, idNode) in vocabObject) AddWithId(byId, token, idNode, path, "model.vocab");

        if (root["added_tokens"] is JsonArray added)
        {
            foreach (JsonNode? entry in added)
            {
                string content = GetString((entry as JsonObject)?["content"], path, "added_tokens[].content") ?? throw Invalid(path, "has an added_tokens entry without \"content\"");
                AddWithId(byId, content, entry!["id"], path, "added_tokens");
                addedTokens.Add(content);
            }
        }

        settings = settings with
        {
            UnknownToken = GetString(model["unk_token"], path, "model.unk_token") ?? settings.UnknownToken,
            ContinuingSubwordPrefix = GetString(model["continuing_subword_prefix"], path, "model.continuing_subword_prefix") ?? settings.ContinuingSubwordPrefix,
            MaxInputCharsPerWord = GetInt(model["max_input_chars_per_word"], path, "model.max_input_chars_per_word") ?? settings.MaxInputCharsPerWord,
        };
        // Word-piece buffers are sized by this limit (a file's 2,000,000,000 made a 24 GB allocation; found by the property pass).
        if (settings.MaxInputCharsPerWord is <= 0 or > MaxInputCharsPerWordLimit)
            throw Invalid(path, $"has model.max_input_chars_per_word = {settings.MaxInputCharsPerWord}, expected a positive integer of at most {MaxInputCharsPerWordLimit:N0} (Hugging Face uses 100)");
        settings = ApplyNormalizer(path, root["normalizer"], settings);

        string? preTokenizer = GetString((root["pre_tokenizer"] as JsonObject)?["type"], path, "pre_tokenizer.type");
        if (preTokenizer is not null and not "BertPreTokenizer")
        {
            throw Invalid(path, $"has pre_tokenizer type '{preTokenizer}', expected 'BertPreTokenizer'");
        }

        int size = byId.Count == 0 ? 0 : byId.Keys.Max() + 1;
        // The vocabulary is an array indexed by id: a sparse id (2,000,000,000) must not become an array that large.
        // Real files number their tokens 0..n-1, with added tokens right after; a few gaps are tolerated.
        if (size > 2L * byId.Count + 1024)
            throw Invalid(path, $"gives a token the id {size - 1:N0}, but lists only {byId.Count:N0} tokens; ids must number the tokens from 0 without large gaps");
        var vocabulary = new string?[size];
        foreach (var (id, token) in byId) vocabulary[id] = token;
        return (vocabulary, settings);
    }

    private static void AddWithId(SortedDictionary<int, string> byId, string token, JsonNode? idNode, string path, string where)
    {
        int id = GetTokenId(idNode, token, path, where);
        if (byId.TryGetValue(id, out string? existing) && existing != token)
        {
            throw Invalid(path, $"gives id {id} to both '{existing}' and '{token}'");
        }

        byId[id] = token;
    }

    private static BertTokenizerSettings ApplyNormalizer(string path, JsonNode? normalizer, BertTokenizerSettings settings)
    {
        if (normalizer is null) return settings with { LowerCase = false, StripAccents = false, SplitCjk = false };
        if (normalizer is not JsonObject) throw Invalid(path, $"has normalizer = {Describe(normalizer)}, expected an object");
        string? type = GetString(normalizer["type"], path, "normalizer.type");
        if (type != "BertNormalizer")
        {
            throw Invalid(path, $"has normalizer type '{type}', expected 'BertNormalizer'");
        }

        if (GetBool(normalizer["clean_text"], path, "normalizer.clean_text") == false)
        {
            throw Invalid(path, "sets normalizer.clean_text to false, which is not supported (BERT models use true)");
        }

        bool lowerCase = GetBool(normalizer["lowercase"], path, "normalizer.lowercase") ?? true;
        return settings with
        {
            LowerCase = lowerCase,
            StripAccents = GetBool(normalizer["strip_accents"], path, "normalizer.strip_accents"),
            SplitCjk = GetBool(normalizer["handle_chinese_chars"], path, "normalizer.handle_chinese_chars") ?? true,
        };
    }

    /// <summary>The folder's settings over <paramref name="settings"/>: flags, model_max_length and the five special tokens.</summary>
    private static BertTokenizerSettings ApplyConfig(TokenizerConfig config, BertTokenizerSettings settings) => settings with
    {
        LowerCase = config.Flag("do_lower_case") ?? settings.LowerCase,
        // strip_accents: null is a value ("follow do_lower_case"), not an absent key.
        StripAccents = config.Has("strip_accents") ? config.Flag("strip_accents") : settings.StripAccents,
        SplitCjk = config.Flag("tokenize_chinese_chars") ?? settings.SplitCjk,
        ModelMaxLength = config.ModelMaxLength() ?? settings.ModelMaxLength,
        UnknownToken = config.Token("unk_token", settings.UnknownToken),
        ClsToken = config.Token("cls_token", settings.ClsToken),
        SepToken = config.Token("sep_token", settings.SepToken),
        PadToken = config.Token("pad_token", settings.PadToken),
        MaskToken = config.Token("mask_token", settings.MaskToken),
    };
}
