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

/// <summary>Batch padding, the same for every tokenizer kind.</summary>
internal static class Padding
{
    /// <summary>
    /// Pads encoded inputs into one batch: ids with the pad id, attention mask 1 on real tokens and 0 on padding,
    /// token type ids 0 on padding. The length is the longest input (dynamic padding) or <paramref name="fixedLength"/>.
    /// </summary>
    public static BatchEncoding Pad(IReadOnlyList<EncodedText> items, int padId, int? fixedLength = null)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0) throw new ArgumentException("Cannot pad an empty batch: pass at least one encoded text.", nameof(items));

        int longest = items.Max(e => e.Length);
        if (fixedLength is int fixedValue && fixedValue < longest)
        {
            int index = items.Select((e, i) => (e, i)).First(x => x.e.Length > fixedValue).i;
            throw new ArgumentException(
                $"Item {index} has {items[index].Length} tokens but fixedLength is {fixedValue}. Encode with maxLength <= fixedLength, or pad dynamically.",
                nameof(fixedLength));
        }

        int batchSize = items.Count;
        int length = fixedLength ?? longest;
        var inputIds = new long[batchSize * length];
        var attentionMask = new long[batchSize * length];
        var typeIds = new long[batchSize * length];
        if (padId != 0) Array.Fill(inputIds, padId);

        for (int row = 0; row < batchSize; row++)
        {
            EncodedText item = items[row];
            int rowStart = row * length;
            for (int t = 0; t < item.Length; t++)
            {
                inputIds[rowStart + t] = item.Ids[t];
                typeIds[rowStart + t] = item.TypeIds[t];
            }

            attentionMask.AsSpan(rowStart, item.Length).Fill(1);
        }

        return new BatchEncoding(inputIds, attentionMask, typeIds, batchSize, length);
    }
}
