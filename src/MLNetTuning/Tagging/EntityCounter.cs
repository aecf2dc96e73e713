namespace MLNetTuning.Tagging;

/// <summary>
/// Accumulates entity and token counts over sentences and turns them into <see cref="EntityMetrics"/>. Tag names are parsed
/// once through <see cref="Tag"/>, which also gives the label and the prediction one shared numbering of entity types, so two
/// columns with different key sets compare by name.
/// </summary>
internal sealed class EntityCounter
{
    private readonly EntityTagNames _names = new();
    private readonly List<long> _labelled = [], _predicted = [], _correct = [];
    private readonly List<EntityChunk> _labelChunks = [], _predictedChunks = [];
    private long _tokens, _correctTokens;

    /// <inheritdoc cref="EntityTagNames.IsEntityTagSet"/>
    public static bool IsEntityTagSet(IEnumerable<string> tags) => EntityTagNames.IsEntityTagSet(tags);

    /// <inheritdoc cref="EntityTagNames.Tag"/>
    public EntityTag? Tag(string name)
    {
        var tag = _names.Tag(name);
        // A type seen for the first time gets its counts.
        while (_labelled.Count < _names.TypeCount)
        {
            _labelled.Add(0);
            _predicted.Add(0);
            _correct.Add(0);
        }
        return tag;
    }

    /// <summary>Counts one sentence. The two spans tag the same words, so they must have the same length.</summary>
    public void Add(ReadOnlySpan<EntityTag> label, ReadOnlySpan<EntityTag> predicted)
    {
        if (label.Length != predicted.Length)
            throw new ArgumentException($"The label has {label.Length} tags but the prediction has {predicted.Length}; they must tag the same words.", nameof(predicted));
        _tokens += label.Length;
        for (int i = 0; i < label.Length; i++)
            if (label[i].Name == predicted[i].Name) _correctTokens++;

        _labelChunks.Clear();
        _predictedChunks.Clear();
        EntityChunker.Find(label, _labelChunks);
        EntityChunker.Find(predicted, _predictedChunks);
        foreach (var chunk in _labelChunks) _labelled[chunk.Type]++;
        foreach (var chunk in _predictedChunks) _predicted[chunk.Type]++;
        // Both lists are in order of the first word and the chunks of one list never overlap, so one merge pass finds the
        // exact matches.
        for (int a = 0, b = 0; a < _labelChunks.Count && b < _predictedChunks.Count;)
        {
            var (truth, guess) = (_labelChunks[a], _predictedChunks[b]);
            if (truth.Start < guess.Start) a++;
            else if (guess.Start < truth.Start) b++;
            else
            {
                if (truth == guess) _correct[truth.Type]++;
                a++;
                b++;
            }
        }
    }

    public EntityMetrics ToMetrics()
    {
        var perType = new SortedDictionary<string, EntityTypeMetrics>(StringComparer.Ordinal);
        for (int t = 0; t < _names.TypeCount; t++)
        {
            // seqeval lists the types found in either side, not every type a key set could name.
            if (_labelled[t] == 0 && _predicted[t] == 0) continue;
            var (p, r) = (Ratio(_correct[t], _predicted[t]), Ratio(_correct[t], _labelled[t]));
            perType.Add(_names.TypeName(t), new EntityTypeMetrics(p, r, F1(p, r), checked((int)_labelled[t])));
        }
        long correct = _correct.Sum(), predicted = _predicted.Sum(), labelled = _labelled.Sum();
        var (precision, recall) = (Ratio(correct, predicted), Ratio(correct, labelled));
        return new EntityMetrics(precision, recall, F1(precision, recall), Ratio(_correctTokens, _tokens), perType);
    }

    // An undefined ratio (nothing predicted, nothing labelled) is 0, as in seqeval's and scikit-learn's default.
    private static double Ratio(long part, long whole) => whole == 0 ? 0 : (double)part / whole;

    private static double F1(double precision, double recall) => precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
}
