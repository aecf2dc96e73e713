using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;
using MLNetTuning.Checkpoints;

namespace MLNetTuning.Text;

/// <summary>How a BERT tokenizer normalizes text and which special tokens it uses (Hugging Face's tokenizer_config.json).</summary>
internal sealed record BertTokenizerSettings(
    bool LowerCase = true,
    bool? StripAccents = null,
    bool SplitCjk = true,
    int ModelMaxLength = 512,
    string UnknownToken = "[UNK]",
    string ClsToken = "[CLS]",
    string SepToken = "[SEP]",
    string PadToken = "[PAD]",
    string MaskToken = "[MASK]")
{
    /// <summary>Hugging Face's rule: strip_accents unset means "strip when lower-casing".</summary>
    public bool StripsAccents => StripAccents ?? LowerCase;
}

/// <summary>One tokenized text or pair, with special tokens: ids, token types, and each token's range in its original text.</summary>
internal sealed record EncodedText(int[] Ids, int[] TypeIds, (int Start, int End)[] Offsets, int[] SequenceIndex);

/// <summary>A padded batch as flat [B * T] arrays, ready for tensors.</summary>
internal sealed record BatchEncoding(long[] InputIds, long[] AttentionMask, long[] TokenTypeIds, int BatchSize, int SequenceLength);

/// <summary>
/// A BERT WordPiece tokenizer that matches Hugging Face's <c>BertTokenizer</c>: Hugging Face's normalization and basic split,
/// then Microsoft.ML.Tokenizers' WordPiece; <c>[CLS] a [SEP] b [SEP]</c> pairs with token types; <c>longest_first</c>
/// truncation; offsets into the original text. Thread-safe.
/// </summary>
internal sealed class BertTextTokenizer
{
    private const string VocabFile = "vocab.txt", TokenizerJsonFile = "tokenizer.json", ConfigFile = "tokenizer_config.json", SpecialTokensFile = "special_tokens_map.json";
    private readonly BertTokenizer _wordPiece;
    private readonly string[] _vocab;

    private BertTextTokenizer(string[] vocab, BertTokenizerSettings settings)
    {
        _vocab = vocab;
        Settings = settings;
        var options = new BertOptions
        {
            // Normalization and the basic split are ours (see HuggingFaceBertNormalizer); WordPiece and the special tokens are Microsoft.ML.Tokenizers'.
            LowerCaseBeforeTokenization = false,
            RemoveNonSpacingMarks = false,
            IndividuallyTokenizeCjk = false,
            PreTokenizer = HuggingFaceBasicPreTokenizer.Instance,
            UnknownToken = settings.UnknownToken,
            ClassificationToken = settings.ClsToken,
            SeparatorToken = settings.SepToken,
            PaddingToken = settings.PadToken,
            MaskingToken = settings.MaskToken,
        };
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(string.Join("\n", vocab) + "\n"));
        try { _wordPiece = BertTokenizer.Create(stream, options); }
        catch (ArgumentException e) { throw new InvalidDataException($"The vocabulary lacks a special token: {e.Message}", e); }
    }

    public BertTokenizerSettings Settings { get; }
    public int VocabSize => _vocab.Length;
    public int PadId => _wordPiece.PaddingTokenId;
    public int ClsId => _wordPiece.ClassificationTokenId;
    public int SepId => _wordPiece.SeparatorTokenId;
    public int UnkId => _wordPiece.UnknownTokenId;

    /// <summary>The token of an id, for reports and tests.</summary>
    public string Token(int id) => _vocab[id];

    /// <summary>A tokenizer from a vocab.txt stream (one token per line, the line number is the id).</summary>
    public static BertTextTokenizer FromVocab(Stream vocabTxt, BertTokenizerSettings settings)
    {
        using var reader = new StreamReader(vocabTxt, Encoding.UTF8);
        var tokens = new List<string>();
        while (reader.ReadLine() is { } line) tokens.Add(line.TrimEnd('\r'));
        while (tokens.Count > 0 && tokens[^1].Length == 0) tokens.RemoveAt(tokens.Count - 1);
        return new BertTextTokenizer([.. tokens], settings);
    }

    /// <summary>
    /// Reads a Hugging Face folder: vocab.txt or a WordPiece tokenizer.json, with tokenizer_config.json (do_lower_case,
    /// strip_accents, tokenize_chinese_chars, model_max_length, special tokens) and special_tokens_map.json when present.
    /// </summary>
    public static BertTextTokenizer FromFolder(string folder)
    {
        string vocabPath = Path.Combine(folder, VocabFile), jsonPath = Path.Combine(folder, TokenizerJsonFile);
        var settings = ReadSettings(folder);
        if (File.Exists(vocabPath))
        {
            using var stream = File.OpenRead(vocabPath);
            return FromVocab(stream, settings);
        }
        if (File.Exists(jsonPath)) return FromTokenizerJson(jsonPath, settings);
        throw new InvalidDataException($"The model folder '{folder}' has no tokenizer: expected {VocabFile} or {TokenizerJsonFile} (with {ConfigFile}).");
    }

    private static BertTokenizerSettings ReadSettings(string folder)
    {
        var settings = new BertTokenizerSettings();
        string configPath = Path.Combine(folder, ConfigFile);
        if (File.Exists(configPath))
        {
            var config = ParseObject(configPath);
            settings = settings with
            {
                LowerCase = Bool(config, "do_lower_case") ?? settings.LowerCase,
                StripAccents = Bool(config, "strip_accents"),
                SplitCjk = Bool(config, "tokenize_chinese_chars") ?? settings.SplitCjk,
                // Hugging Face writes a huge sentinel when a model has no limit.
                ModelMaxLength = config["model_max_length"] is JsonValue m && m.TryGetValue(out double max) && max is > 0 and < int.MaxValue ? (int)max : settings.ModelMaxLength,
            };
            settings = WithSpecialTokens(settings, config);
        }
        string specialPath = Path.Combine(folder, SpecialTokensFile);
        if (File.Exists(specialPath)) settings = WithSpecialTokens(settings, ParseObject(specialPath));
        return settings;
    }

    private static BertTokenizerSettings WithSpecialTokens(BertTokenizerSettings s, JsonObject json) => s with
    {
        UnknownToken = TokenString(json, "unk_token") ?? s.UnknownToken,
        ClsToken = TokenString(json, "cls_token") ?? s.ClsToken,
        SepToken = TokenString(json, "sep_token") ?? s.SepToken,
        PadToken = TokenString(json, "pad_token") ?? s.PadToken,
        MaskToken = TokenString(json, "mask_token") ?? s.MaskToken,
    };

    /// <summary>A special token is either a string or an AddedToken object with "content".</summary>
    private static string? TokenString(JsonObject json, string key) => json[key] switch
    {
        JsonValue v when v.TryGetValue(out string? s) => s,
        JsonObject o when o["content"] is JsonValue c && c.TryGetValue(out string? content) => content,
        _ => null,
    };

    private static bool? Bool(JsonObject json, string key) => json[key] is JsonValue v && v.TryGetValue(out bool b) ? b : null;

    private static JsonObject ParseObject(string path)
    {
        try { return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: expected a JSON object."); }
        catch (JsonException e) { throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e); }
    }

    /// <summary>A WordPiece <c>tokenizer.json</c>: model.vocab gives the ids; added_tokens and the normalizer refine the settings.</summary>
    private static BertTextTokenizer FromTokenizerJson(string path, BertTokenizerSettings settings)
    {
        var json = ParseObject(path);
        if (json["model"] is not JsonObject model || (string?)model["type"] != "WordPiece" || model["vocab"] is not JsonObject vocabJson)
            throw new InvalidDataException($"{path}: only WordPiece tokenizers (model.type \"WordPiece\" with a model.vocab object) are supported.");
        var vocab = new string[vocabJson.Count];
        foreach (var (token, idNode) in vocabJson)
        {
            int id = idNode is JsonValue v && v.TryGetValue(out int i) ? i : -1;
            if (id < 0 || id >= vocab.Length || vocab[id] is not null)
                throw new InvalidDataException($"{path}: token '{token}' has id {idNode?.ToJsonString()}, but ids must be distinct and in [0, {vocab.Length}).");
            vocab[id] = token;
        }
        if (json["added_tokens"] is JsonArray added)
            foreach (var token in added.OfType<JsonObject>())
                if (token["id"] is JsonValue idValue && idValue.TryGetValue(out int id) && id < vocab.Length && (string?)token["content"] is { } content && vocab[id] != content)
                    throw new InvalidDataException($"{path}: added token '{content}' has id {id}, which the vocabulary gives to '{vocab[id]}'.");
        if (json["normalizer"] is JsonObject normalizer && (string?)normalizer["type"] == "BertNormalizer")
            settings = settings with
            {
                LowerCase = Bool(normalizer, "lowercase") ?? settings.LowerCase,
                StripAccents = Bool(normalizer, "strip_accents") ?? settings.StripAccents,
                SplitCjk = Bool(normalizer, "handle_chinese_chars") ?? settings.SplitCjk,
            };
        if ((string?)model["unk_token"] is { } unk) settings = settings with { UnknownToken = unk };
        if ((string?)model["continuing_subword_prefix"] is { } prefix && prefix != "##")
            throw new InvalidDataException($"{path}: continuing_subword_prefix '{prefix}' is not supported; BERT uses '##'.");
        return new BertTextTokenizer(vocab, settings);
    }

    /// <summary>Writes vocab.txt, tokenizer_config.json and special_tokens_map.json, each atomically, as Hugging Face reads them.</summary>
    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        AtomicFile.Write(Path.Combine(folder, VocabFile), s => s.Write(Encoding.UTF8.GetBytes(string.Join("\n", _vocab) + "\n")));
        var special = new JsonObject
        {
            ["unk_token"] = Settings.UnknownToken, ["sep_token"] = Settings.SepToken, ["pad_token"] = Settings.PadToken,
            ["cls_token"] = Settings.ClsToken, ["mask_token"] = Settings.MaskToken,
        };
        var config = (JsonObject)special.DeepClone();
        config["tokenizer_class"] = "BertTokenizer";
        config["do_lower_case"] = Settings.LowerCase;
        config["strip_accents"] = Settings.StripAccents;
        config["tokenize_chinese_chars"] = Settings.SplitCjk;
        config["model_max_length"] = Settings.ModelMaxLength;
        var indented = new JsonSerializerOptions { WriteIndented = true };
        AtomicFile.Write(Path.Combine(folder, ConfigFile), s => s.Write(Encoding.UTF8.GetBytes(config.ToJsonString(indented))));
        AtomicFile.Write(Path.Combine(folder, SpecialTokensFile), s => s.Write(Encoding.UTF8.GetBytes(special.ToJsonString(indented))));
    }

    /// <summary>Word pieces of one text without special tokens: ids and [start, end) ranges in <paramref name="text"/>.</summary>
    public (int[] Ids, (int Start, int End)[] Offsets) Tokenize(string text)
    {
        var (normalized, starts, ends) = HuggingFaceBertNormalizer.Normalize(text, Settings.LowerCase, Settings.StripsAccents, Settings.SplitCjk);
        if (normalized.Length == 0) return ([], []);
        var tokens = _wordPiece.EncodeToTokens(normalized, out _, considerPreTokenization: true, considerNormalization: false);
        var ids = new int[tokens.Count];
        var offsets = new (int, int)[tokens.Count];
        for (int i = 0; i < tokens.Count; i++)
        {
            ids[i] = tokens[i].Id;
            var (offset, length) = tokens[i].Offset.GetOffsetAndLength(normalized.Length);
            offsets[i] = length == 0 ? (starts[Math.Min(offset, starts.Length - 1)], starts[Math.Min(offset, starts.Length - 1)]) : (starts[offset], ends[offset + length - 1]);
        }
        return (ids, offsets);
    }

    /// <summary>
    /// <c>[CLS] a [SEP]</c> or <c>[CLS] a [SEP] b [SEP]</c>, truncated to <paramref name="maxLength"/> tokens with Hugging Face's
    /// <c>longest_first</c> strategy (one token at a time from the longer sequence).
    /// </summary>
    public EncodedText Encode(string text, string? pair = null, int maxLength = 512)
    {
        int specials = pair is null ? 2 : 3;
        if (maxLength < specials) throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, $"maxLength must leave room for the {specials} special tokens.");
        var (a, aOffsets) = Tokenize(text ?? "");
        var (b, bOffsets) = pair is null ? ([], []) : Tokenize(pair);
        int aLength = a.Length, bLength = b.Length;
        while (aLength + bLength > maxLength - specials)
        {
            if (aLength > bLength) aLength--;
            else bLength--;
        }
        int total = aLength + bLength + specials;
        var ids = new int[total];
        var types = new int[total];
        var offsets = new (int, int)[total];
        var sequence = new int[total];
        int t = 0;
        ids[t] = ClsId; sequence[t++] = -1;
        for (int i = 0; i < aLength; i++) { ids[t] = a[i]; offsets[t] = aOffsets[i]; sequence[t++] = 0; }
        ids[t] = SepId; sequence[t++] = -1;
        if (pair is not null)
        {
            for (int i = 0; i < bLength; i++) { ids[t] = b[i]; types[t] = 1; offsets[t] = bOffsets[i]; sequence[t++] = 1; }
            ids[t] = SepId; types[t] = 1; sequence[t++] = -1;
        }
        return new EncodedText(ids, types, offsets, sequence);
    }

    /// <summary>Pads to the longest item (dynamic padding) or to <paramref name="fixedLength"/>, with attention masks.</summary>
    public BatchEncoding Pad(IReadOnlyList<EncodedText> items, int? fixedLength = null)
    {
        int length = fixedLength ?? (items.Count == 0 ? 0 : items.Max(i => i.Ids.Length));
        if (items.Any(i => i.Ids.Length > length))
            throw new ArgumentOutOfRangeException(nameof(fixedLength), fixedLength, "An item is longer than the fixed length; encode with that maxLength.");
        var ids = new long[items.Count * length];
        var mask = new long[items.Count * length];
        var types = new long[items.Count * length];
        Array.Fill(ids, PadId);
        for (int row = 0; row < items.Count; row++)
            for (int t = 0; t < items[row].Ids.Length; t++)
            {
                ids[row * length + t] = items[row].Ids[t];
                types[row * length + t] = items[row].TypeIds[t];
                mask[row * length + t] = 1;
            }
        return new BatchEncoding(ids, mask, types, items.Count, length);
    }
}
