using System.Text.Json.Nodes;
using MLNetTuning.Checkpoints;
using MLNetTuning.Models;
using MLNetTuning.Text;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

/// <summary>
/// Tiny random Hugging Face folders of every family, each with its own tokenizer kind: RoBERTa with a byte-level BPE whose
/// merges spell the test words, XLM-RoBERTa with the committed SentencePiece fixture model, DistilBERT and BERT with
/// <see cref="TinyCheckpoint.Vocab"/>.
/// </summary>
internal static class TinyFamilyCheckpoint
{
    public static readonly string[] Families = ["bert", "roberta", "xlm-roberta", "distilbert"];

    /// <summary>Where the SentencePiece fixture lives (see Data/sentencepiece/make_fixture.py).</summary>
    public static string SentencePieceFixture(string file) => Path.Combine(AppContext.BaseDirectory, "Data", "sentencepiece", file);

    /// <summary>Writes a tiny random base checkpoint of <paramref name="modelType"/> and returns its folder.</summary>
    public static string Create(string modelType, int seed = 1, int hidden = 32, int layers = 2, int heads = 4, int maxTokens = 64)
    {
        if (modelType == "bert") return TinyCheckpoint.Create(seed, hidden, layers, heads, maxTokens);
        Native.TorchNativeLoader.EnsureLoaded();
        var tokenizer = Tokenizer(modelType);
        var json = modelType == "distilbert"
            ? new JsonObject
            {
                ["model_type"] = modelType, ["vocab_size"] = tokenizer.VocabSize, ["dim"] = hidden, ["n_layers"] = layers, ["n_heads"] = heads,
                ["hidden_dim"] = hidden * 2, ["max_position_embeddings"] = maxTokens, ["architectures"] = new JsonArray("DistilBertModel"),
            }
            : new JsonObject
            {
                ["model_type"] = modelType, ["vocab_size"] = tokenizer.VocabSize, ["hidden_size"] = hidden, ["num_hidden_layers"] = layers,
                ["num_attention_heads"] = heads, ["intermediate_size"] = hidden * 2, ["max_position_embeddings"] = maxTokens + 2,
                ["pad_token_id"] = 1, ["type_vocab_size"] = 1, ["layer_norm_eps"] = 1e-5, ["architectures"] = new JsonArray(modelType == "roberta" ? "RobertaModel" : "XLMRobertaModel"),
            };
        var config = BertConfig.FromJson(json, $"tiny {modelType} config");
        random.manual_seed(seed);
        using var model = ModelFamilies.Of(config).CreateEncoder(config, true, null);
        model.InitializeWeights();
        string folder = Path.Combine(Directory.CreateTempSubdirectory("mlnt-tiny").FullName, "tiny-" + modelType);
        HuggingFaceFolder.Save(folder, config, model.state_dict(), tokenizer);
        return folder;
    }

    /// <summary>The family's tokenizer over the test words.</summary>
    public static ITextTokenizer Tokenizer(string modelType) => modelType switch
    {
        "roberta" => ByteLevelBpe(TinyCheckpoint.Vocab.Where(w => w.All(char.IsLetterOrDigit))),
        "xlm-roberta" => SentencePieceTextTokenizer.FromModel(File.ReadAllBytes(SentencePieceFixture("spm.model"))),
        _ => BertTextTokenizer.FromVocab(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", TinyCheckpoint.Vocab))), new BertTokenizerSettings()),
    };

    /// <summary>
    /// A byte-level BPE with RoBERTa's specials, the 256 byte symbols, and merges that build each word letter by letter,
    /// then "Ġ" + word, so that every test word is one token with or without the space before it.
    /// </summary>
    public static ByteLevelBpeTextTokenizer ByteLevelBpe(IEnumerable<string> words)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal) { ["<s>"] = 0, ["<pad>"] = 1, ["</s>"] = 2, ["<unk>"] = 3 };
        foreach (char symbol in ByteSymbols()) vocab.TryAdd(symbol.ToString(), vocab.Count);
        var merges = new List<string>();
        foreach (string word in words)
        {
            string left = word[..1];
            for (int i = 1; i < word.Length; i++)
            {
                string merged = left + word[i];
                if (vocab.TryAdd(merged, vocab.Count)) merges.Add($"{left} {word[i]}");
                left = merged;
            }
        }
        // After every word's own merges, as in GPT-2's files: the space symbol joins a whole word last.
        foreach (string word in words)
            if (word.Length > 0 && vocab.TryAdd("\u0120" + word, vocab.Count)) merges.Add($"\u0120 {word}");
        vocab["<mask>"] = vocab.Count;
        return ByteLevelBpeTextTokenizer.Create(vocab, merges);
    }

    /// <summary>GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others move to 256 and up.</summary>
    public static char[] ByteSymbols()
    {
        var symbols = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
            symbols[b] = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) ? (char)b : (char)next++;
        return symbols;
    }
}
