namespace MLNetTuning.Tagging;

/// <summary>
/// One word's tag, parsed once per tag name so that chunking compares small integers. <see cref="Prefix"/> is the position
/// letter (B, I, E, S or O), <see cref="Type"/> the entity type's id (-1 for O) and <see cref="Name"/> the tag name's id,
/// which token accuracy compares (two names can share a prefix and type, such as <c>B</c> and <c>B-_</c>).
/// </summary>
internal readonly record struct EntityTag(char Prefix, int Type, int Name)
{
    public bool IsOutside => Prefix == 'O';
}
