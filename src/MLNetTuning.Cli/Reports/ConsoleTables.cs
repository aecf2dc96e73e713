using System.Globalization;
using MLNetTuning.Cli.Modeling;
using Spectre.Console;

namespace MLNetTuning.Cli.Reports;

/// <summary>Spectre tables for metrics and confusion matrices.</summary>
internal static class ConsoleTables
{
    public static Table Metrics(string title, IReadOnlyList<KeyValuePair<string, double>> metrics)
    {
        var table = new Table { Title = new TableTitle(Markup.Escape(title)) }.AddColumn("metric").AddColumn(new TableColumn("value").RightAligned());
        foreach (var (name, value) in metrics) table.AddRow(Markup.Escape(name), Format(value));
        return table;
    }

    /// <summary>`train --baseline`: one row per model, one column per metric, then the training time.</summary>
    public static Table Comparison(ModelComparison comparison)
    {
        var table = new Table { Title = new TableTitle(Markup.Escape($"Fine-tuned vs baseline, {comparison.SetName} ({comparison.Rows} rows)")) }.AddColumn("model");
        var names = comparison.Models[0].Metrics.Select(m => m.Key).ToList();
        foreach (var name in names) table.AddColumn(new TableColumn(Markup.Escape(name)).RightAligned());
        table.AddColumn(new TableColumn("training").RightAligned());
        foreach (var row in comparison.Models)
            table.AddRow([Markup.Escape(row.Model), .. names.Select(n => Format(row.Metrics.First(m => m.Key == n).Value)), Seconds(row.TrainingTime)]);
        return table;
    }

    /// <summary>Token classification: one row per entity type, as seqeval's classification report.</summary>
    public static Table EntityTypes(IReadOnlyDictionary<string, EntityTypeMetrics> types, string? title = null)
    {
        var table = new Table { Title = new TableTitle(title ?? "Per entity type") }.AddColumn(title is null ? "type" : "label");
        foreach (var name in EntityTypeColumns) table.AddColumn(new TableColumn(name).RightAligned());
        foreach (var (type, m) in types) table.AddRow([Markup.Escape(type), .. EntityTypeCells(m)]);
        return table;
    }

    public static readonly string[] EntityTypeColumns = ["precision", "recall", "F1", "support"];

    public static string[] EntityTypeCells(EntityTypeMetrics m) => [Format(m.Precision), Format(m.Recall), Format(m.F1), m.Support.ToString(CultureInfo.InvariantCulture)];

    /// <summary>The test or evaluation tables of a result: its metrics, then the confusion matrix or the per-type table when it has one.</summary>
    public static void Write(IAnsiConsole console, string title, EvaluationResult result)
    {
        console.Write(Metrics(title, result.Metrics));
        if (result.Confusion is not null) console.Write(Confusion(result.Confusion));
        if (result.EntityTypes is not null) console.Write(EntityTypes(result.EntityTypes, result.TypesTitle));
        if (result.Note is not null) console.WriteLine(result.Note);
    }

    public static string Seconds(TimeSpan time) => time.TotalSeconds.ToString(time.TotalSeconds < 10 ? "F1" : "F0", CultureInfo.InvariantCulture) + " s";

    /// <summary>Rows are the true classes, columns the predicted ones; the last column is each class's recall, the last row its precision.</summary>
    public static Table Confusion(ConfusionMatrix matrix)
    {
        var names = matrix.ClassNames;
        var table = new Table { Title = new TableTitle("Confusion matrix") }.AddColumn("truth \\ predicted");
        foreach (var name in names) table.AddColumn(new TableColumn(Markup.Escape(name)).RightAligned());
        table.AddColumn(new TableColumn("recall").RightAligned());
        for (int t = 0; t < names.Count; t++)
        {
            var cells = new List<string> { Markup.Escape(names[t]) };
            long rowTotal = 0;
            for (int p = 0; p < names.Count; p++)
            {
                rowTotal += matrix.Counts[t, p];
                string count = matrix.Counts[t, p].ToString(CultureInfo.InvariantCulture);
                cells.Add(t == p ? $"[green]{count}[/]" : count);
            }
            cells.Add(Ratio(matrix.Counts[t, t], rowTotal));
            table.AddRow(cells.ToArray());
        }
        var precision = new List<string> { "precision" };
        for (int p = 0; p < names.Count; p++)
        {
            long columnTotal = 0;
            for (int t = 0; t < names.Count; t++) columnTotal += matrix.Counts[t, p];
            precision.Add(Ratio(matrix.Counts[p, p], columnTotal));
        }
        table.AddRow([.. precision, ""]);
        return table;
    }

    public static string Format(double value) => double.IsNaN(value) ? "n/a" : value.ToString("F4", CultureInfo.InvariantCulture);

    public static string Ratio(long part, long whole) => whole == 0 ? "n/a" : ((double)part / whole).ToString("F4", CultureInfo.InvariantCulture);
}
