namespace MLNetTuning.Tagging;

/// <summary>An entity found in one sentence: its type id and its first and last word (both inclusive).</summary>
internal readonly record struct EntityChunk(int Type, int Start, int End);
