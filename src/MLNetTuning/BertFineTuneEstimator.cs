using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetTuning.MlNet;
using MLNetTuning.Training;

namespace MLNetTuning;

/// <summary>
/// Fine-tunes a pretrained BERT encoder with a task head as an ML.NET pipeline stage. <c>Fit</c> tokenizes the text once,
/// trains with AdamW (warmup and decay, clipping, optional validation with early stopping and best-model restore) and
/// returns a <see cref="BertFineTuneTransformer"/>.
/// </summary>
public sealed class BertFineTuneEstimator : IEstimator<BertFineTuneTransformer>
{
    private readonly IHostEnvironment _environment;
    private readonly BertFineTuneOptions _options;

    /// <summary>Creates the estimator.</summary>
    /// <param name="ml">The ML.NET context: its seed seeds training when <see cref="BertFineTuneOptions.Seed"/> is null, and its log receives progress.</param>
    /// <param name="options">The options; they are copied, so later changes do not affect this estimator.</param>
    public BertFineTuneEstimator(MLContext ml, BertFineTuneOptions options) : this((IHostEnvironment)ml, options) { }

    internal BertFineTuneEstimator(IHostEnvironment environment, BertFineTuneOptions options)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(options);
        _environment = environment;
        _options = options.Clone();
        OptionChecks.Validate(_options);
    }

    /// <summary>Fine-tunes on <paramref name="input"/>.</summary>
    /// <exception cref="ArgumentException">A column is missing or has the wrong type, or an option does not fit the data.</exception>
    /// <exception cref="OperationCanceledException">The options' cancellation token was cancelled; no model is returned.</exception>
    public BertFineTuneTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        // The data is read here, at the ML.NET surface; the session below sees texts, labels and options only.
        FineTunedBert model;
        if (_options.Task == BertTask.QuestionAnswering)
        {
            var questions = QuestionAnswerReader.Read(input, _options, "training data");
            var validation = _options.ValidationSet is { } set ? QuestionAnswerReader.Read(set, _options, "validation set") : null;
            model = FineTuneSession.FitQuestions(_environment, questions, validation, _options);
            // The question and the context are read as the text pair of the scoring batch.
            return new BertFineTuneTransformer(model, _options.QuestionColumnName, _options.ContextColumnName);
        }
        if (_options.Task == BertTask.TokenClassification)
        {
            var sentences = TaggedSentenceReader.Read(input, _options, "training data");
            var validation = _options.ValidationSet is { } set ? TaggedSentenceReader.Read(set, _options, "validation set") : null;
            model = FineTuneSession.FitTokens(_environment, sentences, validation, _options);
        }
        else
        {
            var (train, validation, classNames) = TrainingDataReader.ReadWithValidation(input, _options);
            model = FineTuneSession.Fit(_environment, train, validation, classNames, _options);
        }
        return new BertFineTuneTransformer(model, _options.TextColumnName, _options.SecondTextColumnName);
    }

    /// <summary>The output shape, checked without data: the text columns must be strings and the label must fit the task.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        if (_options.Task == BertTask.QuestionAnswering)
        {
            // The answer is read at Fit only; scoring needs the question and the context.
            InputColumn[] texts = [new(_options.QuestionColumnName, TextDataViewType.Instance), new(_options.ContextColumnName, TextDataViewType.Instance)];
            new InputColumn(_options.AnswerColumnName, TextDataViewType.Instance).CheckIn(inputSchema, nameof(BertFineTuneEstimator));
            return BatchedMappingTransformer.ExtendSchemaShape(inputSchema, texts, FineTuneTasks.ForScoring(BertTask.QuestionAnswering, [], 0, 1,
                answers: AnswerSettings.Default with { TopK = _options.TopKAnswers }).OutputColumns, nameof(BertFineTuneEstimator));
        }
        var label = inputSchema.FirstOrDefault(c => c.Name == _options.LabelColumnName);
        if (label.Name is null)
            throw new ArgumentException($"The input has no label column '{_options.LabelColumnName}' (BertFineTuneOptions.LabelColumnName).", nameof(inputSchema));
        var task = FineTuneTasks.Describe(_options.Task);
        // A SchemaShape describes a key by IsKey and its raw type (UInt32), never by a KeyDataViewType item.
        bool perWord = task is TokenClassificationTask;
        if (!task.AcceptsLabelShape(label.IsKey, label.ItemType) || (label.Kind != SchemaShape.Column.VectorKind.Scalar) != task.LabelIsVector)
            throw new ArgumentException($"Label column '{_options.LabelColumnName}' is {(label.IsKey ? "key " : "")}{label.ItemType} ({label.Kind}), but {_options.Task} needs " +
                task.LabelNeed(_options.LabelColumnName), nameof(inputSchema), innerException: null);
        // Token classification reads its words as a vector of text or as one text to split on whitespace.
        bool wordVector = perWord && inputSchema.FirstOrDefault(c => c.Name == _options.TextColumnName) is { Name: not null, Kind: not SchemaShape.Column.VectorKind.Scalar };
        var inputs = new List<InputColumn> { new(_options.TextColumnName, wordVector ? new VectorDataViewType(TextDataViewType.Instance) : TextDataViewType.Instance) };
        if (_options.SecondTextColumnName is not null) inputs.Add(new(_options.SecondTextColumnName, TextDataViewType.Instance));
        // The class count is unknown without data; a vector of size 0 stands for "known at Fit".
        var outputs = task.OutputColumns;
        return BatchedMappingTransformer.ExtendSchemaShape(inputSchema, inputs, outputs, nameof(BertFineTuneEstimator));
    }
}
