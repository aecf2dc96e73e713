using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetTuning.Training;

/// <summary>Texts and labels to fine-tune on (the surface reads them from a data view: MlNet/TrainingDataReader.cs).</summary>
internal sealed class TrainingData
{
    public List<string> Texts { get; } = [];
    public List<string>? Pairs { get; init; }
    /// <summary>Class index (multiclass, 0-based), 0/1 (binary) or the target (regression).</summary>
    public List<float> Labels { get; } = [];
    /// <summary>Multi-label: each row's 0/1 targets, one per label (its Labels entry is then 0); null for other tasks.</summary>
    public List<float[]>? Targets { get; init; }
    public int SkippedMissingLabels { get; set; }

    public int Count => Texts.Count;

    /// <summary>Splits off a validation part: stratified by class for classification, so each class keeps its share.</summary>
    public (TrainingData Train, TrainingData Validation) Split(float fraction, bool stratify, Random random)
    {
        var groups = stratify
            ? Enumerable.Range(0, Count).GroupBy(i => Labels[i]).OrderBy(g => g.Key).Select(g => g.ToArray())
            : [Enumerable.Range(0, Count).ToArray()];
        var held = new HashSet<int>();
        foreach (var group in groups)
        {
            random.Shuffle(group);
            int take = (int)Math.Round(group.Length * fraction);
            // A rare class would round to nothing; keep one of it on each side, so that validation metrics (AUC, F1) see every class.
            if (stratify && group.Length >= 2) take = Math.Clamp(take, 1, group.Length - 1);
            held.UnionWith(group.Take(take));
        }
        return (Subset(i => !held.Contains(i)), Subset(held.Contains));
    }

    private TrainingData Subset(Func<int, bool> keep)
    {
        var subset = new TrainingData { Pairs = Pairs is null ? null : [], Targets = Targets is null ? null : [] };
        for (int i = 0; i < Count; i++)
        {
            if (!keep(i)) continue;
            subset.Texts.Add(Texts[i]);
            subset.Pairs?.Add(Pairs![i]);
            subset.Labels.Add(Labels[i]);
            subset.Targets?.Add(Targets![i]);
        }
        return subset;
    }
}
