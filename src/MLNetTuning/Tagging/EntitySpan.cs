namespace MLNetTuning.Tagging;

/// <summary>An entity found in a text: its type, [start, end) characters of the original text, that text, and the mean probability of its words' tags.</summary>
internal sealed record EntitySpan(string Type, int Start, int End, string Text, double Score);
