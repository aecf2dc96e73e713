using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Cli.Data;
using Spectre.Console;

namespace MLNetTuning.Cli.Commands;

/// <summary>`predict` with a question-answering model: each question's answer as a span of its context.</summary>
internal static class AnswerPredictions
{
    /// <summary>The answer is <c>Context[Start..End]</c>; no answer: an empty answer with start and end -1.</summary>
    internal sealed record AnswerPrediction(string Question, string Context, string Answer, int Start, int End, double Score);

    public static List<AnswerPrediction> Predict(MLContext ml, ITransformer model, IReadOnlyList<(string Question, string Context)> inputs)
    {
        var scored = model.Transform(AnswerViews.Unlabeled(ml, inputs));
        var answers = scored.GetColumn<string>("PredictedAnswer").ToList();
        var starts = scored.GetColumn<int>("PredictedAnswerStart").ToList();
        var scores = scored.GetColumn<float>("Score").ToList();
        return inputs.Select((input, i) => new AnswerPrediction(input.Question, input.Context, answers[i], starts[i],
            starts[i] < 0 ? -1 : starts[i] + answers[i].Length, scores[i])).ToList();
    }

    public static Table Table(IEnumerable<AnswerPrediction> predictions)
    {
        var table = new Table().AddColumn("question").AddColumn("answer").AddColumn(new TableColumn("[[start, end)").RightAligned()).AddColumn(new TableColumn("score").RightAligned());
        foreach (var p in predictions)
            table.AddRow(Markup.Escape(TextInputs.Shorten(p.Question)), p.Start < 0 ? "[grey](no answer)[/]" : Markup.Escape(TextInputs.Shorten(p.Answer)),
                p.Start < 0 ? "" : $"[[{p.Start}, {p.End})", p.Score.ToString("F3", CultureInfo.InvariantCulture));
        return table;
    }
}
