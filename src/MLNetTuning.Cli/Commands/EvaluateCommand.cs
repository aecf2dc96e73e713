using System.CommandLine;
using Microsoft.ML;
using MLNetTuning.Cli.Data;
using MLNetTuning.Cli.Modeling;
using MLNetTuning.Cli.Reports;

namespace MLNetTuning.Cli.Commands;

/// <summary>`evaluate`: a model zip and a labelled data file give the metrics table and, for classification, the confusion matrix.</summary>
internal static class EvaluateCommand
{
    public static Command Create(CliHost host)
    {
        var modelPath = new Argument<string>("model") { Description = "The model zip written by train" };
        var dataPath = new Argument<string>("data") { Description = "Labelled TSV/CSV data with a header row" };
        var textColumn = new Option<string?>("--text-column") { Description = "The text column [the one the model was trained with]" };
        var secondTextColumn = new Option<string?>("--second-text-column") { Description = "The second text column of pairs [as trained]" };
        var labelColumn = new Option<string?>("--label-column") { Description = "The label column [as trained]" };
        var rows = new Option<int?>("--rows") { Description = "Evaluate on the first N rows [all]" };
        var command = new Command("evaluate", "Metrics of a model zip on a labelled data file, with the confusion matrix for classification.")
        {
            modelPath, dataPath, textColumn, secondTextColumn, labelColumn, rows,
        };
        command.SetAction(result =>
        {
            var ml = new MLContext(seed: 1);
            var (model, info) = ModelFile.Load(ml, result.GetValue(modelPath)!, "model");
            using (model)
            {
                var columns = new ColumnNames(result.GetValue(textColumn) ?? info.TextColumn, result.GetValue(secondTextColumn) ?? info.SecondTextColumn,
                    result.GetValue(labelColumn) ?? info.LabelColumn);
                var file = DataFile.Read(result.GetValue(dataPath)!, "data");
                var examples = Examples.Read(file, columns, withLabel: true);
                if (result.GetValue(rows) is int n) examples = n >= 1 ? examples.Take(n).ToList() : throw new UsageException($"--rows is {n}; it must be at least 1.");
                var scheme = info.Labels with { LabelColumn = columns.Label };
                var view = ExampleViews.Labeled(ml, examples, scheme, info.SecondTextColumn is not null, $"'{file.Path}'");
                var evaluation = Evaluation.Evaluate(ml, model, view, scheme, examples.Count);
                host.Out.Write(ConsoleTables.Metrics($"{TrainRun.TaskName(info.Task)} metrics on {examples.Count} rows of {Path.GetFileName(file.Path)}", evaluation.Metrics));
                if (evaluation.Confusion is not null) host.Out.Write(ConsoleTables.Confusion(evaluation.Confusion));
            }
            return ExitCodes.Success;
        });
        return command;
    }
}
