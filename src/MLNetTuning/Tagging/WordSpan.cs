namespace MLNetTuning.Tagging;

/// <summary>A word of an input text and where it is: [<see cref="Start"/>, <see cref="End"/>) in the original characters.</summary>
internal sealed record WordSpan(string Word, int Start, int End);
