using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetTuning.Tagging;

/// <summary>
/// Token classification of whole texts: each text is split on whitespace (as a token model splits a text), the words are
/// scored, and the word tags are read back onto the original characters as entities. One code for every scorer, so that
/// `predict`, `serve model.zip` (the TorchSharp stage) and `serve model.onnx` (MLNetTuning.Onnx, where this file is linked)
/// give the same tags and entities.
/// </summary>
internal static class TaggedTexts
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

    /// <summary>
    /// Tags <paramref name="texts"/>. <paramref name="score"/> scores sentences given as their words and returns a view with
    /// the key vector <c>PredictedLabel</c> (keys of <paramref name="tagNames"/>) and the float vector <c>Score</c>, one item per word.
    /// </summary>
    public static List<TagPrediction> Predict(IReadOnlyList<string> tagNames, IReadOnlyList<string> texts, Func<IReadOnlyList<string[]>, IDataView> score)
    {
        var words = texts.Select(Words).ToList();
        // A text of whitespace alone has no word to tag; the model is given only texts with words.
        var withWords = Enumerable.Range(0, texts.Count).Where(i => words[i].Count > 0).ToList();
        var scored = score(withWords.Select(i => words[i].Select(w => w.Word).ToArray()).ToList());
        var keys = scored.GetColumn<VBuffer<uint>>("PredictedLabel").Select(k => k.DenseValues().ToArray()).ToList();
        var scores = scored.GetColumn<VBuffer<float>>("Score").Select(s => s.DenseValues().ToArray()).ToList();
        bool entities = EntityTagNames.IsEntityTagSet(tagNames);
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
        var names = new EntityTagNames();
        var parsed = tags.Select(t => names.Tag(t) ?? names.Tag("O")!.Value).ToArray();
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
}
