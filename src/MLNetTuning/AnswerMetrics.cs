namespace MLNetTuning;

/// <summary>
/// Question-answering metrics as the official SQuAD v1.1 script computes them, returned by
/// <c>ml.MulticlassClassification.EvaluateAnswers(...)</c>. Answers are compared after SQuAD's normalisation: lower case,
/// punctuation removed, the articles a, an and the removed, white space collapsed. A row whose gold answer holds several
/// answers separated by <see cref="GoldSeparator"/> scores the best of them.
/// </summary>
public sealed class AnswerMetrics
{
    /// <summary>The separator between several gold answers of one row: <c>"|||"</c>.</summary>
    public const string GoldSeparator = "|||";

    internal AnswerMetrics(double exactMatch, double f1, int count) => (ExactMatch, F1, Count) = (exactMatch, f1, count);

    /// <summary>The percentage (0 to 100) of rows whose normalised prediction equals a normalised gold answer; 0 when there are no rows.</summary>
    public double ExactMatch { get; }

    /// <summary>
    /// The mean, in percent (0 to 100), of each row's best token F1 between the normalised prediction and a normalised gold
    /// answer (tokens counted with repeats). An empty gold answer (no answer) scores 100 for an empty prediction and 0
    /// otherwise, as SQuAD 2.0 scores it.
    /// </summary>
    public double F1 { get; }

    /// <summary>The number of rows scored.</summary>
    public int Count { get; }
}
