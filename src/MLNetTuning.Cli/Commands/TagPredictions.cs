using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Cli.Data;
using MLNetTuning.Tagging;
using Spectre.Console;

namespace MLNetTuning.Cli.Commands;

/// <summary>A word of an input text and where it is: [<see cref="Start"/>, <see cref="End"/>) in the original characters.</summary>
internal sealed record WordSpan(string Word, int Start, int End);

/// <summary>An entity found in a text: its type, [start, end) characters of the original text, that text, and the mean probability of its words' tags.</summary>
internal sealed record EntitySpan(string Type, int Start, int End, string Text, double Score);

/// <summary>A token model's reading of one text: its entities (null when the tags name no entities, as POS tags), and one tag per word.</summary>
internal sealed record TagPrediction(string Text, IReadOnlyList<EntitySpan>? Entities, IReadOnlyList<string> Tags)
{
    [System.Text.Json.Serialization.JsonIgnore] public IReadOnlyList<WordSpan> Words { get; init; } = [];
    [System.Text.Json.Serialization.JsonIgnore] public IReadOnlyList<float> Scores { get; init; } = [];
}

/// <summary>`predict` with a token model: the texts are split on whitespace as training split them, and the tags are read back onto the original characters.</summary>
internal static class TagPredictions
{
    /// <summary>The words of <paramref name="text"/> split on whitespace (as the model splits a text), with their character offsets.</summary>
    public static List<WordSpan> Words(string text)
    {
        var words = new List<WordSpan>();
        for (int i = 0; i < text.Length;)
        {
            if (char.IsWhiteSpace(text[i])) { i++; continue; }
            int start = i;
            while (i < text.Length && !char.IsWhiteSpace(text[i])) i++;
            words.Add(new WordSpan(text[start..i], start, i));
        }
        return words;
    }

    public static List<TagPrediction> Predict(MLContext ml, ITransformer model, IReadOnlyList<string> tagNames, IReadOnlyList<string> texts)
    {
        var words = texts.Select(Words).ToList();
        // A text of whitespace alone has no word to tag; the model is given only texts with words.
        var withWords = Enumerable.Range(0, texts.Count).Where(i => words[i].Count > 0).ToList();
        var scored = model.Transform(TaggedViews.Unlabeled(ml, withWords.Select(i => words[i].Select(w => w.Word).ToArray())));
        var keys = scored.GetColumn<VBuffer<uint>>("PredictedLabel").Select(k => k.DenseValues().ToArray()).ToList();
        var scores = scored.GetColumn<VBuffer<float>>("Score").Select(s => s.DenseValues().ToArray()).ToList();
        bool entities = EntityCounter.IsEntityTagSet(tagNames);
        var predictions = texts.Select(t => new TagPrediction(t, entities ? [] : null, [])).ToList();
        for (int j = 0; j < withWords.Count; j++)
        {
            int i = withWords[j];
            // Keys are 1-based; 0 (missing) does not occur in predictions, and would read as O.
            var tags = keys[j].Select(k => k == 0 ? "O" : tagNames[(int)k - 1]).ToList();
            predictions[i] = new TagPrediction(texts[i], entities ? Entities(texts[i], words[i], tags, scores[j]) : null, tags) { Words = words[i], Scores = scores[j] };
        }
        return predictions;
    }

    /// <summary>The entities of one text, chunked from its word tags as seqeval does, with character offsets into the original text.</summary>
    public static List<EntitySpan> Entities(string text, IReadOnlyList<WordSpan> words, IReadOnlyList<string> tags, IReadOnlyList<float> scores)
    {
        var counter = new EntityCounter();
        var parsed = tags.Select(t => counter.Tag(t) ?? counter.Tag("O")!.Value).ToArray();
        var chunks = new List<EntityChunk>();
        EntityChunker.Find(parsed, chunks);
        return chunks.Select(c =>
        {
            // The chunk's first tag names its type: B-PER is PER; a bare B is seqeval's type "_".
            string first = tags[c.Start];
            string type = first.Length > 2 ? first[2..] : "_";
            int start = words[c.Start].Start, end = words[c.End].End;
            double score = Enumerable.Range(c.Start, c.End - c.Start + 1).Average(w => scores[w]);
            return new EntitySpan(type, start, end, text[start..end], Math.Round(score, 4));
        }).ToList();
    }

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
