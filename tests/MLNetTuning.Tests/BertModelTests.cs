using MLNetTuning.Models;
using MLNetTuning.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

public sealed class BertModelTests
{
    public BertModelTests() => TorchNativeLoader.EnsureLoaded();

    [Fact]
    public void BertBaseUncasedNamesAndShapesMatchHuggingFace()
    {
        var expected = File.ReadLines(Path.Combine(AppContext.BaseDirectory, "Data", "bert-base-uncased-for-sequence-classification.keys.txt"))
            .Where(l => !l.StartsWith('#'))
            .Select(l => l.Split('\t'))
            .ToDictionary(p => p[0], p => p[1]);
        var config = new BertConfig
        {
            VocabSize = 30522, HiddenSize = 768, NumHiddenLayers = 12, NumAttentionHeads = 12, IntermediateSize = 3072,
        };
        // The meta device allocates no memory: the 110M-parameter model is built for its names and shapes only.
        using var model = new BertForSequenceClassification(config, device: new Device(DeviceType.META));
        var actual = model.state_dict().ToDictionary(kv => kv.Key, kv => string.Join(",", kv.Value.shape));

        Assert.Empty(expected.Keys.Except(actual.Keys));
        Assert.Empty(actual.Keys.Except(expected.Keys));
        foreach (var (key, shape) in expected) Assert.True(shape == actual[key], $"{key}: expected [{shape}], got [{actual[key]}]");
        Assert.All(model.parameters(), p => Assert.Equal(DeviceType.META, p.device_type));
    }

    [Fact]
    public void PaddingDoesNotChangeTheOutputsOfRealTokens()
    {
        random.manual_seed(1);
        using var model = new BertModel(TinyBert.Config());
        model.InitializeWeights();
        model.eval();
        using var ids = tensor(new long[] { 2, 5, 7, 9, 3 }).unsqueeze(0);
        using var mask = ones_like(ids);
        using var padded = cat([ids, zeros(1, 3, ScalarType.Int64)], 1);
        using var paddedMask = cat([mask, zeros(1, 3, ScalarType.Int64)], 1);

        var (last, pooled) = model.Forward(ids, mask);
        var (lastPadded, pooledPadded) = model.Forward(padded, paddedMask);

        Assert.Equal(new long[] { 1, 5, 32 }, last.shape);
        Assert.Equal(new long[] { 1, 32 }, pooled!.shape);
        Assert.True(last.allclose(lastPadded.narrow(1, 0, 5), rtol: 0, atol: 1e-5));
        Assert.True(pooled.allclose(pooledPadded!, rtol: 0, atol: 1e-5));
    }

    [Fact]
    public void TokenTypesAndDropoutChangeTheOutput()
    {
        random.manual_seed(2);
        using var model = new BertModel(TinyBert.Config());
        model.InitializeWeights();
        using var ids = tensor(new long[] { 2, 5, 7, 9 }).unsqueeze(0);
        using var mask = ones_like(ids);
        model.eval();
        var (a, _) = model.Forward(ids, mask, zeros_like(ids));
        var (b, _) = model.Forward(ids, mask, ones_like(ids));
        var (c, _) = model.Forward(ids, mask, zeros_like(ids));
        Assert.False(a.allclose(b));
        Assert.True(a.allclose(c, rtol: 0, atol: 0));   // eval mode is deterministic
        model.train();
        var (d, _) = model.Forward(ids, mask, zeros_like(ids));
        Assert.False(a.allclose(d));            // dropout is active in training
    }

    [Fact]
    public void SequenceHeadChoosesTheLossAsHuggingFaceDoes()
    {
        random.manual_seed(3);
        using var classifier = new BertForSequenceClassification(TinyBert.Config(labels: 3));
        classifier.eval();
        using var ids = tensor(new long[,] { { 2, 5, 7 }, { 2, 8, 0 } });
        using var mask = tensor(new long[,] { { 1, 1, 1 }, { 1, 1, 0 } });
        var logits = classifier.Forward(ids, mask);
        Assert.Equal(new long[] { 2, 3 }, logits.shape);

        using var classes = tensor(new long[] { 0, 2 });
        Assert.Equal(BertProblemType.SingleLabelClassification, classifier.ProblemType(classes.dtype));
        var expected = nn.functional.cross_entropy(logits, classes).item<float>();
        Assert.Equal(expected, classifier.Loss(logits, classes).item<float>(), 5);
        // Label smoothing and class weights change the loss.
        Assert.NotEqual(expected, classifier.Loss(logits, classes, new BertLossOptions(LabelSmoothing: 0.1)).item<float>(), 5);
        Assert.NotEqual(expected, classifier.Loss(logits, classes, new BertLossOptions(ClassWeights: [1f, 1f, 5f])).item<float>(), 5);

        using var multiHot = tensor(new float[,] { { 1, 0, 1 }, { 0, 1, 0 } });
        Assert.Equal(BertProblemType.MultiLabelClassification, classifier.ProblemType(multiHot.dtype));

        using var regressor = new BertForSequenceClassification(TinyBert.Config(labels: 1));
        using var targets = tensor(new float[] { 0.5f, -1f });
        var predictions = regressor.Forward(ids, mask);
        Assert.Equal(BertProblemType.Regression, regressor.ProblemType(targets.dtype));
        Assert.Equal(nn.functional.mse_loss(predictions.squeeze(-1), targets).item<float>(), regressor.Loss(predictions, targets).item<float>(), 5);
    }

    [Fact]
    public void TokenHeadIgnoresMaskedLabels()
    {
        random.manual_seed(4);
        using var model = new BertForTokenClassification(TinyBert.Config(labels: 4));
        model.eval();
        using var ids = tensor(new long[,] { { 2, 5, 7, 3 } });
        using var mask = ones_like(ids);
        var logits = model.Forward(ids, mask);
        Assert.Equal(new long[] { 1, 4, 4 }, logits.shape);
        using var labels = tensor(new long[,] { { -100, 1, 2, -100 } });
        var expected = nn.functional.cross_entropy(logits[0].narrow(0, 1, 2), labels[0].narrow(0, 1, 2)).item<float>();
        Assert.Equal(expected, model.Loss(logits, labels).item<float>(), 5);
        Assert.DoesNotContain(model.state_dict().Keys, k => k.Contains("pooler"));
    }

    [Fact]
    public void NewHeadIsInitialisedAsHuggingFaceDoes()
    {
        random.manual_seed(5);
        var config = TinyBert.Config(hidden: 256);
        config.InitializerRange = 0.05;
        using var model = new BertForSequenceClassification(config);
        Assert.True(model.Classifier.bias!.abs().max().item<float>() == 0f);
        var std = model.Classifier.weight!.std().item<float>();
        Assert.InRange(std, 0.04, 0.06);
    }

    [Theory]
    [InlineData("bert.encoder.layer.0.output.dense.weight", "bert.", "bert.encoder.layer.0.output.dense.weight")]
    [InlineData("encoder.layer.0.output.dense.weight", "bert.", "bert.encoder.layer.0.output.dense.weight")]
    [InlineData("bert.pooler.dense.bias", "", "pooler.dense.bias")]
    [InlineData("bert.embeddings.LayerNorm.gamma", "", "embeddings.LayerNorm.weight")]
    [InlineData("classifier.weight", "bert.", "classifier.weight")]
    [InlineData("bert.embeddings.position_ids", "", null)]
    public void CheckpointKeysMapWithOrWithoutThePrefix(string key, string prefix, string? expected) =>
        Assert.Equal(expected, BertCheckpointKeys.Map(key, prefix));
}
