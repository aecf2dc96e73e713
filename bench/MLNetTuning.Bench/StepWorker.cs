using System.Diagnostics;
using System.Text.Json;
using MLNetTuning.Models;
using MLNetTuning.Native;
using MLNetTuning.Pretrained;
using MLNetTuning.Training;
using static TorchSharp.torch;

namespace MLNetTuning.Bench;

/// <summary>
/// A long-lived worker speaking the peers' line protocol (../shared/peers/README.md): it prints a ready line, then for each
/// `infer B S ITERS` or `train B S ITERS` runs one untimed warm-up and ITERS timed iterations of our BERT and prints
/// {"times": [...]}; `quit` ends it. The inputs are the peers': ids uniform in [1000, 30000) with [CLS] first, a mask of
/// ones, token types 0 and random labels in {0, 1}, the same batch every iteration. `train-tok` and `train-qa` run the same
/// step with the token-classification head (9 tags per token, [CLS] ignored) and the question-answering head (random start
/// and end positions), so the task heads keep the sequence head's speed; the peers answer them with an error and are left out.
/// </summary>
internal static class StepWorker
{
    public static int Run(NumericPrecision precision, int threads)
    {
        TorchNativeLoader.EnsureLoaded();
        int defaultThreads = get_num_threads();
        set_num_threads(threads);
        using var pretrained = ModelResolver.Load("all-MiniLM-L6-v2");
        var config = pretrained.Config.Clone();
        config.Labels = ["LABEL_0", "LABEL_1"];
        config.ProblemType = "single_label_classification";
        random.manual_seed(0);
        using var model = new BertForSequenceClassification(config) { Precision = precision };
        pretrained.LoadEncoderInto(model.Bert);
        // The peer's optimiser: AdamW, lr 2e-5, weight decay 0.01, over all parameters.
        var arguments = FineTuneSession.Arguments(new BertFineTuneOptions { LearningRate = 2e-5f, WeightDecay = 0.01f });
        using var optimizer = FusedAdamW.Create(model, arguments);
        // The task heads' models, made on first use from the same encoder weights.
        var heads = new Dictionary<string, (BertTaskModel Model, IFineTuneOptimizer Optimizer)>();
        (BertTaskModel, IFineTuneOptimizer) Head(string job)
        {
            if (job == "train" || job == "train0") return (model, optimizer);
            if (!heads.TryGetValue(job, out var head))
            {
                var headConfig = pretrained.Config.Clone();
                headConfig.Labels = job == "train-tok" ? [.. Enumerable.Range(0, TokenTags).Select(i => $"TAG_{i}")] : ["LABEL_0", "LABEL_1"];
                random.manual_seed(0);
                BertTaskModel headModel = job == "train-tok"
                    ? ModelFamilies.Of(headConfig).CreateTokenClassifier(headConfig)
                    : ModelFamilies.Of(headConfig).CreateQuestionAnswering(headConfig);
                headModel.Precision = precision;
                pretrained.LoadEncoderInto(headModel.Bert, ignorePooler: true);   // these heads have no pooler
                heads[job] = head = (headModel, FusedAdamW.Create(headModel, arguments));
            }
            return head;
        }

        Emit(new { ready = true, sys = "mlnettuning", precision = precision.ToString(), threads = get_num_threads(), default_threads = defaultThreads });
        string? line;
        while ((line = Console.ReadLine()) is not null)
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 0) continue;
            if (fields[0] == "quit") break;
            if (fields[0] is not ("infer" or "train" or "train0" or "train-tok" or "train-qa") || fields.Length < 4)
            {
                Emit(new { error = "unknown " + fields[0] });
                continue;
            }
            int batch = int.Parse(fields[1]), length = int.Parse(fields[2]), iterations = int.Parse(fields[3]);
            var (ids, mask, types, labels) = PeerBatch(batch, length, fields[0]);
            using (ids) using (mask) using (types) using (labels)
            {
                if (fields[0] == "infer")
                {
                    model.eval();
                    // As model.Transform scores: a fitted model keeps its weights prepared (EncoderModel.ScoringOnly).
                    model.Bert.ScoringOnly = Environment.GetEnvironmentVariable("BENCH_SCORING_ONLY") != "0";
                    void Infer()
                    {
                        using var scope = NewDisposeScope();
                        using var mode = inference_mode();
                        model.Forward(ids, mask, types);
                    }
                    Infer();
                    var times = new List<double>();
                    for (int i = 0; i < iterations; i++)
                    {
                        long start = Stopwatch.GetTimestamp();
                        Infer();
                        times.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
                    }
                    Emit(new { sys = "mlnettuning", op = "infer", b = batch, s = length, items = batch, times });
                }
                else
                {
                    var (stepModel, stepOptimizer) = Head(fields[0]);
                    model.Bert.ScoringOnly = false;   // a model that trains keeps no prepared copies
                    // train0 = dropout off (eval mode), still a full training step: shows what dropout costs.
                    stepModel.train(fields[0] != "train0");
                    (double Total, double Forward, double Backward, double Optimizer) Step()
                    {
                        using var scope = NewDisposeScope();
                        long t0 = Stopwatch.GetTimestamp();
                        var loss = stepModel.Loss(stepModel.Forward(ids, mask, types), labels);
                        long t1 = Stopwatch.GetTimestamp();
                        stepOptimizer.ZeroGrad();
                        loss.backward();
                        long t2 = Stopwatch.GetTimestamp();
                        stepOptimizer.Step();
                        long t3 = Stopwatch.GetTimestamp();
                        return (Stopwatch.GetElapsedTime(t0, t3).TotalSeconds, Stopwatch.GetElapsedTime(t0, t1).TotalSeconds,
                            Stopwatch.GetElapsedTime(t1, t2).TotalSeconds, Stopwatch.GetElapsedTime(t2, t3).TotalSeconds);
                    }
                    Step();
                    var results = Enumerable.Range(0, iterations).Select(_ => Step()).ToList();
                    Emit(new
                    {
                        sys = "mlnettuning", op = fields[0] == "train0" ? "train" : fields[0], b = batch, s = length, items = batch,
                        times = results.Select(r => r.Total), fwd = results.Select(r => r.Forward),
                        bwd = results.Select(r => r.Backward), opt = results.Select(r => r.Optimizer),
                    });
                }
            }
        }
        foreach (var (headModel, headOptimizer) in heads.Values)
        {
            headOptimizer.Dispose();
            headModel.Dispose();
        }
        return 0;
    }

    private const int TokenTags = 9;

    private static (Tensor Ids, Tensor Mask, Tensor Types, Tensor Labels) PeerBatch(int batch, int length, string job)
    {
        var random = new Random(0);
        var ids = new long[batch * length];
        for (int i = 0; i < ids.Length; i++) ids[i] = i % length == 0 ? 101 : random.Next(1000, 30000);
        Tensor labels = job switch
        {
            // One tag per token; [CLS] carries no tag, as in training.
            "train-tok" => tensor(Enumerable.Range(0, batch * length).Select(i => i % length == 0 ? BertForTokenClassification.IgnoreIndex : random.Next(TokenTags)).ToArray(), [batch, length]),
            // A start and an end position per window, the end at or after the start.
            "train-qa" => tensor(Enumerable.Range(0, batch).SelectMany(_ => { int start = random.Next(1, length); return new long[] { start, random.Next(start, length) }; }).ToArray(), [batch, 2]),
            _ => tensor(Enumerable.Range(0, batch).Select(_ => (long)random.Next(2)).ToArray()),
        };
        return (tensor(ids, [batch, length]), ones(batch, length, ScalarType.Int64), zeros(batch, length, ScalarType.Int64), labels);
    }

    private static void Emit(object value) => Console.WriteLine(JsonSerializer.Serialize(value));
}
