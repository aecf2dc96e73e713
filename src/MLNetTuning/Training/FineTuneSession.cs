using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetTuning.MlNet;
using MLNetTuning.Models;
using MLNetTuning.Pretrained;
using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>Everything <c>Fit</c> does between reading the data and returning a fitted model.</summary>
internal static class FineTuneSession
{
    public static FineTunedBert Fit(IHostEnvironment environment, Microsoft.ML.IDataView trainData, BertFineTuneOptions options, IReadOnlyList<string>? classNames)
    {
        OptionChecks.Validate(options);
        var host = environment.Register("BertFineTune");
        using var channel = host.Start("Fine-tuning");
        var log = new ChannelTrainingLog(channel);
        int seed = options.Seed ?? host.Rand.Next();
        var device = TorchDevices.Resolve(options.Device);
        if (options.NumberOfThreads is int threads) set_num_threads(threads);

        if (options.Task == BertTask.TokenClassification)
            return FitTokens(trainData, options, seed, device, log);

        var train = TrainingData.Read(trainData, options, "training data");
        if (train.Count == 0)
            throw new ArgumentException($"The training data has no rows{(train.SkippedMissingLabels > 0 ? $" with a label ({train.SkippedMissingLabels} rows had a missing label in '{options.LabelColumnName}')" : "")}. Fine-tuning needs at least one labelled example.", nameof(trainData));
        if (train.SkippedMissingLabels > 0)
            log.Warning($"skipped {train.SkippedMissingLabels} training rows whose label '{options.LabelColumnName}' is missing");
        TrainingData? validation = null;
        if (options.ValidationSet is { } validationSet)
        {
            // The estimator reads class names for multiclass only; they let a validation set keep its raw string labels.
            CheckSameSchema(trainData.Schema, validationSet.Schema, options, classNames);
            validation = TrainingData.Read(validationSet, options, "validation set", classNames);
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

        using var pretrained = ModelResolver.Load(options.Model);
        var task = FineTuneTasks.ForTraining(options.Task, ClassNamesOf(trainData.Schema[options.LabelColumnName].Type, classNames),
            new TaskLossOptions(options.ClassWeights, options.LabelSmoothing, options.LabelColumnName), train.Labels);
        var config = TaskConfig(pretrained.Config, options, task);
        if (options.MaxSequenceLength > config.MaxPositionEmbeddings)
            throw new ArgumentOutOfRangeException(nameof(options), $"BertFineTuneOptions.MaxSequenceLength is {options.MaxSequenceLength}, but the model '{options.Model}' has only {config.MaxPositionEmbeddings} positions. Use at most {config.MaxPositionEmbeddings}.");
        log.Info($"model {pretrained.Source}: {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, {config.NumLabels} outputs; " +
            $"{train.Count} training and {validation?.Count ?? 0} validation examples; seed {seed}");

        // torch's generator is process-wide: two Fits running at once would draw each other's dropout masks and lose the seed.
        lock (SeededTorchGate)
            return Train(options, pretrained, config, task, Arguments(options, seed, pretrained.Tokenizer.PadId, device), log, tokenizer =>
                (FineTunedBert.Tokenize(tokenizer, train.Texts, train.Pairs, train.Labels, options.MaxSequenceLength),
                 validation is null ? null : FineTunedBert.Tokenize(tokenizer, validation.Texts, validation.Pairs, validation.Labels, options.MaxSequenceLength)));
    }

    /// <summary>Token classification: sentences of tagged words, cut into windows that fit the model.</summary>
    private static FineTunedBert FitTokens(Microsoft.ML.IDataView trainData, BertFineTuneOptions options, int seed, Device device, ITrainingLog log)
    {
        if (options.SecondTextColumnName is not null)
            throw new ArgumentException($"BertFineTuneOptions.SecondTextColumnName is '{options.SecondTextColumnName}', but token classification tags the words of one text. Leave it null.", nameof(options));
        var train = TaggedSentences.Read(trainData, options, "training data");
        if (train.Count == 0)
            throw new ArgumentException("The training data has no rows. Fine-tuning needs at least one tagged sentence.", nameof(trainData));
        TaggedSentences? validation = null;
        if (options.ValidationSet is { } validationSet)
        {
            validation = TaggedSentences.Read(validationSet, options, "validation set");
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

        using var pretrained = ModelResolver.Load(options.Model);
        var words = new WordInput(train.WordsAreVector, options.WindowStride);
        var task = FineTuneTasks.ForTraining(BertTask.TokenClassification, train.TagNames,
            new TaskLossOptions(options.ClassWeights, options.LabelSmoothing, options.LabelColumnName), [], words);
        var config = TaskConfig(pretrained.Config, options, task);
        if (options.MaxSequenceLength > config.MaxPositionEmbeddings)
            throw new ArgumentOutOfRangeException(nameof(options), $"BertFineTuneOptions.MaxSequenceLength is {options.MaxSequenceLength}, but the model '{options.Model}' has only {config.MaxPositionEmbeddings} positions. Use at most {config.MaxPositionEmbeddings}.");
        log.Info($"model {pretrained.Source}: {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, {config.NumLabels} tags; " +
            $"{train.Count} training and {validation?.Count ?? 0} validation sentences; seed {seed}");
        lock (SeededTorchGate)
            return Train(options, pretrained, config, task, Arguments(options, seed, pretrained.Tokenizer.PadId, device), log, tokenizer =>
                (train.Windows(tokenizer, options.MaxSequenceLength, options.WindowStride),
                 validation?.Windows(tokenizer, options.MaxSequenceLength, options.WindowStride)));
    }

    private static readonly object SeededTorchGate = new();

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
    };

    private static FineTunedBert Train(BertFineTuneOptions options, PretrainedBert pretrained, BertConfig config, FineTuneTask task,
        FineTuneArguments arguments, ITrainingLog log, Func<Text.BertTextTokenizer, (List<TokenizedExample> Train, List<TokenizedExample>? Validation)> tokenize)
    {
        random.manual_seed(arguments.Seed);
        var model = task.CreateModel(config, arguments.Device);
        try
        {
            // A token-classification model has no pooler: the checkpoint's pooler is left out, as Hugging Face does.
            pretrained.LoadEncoderInto(model.Bert, ignorePooler: model.Bert.Pooler is null);
            pretrained.ReleaseWeights();
            model.Precision = TorchPrecision.Resolve(options.Precision, arguments.Device, log.Warning);
            Freeze(model, options);
            var (trainExamples, validationExamples) = tokenize(pretrained.Tokenizer);
            if (trainExamples.Count == 0)
                throw new ArgumentException($"The training data has no tagged word: every tag in '{options.LabelColumnName}' is missing (key 0) or every sentence is empty.", nameof(options));
            var history = FineTuneLoop.Train(model, task, trainExamples, validationExamples, arguments, log);
            return new FineTunedBert(model, pretrained.Tokenizer, task, options.MaxSequenceLength, options.ScoringBatchSize, history, arguments.Device);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>A key label's class names: the training data's own names when they are one per key, else LABEL_i; none for other labels.</summary>
    private static IReadOnlyList<string> ClassNamesOf(DataViewType labelType, IReadOnlyList<string>? classNames)
    {
        if (labelType is not KeyDataViewType keyType) return [];
        int classes = checked((int)keyType.Count);
        return classNames is { } names && names.Count == classes ? names.ToArray() : Enumerable.Range(0, classes).Select(i => $"LABEL_{i}").ToArray();
    }

    /// <summary>The checkpoint's config with the task's head, labels and any dropout overrides.</summary>
    private static BertConfig TaskConfig(BertConfig pretrained, BertFineTuneOptions options, FineTuneTask task)
    {
        var config = pretrained.Clone();
        config.HiddenDropoutProb = options.HiddenDropout ?? config.HiddenDropoutProb;
        config.AttentionProbsDropoutProb = options.AttentionDropout ?? config.AttentionProbsDropoutProb;
        config.ClassifierDropout = options.ClassifierDropout ?? config.ClassifierDropout;
        config.Architectures = [task.Architecture];
        config.Labels = [.. task.HeadLabels];
        config.ProblemType = task.ProblemType;
        config.Validate($"BertFineTuneOptions for model '{options.Model}'");
        return config;
    }

    private static void Freeze(BertTaskModel model, BertFineTuneOptions options)
    {
        var frozen = new List<nn.Module>();
        if (options.FreezeEncoder) frozen.Add(model.Bert);
        if (options.FreezeEmbeddings || options.FreezeBottomLayers > 0) frozen.Add(model.Bert.Embeddings);
        if (options.FreezeBottomLayers > model.Config.NumHiddenLayers)
            throw new ArgumentOutOfRangeException(nameof(options), $"BertFineTuneOptions.FreezeBottomLayers is {options.FreezeBottomLayers}, but the model has {model.Config.NumHiddenLayers} layers.");
        frozen.AddRange(model.Bert.Encoder.Layers.Take(options.FreezeBottomLayers));
        foreach (var module in frozen)
            foreach (var parameter in module.parameters()) parameter.requires_grad = false;
    }

    private static void CheckSameSchema(Microsoft.ML.DataViewSchema train, Microsoft.ML.DataViewSchema validation, BertFineTuneOptions options, IReadOnlyList<string>? classNames)
    {
        TrainingData.CheckSchema(validation, options, "validation set", needLabel: true, classNames);
        var trainType = train[options.LabelColumnName].Type;
        var validationType = validation[options.LabelColumnName].Type;
        bool rawClassNames = classNames is not null && validationType is TextDataViewType;
        if (!trainType.Equals(validationType) && !rawClassNames)
            throw new ArgumentException($"Label column '{options.LabelColumnName}' is {trainType} in the training data but {validationType} in BertFineTuneOptions.ValidationSet. " +
                "Transform the validation set with the same fitted pipeline (for example the MapValueToKey fitted on the training data).", nameof(options));
    }
}
