namespace MLNetTuning.Training;

/// <summary>The metric that picks the best model, and which direction is better.</summary>
internal sealed class ValidationScore
{
    public ValidationScore(string name, bool higherIsBetter) => (Name, HigherIsBetter) = (name, higherIsBetter);

    public string Name { get; }
    public bool HigherIsBetter { get; }

    public bool IsBetter(IReadOnlyDictionary<string, double> current, IReadOnlyDictionary<string, double> reference, double minDelta) =>
        HigherIsBetter ? current[Name] > reference[Name] + minDelta : current[Name] < reference[Name] - minDelta;

    public bool Ties(IReadOnlyDictionary<string, double> current, IReadOnlyDictionary<string, double> reference) =>
        current[Name] == reference[Name];
}
