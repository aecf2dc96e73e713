using Microsoft.ML;
using MLNetTuning.Tagging;
using MLNetTuning.MlNet;
using MLNetTuning.Training;

namespace MLNetTuning;

/// <summary>MLNetTuning's entry points on ML.NET's catalogs, in the ML.NET idiom (<c>ml.MulticlassClassification.Trainers.BertFineTune(...)</c>).</summary>
public static class MlNetTuningCatalog
{
    /// <summary>Fine-tunes BERT for multiclass classification. The label must be a key column (use <c>MapValueToKey</c>).</summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="labelColumnName">The key label column.</param>
    /// <param name="textColumnName">The text column.</param>
    /// <param name="secondTextColumnName">The second text column of sentence pairs, or null.</param>
    /// <param name="model">An embedded model name, a Hugging Face folder or a cached model id.</param>
    /// <param name="epochs">Passes over the data.</param>
    public static BertFineTuneEstimator BertFineTune(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label", string textColumnName = "Text", string? secondTextColumnName = null, string model = "all-MiniLM-L6-v2", int epochs = 3)
        => catalog.BertFineTune(Options(BertTask.MulticlassClassification, labelColumnName, textColumnName, secondTextColumnName, model, epochs));

    /// <summary>Fine-tunes BERT for multiclass classification with full options; <see cref="BertFineTuneOptions.Task"/> is set to multiclass.</summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="options">The options.</param>
    public static BertFineTuneEstimator BertFineTune(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, BertFineTuneOptions options)
        => Create(catalog, options, BertTask.MulticlassClassification);

    /// <summary>Fine-tunes BERT for binary classification. The label must be a Boolean column.</summary>
    /// <param name="catalog">The binary trainers catalog.</param>
    /// <param name="labelColumnName">The Boolean label column.</param>
    /// <param name="textColumnName">The text column.</param>
    /// <param name="secondTextColumnName">The second text column of sentence pairs, or null.</param>
    /// <param name="model">An embedded model name, a Hugging Face folder or a cached model id.</param>
    /// <param name="epochs">Passes over the data.</param>
    public static BertFineTuneEstimator BertFineTune(this BinaryClassificationCatalog.BinaryClassificationTrainers catalog,
        string labelColumnName = "Label", string textColumnName = "Text", string? secondTextColumnName = null, string model = "all-MiniLM-L6-v2", int epochs = 3)
        => catalog.BertFineTune(Options(BertTask.BinaryClassification, labelColumnName, textColumnName, secondTextColumnName, model, epochs));

    /// <summary>Fine-tunes BERT for binary classification with full options; <see cref="BertFineTuneOptions.Task"/> is set to binary.</summary>
    /// <param name="catalog">The binary trainers catalog.</param>
    /// <param name="options">The options.</param>
    public static BertFineTuneEstimator BertFineTune(this BinaryClassificationCatalog.BinaryClassificationTrainers catalog, BertFineTuneOptions options)
        => Create(catalog, options, BertTask.BinaryClassification);

    /// <summary>Fine-tunes BERT for regression. The label must be a Single (float) column.</summary>
    /// <param name="catalog">The regression trainers catalog.</param>
    /// <param name="labelColumnName">The float label column.</param>
    /// <param name="textColumnName">The text column.</param>
    /// <param name="secondTextColumnName">The second text column of sentence pairs, or null.</param>
    /// <param name="model">An embedded model name, a Hugging Face folder or a cached model id.</param>
    /// <param name="epochs">Passes over the data.</param>
    public static BertFineTuneEstimator BertFineTune(this RegressionCatalog.RegressionTrainers catalog,
        string labelColumnName = "Label", string textColumnName = "Text", string? secondTextColumnName = null, string model = "all-MiniLM-L6-v2", int epochs = 3)
        => catalog.BertFineTune(Options(BertTask.Regression, labelColumnName, textColumnName, secondTextColumnName, model, epochs));

    /// <summary>Fine-tunes BERT for regression with full options; <see cref="BertFineTuneOptions.Task"/> is set to regression.</summary>
    /// <param name="catalog">The regression trainers catalog.</param>
    /// <param name="options">The options.</param>
    public static BertFineTuneEstimator BertFineTune(this RegressionCatalog.RegressionTrainers catalog, BertFineTuneOptions options)
        => Create(catalog, options, BertTask.Regression);

    /// <summary>
    /// Fine-tunes BERT to tag every word (named entities, part of speech): the text column holds the words (a vector of text,
    /// or a text split on whitespace) and the label one key per word (<c>TokenizeIntoWords</c> then <c>MapValueToKey</c>).
    /// </summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="labelColumnName">The tags: a vector of keys, one per word.</param>
    /// <param name="textColumnName">The words.</param>
    /// <param name="model">An embedded model name, a Hugging Face folder or a cached model id.</param>
    /// <param name="epochs">Passes over the data.</param>
    public static BertFineTuneEstimator BertTokenClassification(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label", string textColumnName = "Text", string model = "all-MiniLM-L6-v2", int epochs = 3)
        => catalog.BertTokenClassification(Options(BertTask.TokenClassification, labelColumnName, textColumnName, null, model, epochs));

    /// <summary>Fine-tunes BERT to tag every word with full options; <see cref="BertFineTuneOptions.Task"/> is set to token classification.</summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="options">The options.</param>
    public static BertFineTuneEstimator BertTokenClassification(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, BertFineTuneOptions options)
        => Create(catalog, options, BertTask.TokenClassification);

    /// <summary>
    /// Fine-tunes BERT for multi-label classification: any number of labels per text. The label is a known-size vector of
    /// Boolean (one per label, named by SlotNames) or a vector of keys (the labels that apply: <c>TokenizeIntoWords</c> then
    /// <c>MapValueToKey</c>). Outputs <c>Score</c> (per-label probabilities) and a bool vector <c>PredictedLabel</c>.
    /// </summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="labelColumnName">The label sets.</param>
    /// <param name="textColumnName">The text column.</param>
    /// <param name="secondTextColumnName">The second text column of sentence pairs, or null.</param>
    /// <param name="model">An embedded model name, a Hugging Face folder or a cached model id.</param>
    /// <param name="epochs">Passes over the data.</param>
    public static BertFineTuneEstimator BertMultiLabel(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label", string textColumnName = "Text", string? secondTextColumnName = null, string model = "all-MiniLM-L6-v2", int epochs = 3)
        => catalog.BertMultiLabel(Options(BertTask.MultiLabelClassification, labelColumnName, textColumnName, secondTextColumnName, model, epochs));

    /// <summary>Fine-tunes BERT for multi-label classification with full options; <see cref="BertFineTuneOptions.Task"/> is set to multi-label.</summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="options">The options.</param>
    public static BertFineTuneEstimator BertMultiLabel(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, BertFineTuneOptions options)
        => Create(catalog, options, BertTask.MultiLabelClassification);

    /// <summary>Sentence embeddings from a pretrained BERT as a fixed-size float vector column, for any ML.NET trainer.</summary>
    /// <param name="catalog">The text transforms catalog.</param>
    /// <param name="outputColumnName">The new vector column.</param>
    /// <param name="inputColumnName">The text column; null means <paramref name="outputColumnName"/>.</param>
    /// <param name="model">An embedded model name, a Hugging Face folder or a cached model id.</param>
    /// <param name="pooling">How token vectors become one vector.</param>
    /// <param name="normalize">Scale each embedding to unit length (cosine similarity becomes a dot product).</param>
    /// <param name="maxSequenceLength">Tokens per text after truncation, including [CLS] and [SEP].</param>
    /// <param name="batchSize">Rows per forward pass.</param>
    public static BertEmbeddingsEstimator BertEmbeddings(this TransformsCatalog.TextTransforms catalog, string outputColumnName, string? inputColumnName = null,
        string model = "all-MiniLM-L6-v2", BertPooling pooling = BertPooling.Mean, bool normalize = true, int maxSequenceLength = 256, int batchSize = 64)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new BertEmbeddingsEstimator(outputColumnName, inputColumnName ?? outputColumnName, model, pooling, normalize, maxSequenceLength, batchSize);
    }

    /// <summary>
    /// Scores named-entity recognition by entity, as seqeval and CoNLL's <c>conlleval</c> do: an entity counts as found only when its
    /// type and both of its ends match. Each row is a sentence; both columns hold one tag per word as a variable-length vector of
    /// keys whose KeyValues are the tag names (<c>B-PER</c>, <c>I-PER</c>, <c>O</c>; IOB1, IOE and IOBES read too). The columns
    /// may have different key sets: tags are matched by name. A missing key (0) in the prediction reads as <c>O</c>.
    /// </summary>
    /// <param name="catalog">The multiclass classification catalog (<c>ml.MulticlassClassification</c>).</param>
    /// <param name="data">Scored data: one sentence per row.</param>
    /// <param name="labelColumnName">The true tags: a vector of keys with KeyValues.</param>
    /// <param name="predictedLabelColumnName">The predicted tags: a vector of keys with KeyValues, one per word of the label.</param>
    /// <returns>Micro-averaged precision, recall and F1 over entities, token accuracy, and the metrics of each entity type.</returns>
    /// <exception cref="ArgumentException">A column is missing or is not a vector of keys with tag names; a tag is not an entity
    /// tag; a row's label and prediction differ in length; or a label word holds the missing key.</exception>
    public static EntityMetrics EvaluateEntities(this MulticlassClassificationCatalog catalog, IDataView data,
        string labelColumnName = "Label", string predictedLabelColumnName = "PredictedLabel")
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return EntityEvaluator.Evaluate(data, labelColumnName, predictedLabelColumnName);
    }

    /// <summary>
    /// Fine-tunes BERT for extractive question answering (<see cref="BertTask.QuestionAnswering"/>): the answer to each
    /// question is a span of its context.
    /// </summary>
    /// <param name="catalog">The multiclass classification trainers (<c>ml.MulticlassClassification.Trainers</c>).</param>
    /// <param name="options">The options; <see cref="BertFineTuneOptions.Task"/> is set to question answering.</param>
    public static BertFineTuneEstimator BertQuestionAnswering(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, BertFineTuneOptions options) =>
        Create(catalog, options, BertTask.QuestionAnswering);

    /// <summary>
    /// Scores predicted answers against gold answers as SQuAD v1.1's official script does: exact match and token F1 in percent,
    /// after its normalisation, the best over a row's gold answers (separated by <see cref="AnswerMetrics.GoldSeparator"/>).
    /// </summary>
    /// <param name="catalog">The multiclass classification catalog (<c>ml.MulticlassClassification</c>).</param>
    /// <param name="data">Scored data: one question per row.</param>
    /// <param name="answerColumnName">The gold answers (text).</param>
    /// <param name="predictedAnswerColumnName">The predicted answer (text).</param>
    /// <exception cref="ArgumentException">A column is missing or is not text.</exception>
    public static AnswerMetrics EvaluateAnswers(this MulticlassClassificationCatalog catalog, IDataView data,
        string answerColumnName = "Answer", string predictedAnswerColumnName = "PredictedAnswer")
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(data);
        return AnswerEvaluator.Evaluate(data, answerColumnName, predictedAnswerColumnName);
    }

    /// <summary>
    /// Scores multi-label classification: micro and macro F1, subset accuracy, Hamming loss and each label's precision, recall,
    /// F1 and support, from the bool vector <c>PredictedLabel</c> against the label sets.
    /// </summary>
    /// <param name="catalog">The multiclass classification catalog (<c>ml.MulticlassClassification</c>).</param>
    /// <param name="data">Scored data: one text per row.</param>
    /// <param name="labelColumnName">The true label sets: a known-size vector of Boolean (named by SlotNames) or a vector of keys (named by KeyValues).</param>
    /// <param name="scoreColumnName">The per-label probabilities: a vector of Single, one per label.</param>
    /// <param name="predictedLabelColumnName">The predictions: a vector of Boolean, one per label.</param>
    /// <returns>The metrics, with per-label entries named by the label column's names (LABEL_i without them).</returns>
    /// <exception cref="ArgumentException">A column is missing or has the wrong type or size; the message names it with the expected and actual type.</exception>
    /// <exception cref="InvalidDataException">A key label holds key 0 or a key past the labels.</exception>
    public static MultiLabelMetrics EvaluateMultiLabel(this MulticlassClassificationCatalog catalog, IDataView data,
        string labelColumnName = "Label", string scoreColumnName = "Score", string predictedLabelColumnName = "PredictedLabel")
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return MultiLabelEvaluator.Evaluate(data, labelColumnName, scoreColumnName, predictedLabelColumnName);
    }

    private static BertFineTuneOptions Options(BertTask task, string label, string text, string? secondText, string model, int epochs) => new()
    {
        Task = task, LabelColumnName = label, TextColumnName = text, SecondTextColumnName = secondText, Model = model, Epochs = epochs,
    };

    private static BertFineTuneEstimator Create(object catalog, BertFineTuneOptions options, BertTask task)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        var copy = options.Clone();
        copy.Task = task;
        return new BertFineTuneEstimator(MlNetCatalogs.Environment(catalog), copy);
    }
}
