using System.Text.Json.Nodes;
using MLNetTuning.Checkpoints;
using MLNetTuning.Models;
using MLNetTuning.Text;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

/// <summary>The family registry and the families' configs: reading, writing back, positions, key mapping and clear errors.</summary>
public sealed class FamilyConfigTests
{
    private static BertConfig Read(string json) => BertConfig.FromJson((JsonObject)JsonNode.Parse(json)!, "test config.json");

    [Fact]
    public void DistilBertConfig_ReadsItsOwnKeys_AndWritesThemBack()
    {
        var config = Read("""{"model_type": "distilbert", "vocab_size": 100, "dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 64, "activation": "relu", "dropout": 0.05, "attention_dropout": 0.07, "seq_classif_dropout": 0.3, "qa_dropout": 0.15, "tie_weights_": true}""");
        Assert.IsType<DistilBertConfig>(config);
        Assert.Equal((32, 2, 4, 64, "relu"), (config.HiddenSize, config.NumHiddenLayers, config.NumAttentionHeads, config.IntermediateSize, config.HiddenAct));
        Assert.Equal((0.05, 0.07, 0.3, 0.15), (config.HiddenDropoutProb, config.AttentionProbsDropoutProb, config.ClassifierDropout!.Value, config.QuestionAnsweringDropout));
        Assert.Equal(0.05, config.TokenClassifierDropout);
        var json = config.ToJson();
        Assert.Equal("distilbert", json["model_type"]!.GetValue<string>());
        Assert.Equal(32, json["dim"]!.GetValue<int>());
        Assert.Null(json["hidden_size"]);
        Assert.True(json["tie_weights_"]!.GetValue<bool>());   // unknown keys kept
        var again = BertConfig.FromJson(json, "round trip");
        Assert.Equal(config.ToJsonString(), again.ToJsonString());
    }

    [Fact]
    public void RobertaConfig_HasRobertasDefaults_CountsPositionsFromPaddingIdx_AndWritesItsModelType()
    {
        var config = Read("""{"model_type": "xlm-roberta", "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64}""");
        Assert.IsType<RobertaConfig>(config);
        Assert.Equal((1, 1, 1e-5, 514, 512), (config.PadTokenId, config.TypeVocabSize, config.LayerNormEps, config.MaxPositionEmbeddings, config.MaxTokens));
        Assert.Equal("xlm-roberta", config.ToJson()["model_type"]!.GetValue<string>());
        Assert.Equal("XLMRobertaForTokenClassification", ModelFamilies.Of(config).Architecture("BertForTokenClassification"));
        Native.TorchNativeLoader.EnsureLoaded();
        // Right padding with pad id 1: real tokens at 2, 3, …, padding at 1.
        using var ids = tensor(new long[,] { { 0, 50, 60, 2 }, { 0, 70, 2, 1 } });
        using var positions = config.PositionIds(ids);
        Assert.Equal(new long[] { 2, 3, 4, 5, 2, 3, 4, 1 }, positions.data<long>().ToArray());
    }

    [Theory]
    [InlineData("""{"model_type": "gpt2", "vocab_size": 10}""", "model_type is 'gpt2', which is not supported; the supported model types are 'bert', 'roberta', 'xlm-roberta', 'distilbert'")]
    [InlineData("""{"model_type": "distilbert", "vocab_size": 100, "n_layers": 2, "n_heads": 4, "hidden_dim": 64}""", "the required key 'dim' is missing")]
    [InlineData("""{"model_type": "distilbert", "vocab_size": 100, "dim": 30, "n_layers": 2, "n_heads": 4, "hidden_dim": 64}""", "see dim and n_heads")]
    [InlineData("""{"model_type": "distilbert", "vocab_size": 100, "dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 64, "sinusoidal_pos_embds": true}""", "sinusoidal_pos_embds is true, which is not supported")]
    [InlineData("""{"model_type": "roberta", "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 2}""", "leaves no position for a token")]
    public void BadConfigs_NameTheFileTheKeyAndWhatIsAllowed(string json, string message)
    {
        var error = Assert.Throws<InvalidDataException>(() => Read(json));
        Assert.Contains("test config.json", error.Message);
        Assert.Contains(message, error.Message);
    }

    [Theory]
    [InlineData("roberta", "roberta.encoder.layer.0.attention.self.query.weight", "", "encoder.layer.0.attention.self.query.weight")]
    [InlineData("roberta", "encoder.layer.0.attention.self.query.weight", "roberta.", "roberta.encoder.layer.0.attention.self.query.weight")]
    [InlineData("roberta", "roberta.embeddings.token_type_ids", "", null)]
    [InlineData("distilbert", "distilbert.transformer.layer.1.ffn.lin1.weight", "", "transformer.layer.1.ffn.lin1.weight")]
    [InlineData("distilbert", "transformer.layer.1.sa_layer_norm.weight", "distilbert.", "distilbert.transformer.layer.1.sa_layer_norm.weight")]
    [InlineData("distilbert", "pre_classifier.weight", "distilbert.", "pre_classifier.weight")]
    public void CheckpointKeys_MapWithTheFamilysPrefix(string modelType, string key, string target, string? expected) =>
        Assert.Equal(expected, ModelFamilies.Get(modelType, "test").MapKey(key, target));

    [Theory]
    [InlineData("distilbert.transformer.layer.0.sa_layer_norm.weight", true)]
    [InlineData("distilbert.transformer.layer.0.output_layer_norm.bias", true)]
    [InlineData("roberta.embeddings.LayerNorm.weight", true)]
    [InlineData("classifier.out_proj.bias", true)]
    [InlineData("distilbert.transformer.layer.0.ffn.lin1.weight", false)]
    [InlineData("pre_classifier.weight", false)]
    public void NoWeightDecay_CoversEveryFamilysLayerNormsAndBiases(string name, bool noDecay) =>
        Assert.Equal(noDecay, ModelFamily.NoWeightDecay(name));

    [Fact]
    public void AFolderWithoutTheFamilysTokenizerFiles_SaysWhichFilesItLookedFor()
    {
        string folder = TinyFamilyCheckpoint.Create("roberta", hidden: 8, layers: 1, heads: 2, maxTokens: 16);
        try
        {
            File.Delete(Path.Combine(folder, "merges.txt"));
            var error = Assert.Throws<FileNotFoundException>(() => HuggingFaceFolder.Load(folder));
            Assert.Contains("looked for tokenizer.json, and for vocab.json with merges.txt", error.Message);
            File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\na b c\n");
            var bad = Assert.Throws<InvalidDataException>(() => HuggingFaceFolder.Load(folder));
            Assert.Contains("merges.txt line 2 is 'a b c', expected two tokens separated by one space", bad.Message);
        }
        finally { Directory.Delete(Path.GetDirectoryName(folder)!, recursive: true); }
    }

    [Fact]
    public void SentencePieceFolder_WithoutTheModelFile_SaysSo()
    {
        string folder = Directory.CreateTempSubdirectory("mlnt-xlmr-").FullName;
        try
        {
            var error = Assert.Throws<FileNotFoundException>(() => TokenizerFolder.Load(folder, TokenizerKind.SentencePieceUnigram));
            Assert.Contains("looked for sentencepiece.bpe.model", error.Message);
            File.WriteAllBytes(Path.Combine(folder, "sentencepiece.bpe.model"), [1, 2, 3, 4]);
            var bad = Assert.Throws<InvalidDataException>(() => TokenizerFolder.Load(folder, TokenizerKind.SentencePieceUnigram));
            Assert.Contains("is not a SentencePiece model", bad.Message);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
