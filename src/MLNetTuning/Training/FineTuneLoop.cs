using System.Diagnostics;
using MLNetTuning.Models;
using MLNetTuning.Native;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>The fine-tuning loop: forward, loss, backward, clip, AdamW step, schedule, with callbacks for everything else.</summary>
internal static class FineTuneLoop
{
    public static TrainingHistory Train(BertTaskModel model, FineTuneTask task, IReadOnlyList<TokenizedExample> train,
        IReadOnlyList<TokenizedExample>? validation, FineTuneArguments arguments, ITrainingLog log)
    {
        random.manual_seed(arguments.Seed);
        var shuffle = new Random(arguments.Seed);
        var (padId, device) = (arguments.PadId, arguments.Device);
        var trainable = model.parameters().Where(p => p.requires_grad).ToList();
        using var optimizer = FusedAdamW.Create(model, arguments);

        int micro = arguments.BatchSize, accumulation = arguments.GradientAccumulationSteps;
        int batchesPerEpoch = (train.Count + micro - 1) / micro;
        var state = new TrainerState { StepsPerEpoch = (batchesPerEpoch + accumulation - 1) / accumulation };
        state.TotalSteps = state.StepsPerEpoch * arguments.Epochs;
        int warmup = arguments.WarmupSteps ?? (int)Math.Round(arguments.WarmupRatio * state.TotalSteps);
        var control = new TrainerControl();
        var score = task.Score(arguments.ValidationMetric);
        state.History.SelectionMetric = validation is null ? null : score.Name;
        state.History.ExampleCounts = (train.Count, validation?.Count ?? 0);
        var checkpoints = arguments.Checkpoints;
        var callbacks = new List<TrainerCallback>
        {
            new EvaluationScheduleCallback(validation is not null, arguments.EvaluateEveryNSteps),
            new BestModelCallback(score),
            new ProgressCallback(log, arguments.Progress),
            // Last, so that a cancellation requested while the step was being reported stops right after it.
            new CancellationCallback(arguments.CancellationToken),
        };
        if (arguments.EarlyStoppingPatience is int patience) callbacks.Add(new EarlyStoppingCallback(score, patience, arguments.EarlyStoppingMinDelta));
        // After the cancellation callback, which it reads: a cancelled run saves where it stopped.
        if (checkpoints is not null) callbacks.Add(new CheckpointCallback(checkpoints.EveryNSteps));

        Dictionary<string, Tensor>? bestWeights = null;
        var lengths = train.Select(e => e.Ids.Length).ToArray();
        List<int[]> EpochBatches() => arguments.GroupByLength ? Batching.LengthGrouped(lengths, micro, shuffle) : Batching.Shuffled(train.Count, micro, shuffle);
        var settings = checkpoints is null ? null : TrainingCheckpoint.Settings(arguments, model, train, validation);

        // Resuming puts back everything a step reads: weights, moments, best weights, history, and the generators' positions.
        var (firstEpoch, stepsDoneInFirstEpoch) = checkpoints is null ? (1, 0)
            : Resume(checkpoints, settings!, model, optimizer, state, control, ref bestWeights, log);
        // The data order of an epoch is drawn from one C# generator at its start: drawing the finished epochs again puts it where it was.
        for (int epoch = 1; epoch < firstEpoch; epoch++) EpochBatches();
        var elapsedBefore = state.Elapsed;
        var clock = Stopwatch.StartNew();
        TrainingDivergedException? diverged = null;
        for (state.Epoch = firstEpoch; state.Epoch <= arguments.Epochs && !control.ShouldStop; state.Epoch++)
        {
            model.train();
            var batches = EpochBatches();
            state.StepInEpoch = stepsDoneInFirstEpoch;
            foreach (var group in batches.Chunk(accumulation).Skip(stepsDoneInFirstEpoch))
            {
                double learningRate = arguments.LearningRate * LearningRateFactor.At(arguments.Schedule, state.Step, warmup, state.TotalSteps);
                optimizer.LearningRate = learningRate;

                int groupExamples = group.Sum(b => b.Length);
                double stepLoss = 0;
                foreach (var batch in group)
                {
                    using var scope = NewDisposeScope();
                    arguments.TrainingBatchObserver?.Invoke(train, batch);
                    var (ids, mask, types) = Batching.Collate(train, batch, padId, device, arguments.PadTo);
                    var logits = model.Forward(ids, mask, types);
                    var loss = task.TrainingLoss(model, logits, task.Labels(train, batch, device));
                    // Weight each micro-batch by its share of the step's examples, so accumulation equals one large batch.
                    using var share = ((double)batch.Length / groupExamples).ToScalar();   // see "Scalar lifetime" in Models/Kernels.cs
                    var weighted = loss.mul(share);
                    weighted.backward();
                    stepLoss += weighted.item<float>();
                }
                double gradientNorm;
                using (NewDisposeScope())
                {
                    // The scope frees every handle the clip and the step take (gradients, norms) at the end of the step.
                    gradientNorm = arguments.MaxGradientNorm > 0 ? nn.utils.clip_grad_norm_(trainable, arguments.MaxGradientNorm) : GradientNorm(trainable);
                    // A NaN or infinite gradient would poison every weight and both moments for good: such a step is never applied.
                    if (double.IsFinite(stepLoss) && double.IsFinite(gradientNorm)) optimizer.Step();
                    // Flush the gradients as soon as the step is taken; their memory is not needed until the next backward.
                    optimizer.ZeroGrad();
                }

                state.Step++;
                state.StepInEpoch++;
                state.ExamplesSeen += groupExamples;
                state.LastLoss = (float)stepLoss;
                state.LearningRate = learningRate;
                state.Elapsed = elapsedBefore + clock.Elapsed;
                state.History.StepList.Add(new TrainingStep(state.Step, state.Epoch, state.LastLoss, learningRate));
                if (!double.IsFinite(stepLoss) || !double.IsFinite(gradientNorm))
                {
                    state.History.NonFiniteStepList.Add(state.Step);
                    string what = $"epoch {state.Epoch} step {state.Step}/{state.TotalSteps} (learning rate {learningRate:G4}): the loss is {stepLoss:G4} and the gradient norm {gradientNorm:G4}";
                    if (!arguments.SkipNonFiniteSteps)
                    {
                        diverged = Diverged(what, state, learningRate, arguments);
                        break;
                    }
                    log.Warning($"skipped {what}; the weights were not updated ({state.History.NonFiniteStepList.Count} skipped so far)");
                }
                foreach (var callback in callbacks) callback.OnStepEnd(state, control);
                if (control.ShouldEvaluate) Evaluate();
                if (control.ShouldSaveCheckpoint) SaveCheckpoint(epochEnded: false);
                if (control.ShouldStop) break;
            }
            stepsDoneInFirstEpoch = 0;
            if (control.Cancelled || diverged is not null) break;
            foreach (var callback in callbacks) callback.OnEpochEnd(state, control);
            if (control.ShouldEvaluate) Evaluate();
            if (control.ShouldSaveCheckpoint) SaveCheckpoint(epochEnded: true);
        }
        foreach (var callback in callbacks) callback.OnTrainEnd(state, control);
        state.History.TrainingTime = elapsedBefore + clock.Elapsed;
        if (diverged is not null || control.Cancelled)
        {
            DisposeAll(bestWeights);
            throw (Exception?)diverged ?? new OperationCanceledException("Fine-tuning was cancelled through BertFineTuneOptions.CancellationToken; no model was produced. " +
                (state.LastCheckpoint is { } saved ? $"Training stopped after step {state.Step}, saved in the checkpoint '{saved}': set ResumeFromCheckpoint to continue from it."
                    : "Nothing was written."), arguments.CancellationToken);
        }
        if (bestWeights is not null && arguments.RestoreBestModel)
        {
            using (no_grad())
                foreach (var (name, value) in model.state_dict()) value.copy_(bestWeights[name]);
            log.Info($"restored the weights of epoch {state.History.Best!.Epoch} step {state.History.Best.Step} ({score.Name} {state.History.Best.Metrics[score.Name]:F4})");
        }
        DisposeAll(bestWeights);
        model.eval();
        return state.History;

        void Evaluate()
        {
            control.ShouldEvaluate = false;
            MemoryPhases.End("train");
            // Scored at the training batch size, not ScoringBatchSize: between steps the memory free in the allocator is made of the
            // step's activation blocks, which a larger batch's blocks (8 times larger at 64 against 8 rows) do not fit in, so every
            // validation grew the heap by the size of a scoring batch's activations, and the next steps fragmented it further.
            var (logits, loss) = Predict(model, task, validation!, Math.Min(arguments.ScoringBatchSize, micro), padId, device);
            state.LastEvaluation = new TrainingEvaluation(state.Step, state.Epoch, task.Metrics(logits, validation!), loss);
            state.History.EvaluationList.Add(state.LastEvaluation);
            foreach (var callback in callbacks) callback.OnEvaluate(state, control);
            if (control.ShouldSaveBest)
            {
                control.ShouldSaveBest = false;
                DisposeAll(bestWeights);
                using (no_grad())
                    bestWeights = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone().DetachFromDisposeScope());
            }
            MemoryPhases.End("evaluate");
            model.train();
        }

        void SaveCheckpoint(bool epochEnded)
        {
            control.ShouldSaveCheckpoint = false;
            var watch = Stopwatch.StartNew();
            state.LastCheckpoint = TrainingCheckpoint.Write(checkpoints!.Directory, checkpoints.Keep, model, optimizer, state, control, epochEnded, bestWeights, settings!);
            log.Info($"checkpoint at epoch {state.Epoch} step {state.Step}: {state.LastCheckpoint} ({watch.Elapsed.TotalSeconds:F1} s)");
        }
    }

    /// <summary>
    /// Puts a run back where its checkpoint left it, or checks that a new run does not start among another run's checkpoints.
    /// Returns the epoch to continue and the steps of it already done.
    /// </summary>
    private static (int FirstEpoch, int StepsDoneInFirstEpoch) Resume(CheckpointSettings checkpoints, SortedDictionary<string, string> settings,
        BertTaskModel model, IFineTuneOptimizer optimizer, TrainerState state, TrainerControl control, ref Dictionary<string, Tensor>? bestWeights, ITrainingLog log)
    {
        if (checkpoints.ResumeFrom is null)
        {
            if (TrainingCheckpoint.List(checkpoints.Directory) is { Count: > 0 } existing)
                // A new run among another run's checkpoints would prune them, or be pruned by their higher step numbers.
                throw new ArgumentException($"BertFineTuneOptions.CheckpointDirectory '{checkpoints.Directory}' already holds checkpoints of a run " +
                    $"({string.Join(", ", existing.Select(c => Path.GetFileName(c.Folder)))}). Continue that run (ResumeFromCheckpoint = \"{BertFineTuneOptions.LatestCheckpoint}\"), " +
                    "or give this run an empty folder.", "options");
            return (1, 0);
        }
        if (TrainingCheckpoint.Find(checkpoints.Directory, checkpoints.ResumeFrom, log) is not { } resumed) return (1, 0);
        var record = TrainingCheckpoint.ReadRecord(resumed, settings, log);
        bestWeights = TrainingCheckpoint.LoadTensors(resumed, model, optimizer);
        TrainingCheckpoint.Restore(record, state, control);
        state.LastCheckpoint = resumed;
        log.Info($"resumed from {resumed}: epoch {state.Epoch}, step {state.Step}/{state.TotalSteps}");
        return record.EpochEnded ? (record.Epoch + 1, 0) : (record.Epoch, record.StepInEpoch);
    }

    /// <summary>The L2 norm of all gradients together, as clip_grad_norm_ measures it, without scaling them.</summary>
    private static double GradientNorm(IEnumerable<TorchSharp.Modules.Parameter> parameters)
    {
        var norms = parameters.Select(p => p.grad).Where(g => g is not null).Select(g => g!.norm()).ToArray();
        return norms.Length == 0 ? 0 : stack(norms).norm().item<float>();
    }

    private static TrainingDivergedException Diverged(string what, TrainerState state, double learningRate, FineTuneArguments arguments) => new(
        $"Training diverged at {what}. The step was not applied: the model holds the weights after step {state.Step - 1}" +
        // Checkpoints are only written after finite steps, but weights can go astray while still finite: an earlier one may be the one to take.
        (state.LastCheckpoint is { } checkpoint ? $"; the checkpoints written before it remain (the newest is '{checkpoint}'): resume from it, or from an earlier one, with a lower learning rate" : "") +
        $". Lower BertFineTuneOptions.LearningRate (now {arguments.LearningRate:G4}), keep BertFineTuneOptions.MaxGradientNorm clipping on (now {arguments.MaxGradientNorm:G4}), " +
        "or set BertFineTuneOptions.SkipNonFiniteSteps to skip such steps.", state.Epoch, state.Step, learningRate, state.History, state.LastCheckpoint);

    /// <summary>
    /// Logits for every example in input order, and the mean loss when labels are known: [N, K] row-major for a per-text
    /// head; for a per-token head each example's [T, K] block (its own length, padding left out), one after another.
    /// </summary>
    public static (float[] Logits, double Loss) Predict(BertTaskModel model, FineTuneTask? task, IReadOnlyList<TokenizedExample> examples,
        int batchSize, long padId, Device device)
    {
        model.eval();
        int classes = model.Config.NumLabels;
        bool perToken = model.PerToken;
        var offsets = new long[examples.Count + 1];
        for (int i = 0; i < examples.Count; i++) offsets[i + 1] = offsets[i] + (perToken ? examples[i].Ids.Length : 1) * classes;
        var logits = new float[offsets[^1]];
        double lossSum = 0;
        using var noGrad = no_grad();
        foreach (var batch in Batching.ByLength(examples.Select(e => e.Ids.Length).ToArray(), batchSize))
        {
            using var scope = NewDisposeScope();
            var (ids, mask, types) = Batching.Collate(examples, batch, padId, device);
            var output = model.Forward(ids, mask, types);
            if (task is not null) lossSum += model.Loss(output, task.Labels(examples, batch, device)).item<float>() * batch.Length;
            var values = output.to(CPU).to_type(ScalarType.Float32).data<float>().ToArray();
            int rowSize = values.Length / batch.Length;   // K, or T × K with T the batch's padded length
            for (int row = 0; row < batch.Length; row++)
            {
                int example = batch[row];
                Array.Copy(values, row * rowSize, logits, offsets[example], offsets[example + 1] - offsets[example]);
            }
        }
        return (logits, examples.Count == 0 ? 0 : lossSum / examples.Count);
    }

    private static void DisposeAll(Dictionary<string, Tensor>? tensors)
    {
        if (tensors is null) return;
        foreach (var t in tensors.Values) t.Dispose();
    }
}
