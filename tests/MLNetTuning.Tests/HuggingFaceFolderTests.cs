using System.Text.Json.Nodes;
using MLNetTuning.Checkpoints;
using MLNetTuning.Models;
using MLNetTuning.Native;
using MLNetTuning.Pretrained;
using MLNetTuning.Text;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

public sealed class HuggingFaceFolderTests : IDisposable
{
    private readonly string _parent = Directory.CreateTempSubdirectory("mlnt-hf").FullName;

    public HuggingFaceFolderTests() => TorchNativeLoader.EnsureLoaded();

    public void Dispose() => Directory.Delete(_parent, recursive: true);

    private string Target => Path.Combine(_parent, "model");

    private static BertConfig Config(params string[] labels)
    {
        var config = TinyBert.Config(vocab: TinyCheckpoint.Vocab.Length);
        if (labels.Length > 0) config.Labels = labels;
        return config;
    }

    private static BertTextTokenizer Tokenizer()
    {
        using var vocab = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", TinyCheckpoint.Vocab)));
        return BertTextTokenizer.FromVocab(vocab, new BertTokenizerSettings(ModelMaxLength: 64));
    }

    /// <summary>
    /// Sets every parameter from a formula of <paramref name="seed"/>: other test classes draw from torch's global
    /// generator in parallel, so a seeded initialisation could not be rebuilt reliably.
    /// </summary>
    private static void Fill(nn.Module module, int seed)
    {
        using var noGrad = no_grad();
        int i = 0;
        foreach (var (_, parameter) in module.named_parameters())
        {
            using var values = arange(parameter.NumberOfElements, dtype: ScalarType.Float32).mul(0.37 + 0.011 * i++).add(seed).sin().mul(0.2);
            using var shaped = values.reshape(parameter.shape);
            parameter.copy_(shaped);
        }
    }

    /// <summary>Two rows of ids, the second padded.</summary>
    private static (Tensor Ids, Tensor Mask) Batch()
    {
        var ids = tensor(new long[,] { { 2, 5, 6, 7, 8, 3 }, { 2, 13, 14, 3, 0, 0 } });
        var mask = tensor(new long[,] { { 1, 1, 1, 1, 1, 1 }, { 1, 1, 1, 1, 0, 0 } });
        return (ids, mask);
    }

    private static (Tensor LastHidden, Tensor Pooled) Outputs(BertModel model)
    {
        model.eval();
        using var noGrad = no_grad();
        var (ids, mask) = Batch();
        using (ids)
        using (mask)
        {
            var (last, pooled) = model.Forward(ids, mask);
            return (last, pooled!);
        }
    }

    [Fact]
    public void SavedEncoder_LoadsBack_WithBitIdenticalOutputs()
    {
        var config = Config();
        using var saved = new BertModel(config);
        Fill(saved, seed: 1);
        HuggingFaceFolder.Save(Target, config, saved.state_dict(), Tokenizer());

        using var pretrained = HuggingFaceFolder.Load(Target);
        using var loaded = new BertModel(pretrained.Config);
        pretrained.LoadEncoderInto(loaded);

        var (expectedLast, expectedPooled) = Outputs(saved);
        var (actualLast, actualPooled) = Outputs(loaded);
        using (expectedLast) using (expectedPooled) using (actualLast) using (actualPooled)
        {
            TensorAsserts.AssertBitEqual(expectedLast, actualLast, "last_hidden_state");
            TensorAsserts.AssertBitEqual(expectedPooled, actualPooled, "pooler_output");
        }
        Assert.Equal(TinyCheckpoint.Vocab.Length, pretrained.Tokenizer.VocabSize);
        Assert.Equal(Target, pretrained.Source);
    }

    [Fact]
    public void TinyCheckpoint_LoadsIntoAnEncoder_WithEveryWeightFromTheFile()
    {
        string folder = TinyCheckpoint.Create(seed: 2);
        try
        {
            using var pretrained = HuggingFaceFolder.Load(folder);
            using var model = new BertModel(pretrained.Config);
            Fill(model, seed: 99);   // so that a weight the load skipped would show

            pretrained.LoadEncoderInto(model);

            var fromFile = SafeTensors.Load(Path.Combine(folder, SafeTensors.SingleFileName));
            try
            {
                var state = model.state_dict();
                Assert.Equal(fromFile.Keys.Order(), state.Keys.Order());
                foreach (var (key, value) in fromFile) TensorAsserts.AssertBitEqual(value, state[key], key);
            }
            finally { TensorAsserts.DisposeAll(fromFile); }
            var (last, pooled) = Outputs(model);
            using (last) using (pooled)
            {
                // A second model loaded from the same folder computes the very same outputs.
                using var again = new BertModel(pretrained.Config);
                pretrained.LoadEncoderInto(again);
                var (last2, pooled2) = Outputs(again);
                using (last2) using (pooled2) TensorAsserts.AssertBitEqual(last, last2, "last_hidden_state");
                Assert.True(last.isfinite().all().item<bool>());
            }
        }
        finally { Directory.Delete(Path.GetDirectoryName(folder)!, recursive: true); }
    }

    [Fact]
    public void SavedConfig_UsesHuggingFaceKeyNames_AndTorchDType()
    {
        var config = Config("negative", "positive");
        using var model = new BertModel(config);
        HuggingFaceFolder.Save(Target, config, model.state_dict(), Tokenizer());
        string half = Path.Combine(_parent, "half");
        HuggingFaceFolder.Save(half, config, model.state_dict(), Tokenizer(), floatDType: ScalarType.BFloat16);

        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(Target, HuggingFaceFolder.ConfigFile)))!.AsObject();
        Assert.Equal("bert", (string?)json["model_type"]);
        Assert.Equal(32, (int)json["hidden_size"]!);
        Assert.Equal(2, (int)json["num_hidden_layers"]!);
        Assert.Equal(4, (int)json["num_attention_heads"]!);
        Assert.Equal(64, (int)json["intermediate_size"]!);
        Assert.Equal(TinyCheckpoint.Vocab.Length, (int)json["vocab_size"]!);
        Assert.Equal("gelu", (string?)json["hidden_act"]);
        Assert.Equal("negative", (string?)json["id2label"]!["0"]);
        Assert.Equal(1, (int)json["label2id"]!["positive"]!);
        Assert.Equal("float32", (string?)json["torch_dtype"]);
        Assert.DoesNotContain(json, kv => kv.Key.Any(char.IsUpper));   // no C# property names leak out

        var halfJson = JsonNode.Parse(File.ReadAllText(Path.Combine(half, HuggingFaceFolder.ConfigFile)))!;
        Assert.Equal("bfloat16", (string?)halfJson["torch_dtype"]);
        using var pretrained = HuggingFaceFolder.Load(half);
        Assert.All(pretrained.Weights.Values, w => Assert.Equal(ScalarType.Float32, w.dtype));
        Assert.Equal(["negative", "positive"], pretrained.Config.Labels);
        Assert.True(File.Exists(Path.Combine(Target, "vocab.txt")));
        Assert.True(File.Exists(Path.Combine(Target, "tokenizer_config.json")));
    }

    [Fact]
    public void Save_OverAnExistingFolder_ReplacesItWhole()
    {
        var config = Config();
        using var first = new BertModel(config);
        Fill(first, seed: 1);
        HuggingFaceFolder.Save(Target, config, first.state_dict(), Tokenizer());
        File.WriteAllText(Path.Combine(Target, "stale.txt"), "left from an earlier run");
        using var second = new BertModel(config);
        Fill(second, seed: 2);

        HuggingFaceFolder.Save(Target, config, second.state_dict(), Tokenizer());

        Assert.False(File.Exists(Path.Combine(Target, "stale.txt")));
        Assert.Equal([Target], Directory.GetFileSystemEntries(_parent));   // no staging or retired folder left
        using var pretrained = HuggingFaceFolder.Load(Target);
        foreach (var (key, value) in second.state_dict()) TensorAsserts.AssertBitEqual(value, pretrained.Weights[key], key);
    }

    [Fact]
    public void Save_FailingMidway_LeavesTheOldFolderIntact_AndNoTempFolder()
    {
        var config = Config();
        using var model = new BertModel(config);
        Fill(model, seed: 3);
        HuggingFaceFolder.Save(Target, config, model.state_dict(), Tokenizer());
        var before = Directory.GetFiles(Target).ToDictionary(Path.GetFileName, File.ReadAllBytes);
        // An unsupported dtype fails while the weights are written, after config.json is already in the staging folder.
        using var complexTensor = zeros(3, dtype: ScalarType.ComplexFloat32);
        var broken = model.state_dict().Append(new("zz.complex", complexTensor));

        var e = Assert.Throws<ArgumentException>(() => HuggingFaceFolder.Save(Target, config, broken, Tokenizer()));

        Assert.Contains("zz.complex", e.Message);
        Assert.Equal([Target], Directory.GetFileSystemEntries(_parent));
        var after = Directory.GetFiles(Target).ToDictionary(Path.GetFileName, File.ReadAllBytes);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (name, bytes) in before) Assert.True(bytes.AsSpan().SequenceEqual(after[name]), $"{name} changed");
    }

    [Fact]
    public void Save_FailingForANewFolder_CreatesNothing()
    {
        var config = Config();
        using var complexTensor = zeros(3, dtype: ScalarType.ComplexFloat32);

        Assert.Throws<ArgumentException>(() => HuggingFaceFolder.Save(Target, config, [new("x", complexTensor)], Tokenizer()));

        Assert.Empty(Directory.GetFileSystemEntries(_parent));
    }

    [Fact]
    public void Save_OntoAFile_IsRefused()
    {
        File.WriteAllText(Target, "a file");
        using var model = new BertModel(Config());
        var e = Assert.Throws<IOException>(() => HuggingFaceFolder.Save(Target, Config(), model.state_dict(), Tokenizer()));
        Assert.Contains(Target, e.Message);
        Assert.Equal("a file", File.ReadAllText(Target));
    }

    [Theory]
    [InlineData("config.json", "config.json")]
    [InlineData("model.safetensors", "model.safetensors")]
    [InlineData("vocab.txt", "vocab.txt")]
    public void Folder_MissingAFile_NamesTheFolderAndTheFile(string delete, string mentioned)
    {
        string folder = TinyCheckpoint.Create(seed: 4);
        try
        {
            File.Delete(Path.Combine(folder, delete));

            // A missing config or weights file is an InvalidDataException; a missing tokenizer a FileNotFoundException.
            var e = Assert.ThrowsAny<Exception>(() => HuggingFaceFolder.Load(folder).Dispose());
            Assert.True(e is InvalidDataException or FileNotFoundException, e.GetType().Name);

            Assert.Contains(folder, e.Message);
            Assert.Contains(mentioned, e.Message);
        }
        finally { Directory.Delete(Path.GetDirectoryName(folder)!, recursive: true); }
    }

    [Fact]
    public void Checkpoint_WithAWrongShape_ListsTheKeyAndBothShapes()
    {
        var config = Config();
        using var model = new BertModel(config);
        var state = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
        using var wrong = zeros(48, 32);
        state["encoder.layer.1.intermediate.dense.weight"] = wrong;
        HuggingFaceFolder.Save(Target, config, state, Tokenizer());

        using var pretrained = HuggingFaceFolder.Load(Target);
        using var target = new BertModel(pretrained.Config);
        var e = Assert.Throws<InvalidDataException>(() => pretrained.LoadEncoderInto(target));

        Assert.Contains(Target, e.Message);
        Assert.Contains("Shape mismatches, model vs checkpoint (1):", e.Message);
        Assert.Contains("encoder.layer.1.intermediate.dense.weight: [64, 32] vs [48, 32]", e.Message);
    }

    [Fact]
    public void PretrainingCheckpoint_WithBertPrefixAndClsHeads_LoadsIntoTheEncoder()
    {
        var config = Config();
        using var source = new BertModel(config);
        Fill(source, seed: 5);
        // As BertForPreTraining saves it: "bert." before every encoder key, position_ids, and the cls.* heads.
        var state = source.state_dict().ToDictionary(kv => "bert." + kv.Key, kv => kv.Value);
        using var positionIds = arange(64, dtype: ScalarType.Int64).unsqueeze(0);
        using var mlmBias = zeros(config.VocabSize);
        using var transform = ones(32, 32);
        using var nsp = ones(2, 32);
        state["bert.embeddings.position_ids"] = positionIds;
        state["cls.predictions.bias"] = mlmBias;
        state["cls.predictions.transform.dense.weight"] = transform;
        state["cls.seq_relationship.weight"] = nsp;
        HuggingFaceFolder.Save(Target, config, state, Tokenizer());

        using var pretrained = HuggingFaceFolder.Load(Target);
        using var encoder = new BertModel(pretrained.Config);
        pretrained.LoadEncoderInto(encoder);

        foreach (var (key, value) in source.state_dict()) TensorAsserts.AssertBitEqual(value, encoder.state_dict()[key], key);
    }

    [Fact]
    public void SequenceClassificationFolder_LoadsStrictly_WithIdenticalLogits()
    {
        var config = Config("spam", "ham", "unsure");
        config.Architectures = ["BertForSequenceClassification"];
        using var saved = new BertForSequenceClassification(config);
        Fill(saved, seed: 6);
        HuggingFaceFolder.Save(Target, config, saved.state_dict(), Tokenizer());

        using var pretrained = HuggingFaceFolder.Load(Target);
        Assert.Equal(["spam", "ham", "unsure"], pretrained.Config.Labels);
        Assert.Contains("classifier.weight", pretrained.Weights.Keys);
        Assert.Contains("bert.pooler.dense.weight", pretrained.Weights.Keys);
        using var loaded = new BertForSequenceClassification(pretrained.Config);
        pretrained.LoadTaskModelInto(loaded);

        saved.eval();
        loaded.eval();
        var (ids, mask) = Batch();
        using (ids) using (mask) using (no_grad())
        {
            using var expected = saved.Forward(ids, mask);
            using var actual = loaded.Forward(ids, mask);
            Assert.Equal([2L, 3L], actual.shape);
            TensorAsserts.AssertBitEqual(expected, actual, "logits");
        }

        // The same folder also serves as a pretrained encoder: its classifier is dropped on purpose.
        using var encoder = new BertModel(pretrained.Config);
        pretrained.LoadEncoderInto(encoder);
        TensorAsserts.AssertBitEqual(saved.Bert.WordEmbeddings.weight!, encoder.Embeddings.WordEmbeddings.weight!, "word_embeddings");
    }

    [Fact]
    public void EncoderFolder_IntoASequenceClassifier_ReportsTheMissingHead()
    {
        string folder = TinyCheckpoint.Create(seed: 7);
        try
        {
            using var pretrained = HuggingFaceFolder.Load(folder);
            using var model = new BertForSequenceClassification(pretrained.Config);

            var e = Assert.Throws<InvalidDataException>(() => pretrained.LoadTaskModelInto(model));

            Assert.Contains("Missing from the checkpoint (2):", e.Message);
            Assert.Contains("classifier.weight", e.Message);
            Assert.Contains("classifier.bias", e.Message);
            Assert.DoesNotContain("unexpected", e.Message);
        }
        finally { Directory.Delete(Path.GetDirectoryName(folder)!, recursive: true); }
    }
}
