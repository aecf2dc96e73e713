using System.Diagnostics;
using Microsoft.ML.Runtime;
using MLNetTuning.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>How one task turns examples into label tensors and logits into metrics.</summary>
internal sealed class TaskAdapter(BertTask task, int classes, float labelMean = 0, float labelScale = 1)
{
    public BertTask Task => task;
    public int Classes => classes;
    /// <summary>Regression targets are standardised for training (so the head's scale needs no tuning) and unscaled on output.</summary>
    public float LabelMean => labelMean;
    public float LabelScale => labelScale;

    public Tensor Labels(IReadOnlyList<TokenizedExample> examples, int[] batch, Device device) => task switch
    {
        BertTask.MulticlassClassification => tensor(batch.Select(i => (long)examples[i].Label).ToArray(), device: device),
        // One logit with a sigmoid: [B, 1] targets for binary cross-entropy.
        BertTask.BinaryClassification => tensor(batch.Select(i => examples[i].Label).ToArray(), device: device).unsqueeze(1),
        _ => tensor(batch.Select(i => (examples[i].Label - labelMean) / labelScale).ToArray(), device: device),
    };

    /// <summary>Metrics of <paramref name="logits"/> ([N, K] row-major; K = 1 for binary and regression).</summary>
    public Dictionary<string, double> Metrics(float[] logits, IReadOnlyList<TokenizedExample> examples) => task switch
    {
        BertTask.MulticlassClassification => TaskMetrics.Multiclass(Softmax(logits, classes), examples.Select(e => (int)e.Label).ToArray(), classes),
        BertTask.BinaryClassification => TaskMetrics.Binary(logits, examples.Select(e => e.Label > 0.5f).ToArray()),
        _ => TaskMetrics.Regression(logits.Select(Unscale).ToArray(), examples.Select(e => e.Label).ToArray()),
    };

    public float Unscale(float value) => value * labelScale + labelMean;

    public static float[] Softmax(float[] logits, int classes)
    {
        var probabilities = new float[logits.Length];
        for (int row = 0; row < logits.Length / classes; row++)
        {
            var source = logits.AsSpan(row * classes, classes);
            var target = probabilities.AsSpan(row * classes, classes);
            float max = float.NegativeInfinity;
            foreach (var x in source) max = Math.Max(max, x);
            double sum = 0;
            for (int k = 0; k < classes; k++) sum += target[k] = MathF.Exp(source[k] - max);
            for (int k = 0; k < classes; k++) target[k] = (float)(target[k] / sum);
        }
        return probabilities;
    }
}

/// <summary>The fine-tuning loop: forward, loss, backward, clip, AdamW step, schedule, with callbacks for everything else.</summary>
internal static class FineTuneLoop
{
    public static TrainingHistory Train(BertForSequenceClassification model, TaskAdapter adapter, IReadOnlyList<TokenizedExample> train,
        IReadOnlyList<TokenizedExample>? validation, BertFineTuneOptions options, int seed, long padId, Device device, IChannel channel)
    {
        random.manual_seed(seed);
        var shuffle = new Random(seed);
        var lossOptions = new BertLossOptions(adapter.Task == BertTask.MulticlassClassification ? options.ClassWeights : null,
            adapter.Task == BertTask.MulticlassClassification ? options.LabelSmoothing : 0);
        var positiveWeight = adapter.Task == BertTask.BinaryClassification && options.ClassWeights is [var negative, var positive]
            ? positive / negative : (float?)null;
        var trainable = model.parameters().Where(p => p.requires_grad).ToList();
        using var optimizer = FusedAdamW.Create(model, options);

        int micro = options.BatchSize, accumulation = options.GradientAccumulationSteps;
        int batchesPerEpoch = (train.Count + micro - 1) / micro;
        var state = new TrainerState { StepsPerEpoch = (batchesPerEpoch + accumulation - 1) / accumulation };
        state.TotalSteps = state.StepsPerEpoch * options.Epochs;
        int warmup = options.WarmupSteps ?? (int)Math.Round(options.WarmupRatio * state.TotalSteps);
        var control = new TrainerControl();
        var score = ValidationScore.For(adapter.Task, options.ValidationMetric);
        state.History.SelectionMetric = validation is null ? null : score.Name;
        state.History.ExampleCounts = (train.Count, validation?.Count ?? 0);
        var callbacks = new List<TrainerCallback>
        {
            new EvaluationScheduleCallback(validation is not null, options.EvaluateEveryNSteps),
            new BestModelCallback(score),
            new ProgressCallback(channel, options.Progress),
            // Last, so that a cancellation requested while the step was being reported stops right after it.
            new CancellationCallback(options.CancellationToken),
        };
        if (options.EarlyStoppingPatience is int patience) callbacks.Add(new EarlyStoppingCallback(score, patience, options.EarlyStoppingMinDelta));

        Dictionary<string, Tensor>? bestWeights = null;
        var lengths = train.Select(e => e.Ids.Length).ToArray();
        var clock = Stopwatch.StartNew();
        for (state.Epoch = 1; state.Epoch <= options.Epochs && !control.ShouldStop; state.Epoch++)
        {
            model.train();
            var batches = options.GroupByLength ? Batching.LengthGrouped(lengths, micro, shuffle) : Batching.Shuffled(train.Count, micro, shuffle);
            foreach (var group in batches.Chunk(accumulation))
            {
                double learningRate = options.LearningRate * LearningRateFactor.At(options.Schedule, state.Step, warmup, state.TotalSteps);
                optimizer.LearningRate = learningRate;

                int groupExamples = group.Sum(b => b.Length);
                double stepLoss = 0;
                foreach (var batch in group)
                {
                    using var scope = NewDisposeScope();
                    var (ids, mask, types) = Batching.Collate(train, batch, padId, device, options.PadToMaxSequenceLength ? options.MaxSequenceLength : null);
                    var logits = model.Forward(ids, mask, types);
                    var labels = adapter.Labels(train, batch, device);
                    var loss = positiveWeight is float w
                        ? nn.functional.binary_cross_entropy_with_logits(logits, labels, pos_weights: tensor(new[] { w }, device: device))
                        : model.Loss(logits, labels, lossOptions);
                    // Weight each micro-batch by its share of the step's examples, so accumulation equals one large batch.
                    var weighted = loss * ((double)batch.Length / groupExamples);
                    weighted.backward();
                    stepLoss += weighted.item<float>();
                }
                using (NewDisposeScope())
                {
                    // The scope frees every handle the clip and the step take (gradients, norms) at the end of the step.
                    if (options.MaxGradientNorm > 0) nn.utils.clip_grad_norm_(trainable, options.MaxGradientNorm);
                    optimizer.Step();
                    // Flush the gradients as soon as the step is taken; their memory is not needed until the next backward.
                    optimizer.ZeroGrad();
                }

                state.Step++;
                state.ExamplesSeen += groupExamples;
                state.LastLoss = (float)stepLoss;
                state.LearningRate = learningRate;
                state.Elapsed = clock.Elapsed;
                state.History.StepList.Add(new TrainingStep(state.Step, state.Epoch, state.LastLoss, learningRate));
                foreach (var callback in callbacks) callback.OnStepEnd(state, control);
                if (control.ShouldEvaluate) Evaluate();
                if (control.ShouldStop) break;
            }
            if (control.Cancelled) break;
            foreach (var callback in callbacks) callback.OnEpochEnd(state, control);
            if (control.ShouldEvaluate) Evaluate();
        }
        foreach (var callback in callbacks) callback.OnTrainEnd(state, control);
        state.History.TrainingTime = clock.Elapsed;
        if (control.Cancelled)
        {
            DisposeAll(bestWeights);
            throw new OperationCanceledException("Fine-tuning was cancelled through BertFineTuneOptions.CancellationToken; no model was produced.", options.CancellationToken);
        }
        if (bestWeights is not null && options.RestoreBestModel)
        {
            using (no_grad())
                foreach (var (name, value) in model.state_dict()) value.copy_(bestWeights[name]);
            channel.Info(MessageSensitivity.None, $"restored the weights of epoch {state.History.Best!.Epoch} step {state.History.Best.Step} ({score.Name} {state.History.Best.Metrics[score.Name]:F4})");
        }
        DisposeAll(bestWeights);
        model.eval();
        return state.History;

        void Evaluate()
        {
            control.ShouldEvaluate = false;
            var (logits, loss) = Predict(model, adapter, validation!, options.ScoringBatchSize, padId, device);
            state.LastEvaluation = new TrainingEvaluation(state.Step, state.Epoch, adapter.Metrics(logits, validation!), loss);
            state.History.EvaluationList.Add(state.LastEvaluation);
            foreach (var callback in callbacks) callback.OnEvaluate(state, control);
            if (control.ShouldSaveBest)
            {
                control.ShouldSaveBest = false;
                DisposeAll(bestWeights);
                using (no_grad())
                    bestWeights = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone().DetachFromDisposeScope());
            }
            model.train();
        }
    }

    /// <summary>Logits for every example in input order ([N, K] row-major), and the mean loss when labels are known.</summary>
    public static (float[] Logits, double Loss) Predict(BertForSequenceClassification model, TaskAdapter? adapter, IReadOnlyList<TokenizedExample> examples,
        int batchSize, long padId, Device device)
    {
        model.eval();
        int classes = model.Config.NumLabels;
        var logits = new float[examples.Count * classes];
        double lossSum = 0;
        using var noGrad = no_grad();
        foreach (var batch in Batching.ByLength(examples.Select(e => e.Ids.Length).ToArray(), batchSize))
        {
            using var scope = NewDisposeScope();
            var (ids, mask, types) = Batching.Collate(examples, batch, padId, device);
            var output = model.Forward(ids, mask, types);
            if (adapter is not null) lossSum += model.Loss(output, adapter.Labels(examples, batch, device)).item<float>() * batch.Length;
            var values = output.to(CPU).to_type(ScalarType.Float32).data<float>().ToArray();
            for (int row = 0; row < batch.Length; row++)
                Array.Copy(values, row * classes, logits, batch[row] * classes, classes);
        }
        return (logits, examples.Count == 0 ? 0 : lossSum / examples.Count);
    }

    private static void DisposeAll(Dictionary<string, Tensor>? tensors)
    {
        if (tensors is null) return;
        foreach (var t in tensors.Values) t.Dispose();
    }
}
