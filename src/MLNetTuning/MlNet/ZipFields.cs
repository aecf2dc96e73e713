using MLNetTuning.Checkpoints;
using MLNetTuning.Pretrained;
using MLNetTuning.Training;

namespace MLNetTuning.MlNet;

/// <summary>
/// Checks the settings a model zip stores beside its weights (maximum length, batch size, labels, task settings) against
/// the model they travel with, when the zip is loaded. A damaged or edited zip then fails at load, naming the field,
/// instead of allocating from a garbage number or failing at the first prediction.
/// </summary>
internal static class ZipFields
{
    /// <summary>The largest scoring batch a zip may ask for; training never needs more, and each row of a batch is a
    /// [max length] row of ids in memory.</summary>
    internal const int MaxBatchSize = 1 << 16;

    /// <summary>The most answers per question a zip may ask for; each is kept in memory per question.</summary>
    internal const int MaxTopK = 10_000;

    /// <summary>Checks the maximum sequence length and the scoring batch size.</summary>
    /// <exception cref="InvalidDataException">A value is out of range; the message names the field, the value and the range.</exception>
    public static void CheckScoring(PretrainedBert model, string entryName, bool pairs, int maxLength, int batchSize)
    {
        int minLength = pairs ? 4 : 3;
        int positions = model.Config.MaxPositionEmbeddings;
        if (maxLength < minLength || maxLength > positions)
            throw Bad(entryName, "maximum sequence length", maxLength, $"between {minLength} (the special tokens{(pairs ? " of a pair" : "")} and one token) and the model's max_position_embeddings ({positions})");
        if (batchSize is < 1 or > MaxBatchSize)
            throw Bad(entryName, "batch size", batchSize, $"between 1 and {MaxBatchSize}");
    }

    /// <summary>Checks the task's settings and that the saved head has one row per label of the saved config.</summary>
    /// <exception cref="InvalidDataException">A value is out of range or the head does not match the labels.</exception>
    public static void CheckTask(PretrainedBert model, string entryName, BertTask task, float labelMean, float labelScale, WordInput? words,
        AnswerSettings? answers, float[]? thresholds)
    {
        string entry = entryName;
        if (task == BertTask.Regression)
        {
            if (!float.IsFinite(labelMean)) throw Bad(entry, "regression label mean", labelMean, "a finite number");
            if (!float.IsFinite(labelScale) || labelScale <= 0) throw Bad(entry, "regression label scale", labelScale, "a finite number above 0");
        }
        // Every zip stores the word and answer settings (defaults for other tasks); only the task's own are checked.
        if (task == BertTask.TokenClassification && words is not null && words.WindowStride < 0)
            throw Bad(entry, "token-classification window stride", words.WindowStride, "at least 0");
        if (task == BertTask.QuestionAnswering && answers is not null)
        {
            if (answers.DocumentStride < 0)
                throw Bad(entry, "question-answering document stride", answers.DocumentStride, "at least 0");
            if (answers.MaxAnswerLength < 1)
                throw Bad(entry, "question-answering maximum answer length", answers.MaxAnswerLength, "at least 1");
            if (answers.TopK is < 1 or > MaxTopK)
                throw Bad(entry, "question-answering top-k", answers.TopK, $"between 1 and {MaxTopK}");
        }
        int labels = model.Config.NumLabels;
        if (thresholds is not null && task == BertTask.MultiLabelClassification)
        {
            if (thresholds.Length != labels) throw Bad(entry, "number of label thresholds", thresholds.Length, $"one per label of config.json ({labels})");
            int bad = Array.FindIndex(thresholds, t => !(t >= 0 && t <= 1));
            if (bad >= 0) throw Bad(entry, $"threshold of label '{model.Config.Labels[bad]}'", thresholds[bad], "in [0, 1]");
        }
        var shapes = model.Weights.ToDictionary(p => p.Key, p => p.Value.shape, StringComparer.Ordinal);
        long expectedRows = task switch
        {
            BertTask.QuestionAnswering => 2,
            _ => labels,
        };
        string head = task == BertTask.QuestionAnswering ? "qa_outputs.weight" : "classifier.weight";
        ConfigShapeCheck.CheckHeadRows(shapes, head, expectedRows,
            task == BertTask.QuestionAnswering ? "a question-answering head's row count (start and end)" : "the number of labels in config.json (id2label)", entry);
    }

    private static InvalidDataException Bad(string entry, string field, object value, string expected) => new(
        $"The model zip ({entry}): the {field} is {value}; expected {expected}. The zip is damaged or was edited; save the model again from the training run.");
}
