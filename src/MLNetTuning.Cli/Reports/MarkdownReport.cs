using System.Globalization;
using System.Text;
using MLNetTuning.Cli.Modeling;

namespace MLNetTuning.Cli.Reports;

/// <summary>Everything a training run reports, gathered once for the console and the Markdown file.</summary>
internal sealed record TrainingSummary(
    string CommandLine,
    BertFineTuneOptions Options,
    IReadOnlyList<KeyValuePair<string, string>> DataSizes,
    TrainingHistory History,
    EvaluationResult? Test,
    string? TestSource,
    TimeSpan WallTime,
    long PeakWorkingSetBytes,
    string ModelPath,
    ModelComparison? Baseline = null);

/// <summary>report.md: options, data sizes, metrics per evaluation, the final test metrics and confusion matrix, time and memory.</summary>
internal static class MarkdownReport
{
    public static string Render(TrainingSummary run, string lossImage, string validationImage)
    {
        var md = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        md.AppendLine("# Fine-tuning report").AppendLine();
        md.AppendLine(c, $"`{run.CommandLine}`").AppendLine();
        md.AppendLine(c, $"Model `{run.Options.Model}`, task {run.Options.Task}; saved to `{run.ModelPath}`.").AppendLine();

        md.AppendLine("## Data").AppendLine().AppendLine("| set | size |").AppendLine("|---|---|");
        foreach (var (name, size) in run.DataSizes) md.AppendLine(c, $"| {Cell(name)} | {Cell(size)} |");
        md.AppendLine();

        md.AppendLine("## Options").AppendLine().AppendLine("| option | value |").AppendLine("|---|---|");
        foreach (var (name, value) in OptionValues(run.Options)) md.AppendLine(c, $"| {name} | {Cell(value)} |");
        md.AppendLine();

        md.AppendLine("## Training").AppendLine();
        md.AppendLine(c, $"![training loss]({lossImage})").AppendLine();
        var history = run.History;
        md.AppendLine($"{history.Steps.Count} optimizer steps in {history.TrainingTime.TotalSeconds:F0} s" +
            (history.StoppedEarly ? "; early stopping ended the run." : ".") +
            (history.Steps.Count > 0 ? $" Last-step loss {history.Steps[^1].Loss:F4}; mean loss of the last epoch {history.Steps.Where(s => s.Epoch == history.Steps[^1].Epoch).Average(s => s.Loss):F4}." : ""))
            .AppendLine();

        md.AppendLine("## Validation").AppendLine();
        md.AppendLine(c, $"![validation metric]({validationImage})").AppendLine();
        if (history.Evaluations.Count == 0) md.AppendLine("No validation data was given, so no evaluation ran during training and the last weights were kept.").AppendLine();
        else
        {
            var names = history.Evaluations[0].Metrics.Keys.ToList();
            var kept = TrainingPlots.Kept(history, run.Options.RestoreBestModel);
            md.AppendLine("| epoch | step | " + string.Join(" | ", names) + " | validation loss | |");
            md.AppendLine("|---|---|" + string.Concat(names.Select(_ => "---|")) + "---|---|");
            foreach (var e in history.Evaluations)
                md.AppendLine($"| {e.Epoch} | {e.Step} | " + string.Join(" | ", names.Select(n => ConsoleTables.Format(e.Metrics.GetValueOrDefault(n, double.NaN)))) +
                    $" | {e.ValidationLoss:F4} | {string.Join(", ", new[] { e == history.Best ? "best" : null, e == kept ? "**kept**" : null }.OfType<string>())} |");
            md.AppendLine().AppendLine($"Selection metric: {history.SelectionMetric}. " + (run.Options.RestoreBestModel
                ? "The weights of the kept evaluation were restored at the end." : "RestoreBestModel is off: the last weights were kept.")).AppendLine();
        }

        if (run.Test is { } test)
        {
            md.AppendLine(c, $"## Test ({Cell(run.TestSource ?? "test data")}, {test.Rows} rows)").AppendLine();
            md.AppendLine("| metric | value |").AppendLine("|---|---|");
            foreach (var (name, value) in test.Metrics) md.AppendLine(c, $"| {name} | {ConsoleTables.Format(value)} |");
            md.AppendLine();
            if (test.Confusion is { } matrix) AppendConfusion(md, matrix);
            if (test.Note is { } note) md.AppendLine(note).AppendLine();
            if (test.EntityTypes is { } types)
            {
                md.AppendLine((test.TypesTitle is null ? "| type | " : "| label | ") + string.Join(" | ", ConsoleTables.EntityTypeColumns) + " |").AppendLine("|---|---|---|---|---|");
                foreach (var (type, m) in types) md.AppendLine($"| {Cell(type)} | " + string.Join(" | ", ConsoleTables.EntityTypeCells(m)) + " |");
                md.AppendLine();
            }
        }

        if (run.Baseline is { } comparison)
        {
            md.AppendLine(c, $"## Baseline comparison ({comparison.SetName}: {Cell(comparison.SetSource)}, {comparison.Rows} rows)").AppendLine();
            md.AppendLine("Both models trained on the same rows and were evaluated by ML.NET's evaluator on the same set" +
                (comparison.SetName == "test set" ? "." : "; there was no test set, so this is the validation set, which the fine-tuning also evaluated on while training.")).AppendLine();
            var names = comparison.Models[0].Metrics.Select(m => m.Key).ToList();
            md.AppendLine("| model | " + string.Join(" | ", names.Select(Cell)) + " | training time |");
            md.AppendLine("|---|" + string.Concat(names.Select(_ => "---|")) + "---|");
            foreach (var row in comparison.Models)
                md.AppendLine($"| {Cell(row.Model)} | " + string.Join(" | ", names.Select(n => ConsoleTables.Format(row.Metrics.First(m => m.Key == n).Value))) +
                    $" | {ConsoleTables.Seconds(row.TrainingTime)} |");
            md.AppendLine();
        }

        md.AppendLine("## Time and memory").AppendLine();
        md.AppendLine(c, $"- wall time of the command: {run.WallTime.TotalSeconds:F0} s (training alone {history.TrainingTime.TotalSeconds:F0} s)");
        md.AppendLine(c, $"- peak working set: {run.PeakWorkingSetBytes / 1e9:F2} GB");
        md.AppendLine(c, $"- {Environment.ProcessorCount} logical cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}");
        return md.ToString();
    }

    private static void AppendConfusion(StringBuilder md, ConfusionMatrix matrix)
    {
        var names = matrix.ClassNames;
        md.AppendLine("Confusion matrix (rows: truth, columns: predicted):").AppendLine();
        md.AppendLine("| truth \\ predicted | " + string.Join(" | ", names.Select(Cell)) + " | recall |");
        md.AppendLine("|---|" + string.Concat(names.Select(_ => "---|")) + "---|");
        for (int t = 0; t < names.Count; t++)
        {
            long total = Enumerable.Range(0, names.Count).Sum(p => matrix.Counts[t, p]);
            md.AppendLine($"| {Cell(names[t])} | " + string.Join(" | ", Enumerable.Range(0, names.Count).Select(p => matrix.Counts[t, p].ToString(CultureInfo.InvariantCulture))) +
                $" | {ConsoleTables.Ratio(matrix.Counts[t, t], total)} |");
        }
        md.AppendLine("| precision | " + string.Join(" | ", Enumerable.Range(0, names.Count).Select(p =>
            ConsoleTables.Ratio(matrix.Counts[p, p], Enumerable.Range(0, names.Count).Sum(t => matrix.Counts[t, p])))) + " | |");
        md.AppendLine();
    }

    /// <summary>Every plain option of the run by its BertFineTuneOptions name (callbacks, data and tokens are not options a reader can repeat).</summary>
    public static IEnumerable<KeyValuePair<string, string>> OptionValues(BertFineTuneOptions options) =>
        typeof(BertFineTuneOptions).GetProperties()
            .Where(p => p.Name is not (nameof(BertFineTuneOptions.Progress) or nameof(BertFineTuneOptions.CancellationToken) or nameof(BertFineTuneOptions.ValidationSet)))
            .Select(p => new KeyValuePair<string, string>(p.Name, Describe(p.GetValue(options))));

    private static string Describe(object? value) => value switch
    {
        null => "(default)",
        float[] array => string.Join(", ", array.Select(v => v.ToString(CultureInfo.InvariantCulture))),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal);
}
