using System.Text;
using System.Text.Json.Nodes;
using static MLNetTuning.Text.HuggingFaceJson;

namespace MLNetTuning.Text;

/// <summary>
/// Writes a SentencePiece model file (the <c>ModelProto</c> protobuf of sentencepiece_model.proto) from the Unigram model
/// of an XLM-RoBERTa tokenizer.json. transformers 5 saves tokenizer.json alone, and Microsoft.ML.Tokenizers builds a
/// Unigram tokenizer only from the .model file; the two hold the same pieces, scores and precompiled normalization map,
/// with fairseq's four special tokens in front and <c>&lt;mask&gt;</c> at the end of tokenizer.json's vocabulary.
/// </summary>
internal static class SentencePieceModelProto
{
    // sentencepiece_model.proto: ModelProto.pieces = 1, trainer_spec = 2, normalizer_spec = 3; SentencePiece.piece = 1,
    // score = 2, type = 3 (NORMAL 1, UNKNOWN 2, CONTROL 3); TrainerSpec.model_type = 3 (UNIGRAM 1), vocab_size = 4;
    // NormalizerSpec.name = 1, precompiled_charsmap = 2.
    private const int UnknownType = 2, ControlType = 3, Unigram = 1;

    /// <summary>The .model bytes of tokenizer.json's Unigram model, in SentencePiece's own ids (&lt;unk&gt; 0, &lt;s&gt; 1, &lt;/s&gt; 2).</summary>
    /// <param name="root">tokenizer.json.</param>
    /// <param name="path">Names the file in messages.</param>
    /// <exception cref="InvalidDataException">tokenizer.json holds no Unigram model with XLM-RoBERTa's layout; the message says what it found.</exception>
    public static byte[] FromUnigramTokenizerJson(JsonNode root, string path)
    {
        var model = root["model"] as JsonObject ?? throw Invalid(path, "has no \"model\" object");
        string? type = GetString(model["type"], path, "model.type");
        if (type != "Unigram") throw Invalid(path, $"has model type '{type ?? "(missing)"}', expected 'Unigram' for an XLM-RoBERTa SentencePiece tokenizer");
        var vocab = model["vocab"] as JsonArray ?? throw Invalid(path, "has no \"model.vocab\" array of [piece, score]");
        var pieces = new List<(string Piece, float Score)>(vocab.Count);
        foreach (var entry in vocab)
        {
            if (entry is not JsonArray { Count: 2 } pair || GetString(pair[0], path, "model.vocab[][0]") is not { } piece
                || pair[1] is not JsonValue scoreValue || !TryGet(scoreValue, out double score))
                throw Invalid(path, $"has the vocabulary entry {(entry is null ? "null" : Describe(entry))}, expected [piece, score]");
            pieces.Add((piece, (float)score));
        }
        // XLM-RoBERTa's layout: <s> <pad> </s> <unk>, SentencePiece's pieces from its id 3 on, <mask>.
        var specials = SentencePieceTextTokenizer.FairseqSpecials;
        if (pieces.Count < specials.Length + 2 || !specials.Select((s, i) => pieces[i].Piece == s).All(x => x) || pieces[^1].Piece != "<mask>"
            || GetInt(model["unk_id"], path, "model.unk_id") is not 3)
            throw Invalid(path, "does not lay its Unigram vocabulary out as XLM-RoBERTa does (<s>, <pad>, </s>, <unk> as ids 0 to 3, unk_id 3, <mask> last); " +
                "only XLM-RoBERTa's SentencePiece tokenizer is supported from tokenizer.json. Put the model's sentencepiece.bpe.model beside it, " +
                "or use the folder the checkpoint was published in");
        string? charsmap = GetString(FindPrecompiled(root["normalizer"]), path, "normalizer's precompiled_charsmap");

        using var proto = new MemoryStream();
        WriteMessage(proto, 1, Piece("<unk>", 0, UnknownType));
        WriteMessage(proto, 1, Piece("<s>", 0, ControlType));
        WriteMessage(proto, 1, Piece("</s>", 0, ControlType));
        foreach (var (piece, score) in pieces.Skip(specials.Length).Take(pieces.Count - specials.Length - 1))
            WriteMessage(proto, 1, Piece(piece, score, type: null));
        using var trainer = new MemoryStream();
        WriteVarintField(trainer, 3, Unigram);
        WriteVarintField(trainer, 4, pieces.Count - 2);
        WriteMessage(proto, 2, trainer.ToArray());
        using var normalizer = new MemoryStream();
        WriteBytesField(normalizer, 1, Encoding.UTF8.GetBytes("nmt_nfkc"));
        if (charsmap is not null) WriteBytesField(normalizer, 2, Base64(charsmap, path));
        WriteMessage(proto, 3, normalizer.ToArray());
        return proto.ToArray();
    }

    private static byte[] Base64(string text, string path)
    {
        try { return Convert.FromBase64String(text); }
        catch (FormatException) { throw Invalid(path, "has a precompiled_charsmap that is not base64; replace the file with the one from the model's original folder"); }
    }

    /// <summary>The precompiled_charsmap of a Precompiled normalizer, alone or inside a Sequence.</summary>
    private static JsonNode? FindPrecompiled(JsonNode? normalizer) => normalizer switch
    {
        JsonObject o when o["type"]?.ToString() == "Precompiled" => o["precompiled_charsmap"],
        JsonObject o when o["normalizers"] is JsonArray list => list.Select(FindPrecompiled).FirstOrDefault(n => n is not null),
        _ => null,
    };

    private static byte[] Piece(string piece, float score, int? type)
    {
        using var stream = new MemoryStream();
        WriteBytesField(stream, 1, Encoding.UTF8.GetBytes(piece));
        WriteTag(stream, 2, wireType: 5);
        Span<byte> value = stackalloc byte[4];
        BitConverter.TryWriteBytes(value, score);
        if (!BitConverter.IsLittleEndian) value.Reverse();
        stream.Write(value);
        if (type is int t) WriteVarintField(stream, 3, t);
        return stream.ToArray();
    }

    private static void WriteMessage(Stream stream, int field, byte[] message) => WriteBytesField(stream, field, message);

    private static void WriteBytesField(Stream stream, int field, byte[] bytes)
    {
        WriteTag(stream, field, wireType: 2);
        WriteVarint(stream, (ulong)bytes.Length);
        stream.Write(bytes);
    }

    private static void WriteVarintField(Stream stream, int field, long value)
    {
        WriteTag(stream, field, wireType: 0);
        WriteVarint(stream, (ulong)value);
    }

    private static void WriteTag(Stream stream, int field, int wireType) => WriteVarint(stream, (ulong)((field << 3) | wireType));

    private static void WriteVarint(Stream stream, ulong value)
    {
        while (value >= 0x80)
        {
            stream.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        stream.WriteByte((byte)value);
    }
}
