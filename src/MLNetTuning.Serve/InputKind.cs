namespace MLNetTuning.Serve;

/// <summary>What a request must hold for a model: texts, text pairs, or questions with their contexts.</summary>
internal enum InputKind { Texts, Pairs, Questions }
