namespace MLNetTuning.Cli.Data;

/// <summary>
/// One sentence of a token-classification file: its words and one tag per word. <see cref="Line"/> is the file line of the
/// first word (1-based), so that a later error about the sentence (an unknown tag) can point at it.
/// </summary>
internal sealed record TaggedSentence(string[] Words, string[] Tags, int Line);
