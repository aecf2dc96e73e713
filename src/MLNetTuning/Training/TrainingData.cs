using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetTuning.Training;

/// <summary>Texts and labels read from a data view, checked against the options with errors that name the column.</summary>
internal sealed class TrainingData
{
    public List<string> Texts { get; } = [];
    public List<string>? Pairs { get; private init; }
    /// <summary>Class index (multiclass, 0-based), 0/1 (binary) or the target (regression).</summary>
    public List<float> Labels { get; } = [];
    public int SkippedMissingLabels { get; private set; }

    public int Count => Texts.Count;

    /// <summary>The label type the task needs, and whether <paramref name="schema"/> has it.</summary>
    /// <param name="schema">The data's schema.</param>
    /// <param name="options">The options that name the columns and the task.</param>
    /// <param name="dataName">The data's name in messages ("training data", "validation set").</param>
    /// <param name="needLabel">Whether the label column must be there.</param>
    /// <param name="classNames">The training classes; when given, a multiclass label may also be the raw class strings.</param>
    public static void CheckSchema(DataViewSchema schema, BertFineTuneOptions options, string dataName, bool needLabel, IReadOnlyList<string>? classNames = null)
    {
        CheckText(schema, options.TextColumnName, nameof(options.TextColumnName), dataName);
        if (options.SecondTextColumnName is not null) CheckText(schema, options.SecondTextColumnName, nameof(options.SecondTextColumnName), dataName);
        if (!needLabel) return;
        var column = Find(schema, options.LabelColumnName, nameof(options.LabelColumnName), dataName);
        var type = column.Type;
        FineTuneTasks.Describe(options.Task).CheckLabelType(column.Type, options.LabelColumnName, dataName, classNames is not null);
    }

    private static void CheckText(DataViewSchema schema, string name, string option, string dataName)
    {
        var column = Find(schema, name, option, dataName);
        if (column.Type is not TextDataViewType)
            throw new ArgumentException($"Text column '{name}' ({option}) of the {dataName} must be String (text), but it is {column.Type}. " +
                "Load it as a string column, or point the option at a text column.", "options");
    }

    private static DataViewSchema.Column Find(DataViewSchema schema, string name, string option, string dataName) =>
        schema.GetColumnOrNull(name) ?? throw new ArgumentException(
            $"The {dataName} has no column '{name}' (BertFineTuneOptions.{option}). Its columns are: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => $"{c.Name} ({c.Type})"))}.", "options");

    /// <summary>Reads every row. Null text counts as empty text. Rows with a missing key label are skipped (as ML.NET trainers skip them).</summary>
    /// <param name="data">The data to read.</param>
    /// <param name="options">The options that name the columns and the task.</param>
    /// <param name="dataName">The data's name in messages.</param>
    /// <param name="classNames">
    /// The training classes. A validation set given before the pipeline's MapValueToKey still has string labels; with the class
    /// names they map to the same keys, so it need not be transformed by hand.
    /// </param>
    public static TrainingData Read(IDataView data, BertFineTuneOptions options, string dataName, IReadOnlyList<string>? classNames = null)
    {
        CheckSchema(data.Schema, options, dataName, needLabel: true, classNames);
        var text = data.Schema[options.TextColumnName];
        var pair = options.SecondTextColumnName is null ? (DataViewSchema.Column?)null : data.Schema[options.SecondTextColumnName];
        var label = data.Schema[options.LabelColumnName];
        var task = FineTuneTasks.Describe(options.Task);
        var result = new TrainingData { Pairs = pair is null ? null : [] };
        using var cursor = data.GetRowCursor(pair is null ? [text, label] : [text, pair.Value, label]);
        var getText = cursor.GetGetter<ReadOnlyMemory<char>>(text);
        var getPair = pair is null ? null : cursor.GetGetter<ReadOnlyMemory<char>>(pair.Value);
        Func<float> getLabel = label.Type is TextDataViewType && classNames is not null
            ? ClassNameReader(cursor, label, classNames, options, dataName)
            : LabelReader(cursor, label);
        ReadOnlyMemory<char> value = default;
        long row = 0;
        while (cursor.MoveNext())
        {
            row++;
            float y = getLabel();
            if (float.IsNaN(y))
            {
                if (task.MissingLabel(options.LabelColumnName, dataName, row) is { } error) throw error;
                result.SkippedMissingLabels++;
                continue;
            }
            getText(ref value);
            result.Texts.Add(value.ToString());
            if (getPair is not null)
            {
                getPair(ref value);
                result.Pairs!.Add(value.ToString());
            }
            result.Labels.Add(y);
        }
        return result;
    }

    private static Func<float> ClassNameReader(DataViewRowCursor cursor, DataViewSchema.Column label, IReadOnlyList<string> classNames,
        BertFineTuneOptions options, string dataName)
    {
        var index = classNames.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => (float)p.i);
        var get = cursor.GetGetter<ReadOnlyMemory<char>>(label);
        ReadOnlyMemory<char> value = default;
        return () =>
        {
            get(ref value);
            string name = value.ToString();
            return index.TryGetValue(name, out float key) ? key
                : throw new InvalidDataException($"Label column '{options.LabelColumnName}' of the {dataName} has the class '{name}', which the training data does not have " +
                    $"(its classes: {string.Join(", ", classNames)}). Remove those rows or add examples of the class to the training data.");
        };
    }

    /// <summary>Reads a label by its column's type, which the task has checked: a key as its class index, a bool as 0/1, a number as is.</summary>
    private static Func<float> LabelReader(DataViewRowCursor cursor, DataViewSchema.Column label)
    {
        switch (label.Type)
        {
            case KeyDataViewType:
            {
                var get = cursor.GetGetter<uint>(label);
                uint key = 0;
                // Key 0 means "missing"; keys 1..K are the classes 0..K-1.
                return () => { get(ref key); return key == 0 ? float.NaN : key - 1; };
            }
            case BooleanDataViewType:
            {
                var get = cursor.GetGetter<bool>(label);
                bool value = false;
                return () => { get(ref value); return value ? 1 : 0; };
            }
            default:
                if (label.Type == NumberDataViewType.Double)
                {
                    var getDouble = cursor.GetGetter<double>(label);
                    double d = 0;
                    return () => { getDouble(ref d); return (float)d; };
                }
                var getSingle = cursor.GetGetter<float>(label);
                float f = 0;
                return () => { getSingle(ref f); return f; };
        }
    }

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
        var subset = new TrainingData { Pairs = Pairs is null ? null : [] };
        for (int i = 0; i < Count; i++)
        {
            if (!keep(i)) continue;
            subset.Texts.Add(Texts[i]);
            subset.Pairs?.Add(Pairs![i]);
            subset.Labels.Add(Labels[i]);
        }
        return subset;
    }
}
