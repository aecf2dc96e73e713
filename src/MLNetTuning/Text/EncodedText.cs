namespace MLNetTuning.Text;

/// <summary>
/// One encoded input (a text or a text pair) with special tokens: <c>[CLS] a [SEP]</c> or <c>[CLS] a [SEP] b [SEP]</c>.
/// </summary>
/// <param name="Ids">Token ids.</param>
/// <param name="TypeIds">Token type (segment) ids: 0 for the first text and its special tokens, 1 for the pair and its final [SEP].</param>
/// <param name="Offsets">[Start, End) character range of each token in its ORIGINAL text; (0, 0) for added special tokens.</param>
/// <param name="SequenceIndex">Which text each token comes from: 0, 1, or -1 for added special tokens (Hugging Face's None).</param>
internal sealed record EncodedText(int[] Ids, int[] TypeIds, (int Start, int End)[] Offsets, int[] SequenceIndex)
{
    /// <summary>Number of tokens, special tokens included.</summary>
    public int Length => Ids.Length;
}

/// <summary>
/// A padded batch, row-major and flat (<c>[BatchSize * SequenceLength]</c>) so it can become a torch tensor of shape
/// <c>[BatchSize, SequenceLength]</c> without copying row by row.
/// </summary>
internal sealed record BatchEncoding(long[] InputIds, long[] AttentionMask, long[] TokenTypeIds, int BatchSize, int SequenceLength);
