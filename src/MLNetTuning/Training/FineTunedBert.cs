using Microsoft.ML.Runtime;
using MLNetTuning.Models;
using MLNetTuning.Pretrained;
using MLNetTuning.Text;
using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>A fine-tuned BERT with everything needed to score text: weights, tokenizer, labels and scoring settings.</summary>
internal sealed class FineTunedBert : IDisposable
{
    private readonly object _gate = new();

    public FineTunedBert(BertForSequenceClassification model, BertTextTokenizer tokenizer, BertTask task, int maxSequenceLength,
        int scoringBatchSize, float labelMean, float labelScale, TrainingHistory history, Device device)
    {
        _model = model;
        Tokenizer = tokenizer;
        Task = task;
        MaxSequenceLength = maxSequenceLength;
        ScoringBatchSize = scoringBatchSize;
        Adapter = new TaskAdapter(task, model.Config.NumLabels, labelMean, labelScale);
        History = history;
        Device = device;
        model.eval();
    }

    private readonly BertForSequenceClassification _model;
    private bool _disposed;

    /// <summary>The weights; throws once disposed, rather than letting a save write a checkpoint with no tensors.</summary>
    public BertForSequenceClassification Model => _disposed ? throw DisposedModel.Error(nameof(BertFineTuneTransformer)) : _model;
    public BertTextTokenizer Tokenizer { get; }
    public BertTask Task { get; }
    public BertConfig Config => _model.Config;
    public int MaxSequenceLength { get; }
    public int ScoringBatchSize { get; }
    public TaskAdapter Adapter { get; }
    public TrainingHistory History { get; }
    public Device Device { get; }

    /// <summary>The number format the model scores in (what it trained in, unless this CPU lacks bfloat16 instructions).</summary>
    public NumericPrecision Precision => Model.Precision;

    /// <summary>Class names (multiclass), in key order.</summary>
    public IReadOnlyList<string> Labels => Config.Labels;

    /// <summary>Logits [N, K] row-major for texts (and pairs), in input order; regression scores come back in label units.</summary>
    public float[] Score(IReadOnlyList<string?> texts, IReadOnlyList<string?>? pairs)
    {
        var examples = Tokenize(Tokenizer, texts, pairs, Enumerable.Repeat(0f, texts.Count).ToList(), MaxSequenceLength);
        float[] logits;
        // One forward pass at a time per model: TorchSharp modules are not documented as safe for concurrent forwards.
        lock (_gate) logits = FineTuneLoop.Predict(Model, null, examples, ScoringBatchSize, Tokenizer.PadId, Device).Logits;
        if (Task == BertTask.Regression)
            for (int i = 0; i < logits.Length; i++) logits[i] = Adapter.Unscale(logits[i]);
        return logits;
    }

    /// <summary>Tokenizes once per Fit, in parallel: a tokenizer holds no per-call state.</summary>
    internal static List<TokenizedExample> Tokenize(BertTextTokenizer tokenizer, IReadOnlyList<string?> texts, IReadOnlyList<string?>? pairs,
        IReadOnlyList<float> labels, int maxLength)
    {
        var examples = new TokenizedExample[texts.Count];
        Parallel.For(0, texts.Count, i =>
        {
            var encoded = tokenizer.Encode(texts[i] ?? "", pairs?[i] ?? (pairs is null ? null : ""), maxLength);
            examples[i] = new TokenizedExample(encoded.Ids, encoded.TypeIds, labels[i]);
        });
        return [.. examples];
    }

    /// <summary>Frees the weights once any forward pass in progress has finished; later scoring throws ObjectDisposedException.</summary>
    public void Dispose()
    {
        // A PredictionEngine disposed on one thread disposes the model that another engine may be scoring with right now.
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _model.Dispose();
        }
    }
}

/// <summary>The error for a model used after its native weights were freed.</summary>
internal static class DisposedModel
{
    // A disposed TorchSharp module silently drops its parameters from state_dict, so without this check a save would write
    // an empty checkpoint. The usual cause is ML.NET's PredictionEngine, which by default disposes the model it was made from.
    public static ObjectDisposedException Error(string transformer) => new(transformer,
        $"This {transformer} was disposed, so its weights are freed. A PredictionEngine disposes the model it was created from when the engine is disposed: " +
        "create engines with ml.Model.CreatePredictionEngine<TIn, TOut>(model, new PredictionEngineOptions { OwnsTransformer = false }) to keep using the model.");
}

/// <summary>Everything <c>Fit</c> does between reading the data and returning a fitted model.</summary>
internal static class FineTuneSession
{
    public static FineTunedBert Fit(IHostEnvironment environment, Microsoft.ML.IDataView trainData, BertFineTuneOptions options, IReadOnlyList<string>? classNames)
    {
        OptionChecks.Validate(options);
        var host = environment.Register("BertFineTune");
        using var channel = host.Start("Fine-tuning");
        int seed = options.Seed ?? host.Rand.Next();
        var device = TorchDevices.Resolve(options.Device);
        if (options.NumberOfThreads is int threads) set_num_threads(threads);

        var train = TrainingData.Read(trainData, options, "training data");
        if (train.Count == 0)
            throw new ArgumentException($"The training data has no rows{(train.SkippedMissingLabels > 0 ? $" with a label ({train.SkippedMissingLabels} rows had a missing label in '{options.LabelColumnName}')" : "")}. Fine-tuning needs at least one labelled example.", nameof(trainData));
        if (train.SkippedMissingLabels > 0)
            channel.Warning(MessageSensitivity.None, $"skipped {train.SkippedMissingLabels} training rows whose label '{options.LabelColumnName}' is missing");
        TrainingData? validation = null;
        if (options.ValidationSet is { } validationSet)
        {
            CheckSameSchema(trainData.Schema, validationSet.Schema, options, classNames);
            validation = TrainingData.Read(validationSet, options, "validation set", options.Task == BertTask.MulticlassClassification ? classNames : null);
            if (validation.SkippedMissingLabels > 0)
                throw new InvalidDataException($"BertFineTuneOptions.ValidationSet has {validation.SkippedMissingLabels} rows whose label '{options.LabelColumnName}' is missing or was unseen in the training data (key 0). " +
                    "Every validation label must be one of the training classes: remove those rows or add examples of their classes to the training data.");
        }
        else if (options.ValidationFraction > 0)
        {
            int rows = train.Count;
            (train, validation) = train.Split(options.ValidationFraction, options.Task != BertTask.Regression, new Random(seed));
            if (train.Count == 0)
                throw new ArgumentException($"BertFineTuneOptions.ValidationFraction is {options.ValidationFraction}, which holds out all {rows} labelled rows of the training data, leaving no training rows. " +
                    "Give more rows, a smaller ValidationFraction, or a separate ValidationSet.", nameof(options));
        }

        using var pretrained = ModelResolver.Load(options.Model);
        var config = TaskConfig(pretrained.Config, options, classNames, trainData);
        if (options.MaxSequenceLength > config.MaxPositionEmbeddings)
            throw new ArgumentOutOfRangeException(nameof(options), $"BertFineTuneOptions.MaxSequenceLength is {options.MaxSequenceLength}, but the model '{options.Model}' has only {config.MaxPositionEmbeddings} positions. Use at most {config.MaxPositionEmbeddings}.");
        channel.Info(MessageSensitivity.None, $"model {pretrained.Source}: {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, {config.NumLabels} outputs; " +
            $"{train.Count} training and {validation?.Count ?? 0} validation examples; seed {seed}");

        // torch's generator is process-wide: two Fits running at once would draw each other's dropout masks and lose the seed.
        lock (SeededTorchGate)
            return Train(options, pretrained, config, train, validation, seed, device, channel);
    }

    private static readonly object SeededTorchGate = new();

    private static FineTunedBert Train(BertFineTuneOptions options, PretrainedBert pretrained, BertConfig config, TrainingData train,
        TrainingData? validation, int seed, Device device, IChannel channel)
    {
        random.manual_seed(seed);
        var model = new BertForSequenceClassification(config, device);
        try
        {
            pretrained.LoadEncoderInto(model.Bert);
            pretrained.ReleaseWeights();
            model.Precision = TorchPrecision.Resolve(options.Precision, device, message => channel.Warning(MessageSensitivity.None, message));
            Freeze(model, options);
            float mean = 0, scale = 1;
            if (options.Task == BertTask.Regression)
            {
                mean = train.Labels.Average();
                scale = (float)Math.Sqrt(train.Labels.Average(y => (y - mean) * (y - mean)));
                if (!(scale > 1e-12f)) scale = 1;   // a constant target: nothing to standardise
            }
            var adapter = new TaskAdapter(options.Task, config.NumLabels, mean, scale);
            var trainExamples = FineTunedBert.Tokenize(pretrained.Tokenizer, train.Texts, train.Pairs, train.Labels, options.MaxSequenceLength);
            var validationExamples = validation is null ? null
                : FineTunedBert.Tokenize(pretrained.Tokenizer, validation.Texts, validation.Pairs, validation.Labels, options.MaxSequenceLength);
            var history = FineTuneLoop.Train(model, adapter, trainExamples, validationExamples, options, seed, pretrained.Tokenizer.PadId, device, channel);
            return new FineTunedBert(model, pretrained.Tokenizer, options.Task, options.MaxSequenceLength, options.ScoringBatchSize, mean, scale, history, device);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The checkpoint's config with the task's head, labels and any dropout overrides.</summary>
    private static BertConfig TaskConfig(BertConfig pretrained, BertFineTuneOptions options, IReadOnlyList<string>? classNames, Microsoft.ML.IDataView trainData)
    {
        var config = pretrained.Clone();
        config.HiddenDropoutProb = options.HiddenDropout ?? config.HiddenDropoutProb;
        config.AttentionProbsDropoutProb = options.AttentionDropout ?? config.AttentionProbsDropoutProb;
        config.ClassifierDropout = options.ClassifierDropout ?? config.ClassifierDropout;
        config.Architectures = ["BertForSequenceClassification"];
        switch (options.Task)
        {
            case BertTask.MulticlassClassification:
                var keyType = (Microsoft.ML.Data.KeyDataViewType)trainData.Schema[options.LabelColumnName].Type;
                int classes = checked((int)keyType.Count);
                config.Labels = classNames is { } names && names.Count == classes ? names.ToArray() : Enumerable.Range(0, classes).Select(i => $"LABEL_{i}").ToArray();
                config.ProblemType = "single_label_classification";
                if (options.ClassWeights is { } weights && weights.Length != classes)
                    throw new ArgumentException($"BertFineTuneOptions.ClassWeights has {weights.Length} weights, but label '{options.LabelColumnName}' has {classes} classes. Give one weight per class, in key order.", nameof(options));
                break;
            case BertTask.BinaryClassification:
                // One logit with a sigmoid: ML.NET's binary convention (raw Score, Probability) and Hugging Face's multi-label head.
                config.Labels = ["True"];
                config.ProblemType = "multi_label_classification";
                if (options.ClassWeights is { Length: not 2 } binaryWeights)
                    throw new ArgumentException($"BertFineTuneOptions.ClassWeights has {binaryWeights.Length} weights; binary classification takes two: negative, positive.", nameof(options));
                break;
            default:
                config.Labels = ["Score"];
                config.ProblemType = "regression";
                break;
        }
        config.Validate($"BertFineTuneOptions for model '{options.Model}'");
        return config;
    }

    private static void Freeze(BertForSequenceClassification model, BertFineTuneOptions options)
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
        var namesForStrings = options.Task == BertTask.MulticlassClassification ? classNames : null;
        TrainingData.CheckSchema(validation, options, "validation set", needLabel: true, namesForStrings);
        var trainType = train[options.LabelColumnName].Type;
        var validationType = validation[options.LabelColumnName].Type;
        bool rawClassNames = namesForStrings is not null && validationType is Microsoft.ML.Data.TextDataViewType;
        if (!trainType.Equals(validationType) && !rawClassNames)
            throw new ArgumentException($"Label column '{options.LabelColumnName}' is {trainType} in the training data but {validationType} in BertFineTuneOptions.ValidationSet. " +
                "Transform the validation set with the same fitted pipeline (for example the MapValueToKey fitted on the training data).", nameof(options));
    }
}
