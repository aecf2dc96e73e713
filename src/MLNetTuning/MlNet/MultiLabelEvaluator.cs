using System.Collections.ObjectModel;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Training;

namespace MLNetTuning.MlNet;

/// <summary>Computes <see cref="MultiLabelMetrics"/> from a scored data view (see <c>MlNetTuningCatalog.EvaluateMultiLabel</c>).</summary>
internal static class MultiLabelEvaluator
{
    public static MultiLabelMetrics Evaluate(IDataView data, string labelColumnName, string scoreColumnName, string predictedLabelColumnName)
    {
        ArgumentNullException.ThrowIfNull(data);
        var label = Find(data.Schema, labelColumnName, nameof(labelColumnName));
        var score = Find(data.Schema, scoreColumnName, nameof(scoreColumnName));
        var predicted = Find(data.Schema, predictedLabelColumnName, nameof(predictedLabelColumnName));
        if (!MultiLabelColumn.Accepts(label.Type))
            throw new ArgumentException($"Label column '{labelColumnName}' must be {MultiLabelColumn.Need(labelColumnName)} It is {label.Type}.", nameof(labelColumnName));
        int labels = MultiLabelColumn.Count(label.Type);
        if (score.Type is not VectorDataViewType { ItemType: var scoreItem, Size: var scoreSize } || scoreItem != NumberDataViewType.Single || scoreSize != labels)
            throw new ArgumentException($"Score column '{scoreColumnName}' must be a vector of {labels} Single (one probability per label of '{labelColumnName}'), but it is {score.Type}.", nameof(scoreColumnName));
        if (predicted.Type is not VectorDataViewType { ItemType: BooleanDataViewType, Size: var predictedSize } || predictedSize != labels)
            throw new ArgumentException($"Predicted label column '{predictedLabelColumnName}' must be a vector of {labels} Boolean (one per label of '{labelColumnName}'), but it is {predicted.Type}.", nameof(predictedLabelColumnName));

        var counts = new MultiLabelCounts(labels);
        using var cursor = data.GetRowCursor([label, predicted]);
        var readLabel = MultiLabelColumn.Reader(cursor, label, "data");
        var getPredicted = cursor.GetGetter<VBuffer<bool>>(predicted);
        var (truth, guess, buffer) = (new bool[labels], new bool[labels], default(VBuffer<bool>));
        long row = 0;
        while (cursor.MoveNext())
        {
            var targets = readLabel(++row);
            for (int k = 0; k < labels; k++) truth[k] = targets[k] > 0.5f;
            getPredicted(ref buffer);
            buffer.CopyTo(guess);
            counts.Add(truth, guess);
        }
        var names = MultiLabelColumn.Names(label);
        var perLabel = new Dictionary<string, MultiLabelClassMetrics>();
        for (int k = 0; k < labels; k++)
            perLabel[names[k]] = new MultiLabelClassMetrics(counts.Precision(k), counts.Recall(k), counts.F1(k), counts.Support(k));
        return new MultiLabelMetrics(counts.MicroF1, counts.MacroF1, counts.SubsetAccuracy, counts.HammingLoss, new ReadOnlyDictionary<string, MultiLabelClassMetrics>(perLabel));
    }

    private static DataViewSchema.Column Find(DataViewSchema schema, string name, string parameter) =>
        schema.GetColumnOrNull(name) ?? throw new ArgumentException(
            $"The data has no column '{name}'. Its columns are: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => $"{c.Name} ({c.Type})"))}.", parameter);
}
