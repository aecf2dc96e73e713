namespace MLNetTuning.Tagging;

/// <summary>
/// Accumulates entity and token counts over sentences and turns them into <see cref="EntityMetrics"/>. Tag names are parsed
/// once through <see cref="Tag"/>, which also gives the label and the prediction one shared numbering of entity types, so two
/// columns with different key sets compare by name.
/// </summary>
internal sealed class EntityCounter
{
    private readonly Dictionary<string, int> _typeIds = new(StringComparer.Ordinal);
    private readonly List<string> _typeNames = [];
    private readonly Dictionary<string, int> _nameIds = new(StringComparer.Ordinal);
    private readonly List<long> _labelled = [], _predicted = [], _correct = [];
    private readonly List<EntityChunk> _labelChunks = [], _predictedChunks = [];
    private long _tokens, _correctTokens;

    /// <summary>
    /// Whether <paramref name="tags"/> are entity positions (O, B-/I-/E-/S-), so that entity metrics mean something; part-of-speech
    /// tags are not, and are scored by accuracy alone. A set of O alone names no entity either.
    /// </summary>
    public static bool IsEntityTagSet(IEnumerable<string> tags)
    {
        var counter = new EntityCounter();
        var list = tags.ToList();
        return list.All(t => counter.Tag(t) is not null) && list.Any(t => t != "O");
    }

    /// <summary>
    /// Parses a tag name: <c>O</c>, or a position letter B, I, E or S, a hyphen and the type (<c>B-PER</c>; the type may hold
    /// further hyphens). A bare letter (<c>B</c>) has the type <c>_</c>, as in seqeval. Anything else returns null: a tag such
    /// as <c>NOUN</c> names no entity, and guessing would give metrics that mean nothing.
    /// </summary>
    public EntityTag? Tag(string name)
    {
        char prefix;
        string type;
        if (name == "O") return new EntityTag('O', -1, NameId(name));
        if (name.Length == 1 && name[0] is 'B' or 'I' or 'E' or 'S') (prefix, type) = (name[0], "_");
        else if (name.Length > 2 && name[0] is 'B' or 'I' or 'E' or 'S' && name[1] == '-') (prefix, type) = (name[0], name[2..]);
        else return null;
        if (!_typeIds.TryGetValue(type, out int id))
        {
            id = _typeNames.Count;
            _typeIds.Add(type, id);
            _typeNames.Add(type);
            _labelled.Add(0);
            _predicted.Add(0);
            _correct.Add(0);
        }
        return new EntityTag(prefix, id, NameId(name));
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
        for (int t = 0; t < _typeNames.Count; t++)
        {
            // seqeval lists the types found in either side, not every type a key set could name.
            if (_labelled[t] == 0 && _predicted[t] == 0) continue;
            var (p, r) = (Ratio(_correct[t], _predicted[t]), Ratio(_correct[t], _labelled[t]));
            perType.Add(_typeNames[t], new EntityTypeMetrics(p, r, F1(p, r), checked((int)_labelled[t])));
        }
        long correct = _correct.Sum(), predicted = _predicted.Sum(), labelled = _labelled.Sum();
        var (precision, recall) = (Ratio(correct, predicted), Ratio(correct, labelled));
        return new EntityMetrics(precision, recall, F1(precision, recall), Ratio(_correctTokens, _tokens), perType);
    }

    private int NameId(string name)
    {
        if (!_nameIds.TryGetValue(name, out int id)) _nameIds.Add(name, id = _nameIds.Count);
        return id;
    }

    // An undefined ratio (nothing predicted, nothing labelled) is 0, as in seqeval's and scikit-learn's default.
    private static double Ratio(long part, long whole) => whole == 0 ? 0 : (double)part / whole;

    private static double F1(double precision, double recall) => precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
}
