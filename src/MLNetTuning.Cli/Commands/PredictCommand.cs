using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Cli.Modeling;
using MLNetTuning.Cli.Data;
using Spectre.Console;

namespace MLNetTuning.Cli.Commands;

/// <summary>`predict`: a model zip and texts give predictions with the top-k class probabilities, as a table or JSON lines.</summary>
internal static class PredictCommand
{
    internal sealed record ClassProbability(string Label, double Probability);

    /// <summary>Multi-label: <see cref="Labels"/> are the labels at or above their thresholds, <see cref="Predicted"/> their names joined.</summary>
    internal sealed record Prediction(string Text, string? Pair, string? Predicted, double? Score, IReadOnlyList<ClassProbability>? Top,
        IReadOnlyList<ClassProbability>? Labels = null);

    public static Command Create(CliHost host)
    {
        var modelPath = new Argument<string>("model") { Description = "The model zip written by train" };
        var texts = new Argument<string[]>("texts") { Description = "Texts to score (pairs: the two texts separated by a tab). None: --file or standard input", Arity = ArgumentArity.ZeroOrMore };
        var file = new Option<string?>("--file", "-f") { Description = "A text file (one text per line) or a TSV/CSV file (its text column)" };
        var topK = new Option<int>("--top-k", "-k") { Description = "Classes listed per text, most probable first", DefaultValueFactory = _ => 3 };
        var json = new Option<bool>("--json") { Description = "Write JSON lines instead of a table" };
        var context = new Option<string?>("--context", "-c") { Description = "Question answering: the context the questions (the texts) are about. Without it each input is question<TAB>context" };
        var command = new Command("predict", "Score texts with a model zip: the predicted class and the top-k probabilities (or the regression score); for a token model the entities with their character offsets (or each word's tag); " +
            "for a question-answering model the answer with its character offsets; for a multi-label model the labels above their thresholds.")
        {
            modelPath, texts, file, topK, json, context,
        };
        command.SetAction(result =>
        {
            int k = result.GetValue(topK);
            if (k < 1) throw new UsageException($"--top-k is {k}; it must be at least 1.");
            var ml = new MLContext(seed: 1);
            var (model, info) = ModelFile.Load(ml, result.GetValue(modelPath)!, "model");
            using (model)
            {
                bool pair = info.SecondTextColumn is not null;
                if (info.Task == BertTask.QuestionAnswering)
                {
                    var questions = result.GetValue(context) is { } shared
                        ? TextInputs.Read(host, result.GetValue(texts) ?? [], result.GetValue(file), info.Columns, pair: false).Select(q => (q.Text, shared)).ToList()
                        : TextInputs.Read(host, result.GetValue(texts) ?? [], result.GetValue(file), info.Columns, pair: true).Select(q => (q.Text, q.Pair!)).ToList();
                    var answers = AnswerPredictions.Predict(ml, model, questions);
                    if (result.GetValue(json)) WriteJson(host.RawOut, answers);
                    else host.Out.Write(AnswerPredictions.Table(answers));
                    return ExitCodes.Success;
                }
                if (result.GetValue(context) is not null) throw new UsageException("--context applies to question-answering models only. Leave it out.");
                var inputs = TextInputs.Read(host, result.GetValue(texts) ?? [], result.GetValue(file), info.Columns, pair);
                if (info.Task == BertTask.TokenClassification)
                {
                    var tagged = TagPredictions.Predict(ml, model, info.ClassNames, inputs.Select(i => i.Text).ToList());
                    if (result.GetValue(json)) WriteJson(host.RawOut, tagged);
                    else host.Out.Write(TagPredictions.Table(tagged));
                    return ExitCodes.Success;
                }
                var predictions = Predict(ml, model, info, inputs, k);
                if (result.GetValue(json)) WriteJson(host.RawOut, predictions);
                else host.Out.Write(Table(predictions, info.Task));
            }
            return ExitCodes.Success;
        });
        return command;
    }

    internal static List<Prediction> Predict(MLContext ml, ITransformer model, ModelInfo info, IReadOnlyList<(string Text, string? Pair)> inputs, int k)
    {
        var scored = model.Transform(ExampleViews.Unlabeled(ml, inputs, info.SecondTextColumn is not null));
        var predictions = new List<Prediction>(inputs.Count);
        switch (info.Task)
        {
            case BertTask.MulticlassClassification:
                var probabilities = scored.GetColumn<float[]>("Score").ToList();
                for (int i = 0; i < inputs.Count; i++)
                {
                    var top = probabilities[i].Select((p, c) => new ClassProbability(info.ClassNames[c], p)).OrderByDescending(p => p.Probability).Take(k).ToList();
                    predictions.Add(new Prediction(inputs[i].Text, inputs[i].Pair, top[0].Label, null, top));
                }
                break;
            case BertTask.MultiLabelClassification:
                var labelScores = scored.GetColumn<float[]>("Score").ToList();
                var chosen = scored.GetColumn<bool[]>("PredictedLabel").ToList();
                for (int i = 0; i < inputs.Count; i++)
                {
                    var all = labelScores[i].Select((p, c) => new ClassProbability(info.ClassNames[c], p)).ToList();
                    var labels = all.Where((_, c) => chosen[i][c]).OrderByDescending(p => p.Probability).ToList();
                    var top = all.OrderByDescending(p => p.Probability).Take(k).ToList();
                    predictions.Add(new Prediction(inputs[i].Text, inputs[i].Pair, string.Join(" ", labels.Select(l => l.Label)), null, top, labels));
                }
                break;
            case BertTask.BinaryClassification:
                var positive = scored.GetColumn<float>("Probability").ToList();
                for (int i = 0; i < inputs.Count; i++)
                {
                    var top = new[] { new ClassProbability(info.ClassNames[1], positive[i]), new ClassProbability(info.ClassNames[0], 1 - positive[i]) }
                        .OrderByDescending(p => p.Probability).Take(k).ToList();
                    predictions.Add(new Prediction(inputs[i].Text, inputs[i].Pair, top[0].Label, null, top));
                }
                break;
            default:
                var scores = scored.GetColumn<float>("Score").ToList();
                for (int i = 0; i < inputs.Count; i++) predictions.Add(new Prediction(inputs[i].Text, inputs[i].Pair, null, scores[i], null));
                break;
        }
        return predictions;
    }

    private static void WriteJson<T>(TextWriter output, IEnumerable<T> predictions)
    {
        var options = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };
        foreach (var prediction in predictions) output.WriteLine(JsonSerializer.Serialize(prediction, options));
        output.Flush();
    }

    private static Table Table(IEnumerable<Prediction> predictions, BertTask task)
    {
        var table = new Table().AddColumn("text");
        if (task == BertTask.Regression) table.AddColumn(new TableColumn("score").RightAligned());
        else table.AddColumn("predicted").AddColumn("top probabilities");
        foreach (var p in predictions)
        {
            string text = Markup.Escape(TextInputs.Shorten(p.Pair is null ? p.Text : $"{p.Text} | {p.Pair}"));
            if (p.Top is null) table.AddRow(text, p.Score!.Value.ToString("F4", CultureInfo.InvariantCulture));
            else table.AddRow(text, p.Labels is { Count: 0 } ? "[grey](none)[/]" : Markup.Escape(p.Labels is null ? p.Predicted! :
                    string.Join("  ", p.Labels.Select(l => $"{l.Label} {l.Probability.ToString("F3", CultureInfo.InvariantCulture)}"))), Markup.Escape(string.Join("  ", p.Top.Select(t => $"{t.Label} {t.Probability.ToString("F3", CultureInfo.InvariantCulture)}"))));
        }
        return table;
    }
}
