using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Models;

namespace MLNetTuning.Bench;

/// <summary>
/// One real training epoch on the SpamAssassin sample through the ML.NET estimator (tokenization, batching and all):
/// length-grouped dynamic padding against padding every batch to the maximum length, with the peak resident memory of each
/// run against an estimate of what training must hold.
/// </summary>
internal static class EpochBench
{
    public static int Run(int rows, int maxLength, int batchSize, NumericPrecision precision, int threads)
    {
        var ml = new MLContext(seed: 1);
        var loader = ml.Data.CreateTextLoader<Email>(separatorChar: '\t', hasHeader: true, allowQuoting: false);
        var all = loader.Load(Path.Combine(SampleFolder(), "spam", "train.tsv"));
        var flag = ml.Transforms.CustomMapping<Email, SpamFlag>((email, f) => f.IsSpam = email.Label == "spam", contractName: null);
        var data = ml.Data.Cache(flag.Fit(all).Transform(ml.Data.TakeRows(ml.Data.ShuffleRows(all, seed: 1), rows)));
        int count = data.GetColumn<bool>("IsSpam").Count();

        Console.WriteLine($"## One training epoch, {count} SpamAssassin e-mails, max {maxLength} tokens, batch {batchSize}, {precision}, {threads} threads\n");
        Console.WriteLine("| padding | Fit wall s | training loop s | examples/s (Fit) | examples/s (loop) | tokens in batches | real tokens | peak RSS GB | RSS before Fit GB |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        var grouped = Measure("length-grouped, dynamic", fixedPadding: false);
        var padded = Measure($"fixed, every batch {maxLength}", fixedPadding: true);
        Console.WriteLine($"\nLength-grouped dynamic padding: **{padded.Wall / grouped.Wall:F2}×** the examples/s of fixed padding (whole Fit), " +
            $"{padded.Loop / grouped.Loop:F2}× in the training loop.\n");

        var estimate = MemoryEstimate.ForTraining(padded.Parameters, batchSize, maxLength);
        Console.WriteLine($"Peak memory with fixed padding (the largest batches): {padded.PeakGb - padded.BeforeGb:F2} GB above the process before Fit; " +
            $"estimate {estimate.TotalGb:F2} GB ({estimate.Describe()}): ratio **{(padded.PeakGb - padded.BeforeGb) / estimate.TotalGb:F2}**.");
        return 0;

        (double Wall, double Loop, double PeakGb, double BeforeGb, long Parameters) Measure(string name, bool fixedPadding)
        {
            GC.Collect();
            ResetPeakResidentMemory();
            double before = ResidentGb("VmRSS");
            var options = new BertFineTuneOptions
            {
                Task = BertTask.BinaryClassification, LabelColumnName = "IsSpam", MaxSequenceLength = maxLength, BatchSize = batchSize,
                Epochs = 1, LearningRate = 2e-4f, Seed = 1, NumberOfThreads = threads, Precision = precision,
                GroupByLength = !fixedPadding, PadToMaxSequenceLength = fixedPadding,
            };
            var clock = Stopwatch.StartNew();
            using var model = new BertFineTuneEstimator(ml, options).Fit(data);
            double wall = clock.Elapsed.TotalSeconds, loop = model.History.TrainingTime.TotalSeconds;
            double peak = ResidentGb("VmHWM");
            var (padTokens, realTokens) = TokenCounts(model, data, maxLength, batchSize, fixedPadding);
            Console.WriteLine($"| {name} | {wall:F1} | {loop:F1} | {count / wall:F2} | {count / loop:F2} | {padTokens:N0} | {realTokens:N0} | {peak:F2} | {before:F2} |");
            return (wall, loop, peak, before, model.FineTuned.Model.parameters().Sum(p => p.numel()));
        }
    }

    /// <summary>Tokens that the batches carried (padding included) against the real ones, to show what padding wastes.</summary>
    private static (long Batched, long Real) TokenCounts(BertFineTuneTransformer model, IDataView data, int maxLength, int batchSize, bool fixedPadding)
    {
        var tokenizer = model.FineTuned.Tokenizer;
        var lengths = data.GetColumn<string>("Text").Select(t => tokenizer.Encode(t, null, maxLength).Ids.Length).ToArray();
        long real = lengths.Sum();
        if (fixedPadding) return ((long)lengths.Length * maxLength, real);
        var batches = Training.Batching.LengthGrouped(lengths, batchSize, new Random(1));
        return (batches.Sum(b => (long)b.Length * b.Max(i => lengths[i])), real);
    }

    /// <summary>Writing 5 to clear_refs resets the kernel's peak-RSS mark (VmHWM) of this process.</summary>
    private static void ResetPeakResidentMemory() => File.WriteAllText("/proc/self/clear_refs", "5");

    private static double ResidentGb(string field)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0 / 1024.0;
    }

    internal static string SampleFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "samples", "data", "spam", "train.tsv"))) return Path.Combine(dir.FullName, "samples", "data");
        throw new DirectoryNotFoundException($"samples/data/spam/train.tsv was not found above {AppContext.BaseDirectory}; run the bench from the repository.");
    }

    private sealed class Email
    {
        [LoadColumn(0)] public string Label { get; set; } = "";
        [LoadColumn(2)] public string Text { get; set; } = "";
    }

    private sealed class SpamFlag
    {
        public bool IsSpam { get; set; }
    }
}
