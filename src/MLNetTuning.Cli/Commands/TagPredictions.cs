using System.Globalization;
using Microsoft.ML;
using MLNetTuning.Cli.Data;
using MLNetTuning.Tagging;
using Spectre.Console;

namespace MLNetTuning.Cli.Commands;

/// <summary>`predict` with a token model: the texts are split on whitespace as training split them, and the tags are read back onto the original characters.</summary>
internal static class TagPredictions
{
    public static List<TagPrediction> Predict(MLContext ml, ITransformer model, IReadOnlyList<string> tagNames, IReadOnlyList<string> texts) =>
        TaggedTexts.Predict(tagNames, texts, sentences => model.Transform(TaggedViews.Unlabeled(ml, sentences)));

    public static Table Table(IEnumerable<TagPrediction> predictions)
    {
        var list = predictions.ToList();
        var c = CultureInfo.InvariantCulture;
        if (list.All(p => p.Entities is not null))
        {
            var table = new Table().AddColumn("text").AddColumn("type").AddColumn(new TableColumn("start").RightAligned()).AddColumn(new TableColumn("end").RightAligned())
                .AddColumn("entity").AddColumn(new TableColumn("score").RightAligned());
            foreach (var p in list)
            {
                string text = Markup.Escape(TextInputs.Shorten(p.Text));
                if (p.Entities!.Count == 0) table.AddRow(text, "", "", "", "(no entities)", "");
                foreach (var e in p.Entities)
                    table.AddRow(text, Markup.Escape(e.Type), e.Start.ToString(c), e.End.ToString(c), Markup.Escape(e.Text), e.Score.ToString("F3", c));
            }
            return table;
        }
        // Tags that name no entities (part of speech): each word with its tag.
        var words = new Table().AddColumn("text").AddColumn("word / tag (probability)");
        foreach (var p in list)
            words.AddRow(Markup.Escape(TextInputs.Shorten(p.Text)),
                Markup.Escape(string.Join("  ", p.Words.Select((w, i) => $"{w.Word}/{p.Tags[i]} ({p.Scores[i].ToString("F2", c)})"))));
        return words;
    }
}
