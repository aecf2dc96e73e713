using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetTuning.MlNet;
using MLNetTuning.Models;
using MLNetTuning.Native;
using MLNetTuning.Pretrained;
using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>Everything <c>Fit</c> does between reading the data and returning a fitted model.</summary>
internal static class FineTuneSession
{
    /// <summary>Fine-tunes on texts (and pairs) with one label each, read by the surface (MlNet/TrainingDataReader).</summary>
    /// <param name="environment">ML.NET's environment: its log and, without a seed in the options, its random seed.</param>
    /// <param name="train">The training rows.</param>
    /// <param name="validation">The rows of BertFineTuneOptions.ValidationSet, or null.</param>
    /// <param name="classNames">Multiclass: the class names in key order; empty for other tasks.</param>
    /// <param name="options">The options.</param>
    public static FineTunedBert Fit(IHostEnvironment environment, TrainingData train, TrainingData? validation, IReadOnlyList<string> classNames, BertFineTuneOptions options)
    {
        var (channel, log, seed, device) = Start(environment, options);
        using var _ = channel;
        if (train.Count == 0)
            throw new ArgumentException($"The training data has no rows{(train.SkippedMissingLabels > 0 ? $" with a label ({train.SkippedMissingLabels} rows had a missing label in '{options.LabelColumnName}')" : "")}. Fine-tuning needs at least one labelled example.", "trainData");
        if (train.SkippedMissingLabels > 0)
            log.Warning($"skipped {train.SkippedMissingLabels} training rows whose label '{options.LabelColumnName}' is missing");
        if (validation is not null)
        {
            if (validation.SkippedMissingLabels > 0)
                throw new InvalidDataException($"BertFineTuneOptions.ValidationSet has {validation.SkippedMissingLabels} rows whose label '{options.LabelColumnName}' is missing or was unseen in the training data (key 0). " +
                    "Every validation label must be one of the training classes: remove those rows or add examples of their classes to the training data.");
        }
        else if (options.ValidationFraction > 0)
        {
            int rows = train.Count;
            (train, validation) = train.Split(options.ValidationFraction, FineTuneTasks.Describe(options.Task).StratifiedSplit, new Random(seed));
            if (train.Count == 0)
                throw new ArgumentException($"BertFineTuneOptions.ValidationFraction is {options.ValidationFraction}, which holds out all {rows} labelled rows of the training data, leaving no training rows. " +
                    "Give more rows, a smaller ValidationFraction, or a separate ValidationSet.", nameof(options));
        }

        var loss = new TaskLossOptions(options.ClassWeights, options.LabelSmoothing, options.LabelColumnName, options.TuneThresholds);
        return LoadAndTrain(options, FineTuneTasks.ForTraining(options.Task, classNames, loss, train.Labels),
            $"{train.Count} training and {validation?.Count ?? 0} validation examples", seed, device, log, tokenizer =>
                (Tokenize(tokenizer, train, options.MaxSequenceLength), validation is null ? null : Tokenize(tokenizer, validation, options.MaxSequenceLength)));
    }

    /// <summary>Tokenizes the rows with their labels, and a multi-label row's targets.</summary>
    private static List<TokenizedExample> Tokenize(Text.ITextTokenizer tokenizer, TrainingData data, int maxLength)
    {
        var examples = FineTunedBert.Tokenize(tokenizer, data.Texts, data.Pairs, data.Labels, maxLength);
        if (data.Targets is { } targets)
            for (int i = 0; i < examples.Count; i++) examples[i] = examples[i] with { Targets = targets[i] };
        return examples;
    }

    /// <summary>Token classification: sentences of tagged words (read by MlNet/TaggedSentenceReader), cut into windows that fit the model.</summary>
    public static FineTunedBert FitTokens(IHostEnvironment environment, TaggedSentences train, TaggedSentences? validation, BertFineTuneOptions options)
    {
        var (channel, log, seed, device) = Start(environment, options);
        using var _ = channel;
        if (options.SecondTextColumnName is not null)
            throw new ArgumentException($"BertFineTuneOptions.SecondTextColumnName is '{options.SecondTextColumnName}', but token classification tags the words of one text. Leave it null.", nameof(options));
        if (train.Count == 0)
            throw new ArgumentException("The training data has no rows. Fine-tuning needs at least one tagged sentence.", "trainData");
        if (validation is not null)
        {
            if (!validation.TagNames.SequenceEqual(train.TagNames))
                throw new ArgumentException($"Label column '{options.LabelColumnName}' has the tags {string.Join(", ", train.TagNames)} in the training data but {string.Join(", ", validation.TagNames)} in BertFineTuneOptions.ValidationSet. " +
                    "Transform the validation set with the same fitted pipeline (the MapValueToKey fitted on the training data).", nameof(options));
        }
        else if (options.ValidationFraction > 0)
        {
            int rows = train.Count;
            (train, validation) = train.Split(options.ValidationFraction, new Random(seed));
            if (train.Count == 0)
                throw new ArgumentException($"BertFineTuneOptions.ValidationFraction is {options.ValidationFraction}, which holds out all {rows} sentences of the training data, leaving none to train on. " +
                    "Give more rows, a smaller ValidationFraction, or a separate ValidationSet.", nameof(options));
        }

        var loss = new TaskLossOptions(options.ClassWeights, options.LabelSmoothing, options.LabelColumnName);
        var task = FineTuneTasks.ForTraining(BertTask.TokenClassification, train.TagNames, loss, [], new WordInput(train.WordsAreVector, options.WindowStride));
        return LoadAndTrain(options, task, $"{train.Count} training and {validation?.Count ?? 0} validation sentences", seed, device, log, tokenizer =>
            (train.Windows(tokenizer, options.MaxSequenceLength, options.WindowStride),
             validation?.Windows(tokenizer, options.MaxSequenceLength, options.WindowStride)));
    }

    /// <summary>Question answering: questions with their contexts and answers (read by MlNet/QuestionAnswerReader), contexts cut into windows.</summary>
    public static FineTunedBert FitQuestions(IHostEnvironment environment, QuestionAnswers train, QuestionAnswers? validation, BertFineTuneOptions options)
    {
        var (channel, log, seed, device) = Start(environment, options);
        using var _ = channel;
        if (options.MaxSequenceLength < 5)
            throw new ArgumentOutOfRangeException(nameof(options), $"BertFineTuneOptions.MaxSequenceLength is {options.MaxSequenceLength}; question answering needs at least 5: three special tokens, a question token and a context token.");
        if (train.Count == 0)
            throw new ArgumentException("The training data has no rows. Fine-tuning needs at least one question with its context and answer.", "trainData");
        if (validation is null && options.ValidationFraction > 0)
            (train, validation) = train.Split(options.ValidationFraction, new Random(seed));
        if (train.Count == 0)
            throw new ArgumentException($"BertFineTuneOptions.ValidationFraction is {options.ValidationFraction}, which holds out every question of the training data. Give more rows or a smaller ValidationFraction.", nameof(options));

        var settings = new AnswerSettings(options.DocumentStride, options.MaxAnswerLength, options.TopKAnswers, options.AllowNoAnswer);
        var task = FineTuneTasks.ForTraining(BertTask.QuestionAnswering, [], new TaskLossOptions(), [], answers: settings);
        return LoadAndTrain(options, task, $"{train.Count} training and {validation?.Count ?? 0} validation questions", seed, device, log, tokenizer =>
            (train.Windows(tokenizer, options.MaxSequenceLength, options.DocumentStride),
             validation?.Windows(tokenizer, options.MaxSequenceLength, options.DocumentStride)));
    }

    /// <summary>Loads the checkpoint, gives it the task's head and trains it on the examples that <paramref name="tokenize"/> makes.</summary>
    private static FineTunedBert LoadAndTrain(BertFineTuneOptions options, FineTuneTask task, string counts, int seed, Device device, ITrainingLog log,
        Func<Text.ITextTokenizer, (List<TokenizedExample> Train, List<TokenizedExample>? Validation)> tokenize)
    {
        using var pretrained = ModelResolver.Load(options.Model);
        var config = TaskConfig(pretrained.Config, options, task);
        if (options.MaxSequenceLength > config.MaxTokens)
            throw new ArgumentOutOfRangeException(nameof(options), $"BertFineTuneOptions.MaxSequenceLength is {options.MaxSequenceLength}, but the model '{options.Model}' has only {config.MaxTokens} positions. Use at most {config.MaxTokens}.");
        log.Info($"model {pretrained.Source}: {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, {config.NumLabels} outputs; {counts}; seed {seed}");
        // torch's generator is process-wide: two Fits running at once would draw each other's dropout masks and lose the seed.
        lock (SeededTorchGate)
            return Train(options, pretrained, config, task, Arguments(options, seed, pretrained.Tokenizer.PadId, device), log, tokenize);
    }

    private static readonly object SeededTorchGate = new();

    /// <summary>What every Fit sets up first: the options checked, ML.NET's log, the seed, the device and the thread count.</summary>
    private static (IChannel Channel, ITrainingLog Log, int Seed, Device Device) Start(IHostEnvironment environment, BertFineTuneOptions options)
    {
        OptionChecks.Validate(options);
        var host = environment.Register("BertFineTune");
        var channel = host.Start("Fine-tuning");
        int seed = options.Seed ?? host.Rand.Next();
        var device = TorchDevices.Resolve(options.Device);
        if (options.NumberOfThreads is int threads) set_num_threads(threads);
        return (channel, new ChannelTrainingLog(channel), seed, device);
    }

    /// <summary>The one mapping from the public options to what the loop runs by.</summary>
    internal static FineTuneArguments Arguments(BertFineTuneOptions options, int seed = 0, long padId = 0, Device? device = null) => new()
    {
        Epochs = options.Epochs,
        BatchSize = options.BatchSize,
        GradientAccumulationSteps = options.GradientAccumulationSteps,
        LearningRate = options.LearningRate,
        Schedule = options.Schedule,
        WarmupSteps = options.WarmupSteps,
        WarmupRatio = options.WarmupRatio,
        WeightDecay = options.WeightDecay,
        AdamBeta1 = options.AdamBeta1,
        AdamBeta2 = options.AdamBeta2,
        AdamEpsilon = options.AdamEpsilon,
        MaxGradientNorm = options.MaxGradientNorm,
        GroupByLength = options.GroupByLength,
        PadTo = options.PadToMaxSequenceLength ? options.MaxSequenceLength : null,
        EvaluateEveryNSteps = options.EvaluateEveryNSteps,
        ScoringBatchSize = options.ScoringBatchSize,
        ValidationMetric = options.ValidationMetric,
        EarlyStoppingPatience = options.EarlyStoppingPatience,
        EarlyStoppingMinDelta = options.EarlyStoppingMinDelta,
        RestoreBestModel = options.RestoreBestModel,
        Seed = seed,
        PadId = padId,
        Device = device ?? CPU,
        Progress = options.Progress,
        CancellationToken = options.CancellationToken,
        Checkpoints = options.CheckpointDirectory is null && options.ResumeFromCheckpoint is null ? null
            : new CheckpointSettings(options.CheckpointDirectory ?? Path.GetDirectoryName(Path.GetFullPath(options.ResumeFromCheckpoint!))!,
                options.CheckpointEverySteps, options.KeepCheckpoints, options.ResumeFromCheckpoint),
        SkipNonFiniteSteps = options.SkipNonFiniteSteps,
        TrainingBatchObserver = options.TrainingBatchObserver,
    };

    private static FineTunedBert Train(BertFineTuneOptions options, PretrainedBert pretrained, BertConfig config, FineTuneTask task,
        FineTuneArguments arguments, ITrainingLog log, Func<Text.ITextTokenizer, (List<TokenizedExample> Train, List<TokenizedExample>? Validation)> tokenize)
    {
        random.manual_seed(arguments.Seed);
        var model = task.CreateModel(config, arguments.Device);
        try
        {
            // A token head reads every hidden state and has no pooler (as in Hugging Face): the checkpoint's pooler is left out.
            pretrained.LoadEncoderInto(model.Bert, ignorePooler: model.Bert.PoolerModule is null);
            pretrained.ReleaseWeights();
            MemoryPhases.End("load");
            model.Precision = TorchPrecision.Resolve(options.Precision, arguments.Device, log.Warning);
            Freeze(model, options);
            var (trainExamples, validationExamples) = tokenize(pretrained.Tokenizer);
            MemoryPhases.End("tokenize");
            if (trainExamples.Count == 0)
                throw new ArgumentException($"The training data has no tagged word: every tag in '{options.LabelColumnName}' is missing (key 0) or every sentence is empty.", nameof(options));
            task.BeforeTraining(model, trainExamples);
            var history = FineTuneLoop.Train(model, task, trainExamples, validationExamples, arguments, log);
            MemoryPhases.End("train");
            if (validationExamples is { Count: > 0 })
                task.AfterTraining(() => FineTuneLoop.Predict(model, null, validationExamples, arguments.ScoringBatchSize, arguments.PadId, arguments.Device).Logits, validationExamples);
            // Training's optimizer state is gone: what the allocator kept for the steps goes back to the kernel before any scoring.
            NativeAllocator.ReleaseFreeMemory();
            MemoryPhases.End("evaluate");
            return new FineTunedBert(model, pretrained.Tokenizer, task, options.MaxSequenceLength, options.ScoringBatchSize, history, arguments.Device);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The checkpoint's config with the task's head, labels and any dropout overrides.</summary>
    private static BertConfig TaskConfig(BertConfig pretrained, BertFineTuneOptions options, FineTuneTask task)
    {
        var config = pretrained.Clone();
        config.HiddenDropoutProb = options.HiddenDropout ?? config.HiddenDropoutProb;
        config.AttentionProbsDropoutProb = options.AttentionDropout ?? config.AttentionProbsDropoutProb;
        config.ClassifierDropout = options.ClassifierDropout ?? config.ClassifierDropout;
        config.Architectures = [ModelFamilies.Of(config).Architecture(task.Architecture)];
        config.Labels = [.. task.HeadLabels];
        config.ProblemType = task.ProblemType;
        config.Validate($"BertFineTuneOptions for model '{options.Model}'");
        return config;
    }

    private static void Freeze(BertTaskModel model, BertFineTuneOptions options)
    {
        var frozen = new List<nn.Module>();
        if (options.FreezeEncoder) frozen.Add(model.Bert);
        if (options.FreezeEmbeddings || options.FreezeBottomLayers > 0) frozen.Add(model.Bert.EmbeddingModule);
        if (options.FreezeBottomLayers > model.Config.NumHiddenLayers)
            throw new ArgumentOutOfRangeException(nameof(options), $"BertFineTuneOptions.FreezeBottomLayers is {options.FreezeBottomLayers}, but the model has {model.Config.NumHiddenLayers} layers.");
        frozen.AddRange(model.Bert.Layers.Take(options.FreezeBottomLayers));
        foreach (var module in frozen)
            foreach (var parameter in module.parameters()) parameter.requires_grad = false;
    }
}
