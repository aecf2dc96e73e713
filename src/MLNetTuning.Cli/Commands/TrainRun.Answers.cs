using Microsoft.ML;
using MLNetTuning.Cli.Data;
using MLNetTuning.Cli.Modeling;

namespace MLNetTuning.Cli.Commands;

/// <summary>`train --task question-answering`: questions about contexts from SQuAD JSON or a TSV; one question counts as one row of the row flags.</summary>
internal sealed partial class TrainRun
{
    private int ExecuteAnswers(string dataPath, BertFineTuneOptions options, Split split)
    {
        int seed = options.Seed!.Value;
        if (result.GetValue(symbols.SecondTextColumn) is not null || result.GetValue(symbols.PositiveClass) is not null || result.GetValue(symbols.LabelSeparator) is not null)
            throw new UsageException("--second-text-column, --positive-class and --label-separator do not apply to question answering: " +
                "name the columns with --question-column, --context-column, --answer-column and --answer-start-column.");
        var columns = new AnswerColumns(result.GetValue(symbols.QuestionColumn) ?? "Question", result.GetValue(symbols.ContextColumn) ?? "Context",
            result.GetValue(symbols.AnswerColumn) ?? "Answer", result.GetValue(symbols.AnswerStartColumn));
        var (train, validation, _, test, sizes) = SplitItems(columns.Read, dataPath, split, seed, "questions");

        var ml = new MLContext(seed);
        options.QuestionColumnName = AnswerViews.QuestionColumn;
        options.ContextColumnName = AnswerViews.ContextColumn;
        options.AnswerColumnName = AnswerViews.AnswerColumn;
        options.AnswerStartColumnName = AnswerViews.AnswerStartColumn;
        if (validation is not null) options.ValidationSet = AnswerViews.Labeled(ml, validation, allGold: false);
        // Test questions keep every gold answer: EvaluateAnswers counts the best match.
        var testView = test is null ? null : AnswerViews.Labeled(ml, test, allGold: true);
        var trainView = AnswerViews.Labeled(ml, train, allGold: false);
        options.CancellationToken = host.Cancellation;
        CheckOptions(ml, options);

        using var model = FineTune(ml, options, trainView, $"{train.Count} questions of {Path.GetFileName(dataPath)}", validation?.Count, test?.Count);
        var testResult = testView is null ? null : Evaluation.EvaluateAnswers(ml, model, testView, test!.Count);
        PrintTest(testResult, model.History, "questions");
        var info = new ModelInfo(BertTask.QuestionAnswering, [], columns.Question, columns.Context, columns.Answer, options.Model);
        return SaveAndReport(ml, model, info, options, sizes, testResult, split.TestPath, comparison: null, binaryClassNames: null);
    }
}
