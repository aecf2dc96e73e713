namespace MLNetTuning.Training;

/// <summary>
/// Counts of predicted and true labels over rows, per label, and the multi-label metrics made from them; shared by
/// validation (<see cref="MultiLabelClassificationTask"/>) and <c>ml.MulticlassClassification.EvaluateMultiLabel</c>.
/// </summary>
internal sealed class MultiLabelCounts(int labels)
{
    public long[] TruePositives { get; } = new long[labels];
    public long[] FalsePositives { get; } = new long[labels];
    public long[] FalseNegatives { get; } = new long[labels];
    public long Rows { get; private set; }
    public long ExactRows { get; private set; }
    public int Labels => labels;

    /// <summary>Adds one row: whether each label applies and whether it was predicted.</summary>
    public void Add(ReadOnlySpan<bool> truth, ReadOnlySpan<bool> predicted)
    {
        bool exact = true;
        for (int k = 0; k < labels; k++)
        {
            if (truth[k] && predicted[k]) TruePositives[k]++;
            else if (predicted[k]) FalsePositives[k]++;
            else if (truth[k]) FalseNegatives[k]++;
            exact &= truth[k] == predicted[k];
        }
        Rows++;
        if (exact) ExactRows++;
    }

    public long Support(int k) => TruePositives[k] + FalseNegatives[k];
    public double Precision(int k) => Ratio(TruePositives[k], TruePositives[k] + FalsePositives[k]);
    public double Recall(int k) => Ratio(TruePositives[k], Support(k));
    public double F1(int k) => Ratio(2 * TruePositives[k], 2 * TruePositives[k] + FalsePositives[k] + FalseNegatives[k]);

    /// <summary>F1 of all (row, label) decisions pooled.</summary>
    public double MicroF1
    {
        get
        {
            long tp = TruePositives.Sum(), fp = FalsePositives.Sum(), fn = FalseNegatives.Sum();
            return Ratio(2 * tp, 2 * tp + fp + fn);
        }
    }

    /// <summary>Mean F1 over labels; a label neither present nor predicted has no F1 and is left out (as multiclass MacroF1 does).</summary>
    public double MacroF1
    {
        get
        {
            var scored = Enumerable.Range(0, labels).Where(k => TruePositives[k] + FalsePositives[k] + FalseNegatives[k] > 0).ToArray();
            return scored.Length == 0 ? 0 : scored.Average(F1);
        }
    }

    /// <summary>Fraction of rows whose whole label set was predicted exactly.</summary>
    public double SubsetAccuracy => Ratio(ExactRows, Rows);

    /// <summary>Fraction of (row, label) decisions that are wrong.</summary>
    public double HammingLoss => Ratio(FalsePositives.Sum() + FalseNegatives.Sum(), Rows * labels);

    private static double Ratio(long numerator, long denominator) => denominator == 0 ? 0 : (double)numerator / denominator;
}
