namespace MLNetTuning.Training;

/// <summary>Sentences as words with one tag each (0-based; -1 where the tag is missing) for token classification (read by MlNet/TaggedSentenceReader.cs).</summary>
internal sealed class TaggedSentences
{
    public List<string[]> Words { get; } = [];
    public List<int[]> Tags { get; } = [];
    /// <summary>The tag names, in key order (the label column's KeyValues).</summary>
    public IReadOnlyList<string> TagNames { get; init; } = [];
    public bool WordsAreVector { get; init; }
    public int Count => Words.Count;

    /// <summary>Holds out a random share of the sentences for validation.</summary>
    public (TaggedSentences Train, TaggedSentences Validation) Split(float fraction, Random random)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        random.Shuffle(order);
        var held = order.Take((int)Math.Round(Count * fraction)).ToHashSet();
        return (Subset(i => !held.Contains(i)), Subset(held.Contains));
    }

    private TaggedSentences Subset(Func<int, bool> keep)
    {
        var subset = new TaggedSentences { TagNames = TagNames, WordsAreVector = WordsAreVector };
        for (int i = 0; i < Count; i++)
        {
            if (!keep(i)) continue;
            subset.Words.Add(Words[i]);
            subset.Tags.Add(Tags[i]);
        }
        return subset;
    }

    /// <summary>Every sentence as one or more windows that fit the model, tags on each word's first sub-token.</summary>
    public List<TokenizedExample> Windows(Text.ITextTokenizer tokenizer, int maxLength, int stride)
    {
        var windows = new List<WordWindow>[Count];
        Parallel.For(0, Count, i => windows[i] = WordWindows.Cut(tokenizer, Words[i], Tags[i], maxLength, stride));
        // A window with no tagged word (an empty sentence, a stretch inside one long word) would give a loss of 0/0.
        return windows.SelectMany(w => w).Select(w => w.Example).Where(e => e.TokenLabels!.Any(t => t >= 0)).ToList();
    }
}
