namespace MLNetTuning.Training;

/// <summary>The one table from <see cref="BertTask"/> to its task object; a new task adds a line to each method.</summary>
internal static class FineTuneTasks
{
    /// <summary>The task a Fit trains, with the class names it found and what it learns from the training labels.</summary>
    /// <param name="kind">The task.</param>
    /// <param name="classNames">Multiclass: the class names in key order.</param>
    /// <param name="loss">The loss terms the options ask for.</param>
    /// <param name="trainLabels">The training labels (regression standardises with their mean and deviation).</param>
    /// <param name="words">Token classification: how the words are read and windowed.</param>
    /// <param name="answers">Question answering: how contexts are windowed and answers picked.</param>
    public static FineTuneTask ForTraining(BertTask kind, IReadOnlyList<string> classNames, TaskLossOptions loss, IReadOnlyList<float> trainLabels, WordInput? words = null, AnswerSettings? answers = null) => kind switch
    {
        BertTask.QuestionAnswering => new QuestionAnsweringTask(answers ?? AnswerSettings.Default),
        BertTask.TokenClassification => new TokenClassificationTask(classNames, loss, words ?? WordInput.Default),
        BertTask.MulticlassClassification => new SequenceClassificationTask(classNames, loss),
        BertTask.BinaryClassification => new BinaryClassificationTask(loss),
        BertTask.Regression => RegressionTask.Standardising(trainLabels),
        BertTask.MultiLabelClassification => new MultiLabelClassificationTask(classNames, loss),
        _ => throw Unknown(kind),
    };

    /// <summary>The task of a trained model: its head's labels, its label standardisation, and what its task saved (windows, answers, thresholds).</summary>
    public static FineTuneTask ForScoring(BertTask kind, IReadOnlyList<string> headLabels, float labelMean, float labelScale, WordInput? words = null,
        AnswerSettings? answers = null, float[]? thresholds = null) => kind switch
    {
        BertTask.QuestionAnswering => new QuestionAnsweringTask(answers ?? AnswerSettings.Default),
        BertTask.TokenClassification => new TokenClassificationTask(headLabels, new TaskLossOptions(), words ?? WordInput.Default),
        BertTask.MulticlassClassification => new SequenceClassificationTask(headLabels, new TaskLossOptions()),
        BertTask.BinaryClassification => new BinaryClassificationTask(new TaskLossOptions()),
        BertTask.Regression => new RegressionTask(labelMean, labelScale),
        BertTask.MultiLabelClassification => new MultiLabelClassificationTask(headLabels, new TaskLossOptions(), thresholds),
        _ => throw Unknown(kind),
    };

    /// <summary>The task before any data is seen (option checks, the estimator's schema); multiclass has one placeholder class.</summary>
    /// <remarks>Token classification is described with entity tags, so that both of its selection metrics (F1, Accuracy) pass
    /// the option checks; a tag set without entities (part of speech) rejects F1 at Fit, when its tags are known.</remarks>
    public static FineTuneTask Describe(BertTask kind) => ForScoring(kind, kind == BertTask.TokenClassification ? ["O", "B-ENTITY"] : ["class"], 0, 1);

    private static ArgumentOutOfRangeException Unknown(BertTask kind) =>
        new(nameof(kind), $"Unknown BertTask {(int)kind}; the known tasks are {string.Join(", ", Enum.GetNames<BertTask>())}.");
}
