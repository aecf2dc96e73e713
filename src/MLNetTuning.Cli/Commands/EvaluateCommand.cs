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
        var rows = new Option<int?>("--rows") { Description = "Evaluate on the first N rows (token models: sentences) [all]" };
        var wordColumn = new Option<int?>("--word-column") { Description = "Token models, CoNLL-style file: the word's column, from 0 [as trained]" };
        var tagColumn = new Option<int?>("--tag-column") { Description = "Token models, CoNLL-style file: the tag's column, from 0 [as trained]" };
        var questionColumn = new Option<string?>("--question-column") { Description = "Question answering, TSV/CSV: the question column [as trained]" };
        var contextColumn = new Option<string?>("--context-column") { Description = "Question answering, TSV/CSV: the context column [as trained]" };
        var answerColumn = new Option<string?>("--answer-column") { Description = "Question answering, TSV/CSV: the gold answers (several: separated by |||) [as trained]" };
        var command = new Command("evaluate", "Metrics of a model zip on a labelled data file, with the confusion matrix for classification; " +
            "ExactMatch and F1 for question answering (SQuAD JSON or TSV); micro/macro F1, subset accuracy, Hamming loss and a per-label table for multi-label.")
        {
            modelPath, dataPath, textColumn, secondTextColumn, labelColumn, rows, wordColumn, tagColumn, questionColumn, contextColumn, answerColumn,
        };
        command.SetAction(result =>
        {
            var ml = new MLContext(seed: 1);
            var (model, info) = ModelFile.Load(ml, result.GetValue(modelPath)!, "model");
            using (model)
            {
                int? limit = result.GetValue(rows);
                if (limit is < 1) throw new UsageException($"--rows is {limit}; it must be at least 1.");
                if (info.Task == BertTask.TokenClassification)
                {
                    var tagged = new TaggedColumns(result.GetValue(wordColumn) ?? info.WordColumn, result.GetValue(tagColumn) ?? info.TagColumn,
                        result.GetValue(textColumn) ?? info.TextColumn, result.GetValue(labelColumn) ?? info.LabelColumn);
                    string path = result.GetValue(dataPath)!;
                    var sentences = tagged.Read(path, "data").Take(limit ?? int.MaxValue).ToList();
                    var taggedView = TaggedViews.ForModel(ml, info.ClassNames).Labeled(sentences, $"The data file '{path}'");
                    var tagResult = Evaluation.EvaluateTags(ml, model, taggedView, info.ClassNames, sentences.Count);
                    ConsoleTables.Write(host.Out, $"token-classification metrics on {sentences.Count} sentences of {Path.GetFileName(path)}", tagResult);
                    return ExitCodes.Success;
                }
                if (info.Task == BertTask.QuestionAnswering)
                {
                    var answers = new AnswerColumns(result.GetValue(questionColumn) ?? info.TextColumn, result.GetValue(contextColumn) ?? info.SecondTextColumn ?? "Context",
                        result.GetValue(answerColumn) ?? info.LabelColumn);
                    string path = result.GetValue(dataPath)!;
                    var questions = answers.Read(path, "data").Take(limit ?? int.MaxValue).ToList();
                    var answerResult = Evaluation.EvaluateAnswers(ml, model, AnswerViews.Labeled(ml, questions, allGold: true), questions.Count);
                    ConsoleTables.Write(host.Out, $"question-answering metrics on {questions.Count} questions of {Path.GetFileName(path)}", answerResult);
                    return ExitCodes.Success;
                }
                var columns = new ColumnNames(result.GetValue(textColumn) ?? info.TextColumn, result.GetValue(secondTextColumn) ?? info.SecondTextColumn,
                    result.GetValue(labelColumn) ?? info.LabelColumn);
                var file = DataFile.Read(result.GetValue(dataPath)!, "data");
                var examples = Examples.Read(file, columns, withLabel: true);
                if (limit is int n) examples = examples.Take(n).ToList();
                var scheme = info.Labels with { LabelColumn = columns.Label };
                var view = ExampleViews.Labeled(ml, examples, scheme, info.SecondTextColumn is not null, $"'{file.Path}'");
                var evaluation = Evaluation.Evaluate(ml, model, view, scheme, examples.Count);
                ConsoleTables.Write(host.Out, $"{TrainRun.TaskName(info.Task)} metrics on {examples.Count} rows of {Path.GetFileName(file.Path)}", evaluation);
            }
            return ExitCodes.Success;
        });
        return command;
    }
}
