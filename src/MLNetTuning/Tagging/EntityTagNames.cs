namespace MLNetTuning.Tagging;

/// <summary>
/// Parses tag names into <see cref="EntityTag"/>s, numbering entity types and tag names as they are first seen, so that the
/// tags of one numbering compare by small integers. Kept apart from <c>EntityCounter</c> (metrics) so that reading
/// entities out of predictions (<see cref="TaggedTexts"/>) can be compiled where the metrics are not, as MLNetTuning.Onnx.
/// </summary>
internal sealed class EntityTagNames
{
    private readonly Dictionary<string, int> _typeIds = new(StringComparer.Ordinal);
    private readonly List<string> _typeNames = [];
    private readonly Dictionary<string, int> _nameIds = new(StringComparer.Ordinal);

    /// <summary>How many entity types the tags parsed so far name.</summary>
    public int TypeCount => _typeNames.Count;

    /// <summary>The name of the entity type numbered <paramref name="id"/>.</summary>
    public string TypeName(int id) => _typeNames[id];

    /// <summary>
    /// Whether <paramref name="tags"/> are entity positions (O, B-/I-/E-/S-), so that entity metrics mean something; part-of-speech
    /// tags are not, and are scored by accuracy alone. A set of O alone names no entity either.
    /// </summary>
    public static bool IsEntityTagSet(IEnumerable<string> tags)
    {
        var names = new EntityTagNames();
        var list = tags.ToList();
        return list.All(t => names.Tag(t) is not null) && list.Any(t => t != "O");
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
        }
        return new EntityTag(prefix, id, NameId(name));
    }

    private int NameId(string name)
    {
        if (!_nameIds.TryGetValue(name, out int id)) _nameIds.Add(name, id = _nameIds.Count);
        return id;
    }
}
