namespace MLNetTuning.Training;

/// <summary>One tokenized example: ids and token types with special tokens, and what its task learns from.</summary>
/// <param name="Ids">Token ids, special tokens included.</param>
/// <param name="TypeIds">Segment ids (0 for the first text, 1 for the pair).</param>
/// <param name="Label">A sequence task's label: class index, 0/1, or target value.</param>
/// <param name="TokenLabels">A token task's labels, one per id (the ignore index where no label applies); null for sequence tasks.</param>
/// <param name="Targets">A multi-label task's targets, 1 or 0 per label; null for other tasks.</param>
internal readonly record struct TokenizedExample(int[] Ids, int[] TypeIds, float Label, int[]? TokenLabels = null, float[]? Targets = null);
