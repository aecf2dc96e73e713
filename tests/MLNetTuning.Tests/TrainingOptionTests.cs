using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetTuning.Models;
using MLNetTuning.Native;
using MLNetTuning.Pretrained;
using MLNetTuning.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

/// <summary>
/// Training options set through <see cref="BertFineTuneOptions"/> and the estimator, each checked by what it must do to the
/// weights or the loss: gradient clipping, best-model restore, freezing, class weights.
/// </summary>
[Collection(TinyBertEstimatorCollection.Name)]
public sealed class TrainingOptionTests(TinyBertFixture tiny, ITestOutputHelper output) : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-options-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private BertFineTuneOptions Binary(int epochs) => TextData.Options(tiny.Folder, BertTask.BinaryClassification, epochs);

    /// <summary>Every weight of the fitted model (encoder and head), copied so that the model can be disposed.</summary>
    private static Dictionary<string, Tensor> Weights(BertFineTuneTransformer model) =>
        model.FineTuned.Model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

    private static Dictionary<string, Tensor> FitWeights(MLContext ml, BertFineTuneOptions options, IDataView train, out TrainingHistory history)
    {
        using var model = new BertFineTuneEstimator(ml, options).Fit(train);
        history = model.History;
        return Weights(model);
    }

    /// <summary>The L2 norm of the difference of two whole sets of weights, summed in double.</summary>
    private static double Distance(Dictionary<string, Tensor> a, Dictionary<string, Tensor> b)
    {
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        double sum = 0;
        foreach (var (name, value) in a)
        {
            using var difference = (value - b[name]).to_type(ScalarType.Float64);
            sum += difference.pow(2).sum().item<double>();
        }
        return Math.Sqrt(sum);
    }

    private static bool AllBitEqual(Dictionary<string, Tensor> a, Dictionary<string, Tensor> b) =>
        a.Keys.Order().SequenceEqual(b.Keys.Order()) && a.All(kv => TensorAsserts.SameValues(kv.Value, b[kv.Key]));

    [Fact]
    public void MaxGradientNorm_BoundsTheFirstUpdate_AsAdamWWithClippingPredicts()
    {
        // With ε far above every clipped gradient element, AdamW's first step moves each weight by lr·g/(|g| + ε) (the bias-
        // corrected moments are g and g² after one step), so the whole update has norm ≤ lr·‖g‖/ε, and ≥ lr·‖g‖/(‖g‖ + ε).
        // Clipped to c, ‖g‖ = c: the update's norm lies in [lr·c/(c + ε), lr·c/ε]. Unclipped, ‖g‖ is the raw gradient's norm.
        const float lr = 10, epsilon = 1, clip = 1e-3f;
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(16, seed: 30));   // one batch of 16: one optimizer step
        BertFineTuneOptions Options(float learningRate, float maxNorm)
        {
            var options = Binary(epochs: 1);
            options.LearningRate = learningRate;
            options.MaxGradientNorm = maxNorm;
            options.AdamEpsilon = epsilon;
            options.WeightDecay = 0;
            options.WarmupSteps = 0;
            options.Schedule = LearningRateSchedule.Constant;
            return options;
        }

        var initial = FitWeights(ml, Options(0, clip), train, out _);   // a zero learning rate leaves the starting weights
        var clipped = FitWeights(ml, Options(lr, clip), train, out var history);
        var unclipped = FitWeights(ml, Options(lr, 0), train, out _);

        Assert.Single(history.Steps);
        Assert.Equal(lr, history.Steps[0].LearningRate, 6);
        double bound = lr * clip / epsilon, clippedUpdate = Distance(clipped, initial), unclippedUpdate = Distance(unclipped, initial);
        output.WriteLine($"update norm: clipped {clippedUpdate:E4} (bound {bound:E4}), unclipped {unclippedUpdate:E4}");
        Assert.InRange(clippedUpdate, lr * clip / (clip + epsilon) * (1 - 1e-3), bound * (1 + 1e-3));
        // Precondition of the test: the raw gradient is far larger than the clip, so that clipping has something to do.
        Assert.True(unclippedUpdate > 20 * bound, $"unclipped update {unclippedUpdate}, bound {bound}");
    }

    [Fact]
    public void RestoreBestModel_ReturnsTheBestEvaluationsWeights_AndFalseKeepsTheFinalOnes()
    {
        // The validation labels are the training labels flipped: the better the model learns, the worse it validates, so
        // the best evaluation is an early one and training goes on changing the weights after it.
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(64, seed: 20));
        var flipped = TextData.SpamOrWork(30, seed: 22).Select(r => new BoolRow { Text = r.Text, Label = !r.Label }).ToArray();
        var validation = ml.Data.LoadFromEnumerable(flipped);
        BertFineTuneOptions Options(int epochs, bool restore)
        {
            var options = Binary(epochs);
            options.ValidationSet = validation;
            options.RestoreBestModel = restore;
            // A constant rate with no warmup: the first k epochs of a longer run are exactly a k-epoch run.
            options.Schedule = LearningRateSchedule.Constant;
            options.WarmupSteps = 0;
            return options;
        }

        using var restored = new BertFineTuneEstimator(ml, Options(4, restore: true)).Fit(train);
        var history = restored.History;
        var best = history.Best!;
        var last = history.Evaluations[^1];
        output.WriteLine($"validation AUC per epoch: {string.Join(", ", history.Evaluations.Select(e => $"{e.Epoch}: {e.Metrics["Auc"]:F4} (loss {e.ValidationLoss:F4})"))}");
        Assert.True(best.Epoch < last.Epoch, $"the best evaluation is the last (epoch {best.Epoch}); the test needs an earlier one");
        Assert.True(best.Metrics["Auc"] > last.Metrics["Auc"]);

        var restoredWeights = Weights(restored);
        var finalWeights = FitWeights(ml, Options(4, restore: false), train, out var finalHistory);
        var bestEpochWeights = FitWeights(ml, Options(best.Epoch, restore: false), train, out var bestEpochHistory);

        // The same run: the evaluations agree, and the short run ends where the long one evaluated best.
        Assert.Equal(history.Evaluations.Select(e => e.ValidationLoss), finalHistory.Evaluations.Select(e => e.ValidationLoss));
        Assert.Equal(best.ValidationLoss, bestEpochHistory.Evaluations[^1].ValidationLoss);
        // The metrics above already show that the weights changed after the best evaluation; without restore they must be the final ones.
        Assert.True(Distance(finalWeights, bestEpochWeights) > 1e-3, "with RestoreBestModel = false the model holds the best evaluation's weights, not the final ones");
        Assert.True(AllBitEqual(restoredWeights, bestEpochWeights), $"the restored weights are not the best evaluation's (distance {Distance(restoredWeights, bestEpochWeights):E3})");
        Assert.False(AllBitEqual(restoredWeights, finalWeights));

        // The returned models score the validation set as their evaluations recorded it.
        var labels = flipped.Select(r => r.Label).ToArray();
        (double Loss, double Auc) Validate(ITransformer model)
        {
            var scores = TextData.ScalarScores(model.Transform(validation));
            // Binary cross-entropy from the raw logit, stably: softplus(-z) for positives, softplus(z) for negatives.
            static double Softplus(double x) => Math.Max(x, 0) + Math.Log(1 + Math.Exp(-Math.Abs(x)));
            double loss = scores.Zip(labels, (z, y) => Softplus(y ? -z : z)).Average();
            return (loss, TaskMetrics.Auc(scores, labels));
        }
        var (restoredLoss, restoredAuc) = Validate(restored);
        Assert.Equal(best.ValidationLoss, restoredLoss, 1e-5);
        Assert.Equal(best.Metrics["Auc"], restoredAuc, 6);
        using var notRestored = new BertFineTuneEstimator(ml, Options(4, restore: false)).Fit(train);
        var (finalLoss, finalAuc) = Validate(notRestored);
        Assert.Equal(last.ValidationLoss, finalLoss, 1e-5);
        Assert.Equal(last.Metrics["Auc"], finalAuc, 6);
    }

    /// <summary>The checkpoint's encoder weights under the fine-tuned model's names (<c>bert.…</c>).</summary>
    private Dictionary<string, Tensor> Pretrained()
    {
        using var pretrained = ModelResolver.Load(tiny.Folder);
        return pretrained.Weights
            .Select(kv => (Name: BertCheckpointKeys.Map(kv.Key, "bert."), kv.Value))
            .Where(kv => kv.Name is not null)
            .ToDictionary(kv => kv.Name!, kv => kv.Value.detach().clone());
    }

    public static TheoryData<string, string[], string[]> FreezeCases => new()
    {
        // option, frozen name prefixes, trained name prefixes (every key under them must move / stay)
        { "None", [], ["bert.", "classifier."] },
        { "FreezeEmbeddings", ["bert.embeddings."], ["bert.encoder.layer.0.", "bert.encoder.layer.1.", "bert.pooler.", "classifier."] },
        { "FreezeBottomLayers", ["bert.embeddings.", "bert.encoder.layer.0."], ["bert.encoder.layer.1.", "bert.pooler.", "classifier."] },
        { "FreezeEncoder", ["bert."], ["classifier."] },
    };

    [Theory]
    [MemberData(nameof(FreezeCases))]
    public void FreezeOptions_KeepThePretrainedWeightsBitIdentical_AndTrainTheRest(string option, string[] frozen, string[] trained)
    {
        var ml = new MLContext(seed: 1);
        var options = Binary(epochs: 2);
        switch (option)
        {
            case "FreezeEmbeddings": options.FreezeEmbeddings = true; break;
            case "FreezeBottomLayers": options.FreezeBottomLayers = 1; break;
            case "FreezeEncoder": options.FreezeEncoder = true; break;
        }
        var weights = FitWeights(ml, options, ml.Data.LoadFromEnumerable(TextData.SpamOrWork(64, seed: 20)), out _);
        var pretrained = Pretrained();
        Assert.Contains("bert.embeddings.word_embeddings.weight", pretrained.Keys);

        var frozenKeys = weights.Keys.Where(k => frozen.Any(k.StartsWith)).ToList();
        Assert.Equal(option == "None", frozenKeys.Count == 0);
        foreach (var key in frozenKeys)
            TensorAsserts.AssertBitEqual(pretrained[key], weights[key], $"{option}: {key}");

        var trainedKeys = weights.Keys.Where(k => trained.Any(k.StartsWith)).ToList();
        Assert.Equal(trainedKeys.Count + frozenKeys.Count, weights.Count);   // the two lists cover the model
        foreach (var key in trainedKeys.Where(k => k.StartsWith("bert.", StringComparison.Ordinal)))
            Assert.False(TensorAsserts.SameValues(pretrained[key], weights[key]), $"{option}: {key} did not train");
        // The new head starts random: it must have moved from where a zero-learning-rate run leaves it.
        options.LearningRate = 0;
        var head = FitWeights(ml, options, ml.Data.LoadFromEnumerable(TextData.SpamOrWork(64, seed: 20)), out _);
        foreach (var key in trainedKeys.Where(k => k.StartsWith("classifier.", StringComparison.Ordinal)))
            Assert.False(TensorAsserts.SameValues(head[key], weights[key]), $"{option}: {key} did not train");
    }

    /// <summary>
    /// The fixture checkpoint with a wide head initialisation: the new classifier's logits then differ a lot between examples
    /// and classes, so a weighted loss differs clearly from an unweighted one at the very first step.
    /// </summary>
    private string WideHeadCheckpoint()
    {
        string folder = Path.Combine(_scratch, "wide-head");
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(tiny.Folder)) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        string configPath = Path.Combine(folder, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!;
        config["initializer_range"] = 1.0;
        File.WriteAllText(configPath, config.ToJsonString());
        return folder;
    }

    /// <summary>One step on one batch with no dropout and a zero learning rate: the model after Fit is the model of the first step.</summary>
    private static BertFineTuneOptions FirstStep(string folder, BertTask task, float[]? classWeights) => new()
    {
        Model = folder, Task = task, BatchSize = 64, Epochs = 1, LearningRate = 0, MaxSequenceLength = 32, Seed = 7, NumberOfThreads = 1,
        HiddenDropout = 0, AttentionDropout = 0, ClassifierDropout = 0, ClassWeights = classWeights,
    };

    [Fact]
    public void ClassWeights_WeightTheMulticlassCrossEntropy()
    {
        string folder = WideHeadCheckpoint();
        var ml = new MLContext(seed: 1);
        var rows = TextData.Topics(30, seed: 31);
        var train = ml.Data.LoadFromEnumerable(rows);
        float[] classWeights = [1f, 4f, 0.25f];   // spam, work, mood: MapValueToKey's key order
        TransformerChain<BertFineTuneTransformer> Fit(float[]? weights) =>
            ml.Transforms.Conversion.MapValueToKey("Label").Append(new BertFineTuneEstimator(ml, FirstStep(folder, BertTask.MulticlassClassification, weights))).Fit(train);

        using var weighted = Fit(classWeights).LastTransformer;
        using var plain = Fit(null).LastTransformer;

        // Cross-entropy of the starting model's probabilities, computed here: Σ w_y·(−log p_y) / Σ w_y, and the plain mean.
        var probabilities = TextData.Scores(weighted.Transform(train));
        var classes = rows.Select(r => Array.IndexOf(TextData.TopicNames, r.Label)).ToArray();
        var nll = classes.Select((y, i) => -Math.Log(probabilities[i][y])).ToArray();
        double expectedWeighted = nll.Select((l, i) => classWeights[classes[i]] * l).Sum() / classes.Sum(y => classWeights[y]);
        double expectedPlain = nll.Average();
        output.WriteLine($"first-step loss: weighted {weighted.History.Steps[0].Loss} (expected {expectedWeighted}), plain {plain.History.Steps[0].Loss} (expected {expectedPlain})");

        Assert.True(Math.Abs(expectedWeighted - expectedPlain) > 0.05, "the weights hardly change this loss; the test would prove nothing");
        Assert.Equal(expectedPlain, plain.History.Steps[0].Loss, 1e-4);
        Assert.Equal(expectedWeighted, weighted.History.Steps[0].Loss, 1e-4);
    }

    [Fact]
    public void BinaryClassWeights_GiveThePositiveWeightToTheLoss()
    {
        string folder = WideHeadCheckpoint();
        var ml = new MLContext(seed: 1);
        var rows = TextData.SpamOrWork(40, seed: 32, positiveEvery: 4);
        var train = ml.Data.LoadFromEnumerable(rows);
        float[] classWeights = [0.5f, 1.5f];   // negative, positive: a positive weight of 3

        using var weighted = new BertFineTuneEstimator(ml, FirstStep(folder, BertTask.BinaryClassification, classWeights)).Fit(train);
        using var plain = new BertFineTuneEstimator(ml, FirstStep(folder, BertTask.BinaryClassification, null)).Fit(train);

        // Binary cross-entropy with a positive weight w (PyTorch's pos_weight): mean of w·softplus(−z) (positives), softplus(z) (negatives).
        var logits = TextData.ScalarScores(weighted.Transform(train));
        static double Softplus(double x) => Math.Max(x, 0) + Math.Log(1 + Math.Exp(-Math.Abs(x)));
        double positiveWeight = classWeights[1] / classWeights[0];
        double expectedWeighted = logits.Select((z, i) => rows[i].Label ? positiveWeight * Softplus(-z) : Softplus(z)).Average();
        double expectedPlain = logits.Select((z, i) => rows[i].Label ? Softplus(-z) : Softplus(z)).Average();
        output.WriteLine($"first-step loss: weighted {weighted.History.Steps[0].Loss} (expected {expectedWeighted}), plain {plain.History.Steps[0].Loss} (expected {expectedPlain})");

        Assert.True(Math.Abs(expectedWeighted - expectedPlain) > 0.05, "the weights hardly change this loss; the test would prove nothing");
        Assert.Equal(expectedPlain, plain.History.Steps[0].Loss, 1e-4);
        Assert.Equal(expectedWeighted, weighted.History.Steps[0].Loss, 1e-4);
    }
}

/// <summary>Dynamic padding: every training batch is padded to its own longest example, never to MaxSequenceLength.</summary>
[Collection(TorchRandomCollection.Name)]
public sealed class DynamicPaddingTests
{
    public DynamicPaddingTests() => TorchNativeLoader.EnsureLoaded();

    private static TokenizedExample Example(int length, int firstId = 10) =>
        new(Enumerable.Range(firstId, length).ToArray(), Enumerable.Repeat(1, length).ToArray(), 0);

    [Fact]
    public void Collate_PadsToTheLongestExampleOfTheBatch_OrToTheLengthAskedFor()
    {
        var examples = new[] { Example(3), Example(9), Example(5), Example(20) };
        using var scope = NewDisposeScope();

        var (ids, mask, types) = Collate(examples, [0, 1, 2], padTo: null);
        Assert.Equal([3L, 9], ids.shape);
        Assert.Equal([3L, 9], mask.shape);
        Assert.Equal([3L, 9], types.shape);
        Assert.Equal([3L, 9, 5], mask.sum(1).data<long>().ToArray());
        var rows = ids.data<long>().ToArray();
        Assert.Equal<long>([10, 11, 12, 99, 99, 99, 99, 99, 99], rows[..9]);
        Assert.Equal<long>(Enumerable.Range(10, 9).Select(i => (long)i), rows[9..18]);
        Assert.Equal<long>([1, 1, 1, 0, 0, 0, 0, 0, 0], types.data<long>().ToArray()[..9]);

        Assert.Equal([3L, 32], Collate(examples, [0, 1, 2], padTo: 32).Ids.shape);
        // A pad length below the longest example never truncates.
        Assert.Equal([2L, 20], Collate(examples, [0, 3], padTo: 8).Ids.shape);
    }

    private static (Tensor Ids, Tensor Mask, Tensor Types) Collate(TokenizedExample[] examples, int[] batch, int? padTo) =>
        Batching.Collate(examples, batch, padId: 99, CPU, padTo);

    /// <summary>
    /// Trains the loop on examples of two lengths with a pad id outside the vocabulary: any pad token that reaches the model
    /// fails its embedding lookup. Length-grouped batches of uniform length need no padding, so only a loop that pads to
    /// something longer than a batch's longest example (MaxSequenceLength, the data's longest) sees a pad id.
    /// </summary>
    private static void Train(bool groupByLength, bool padToMax)
    {
        random.manual_seed(1);
        var examples = Enumerable.Range(0, 32).Select(i => Example(i < 16 ? 5 : 9, firstId: 10 + i) with { Label = i % 2 }).ToList();
        using var model = new BertForSequenceClassification(TinyBert.Config(labels: 2));
        model.Bert.InitializeWeights();
        var options = new BertFineTuneOptions
        {
            Task = BertTask.MulticlassClassification, BatchSize = 8, Epochs = 2, LearningRate = 1e-3f, MaxSequenceLength = 16,
            GroupByLength = groupByLength, PadToMaxSequenceLength = padToMax,
        };
        FineTuneLoop.Train(model, FineTuneTasks.ForScoring(BertTask.MulticlassClassification, ["LABEL_0", "LABEL_1"], 0, 1), examples, null,
            FineTuneSession.Arguments(options, seed: 1, padId: 10_000, CPU), new MLNetTuning.MlNet.ChannelTrainingLog(((IChannelProvider)new MLContext(seed: 0)).Start("test")));
    }

    [Fact]
    public void TheLoop_PadsEachBatchToItsLongestExample()
    {
        // Uniform batches: no pad token at all.
        var error = Record.Exception(() => Train(groupByLength: true, padToMax: false));
        Assert.True(error is null, $"a pad token reached the model, so a batch was padded beyond its longest example: {error?.Message.Split('\n')[0]}");
        // The pad id does reach the model whenever a batch is padded: to MaxSequenceLength, or to mixed lengths.
        Assert.ThrowsAny<Exception>(() => Train(groupByLength: true, padToMax: true));
        Assert.ThrowsAny<Exception>(() => Train(groupByLength: false, padToMax: false));
    }
}
