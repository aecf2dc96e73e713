using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Training;

namespace MLNetTuning.MlNet;

/// <summary>Reads texts and labels from a data view, checked against the options with errors that name the column.</summary>
internal static class TrainingDataReader
{
    /// <summary>
    /// The training data and the options' ValidationSet, with the class names of a multiclass key label (the training data's
    /// KeyValues when there is one name per key, else LABEL_i; empty for other tasks).
    /// </summary>
    public static (TrainingData Train, TrainingData? Validation, IReadOnlyList<string> ClassNames) ReadWithValidation(IDataView trainData, BertFineTuneOptions options)
    {
        IReadOnlyList<string>? keyValues = null;
        if (options.Task == BertTask.MulticlassClassification && trainData.Schema.GetColumnOrNull(options.LabelColumnName) is { Type: KeyDataViewType } label
            && label.Annotations.Schema.GetColumnOrNull("KeyValues") is { Type: VectorDataViewType { ItemType: TextDataViewType } })
            keyValues = KeyValueNames.Read(label);
        var train = Read(trainData, options, "training data");
        TrainingData? validation = null;
        if (options.ValidationSet is { } validationSet)
        {
            // The class names let a validation set keep its raw string labels (multiclass only).
            CheckSameSchema(trainData.Schema, validationSet.Schema, options, keyValues);
            validation = Read(validationSet, options, "validation set", keyValues);
        }
        var classNames = options.Task == BertTask.MultiLabelClassification
            ? MultiLabelColumn.Names(trainData.Schema[options.LabelColumnName])
            : ClassNamesOf(trainData.Schema[options.LabelColumnName].Type, keyValues);
        return (train, validation, classNames);
    }

    /// <summary>A key label's class names: the training data's own names when they are one per key, else LABEL_i; none for other labels.</summary>
    private static IReadOnlyList<string> ClassNamesOf(DataViewType labelType, IReadOnlyList<string>? classNames)
    {
        if (labelType is not KeyDataViewType keyType) return [];
        int classes = checked((int)keyType.Count);
        return classNames is { } names && names.Count == classes ? names.ToArray() : Enumerable.Range(0, classes).Select(i => $"LABEL_{i}").ToArray();
    }

    private static void CheckSameSchema(DataViewSchema train, DataViewSchema validation, BertFineTuneOptions options, IReadOnlyList<string>? classNames)
    {
        CheckSchema(validation, options, "validation set", needLabel: true, classNames);
        var trainType = train[options.LabelColumnName].Type;
        var validationType = validation[options.LabelColumnName].Type;
        bool rawClassNames = classNames is not null && validationType is TextDataViewType;
        if (!trainType.Equals(validationType) && !rawClassNames)
            throw new ArgumentException($"Label column '{options.LabelColumnName}' is {trainType} in the training data but {validationType} in BertFineTuneOptions.ValidationSet. " +
                "Transform the validation set with the same fitted pipeline (for example the MapValueToKey fitted on the training data).", nameof(options));
    }

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
        bool multiLabel = options.Task == BertTask.MultiLabelClassification;
        var result = new TrainingData { Pairs = pair is null ? null : [], Targets = multiLabel ? [] : null };
        using var cursor = data.GetRowCursor(pair is null ? [text, label] : [text, pair.Value, label]);
        var getText = cursor.GetGetter<ReadOnlyMemory<char>>(text);
        var getPair = pair is null ? null : cursor.GetGetter<ReadOnlyMemory<char>>(pair.Value);
        var getTargets = multiLabel ? MultiLabelColumn.Reader(cursor, label, dataName) : null;
        Func<float> getLabel = multiLabel ? () => 0
            : label.Type is TextDataViewType && classNames is not null ? ClassNameReader(cursor, label, classNames, options, dataName)
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
            // Only a regression label is a free float; an infinite target turns the loss, then every weight, into NaN.
            if (float.IsInfinity(y))
                throw new InvalidDataException($"Label column '{options.LabelColumnName}' of the {dataName} is {(y > 0 ? "+" : "-")}Infinity at row {row}. " +
                    "Regression needs a finite number on every row: fix or remove such rows (ml.Data.FilterByColumn).");
            getText(ref value);
            result.Texts.Add(value.ToString());
            if (getPair is not null)
            {
                getPair(ref value);
                result.Pairs!.Add(value.ToString());
            }
            result.Labels.Add(y);
            result.Targets?.Add(getTargets!(row));
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

}
