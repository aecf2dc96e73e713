using System.Globalization;

namespace MLNetTuning.Cli.Data;

/// <summary>
/// How the label strings of a file become the task's labels. Multiclass: the classes sorted by name, in key order.
/// Binary: [negative, positive], so that the report and predict can name both outcomes. Regression: numbers.
/// Multi-label: each label cell holds label names separated by <see cref="Separator"/>; the labels sorted by name, in key order.
/// </summary>
internal sealed record LabelScheme(BertTask Task, IReadOnlyList<string> ClassNames, string LabelColumn, char Separator = ' ')
{
    private static readonly string[][] BooleanSpellings = [["false", "true"], ["0", "1"], ["no", "yes"]];

    public string? PositiveClass => Task == BertTask.BinaryClassification ? ClassNames[1] : null;

    /// <summary>The scheme the training labels imply. <paramref name="positiveClass"/> names the positive class for binary tasks.</summary>
    public static LabelScheme FromTraining(BertTask task, IEnumerable<string> labels, string? positiveClass, string labelColumn, string source, char separator = ' ')
    {
        if (task == BertTask.Regression) return new LabelScheme(task, [], labelColumn);
        if (task == BertTask.MultiLabelClassification)
        {
            var names = labels.SelectMany(l => SplitLabels(l, separator)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            if (names.Count == 0)
                throw new CliException($"The label column '{labelColumn}' of {source} names no label on any row (labels separated by '{separator}'); multi-label classification needs at least one.");
            return new LabelScheme(task, names, labelColumn, separator);
        }
        var classes = labels.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        string found = $"The label column '{labelColumn}' of {source} has {classes.Count} distinct value(s): {Preview(classes)}";
        if (task == BertTask.MulticlassClassification)
        {
            if (classes.Count < 2) throw new CliException($"{found}. Classification needs at least two classes.");
            return new LabelScheme(task, classes, labelColumn);
        }
        if (classes.Count > 2) throw new CliException($"{found}. Binary classification needs two; use --task multiclass for more.");
        if (positiveClass is not null)
        {
            if (!classes.Contains(positiveClass, StringComparer.Ordinal))
                throw new CliException($"--positive-class '{positiveClass}' is not a value of the label column '{labelColumn}' of {source}; its values are {Preview(classes)}.");
            string negative = classes.FirstOrDefault(c => c != positiveClass)
                ?? throw new CliException($"{found}. Binary classification needs examples of both classes.");
            return new LabelScheme(task, [negative, positiveClass], labelColumn);
        }
        foreach (var spelling in BooleanSpellings)
            if (classes.All(c => spelling.Contains(c, StringComparer.OrdinalIgnoreCase)))
                return new LabelScheme(task, [spelling[0], spelling[1]], labelColumn);
        throw new CliException($"{found}. Binary classification needs to know which one is positive: add --positive-class " +
            $"{(classes.Count > 0 ? classes[^1] : "<value>")} (or the other).");
    }

    /// <summary>The label of data row <paramref name="row"/> of <paramref name="source"/>: class index, 0/1 or the number.</summary>
    public float Encode(string label, string source, int row)
    {
        switch (Task)
        {
            case BertTask.MulticlassClassification:
                for (int i = 0; i < ClassNames.Count; i++) if (ClassNames[i] == label) return i;
                throw new CliException($"The label column '{LabelColumn}' of {source}, data row {row}, has the class '{label}', which the model does not know " +
                    $"(its classes: {Preview(ClassNames)}). Remove those rows or train with examples of that class.");
            case BertTask.BinaryClassification:
                var comparison = BooleanSpellings.Any(s => s.SequenceEqual(ClassNames)) ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
                if (string.Equals(label, ClassNames[1], comparison)) return 1;
                if (string.Equals(label, ClassNames[0], comparison)) return 0;
                throw new CliException($"The label column '{LabelColumn}' of {source}, data row {row}, has '{label}', but the binary labels are " +
                    $"'{ClassNames[1]}' (positive) and '{ClassNames[0]}'.");
            default:
                if (float.TryParse(label, NumberStyles.Float, CultureInfo.InvariantCulture, out float value) && float.IsFinite(value)) return value;
                throw new CliException($"The label column '{LabelColumn}' of {source}, data row {row}, has '{label}', which is not a number; regression needs one on every row.");
        }
    }

    /// <summary>Multi-label: the label names of one cell; an empty cell is the empty set.</summary>
    public static string[] SplitLabels(string cell, char separator) => cell.Split(separator, StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Multi-label: the label names of data row <paramref name="row"/>, each checked against <see cref="ClassNames"/>.</summary>
    public string[] CheckLabels(string cell, string source, int row)
    {
        var labels = SplitLabels(cell, Separator);
        foreach (var label in labels)
            if (!ClassNames.Contains(label, StringComparer.Ordinal))
                throw new CliException($"The label column '{LabelColumn}' of {source}, data row {row}, has the label '{label}', which the model does not know " +
                    $"(its labels: {Preview(ClassNames)}). Remove that label or train with examples of it.");
        return labels;
    }

    internal static string Preview(IReadOnlyList<string> values) =>
        string.Join(", ", values.Take(10).Select(v => $"'{v}'")) + (values.Count > 10 ? $", ... ({values.Count} in all)" : "");
}
