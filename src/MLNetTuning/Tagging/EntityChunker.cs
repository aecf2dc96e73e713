namespace MLNetTuning.Tagging;

/// <summary>
/// Finds the entities of a tag sequence the way seqeval's default mode (and the CoNLL <c>conlleval</c> script) does, which is
/// lenient on purpose: an <c>I-X</c> that follows <c>O</c> or another type starts an entity instead of being dropped, so a
/// tagger that never emits <c>B-</c> is not scored as finding nothing. The rules, between the previous tag and this one:
/// <list type="bullet">
/// <item>an entity ends after an <c>E-</c> or <c>S-</c> tag, before a <c>B-</c>, <c>S-</c> or <c>O</c>, and wherever the type changes;</item>
/// <item>an entity starts at a <c>B-</c> or <c>S-</c> tag, at an <c>I-</c> or <c>E-</c> that follows <c>O</c>, <c>E-</c> or <c>S-</c>, and wherever the type changes.</item>
/// </list>
/// So IOB1, IOB2, IOE1, IOE2 and IOBES all read as their authors meant when the tags are consistent.
/// </summary>
internal static class EntityChunker
{
    private static readonly EntityTag Outside = new('O', -1, -1);

    /// <summary>Appends the entities of <paramref name="tags"/> to <paramref name="chunks"/>, in order of their first word.</summary>
    public static void Find(ReadOnlySpan<EntityTag> tags, List<EntityChunk> chunks)
    {
        var previous = Outside;
        int start = 0;
        // One step past the end with O, so that an entity that runs to the last word is closed too.
        for (int i = 0; i <= tags.Length; i++)
        {
            var tag = i < tags.Length ? tags[i] : Outside;
            if (EndsBefore(previous, tag)) chunks.Add(new EntityChunk(previous.Type, start, i - 1));
            if (StartsAt(previous, tag)) start = i;
            previous = tag;
        }
    }

    private static bool EndsBefore(EntityTag previous, EntityTag tag) =>
        !previous.IsOutside && (previous.Prefix is 'E' or 'S' || tag.Prefix is 'B' or 'S' or 'O' || previous.Type != tag.Type);

    private static bool StartsAt(EntityTag previous, EntityTag tag) =>
        !tag.IsOutside && (tag.Prefix is 'B' or 'S' || previous.Prefix is 'O' or 'E' or 'S' || previous.Type != tag.Type);
}
