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
    /// <summary>Runs each padding mode in a fresh process (so that one run's memory cannot hide in the other's peak) and compares them.</summary>
    public static int Run(int rows, int maxLength, int batchSize, NumericPrecision precision, int threads)
    {
        Console.WriteLine($"## One training epoch, {rows} SpamAssassin e-mails, max {maxLength} tokens, batch {batchSize}, {precision}, {threads} threads\n");
        Console.WriteLine("| padding | Fit wall s | training loop s | examples/s (Fit) | examples/s (loop) | tokens in batches | real tokens | peak RSS GB | RSS before Fit GB |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        var grouped = Child("grouped");
        var padded = Child("fixed");
        Console.WriteLine($"\nLength-grouped dynamic padding: **{padded.Wall / grouped.Wall:F2}×** the examples/s of fixed padding (whole Fit), " +
            $"{padded.Loop / grouped.Loop:F2}× in the training loop.\n");
        var estimate = MemoryEstimate.ForTraining(padded.Parameters, batchSize, maxLength);
        double used = padded.PeakGb - padded.BeforeGb;
        Console.WriteLine($"Peak memory while training with fixed padding (the largest batches): {used:F2} GB above the process before Fit " +
            $"(after a warm-up Fit, so libtorch's code and kernels are already resident); estimate {estimate.TotalGb:F2} GB " +
            $"({estimate.Describe()}): ratio **{used / estimate.TotalGb:F2}**.");
        return 0;

        EpochResult Child(string padding)
        {
            var start = new System.Diagnostics.ProcessStartInfo(Environment.ProcessPath!)
            {
                RedirectStandardOutput = true,
                ArgumentList = { "epoch-one", "--rows", rows.ToString(), "--max-length", maxLength.ToString(), "--batch", batchSize.ToString(),
                    "--precision", precision == NumericPrecision.Bf16 ? "bf16" : "fp32", "--threads", threads.ToString(), "--padding", padding },
            };
            using var process = System.Diagnostics.Process.Start(start)!;
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0) throw new InvalidOperationException($"epoch-one --padding {padding} failed with exit code {process.ExitCode}.");
            var result = System.Text.Json.JsonSerializer.Deserialize<EpochResult>(output.Trim().Split('\n')[^1])!;
            Console.WriteLine($"| {result.Name} | {result.Wall:F1} | {result.Loop:F1} | {result.Count / result.Wall:F2} | {result.Count / result.Loop:F2} | " +
                $"{result.BatchedTokens:N0} | {result.RealTokens:N0} | {result.PeakGb:F2} | {result.BeforeGb:F2} |");
            return result;
        }
    }

    /// <summary>The epoch's recipe: spam or not, one epoch, learning rate 2e-4, seed 1 (the epoch-peer job trains the same).</summary>
    internal static BertFineTuneOptions Recipe(int maxLength, int batchSize, NumericPrecision precision, int threads) => new()
    {
        Task = BertTask.BinaryClassification, LabelColumnName = "IsSpam", MaxSequenceLength = maxLength, BatchSize = batchSize,
        Epochs = 1, LearningRate = 2e-4f, Seed = 1, NumberOfThreads = threads, Precision = precision,
    };

    /// <summary>An untimed Fit on two batches: loads libtorch's code and creates oneDNN's kernels, which are not what an epoch costs.</summary>
    internal static void WarmUp(MLContext ml, IDataView data, BertFineTuneOptions options)
    {
        using (new BertFineTuneEstimator(ml, options).Fit(ml.Data.TakeRows(data, 2 * options.BatchSize))) { }
        GC.Collect();
    }

    public sealed record EpochResult(string Name, int Count, double Wall, double Loop, double PeakGb, double BeforeGb, long Parameters, long BatchedTokens, long RealTokens);

    /// <summary>One Fit in this process, after a small untimed warm-up Fit; prints an <see cref="EpochResult"/> as JSON.</summary>
    public static int RunOne(int rows, int maxLength, int batchSize, NumericPrecision precision, int threads, bool fixedPadding)
    {
        var ml = new MLContext(seed: 1);
        var (data, _) = SpamSample.Load(ml, rows);
        int count = data.GetColumn<bool>("IsSpam").Count();
        BertFineTuneOptions Options()
        {
            var options = Recipe(maxLength, batchSize, precision, threads);
            (options.GroupByLength, options.PadToMaxSequenceLength) = (!fixedPadding, fixedPadding);
            return options;
        }
        WarmUp(ml, data, Options());
        double before = ResidentGb("VmRSS");
        ResetPeakResidentMemory();
        var clock = Stopwatch.StartNew();
        using var model = new BertFineTuneEstimator(ml, Options()).Fit(data);
        double wall = clock.Elapsed.TotalSeconds, loop = model.History.TrainingTime.TotalSeconds;
        double peak = ResidentGb("VmHWM");
        var (batched, real) = TokenCounts(model, data, maxLength, batchSize, fixedPadding);
        string name = fixedPadding ? $"fixed, every batch {maxLength}" : "length-grouped, dynamic";
        Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new EpochResult(name, count, wall, loop, peak, before,
            model.FineTuned.Model.parameters().Sum(p => p.numel()), batched, real)));
        return 0;
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
}
