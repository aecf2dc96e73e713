using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>How examples become batches: grouped by length for training, dynamically padded.</summary>
internal static class Batching
{
    /// <summary>Examples per length bucket, in batches: Hugging Face's group_by_length uses 50-batch "megabatches".</summary>
    private const int BatchesPerBucket = 50;

    /// <summary>
    /// Shuffles the examples, cuts them into buckets of about 50 batches, sorts each bucket by length and shuffles the batch order.
    /// Batches then hold similar lengths (little padding) while training still sees the data in random order.
    /// </summary>
    public static List<int[]> LengthGrouped(IReadOnlyList<int> lengths, int batchSize, Random random)
    {
        var order = Enumerable.Range(0, lengths.Count).ToArray();
        random.Shuffle(order);
        var batches = new List<int[]>();
        foreach (var bucket in order.Chunk(batchSize * BatchesPerBucket))
            batches.AddRange(bucket.OrderByDescending(i => lengths[i]).Chunk(batchSize));
        var shuffled = batches.ToArray();
        random.Shuffle(shuffled);
        return [.. shuffled];
    }

    /// <summary>Shuffled batches with no length grouping.</summary>
    public static List<int[]> Shuffled(int count, int batchSize, Random random)
    {
        var order = Enumerable.Range(0, count).ToArray();
        random.Shuffle(order);
        return [.. order.Chunk(batchSize)];
    }

    /// <summary>Batches for scoring: sorted by length so that each pads little; the caller maps results back by index.</summary>
    public static List<int[]> ByLength(IReadOnlyList<int> lengths, int batchSize) =>
        [.. Enumerable.Range(0, lengths.Count).OrderBy(i => lengths[i]).Chunk(batchSize)];

    /// <summary>
    /// Pads the chosen examples to the longest among them (or to <paramref name="padTo"/>): ids, attention mask and token
    /// types, each [B, T].
    /// </summary>
    public static (Tensor Ids, Tensor Mask, Tensor Types) Collate(IReadOnlyList<TokenizedExample> examples, int[] batch, long padId, Device device, int? padTo = null)
    {
        int length = Math.Max(padTo ?? 0, batch.Max(i => examples[i].Ids.Length));
        var ids = new long[batch.Length * length];
        var mask = new long[batch.Length * length];
        var types = new long[batch.Length * length];
        for (int row = 0; row < batch.Length; row++)
        {
            var example = examples[batch[row]];
            int offset = row * length;
            Array.Fill(ids, padId, offset, length);
            for (int t = 0; t < example.Ids.Length; t++)
            {
                ids[offset + t] = example.Ids[t];
                types[offset + t] = example.TypeIds[t];
                mask[offset + t] = 1;
            }
        }
        long[] shape = [batch.Length, length];
        return (tensor(ids, shape, device: device), tensor(mask, shape, device: device), tensor(types, shape, device: device));
    }
}

/// <summary>The learning-rate multiplier at each optimizer step: linear warmup, then the chosen decay.</summary>
internal static class LearningRateFactor
{
    public static double At(LearningRateSchedule schedule, int step, int warmupSteps, int totalSteps)
    {
        // Warmup: rise linearly from 0 so that Adam's early, noisy moment estimates cannot wreck the pretrained weights.
        if (step < warmupSteps) return (double)step / Math.Max(1, warmupSteps);
        double progress = (double)(step - warmupSteps) / Math.Max(1, totalSteps - warmupSteps);
        return schedule switch
        {
            // Decay: reach zero exactly at the last step.
            LearningRateSchedule.Linear => Math.Max(0, 1 - progress),
            LearningRateSchedule.Cosine => 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, progress))),
            _ => 1,
        };
    }
}
