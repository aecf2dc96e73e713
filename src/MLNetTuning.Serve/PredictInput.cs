namespace MLNetTuning.Serve;

/// <summary>
/// One input: a text; a text and its pair (<see cref="Second"/>); or a question (<see cref="Text"/>) and its context
/// (<see cref="Second"/>).
/// </summary>
internal readonly record struct PredictInput(string Text, string? Second = null);
