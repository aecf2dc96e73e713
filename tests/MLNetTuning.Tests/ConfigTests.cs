using MLNetTuning.Models;

namespace MLNetTuning.Tests;

public sealed class BertConfigTests
{
    private static string Write(string json)
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("mlnt-config").FullName, "config.json");
        File.WriteAllText(path, json);
        return path;
    }

    private const string MiniLm = """
        {"architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "gradient_checkpointing": false, "hidden_act": "gelu",
         "hidden_dropout_prob": 0.1, "hidden_size": 384, "initializer_range": 0.02, "intermediate_size": 1536, "layer_norm_eps": 1e-12,
         "max_position_embeddings": 512, "model_type": "bert", "num_attention_heads": 12, "num_hidden_layers": 6, "pad_token_id": 0,
         "position_embedding_type": "absolute", "transformers_version": "4.8.2", "type_vocab_size": 2, "use_cache": true, "vocab_size": 30522}
        """;

    [Fact]
    public void ReadsAHuggingFaceConfigAndWritesItBack()
    {
        var config = BertConfig.FromFile(Write(MiniLm));
        Assert.Equal((30522, 384, 6, 12, 1536, 32), (config.VocabSize, config.HiddenSize, config.NumHiddenLayers, config.NumAttentionHeads, config.IntermediateSize, config.HeadDim));
        Assert.Equal(1e-12, config.LayerNormEps);

        var again = BertConfig.FromJson(config.ToJson(), "round trip");
        Assert.Equal(config.ToJsonString(), again.ToJsonString());
        Assert.Equal("4.8.2", (string?)again.ToJson()["transformers_version"]);   // unknown keys survive
    }

    [Fact]
    public void ReadsLabelsFromId2Label()
    {
        var json = MiniLm.Replace("\"vocab_size\": 30522}", "\"vocab_size\": 30522, \"id2label\": {\"1\": \"spam\", \"0\": \"ham\"}, \"problem_type\": \"single_label_classification\"}");
        var config = BertConfig.FromFile(Write(json));
        Assert.Equal(["ham", "spam"], config.Labels);
        Assert.Equal("spam", (string?)config.ToJson()["id2label"]!["1"]);
        Assert.Equal(1, (int?)config.ToJson()["label2id"]!["spam"]);
    }

    [Theory]
    [InlineData("\"hidden_size\": 384", "\"hidden_size\": 380", "not a multiple of the number of attention heads (12)")]
    [InlineData("\"hidden_size\": 384,", "", "'hidden_size' is missing")]
    [InlineData("\"hidden_act\": \"gelu\"", "\"hidden_act\": \"swish\"", "hidden_act 'swish' is not supported")]
    [InlineData("\"model_type\": \"bert\"", "\"model_type\": \"gpt2\"", "model_type is 'gpt2', which is not supported; the supported model types are 'bert', 'roberta', 'xlm-roberta', 'distilbert'")]
    [InlineData("\"hidden_dropout_prob\": 0.1", "\"hidden_dropout_prob\": 1.5", "hidden_dropout_prob must be in [0, 1)")]
    [InlineData("\"num_hidden_layers\": 6", "\"num_hidden_layers\": \"six\"", "'num_hidden_layers' must be an integer")]
    [InlineData("\"position_embedding_type\": \"absolute\"", "\"position_embedding_type\": \"relative_key\"", "'relative_key' is not supported")]
    public void InvalidValuesGiveErrorsThatNameTheFileAndKey(string from, string to, string message)
    {
        var path = Write(MiniLm.Replace(from, to));
        var error = Assert.Throws<InvalidDataException>(() => BertConfig.FromFile(path));
        Assert.Contains(message, error.Message);
        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void MissingAndMalformedFilesAreReported()
    {
        Assert.Throws<FileNotFoundException>(() => BertConfig.FromFile("/nonexistent/config.json"));
        var error = Assert.Throws<InvalidDataException>(() => BertConfig.FromFile(Write("{ not json")));
        Assert.Contains("not valid JSON", error.Message);
    }
}
