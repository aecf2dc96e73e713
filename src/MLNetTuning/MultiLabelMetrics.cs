namespace MLNetTuning;

/// <summary>
/// The result of <c>ml.MulticlassClassification.EvaluateMultiLabel</c>: how well a multi-label model's bool
/// <c>PredictedLabel</c> matches the label sets, pooled over all labels, averaged over labels, per row and per label.
/// </summary>
public sealed class MultiLabelMetrics
{
    internal MultiLabelMetrics(double microF1, double macroF1, double subsetAccuracy, double hammingLoss, IReadOnlyDictionary<string, MultiLabelClassMetrics> perLabel)
    {
        MicroF1 = microF1;
        MacroF1 = macroF1;
        SubsetAccuracy = subsetAccuracy;
        HammingLoss = hammingLoss;
        PerLabel = perLabel;
    }

    /// <summary>F1 of every (row, label) decision pooled: 2·TP / (2·TP + FP + FN) summed over labels. 0 when nothing is true or predicted.</summary>
    public double MicroF1 { get; }

    /// <summary>The mean of the labels' F1; a label that is neither present nor predicted in any row has no F1 and is left out.</summary>
    public double MacroF1 { get; }

    /// <summary>The fraction of rows whose predicted label set equals the true set exactly (an empty set included).</summary>
    public double SubsetAccuracy { get; }

    /// <summary>The fraction of (row, label) decisions that are wrong; lower is better.</summary>
    public double HammingLoss { get; }

    /// <summary>Each label's precision, recall, F1 and support, by label name, in label order.</summary>
    public IReadOnlyDictionary<string, MultiLabelClassMetrics> PerLabel { get; }
}

/// <summary>One label's metrics in <see cref="MultiLabelMetrics.PerLabel"/>; a ratio with nothing to count is 0.</summary>
public sealed class MultiLabelClassMetrics
{
    internal MultiLabelClassMetrics(double precision, double recall, double f1, long support)
    {
        Precision = precision;
        Recall = recall;
        F1 = f1;
        Support = support;
    }

    /// <summary>Of the rows predicted to have the label, the fraction that have it.</summary>
    public double Precision { get; }

    /// <summary>Of the rows that have the label, the fraction predicted to have it.</summary>
    public double Recall { get; }

    /// <summary>The harmonic mean of <see cref="Precision"/> and <see cref="Recall"/>.</summary>
    public double F1 { get; }

    /// <summary>The number of rows that have the label.</summary>
    public long Support { get; }
}
