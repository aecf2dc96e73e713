using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetTuning.Cli.Data;

/// <summary>One row of a data file: the text, the optional second text of a pair, and the label as written in the file.</summary>
internal sealed record TextExample(string Text, string? Pair, string Label);

/// <summary>The user's column names, as given by --text-column, --second-text-column and --label-column.</summary>
internal sealed record ColumnNames(string Text, string? SecondText, string Label)
{
    public static ColumnNames Default { get; } = new("Text", null, "Label");
}

internal static class Examples
{
    /// <summary>Reads the named columns of every row; with <paramref name="withLabel"/> false the label column need not exist.</summary>
    public static List<TextExample> Read(DataFile file, ColumnNames columns, bool withLabel)
    {
        int text = file.Column(columns.Text, "--text-column");
        int pair = columns.SecondText is null ? -1 : file.Column(columns.SecondText, "--second-text-column");
        int label = withLabel ? file.Column(columns.Label, "--label-column") : -1;
        return file.Rows.Select(row => new TextExample(row[text], pair < 0 ? null : row[pair], label < 0 ? "" : row[label])).ToList();
    }

    /// <summary>A seeded shuffle, so that a subset (--train-rows) is a fair sample of a file sorted by class.</summary>
    public static List<T> Shuffled<T>(IEnumerable<T> examples, int seed)
    {
        var list = examples.ToList();
        new Random(seed).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(list));
        return list;
    }

    /// <summary>
    /// Holds out <paramref name="fraction"/> of <paramref name="examples"/> for validation, seeded; for classification by
    /// class (<paramref name="stratifyBy"/>: the class of an example; null for no strata), so that each class keeps its share, and a class of two or more rows keeps at least one row on each side (so
    /// that validation metrics such as AUC and F1 see every class). The CLI splits itself, rather than leaving it to
    /// BertFineTuneOptions.ValidationFraction, so that it knows the rows of both sides: the report counts them and
    /// --baseline trains on exactly the rows the fine-tuning trains on.
    /// </summary>
    public static (List<T> Train, List<T> Validation) HoldOut<T>(IReadOnlyList<T> examples, float fraction, Func<T, string>? stratifyBy, int seed)
    {
        var random = new Random(seed);
        bool stratify = stratifyBy is not null;
        var groups = stratifyBy is not null
            ? Enumerable.Range(0, examples.Count).GroupBy(i => stratifyBy(examples[i]), StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => g.ToArray())
            : [Enumerable.Range(0, examples.Count).ToArray()];
        var held = new HashSet<int>();
        foreach (var group in groups)
        {
            random.Shuffle(group);
            int take = (int)Math.Round(group.Length * fraction);
            if (stratify && group.Length >= 2) take = Math.Clamp(take, 1, group.Length - 1);
            held.UnionWith(group.Take(take));
        }
        // Both sides keep the file's order.
        return (examples.Where((_, i) => !held.Contains(i)).ToList(), examples.Where((_, i) => held.Contains(i)).ToList());
    }
}

/// <summary>
/// ML.NET views of examples with fixed internal column names (Text, Text2, Label), so that a saved model scores any file once
/// the CLI has picked that file's columns. The label gets the type the task needs: a key with the class names, a bool or a float.
/// </summary>
internal static class ExampleViews
{
    public const string TextColumn = "Text";
    public const string SecondTextColumn = "Text2";
    public const string LabelColumn = "Label";

    public static IDataView Labeled(MLContext ml, IReadOnlyList<TextExample> examples, LabelScheme scheme, bool pair, string source)
    {
        int row = 0;
        switch (scheme.Task)
        {
            case BertTask.MulticlassClassification:
            {
                // LoadFromEnumerable shifts a key member by one (0-based class index in, 1-based key out, 0 staying "missing" for
                // out-of-range values), so the member holds the class index.
                var rows = examples.Select(e => new LabeledRow<uint>(e.Text, e.Pair ?? "", (uint)scheme.Encode(e.Label, source, ++row))).ToList();
                var definition = Definition<LabeledRow<uint>>(pair);
                var label = definition[LabelColumn];
                int classes = scheme.ClassNames.Count;
                label.ColumnType = new KeyDataViewType(typeof(uint), classes);
                var names = new VBuffer<ReadOnlyMemory<char>>(classes, scheme.ClassNames.Select(n => n.AsMemory()).ToArray());
                label.AddAnnotation("KeyValues", names, new VectorDataViewType(TextDataViewType.Instance, classes));
                return ml.Data.LoadFromEnumerable(rows, definition);
            }
            case BertTask.MultiLabelClassification:
            {
                // The label names become a key vector as the README's pipeline makes it: TokenizeIntoWords on the separator, then
                // MapValueToKey with the training labels as its keys, so that every file gets the training label order.
                foreach (var e in examples) scheme.CheckLabels(e.Label, source, ++row);
                var raw = ml.Data.LoadFromEnumerable(examples.Select(e => new LabeledRow<string>(e.Text, e.Pair ?? "", e.Label)).ToList(), Definition<LabeledRow<string>>(pair));
                var keys = ml.Data.LoadFromEnumerable(scheme.ClassNames.Select(n => new TextRow(n, "")).ToList(), Definition<TextRow>(pair: false));
                var labels = ml.Transforms.Text.TokenizeIntoWords(LabelColumn, separators: [scheme.Separator])
                    .Append(ml.Transforms.Conversion.MapValueToKey(LabelColumn, keyData: keys));
                return labels.Fit(raw).Transform(raw);
            }
            case BertTask.BinaryClassification:
                return ml.Data.LoadFromEnumerable(examples.Select(e => new LabeledRow<bool>(e.Text, e.Pair ?? "", scheme.Encode(e.Label, source, ++row) > 0.5f)).ToList(),
                    Definition<LabeledRow<bool>>(pair));
            default:
                return ml.Data.LoadFromEnumerable(examples.Select(e => new LabeledRow<float>(e.Text, e.Pair ?? "", scheme.Encode(e.Label, source, ++row))).ToList(),
                    Definition<LabeledRow<float>>(pair));
        }
    }

    public static IDataView Unlabeled(MLContext ml, IEnumerable<(string Text, string? Pair)> texts, bool pair) =>
        ml.Data.LoadFromEnumerable(texts.Select(t => new TextRow(t.Text, t.Pair ?? "")).ToList(), Definition<TextRow>(pair));

    /// <summary>The input schema a saved model declares: the text column, and the second text column for pairs.</summary>
    public static DataViewSchema InputSchema(MLContext ml, bool pair) => Unlabeled(ml, [], pair).Schema;

    private static SchemaDefinition Definition<T>(bool pair)
    {
        var definition = SchemaDefinition.Create(typeof(T));
        if (!pair) definition.Remove(definition[SecondTextColumn]);
        return definition;
    }

    private sealed class LabeledRow<TLabel>(string text, string text2, TLabel label)
    {
        public string Text { get; set; } = text;
        public string Text2 { get; set; } = text2;
        public TLabel Label { get; set; } = label;
    }

    private sealed class TextRow(string text, string text2)
    {
        public string Text { get; set; } = text;
        public string Text2 { get; set; } = text2;
    }
}
