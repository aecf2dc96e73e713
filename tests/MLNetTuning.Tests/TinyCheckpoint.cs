using MLNetTuning.Checkpoints;
using MLNetTuning.Models;
using MLNetTuning.Text;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

/// <summary>Tiny random Hugging Face BERT folders that tests make themselves: config.json, model.safetensors and vocab.txt.</summary>
internal static class TinyCheckpoint
{
    /// <summary>A word-level vocabulary: the specials, then lower-case English words the tests use, then filler tokens.</summary>
    public static readonly string[] Vocab =
    [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
        "free", "money", "win", "prize", "click", "now", "offer", "cash", "meeting", "project", "lunch", "report",
        "tomorrow", "team", "code", "review", "the", "a", "is", "and", "to", "you", "we", "good", "bad", "great", "terrible",
        "happy", "sad", "very", "not", ",", ".", "!", "?", "##s", "##ing",
        .. Enumerable.Range(0, 58).Select(i => $"w{i}"),
    ];

    /// <summary>Writes a tiny random BERT base checkpoint (keys as Hugging Face's BertModel saves them) and returns its folder.</summary>
    public static string Create(int seed = 1, int hidden = 32, int layers = 2, int heads = 4, int maxPositions = 64)
    {
        Native.TorchNativeLoader.EnsureLoaded();
        var config = new BertConfig
        {
            VocabSize = Vocab.Length, HiddenSize = hidden, NumHiddenLayers = layers, NumAttentionHeads = heads,
            IntermediateSize = hidden * 2, MaxPositionEmbeddings = maxPositions, Architectures = ["BertModel"],
        };
        random.manual_seed(seed);
        using var model = new BertModel(config);
        model.InitializeWeights();
        string folder = Path.Combine(Directory.CreateTempSubdirectory("mlnt-tiny").FullName, "tiny-bert");
        using var vocab = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", Vocab)));
        var tokenizer = BertTextTokenizer.FromVocab(vocab, new BertTokenizerSettings(ModelMaxLength: maxPositions));
        HuggingFaceFolder.Save(folder, config, model.state_dict(), tokenizer);
        return folder;
    }
}
