namespace MLNetTuning.Training;

/// <summary>The one table from <see cref="BertTask"/> to its task object; a new task adds a line to each method.</summary>
internal static class FineTuneTasks
{
    /// <summary>The task a Fit trains, with the class names it found and what it learns from the training labels.</summary>
    /// <param name="kind">The task.</param>
    /// <param name="classNames">Multiclass: the class names in key order.</param>
    /// <param name="loss">The loss terms the options ask for.</param>
    /// <param name="trainLabels">The training labels (regression standardises with their mean and deviation).</param>
    public static FineTuneTask ForTraining(BertTask kind, IReadOnlyList<string> classNames, TaskLossOptions loss, IReadOnlyList<float> trainLabels) => kind switch
    {
        BertTask.MulticlassClassification => new SequenceClassificationTask(classNames, loss),
        BertTask.BinaryClassification => new BinaryClassificationTask(loss),
        BertTask.Regression => RegressionTask.Standardising(trainLabels),
        _ => throw Unknown(kind),
    };

    /// <summary>The task of a trained model: its head's labels and its label standardisation.</summary>
    public static FineTuneTask ForScoring(BertTask kind, IReadOnlyList<string> headLabels, float labelMean, float labelScale) => kind switch
    {
        BertTask.MulticlassClassification => new SequenceClassificationTask(headLabels, new TaskLossOptions()),
        BertTask.BinaryClassification => new BinaryClassificationTask(new TaskLossOptions()),
        BertTask.Regression => new RegressionTask(labelMean, labelScale),
        _ => throw Unknown(kind),
    };

    /// <summary>The task before any data is seen (option checks, the estimator's schema); multiclass has one placeholder class.</summary>
    public static FineTuneTask Describe(BertTask kind) => ForScoring(kind, ["class"], 0, 1);

    private static ArgumentOutOfRangeException Unknown(BertTask kind) =>
        new(nameof(kind), $"Unknown BertTask {(int)kind}; the known tasks are {string.Join(", ", Enum.GetNames<BertTask>())}.");
}
