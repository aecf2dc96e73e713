using System.Text.Json.Nodes;
using MLNetTuning.Checkpoints;
using MLNetTuning.Models;
using MLNetTuning.Native;
using MLNetTuning.Pretrained;
using MLNetTuning.Text;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

/// <summary>
/// The families against references, without their weights: the published parameter names and counts (on the meta device,
/// nothing allocated), and RoBERTa- and DistilBERT-format folders made from the real MiniLM weights, loaded through the
/// family path and compared with ONNX Runtime running MiniLM's own model.onnx.
/// </summary>
[Collection(RealModelCollection.Name)]
public sealed class ModelFamilyReferenceTests(ITestOutputHelper output) : IDisposable
{
    private const double Tolerance = 1e-4;
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-family-ref-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    // The published config.json of each checkpoint, as the Hub serves it.
    private const string RobertaBase = """
        {"architectures": ["RobertaForMaskedLM"], "attention_probs_dropout_prob": 0.1, "bos_token_id": 0, "eos_token_id": 2, "hidden_act": "gelu",
         "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
         "max_position_embeddings": 514, "model_type": "roberta", "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 1,
         "type_vocab_size": 1, "vocab_size": 50265}
        """;
    private const string XlmRobertaBase = """
        {"architectures": ["XLMRobertaForMaskedLM"], "attention_probs_dropout_prob": 0.1, "bos_token_id": 0, "eos_token_id": 2, "hidden_act": "gelu",
         "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
         "max_position_embeddings": 514, "model_type": "xlm-roberta", "num_attention_heads": 12, "num_hidden_layers": 12, "output_past": true,
         "pad_token_id": 1, "position_embedding_type": "absolute", "type_vocab_size": 1, "vocab_size": 250002}
        """;
    private const string DistilBertBaseUncased = """
        {"activation": "gelu", "architectures": ["DistilBertForMaskedLM"], "attention_dropout": 0.1, "dim": 768, "dropout": 0.1, "hidden_dim": 3072,
         "initializer_range": 0.02, "max_position_embeddings": 512, "model_type": "distilbert", "n_heads": 12, "n_layers": 6, "pad_token_id": 0,
         "qa_dropout": 0.1, "seq_classif_dropout": 0.2, "sinusoidal_pos_embds": false, "tie_weights_": true, "vocab_size": 30522}
        """;

    /// <summary>Hugging Face's parameter names of RobertaModel / XLMRobertaModel (BertModel's, with the pooler).</summary>
    private static IEnumerable<string> RobertaNames(int layers)
    {
        string[] embeddings = ["word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias"];
        string[] layer = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "attention.output.LayerNorm",
            "intermediate.dense", "output.dense", "output.LayerNorm"];
        return embeddings.Select(e => "embeddings." + e)
            .Concat(Enumerable.Range(0, layers).SelectMany(i => layer.SelectMany(p => new[] { $"encoder.layer.{i}.{p}.weight", $"encoder.layer.{i}.{p}.bias" })))
            .Concat(["pooler.dense.weight", "pooler.dense.bias"]);
    }

    /// <summary>Hugging Face's parameter names of DistilBertModel.</summary>
    private static IEnumerable<string> DistilBertNames(int layers)
    {
        string[] layer = ["attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin", "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm"];
        return new[] { "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias" }
            .Concat(Enumerable.Range(0, layers).SelectMany(i => layer.SelectMany(p => new[] { $"transformer.layer.{i}.{p}.weight", $"transformer.layer.{i}.{p}.bias" })));
    }

    public static TheoryData<string, string, long> PublishedCheckpoints => new()
    {
        { "roberta-base", RobertaBase, 124_645_632 },
        { "xlm-roberta-base", XlmRobertaBase, 278_043_648 },
        { "distilbert-base-uncased", DistilBertBaseUncased, 66_362_880 },
    };

    [Theory]
    [MemberData(nameof(PublishedCheckpoints))]
    public void OnTheMetaDevice_ParameterNamesAndCountMatchThePublishedCheckpoint(string checkpoint, string configJson, long published)
    {
        TorchNativeLoader.EnsureLoaded();
        var config = BertConfig.FromJson((JsonObject)JsonNode.Parse(configJson)!, checkpoint);
        var family = ModelFamilies.Of(config);
        using var model = family.CreateEncoder(config, true, new Device(TorchSharp.DeviceType.META));
        var parameters = model.named_parameters().ToList();
        long count = parameters.Sum(p => p.parameter.numel());
        output.WriteLine($"{checkpoint}: {count:N0} parameters in {parameters.Count} tensors (published {published:N0})");
        Assert.All(parameters, p => Assert.Equal(TorchSharp.DeviceType.META, p.parameter.device_type));
        Assert.Equal(published, count);
        var expectedNames = config.ModelType == "distilbert" ? DistilBertNames(config.NumHiddenLayers) : RobertaNames(config.NumHiddenLayers);
        Assert.Equal(expectedNames.Order(StringComparer.Ordinal), parameters.Select(p => p.name).Order(StringComparer.Ordinal));
        var shapes = parameters.ToDictionary(p => p.name, p => p.parameter.shape);
        Assert.Equal([config.VocabSize, 768], shapes["embeddings.word_embeddings.weight"]);
        Assert.Equal(config.ModelType == "distilbert" ? [512L, 768] : [514L, 768], shapes["embeddings.position_embeddings.weight"]);
        if (config.ModelType != "distilbert") Assert.Equal([1L, 768], shapes["embeddings.token_type_embeddings.weight"]);
        else Assert.Equal([768L, 3072], shapes["transformer.layer.5.ffn.lin2.weight"]);
    }

    /// <summary>MiniLM's encoder weights with Hugging Face's BertModel names (no prefix).</summary>
    private static (Dictionary<string, Tensor> Weights, BertConfig Config, BertTextTokenizer Tokenizer) MiniLm()
    {
        TorchNativeLoader.EnsureLoaded();
        using var pretrained = ModelResolver.Load("all-MiniLM-L6-v2");
        using var bert = new BertModel(pretrained.Config, addPoolingLayer: false);
        pretrained.LoadEncoderInto(bert, ignorePooler: true);
        var weights = bert.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        return (weights, pretrained.Config, (BertTextTokenizer)pretrained.Tokenizer);
    }

    /// <summary>
    /// RoBERTa's layout of BERT weights: positions are looked up at padding_idx + 1 + i, so the table gains padding_idx + 1
    /// leading rows; one token type (BERT's type 0); keys under "roberta.".
    /// </summary>
    private string RobertaFolder(Dictionary<string, Tensor> bert, BertConfig config)
    {
        int offset = config.PadTokenId + 1;
        var json = config.ToJson();
        json["model_type"] = "roberta";
        json["max_position_embeddings"] = config.MaxPositionEmbeddings + offset;
        json["type_vocab_size"] = 1;
        var roberta = BertConfig.FromJson(json, "MiniLM as RoBERTa");
        var weights = bert.ToDictionary(kv => "roberta." + kv.Key, kv => kv.Value);
        var positions = bert["embeddings.position_embeddings.weight"];
        weights["roberta.embeddings.position_embeddings.weight"] = cat([zeros(offset, positions.shape[1]), positions], 0);
        weights["roberta.embeddings.token_type_embeddings.weight"] = bert["embeddings.token_type_embeddings.weight"][..1];
        string folder = Path.Combine(_scratch, "minilm-roberta");
        HuggingFaceFolder.Save(folder, roberta, weights, TinyFamilyCheckpoint.ByteLevelBpe(["the"]));
        return folder;
    }

    /// <summary>DistilBERT's layout: no token types (BERT's type-0 row folded into every position), DistilBERT's key names.</summary>
    private string DistilBertFolder(Dictionary<string, Tensor> bert, BertConfig config)
    {
        var json = new JsonObject
        {
            ["model_type"] = "distilbert", ["vocab_size"] = config.VocabSize, ["dim"] = config.HiddenSize, ["n_layers"] = config.NumHiddenLayers,
            ["n_heads"] = config.NumAttentionHeads, ["hidden_dim"] = config.IntermediateSize, ["activation"] = config.HiddenAct,
            ["max_position_embeddings"] = config.MaxPositionEmbeddings, ["pad_token_id"] = config.PadTokenId,
        };
        var distil = BertConfig.FromJson(json, "MiniLM as DistilBERT");
        (string Bert, string Distil)[] renames =
        [
            ("attention.self.query", "attention.q_lin"), ("attention.self.key", "attention.k_lin"), ("attention.self.value", "attention.v_lin"),
            ("attention.output.dense", "attention.out_lin"), ("attention.output.LayerNorm", "sa_layer_norm"),
            ("intermediate.dense", "ffn.lin1"), ("output.dense", "ffn.lin2"), ("output.LayerNorm", "output_layer_norm"),
        ];
        var weights = new Dictionary<string, Tensor>();
        foreach (var (key, value) in bert)
        {
            if (key == "embeddings.token_type_embeddings.weight") continue;
            string name = key;
            if (key.StartsWith("encoder.layer.", StringComparison.Ordinal))
            {
                var parts = key.Split('.', 4);   // encoder, layer, i, rest
                var (bertPart, distilPart) = renames.Single(r => parts[3].StartsWith(r.Bert + ".", StringComparison.Ordinal));
                name = $"transformer.layer.{parts[2]}.{distilPart}{parts[3][bertPart.Length..]}";
            }
            weights["distilbert." + name] = value;
        }
        weights["distilbert.embeddings.position_embeddings.weight"] = bert["embeddings.position_embeddings.weight"] + bert["embeddings.token_type_embeddings.weight"][0];
        string folder = Path.Combine(_scratch, "minilm-distilbert");
        HuggingFaceFolder.Save(folder, distil, weights, TinyFamilyCheckpoint.Tokenizer("distilbert"));
        return folder;
    }

    [Theory]
    [InlineData("roberta")]
    [InlineData("distilbert")]
    public void MiniLmWeightsInTheFamilysLayout_GiveOnnxRuntimesHiddenStates_OnPaddedBatchesAndPairs(string family)
    {
        var (weights, config, tokenizer) = MiniLm();
        string folder = family == "roberta" ? RobertaFolder(weights, config) : DistilBertFolder(weights, config);
        using var pretrained = ModelResolver.Load(folder);
        Assert.Equal(family, pretrained.Config.ModelType);
        using var encoder = pretrained.LoadEncoder();
        Assert.Equal(family == "roberta" ? typeof(BertModel) : typeof(DistilBertModel), encoder.GetType());
        encoder.eval();

        // 16 e-mails cut at different lengths and 8 pairs, padded into one batch; one token type, as these families have.
        var texts = RepoFiles.ReadTsv("samples", "data", "spam", "test.tsv").Select(r => r[2]).Take(32).ToList();
        var inputs = new List<EncodedText>();
        for (int i = 0; i < 16; i++) inputs.Add(tokenizer.Encode(texts[i], maxLength: 8 + 7 * i));
        for (int i = 16; i < 32; i += 2) inputs.Add(tokenizer.Encode(texts[i], texts[i + 1], maxLength: 20 + 5 * i));
        var batch = tokenizer.Pad(inputs);
        var types = new long[batch.TokenTypeIds.Length];
        var reference = OrtReference.Run(EmbeddedModels.Get("all-MiniLM-L6-v2"), batch.InputIds, batch.AttentionMask, types, batch.BatchSize, batch.SequenceLength);

        long[] shape = [batch.BatchSize, batch.SequenceLength];
        using var ids = tensor(batch.InputIds, shape);
        using var mask = tensor(batch.AttentionMask, shape);
        float[] last;
        using (no_grad())
        {
            var (hidden, _) = encoder.Forward(ids, mask);
            using (hidden) last = hidden.data<float>().ToArray();
        }
        int h = reference.Hidden;
        double max = 0;
        int compared = 0;
        for (int i = 0; i < batch.BatchSize * batch.SequenceLength; i++)
        {
            if (batch.AttentionMask[i] == 0) continue;   // padded positions are not compared
            compared++;
            for (int k = 0; k < h; k++) max = Math.Max(max, Math.Abs(last[i * h + k] - reference.LastHiddenState[i * h + k]));
        }
        output.WriteLine($"{family}: batch {batch.BatchSize}x{batch.SequenceLength}, {compared} real tokens, max |Δ| last_hidden_state {max:E2}");
        Assert.True(batch.AttentionMask.Contains(0), "the batch must hold padding");
        Assert.True(max <= Tolerance, $"{family}: last_hidden_state max |Δ| {max:E2} > {Tolerance:E0}");
        foreach (var tensor in weights.Values) tensor.Dispose();
    }
}
