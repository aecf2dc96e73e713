using System.Diagnostics;
using System.Text.Json.Nodes;
using MLNetTuning.Models;
using MLNetTuning.Native;
using MLNetTuning.Pretrained;
using MLNetTuning.Training;
using static TorchSharp.torch;

namespace MLNetTuning.Bench;

/// <summary>
/// Training steps of the three encoder layouts at MiniLM's size (6 layers, hidden 384, 12 heads, feed-forward 1536):
/// BERT (the embedded MiniLM), RoBERTa (its weights in RoBERTa's layout) and DistilBERT (in DistilBERT's), each with its
/// family's sequence head, the fused AdamW and the given precision, on the step worker's batch. The families run
/// interleaved, round by round, so that a busy machine slows them alike; the ratio of median step times against BERT is
/// what the families' sharing of the fast paths (LinearKernel, the written-out attention, FastDropout, the fused AdamW,
/// bf16) should keep within 5%.
/// </summary>
internal static class FamilyBench
{
    public static int Run(NumericPrecision precision, int threads, int batch, int length, int rounds, int steps)
    {
        TorchNativeLoader.EnsureLoaded();
        set_num_threads(threads);
        using var pretrained = ModelResolver.Load("all-MiniLM-L6-v2");
        var bert = pretrained.Config;
        var json = bert.ToJson();
        json["num_labels"] = 2;
        var configs = new Dictionary<string, BertConfig>
        {
            ["bert"] = BertConfig.FromJson(json, "MiniLM"),
            ["roberta"] = BertConfig.FromJson(With(json, new JsonObject { ["model_type"] = "roberta", ["max_position_embeddings"] = bert.MaxPositionEmbeddings + 2, ["pad_token_id"] = 1, ["type_vocab_size"] = 1 }), "MiniLM as RoBERTa"),
            ["distilbert"] = BertConfig.FromJson(new JsonObject
            {
                ["model_type"] = "distilbert", ["vocab_size"] = bert.VocabSize, ["dim"] = bert.HiddenSize, ["n_layers"] = bert.NumHiddenLayers, ["n_heads"] = bert.NumAttentionHeads,
                ["hidden_dim"] = bert.IntermediateSize, ["max_position_embeddings"] = bert.MaxPositionEmbeddings, ["num_labels"] = 2,
            }, "MiniLM as DistilBERT"),
        };
        var models = new Dictionary<string, (BertTaskModel Model, IFineTuneOptimizer Optimizer)>();
        foreach (var (name, config) in configs)
        {
            random.manual_seed(0);
            config.ProblemType = "single_label_classification";
            var model = ModelFamilies.Of(config).CreateSequenceClassifier(config, null);
            model.Bert.InitializeWeights();
            model.Precision = precision;
            model.train();
            models[name] = (model, FusedAdamW.Create(model, FineTuneSession.Arguments(new BertFineTuneOptions { LearningRate = 2e-5f, WeightDecay = 0.01f })));
        }

        var (ids, mask, types, labels) = Batch(batch, length);
        var times = models.Keys.ToDictionary(k => k, _ => new List<double>());
        double Step(string name)
        {
            var (model, optimizer) = models[name];
            using var scope = NewDisposeScope();
            long start = Stopwatch.GetTimestamp();
            var loss = model.Loss(model.Forward(ids, mask, name == "bert" ? types : null), labels);
            optimizer.ZeroGrad();
            loss.backward();
            optimizer.Step();
            return Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        foreach (var name in models.Keys) Step(name);   // warm-up: oneDNN picks its kernels on the first step
        for (int round = 0; round < rounds; round++)
            foreach (var name in models.Keys)
                for (int s = 0; s < steps; s++) times[name].Add(Step(name));

        double Median(List<double> values) { var sorted = values.Order().ToList(); return sorted[sorted.Count / 2]; }
        Console.WriteLine($"## Training steps by family, MiniLM's size, {precision}, batch {batch}×{length}, {threads} threads, {rounds} rounds × {steps} steps, interleaved");
        Console.WriteLine();
        Console.WriteLine("| family | parameters | median step (ms) | min–max (ms) | median / BERT |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        double bertMedian = Median(times["bert"]);
        foreach (var (name, values) in times)
        {
            long parameters = models[name].Model.parameters().Sum(p => p.numel());
            Console.WriteLine($"| {name} | {parameters:N0} | {Median(values) * 1000:F1} | {values.Min() * 1000:F1}–{values.Max() * 1000:F1} | {Median(values) / bertMedian:F3}× |");
        }
        foreach (var (model, optimizer) in models.Values) { model.Dispose(); optimizer.Dispose(); }
        ids.Dispose(); mask.Dispose(); types.Dispose(); labels.Dispose();
        return 0;
    }

    private static JsonObject With(JsonObject json, JsonObject changes)
    {
        var copy = (JsonObject)json.DeepClone();
        foreach (var (key, value) in changes) copy[key] = value?.DeepClone();
        return copy;
    }

    /// <summary>The step worker's batch: ids uniform in [1000, 30000) after a first token 101 (never a family's pad id), no padding.</summary>
    private static (Tensor Ids, Tensor Mask, Tensor Types, Tensor Labels) Batch(int batch, int length)
    {
        var random = new Random(0);
        var ids = new long[batch * length];
        for (int i = 0; i < ids.Length; i++) ids[i] = i % length == 0 ? 101 : random.Next(1000, 30000);
        var labels = Enumerable.Range(0, batch).Select(_ => (long)random.Next(2)).ToArray();
        return (tensor(ids, [batch, length]), ones(batch, length, ScalarType.Int64), zeros(batch, length, ScalarType.Int64), tensor(labels));
    }
}
