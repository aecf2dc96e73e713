using MLNetTuning.Models;

namespace MLNetTuning.Tests;

/// <summary>Tiny random BERT configurations that tests make themselves (no download, runs in milliseconds).</summary>
internal static class TinyBert
{
    public static BertConfig Config(int labels = 2, int vocab = 100, int hidden = 32, int layers = 2, int heads = 4) => new()
    {
        VocabSize = vocab,
        HiddenSize = hidden,
        NumHiddenLayers = layers,
        NumAttentionHeads = heads,
        IntermediateSize = hidden * 2,
        MaxPositionEmbeddings = 64,
        Labels = Enumerable.Range(0, labels).Select(i => $"LABEL_{i}").ToArray(),
    };
}
