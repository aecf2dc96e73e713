using System.Diagnostics;
using Microsoft.ML;

namespace MLNetTuning.Bench;

/// <summary>
/// Does bf16 mixed precision keep the accuracy? The main job's recipe (600 e-mails, one epoch, 128 tokens, batch 8,
/// learning rate 2e-4) in float32 and in bfloat16, each evaluated on the whole test split (1,174 e-mails), for several
/// seeds: one seed's difference says nothing until it is set against how much the accuracy moves from seed to seed.
/// </summary>
internal static class AccuracyBench
{
    public static int Run(int rows, int threads, int seeds)
    {
        var ml = new MLContext(seed: 1);
        var (train, test) = SpamSample.Load(ml, rows);

        Console.WriteLine($"## Accuracy of bf16 mixed precision: {rows} training e-mails, 1 epoch, 128 tokens; the whole test split; seeds 1–{seeds}\n");
        Console.WriteLine("| seed | precision | accuracy | AUC | F1 | Fit s | scoring s |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        var accuracy = new Dictionary<NumericPrecision, List<double>> { [NumericPrecision.Fp32] = [], [NumericPrecision.Bf16] = [] };
        for (int seed = 1; seed <= seeds; seed++)
            foreach (var precision in accuracy.Keys)
            {
                var options = new BertFineTuneOptions
                {
                    Task = BertTask.BinaryClassification, LabelColumnName = "IsSpam", MaxSequenceLength = 128, BatchSize = 8, Epochs = 1,
                    LearningRate = 2e-4f, Seed = seed, NumberOfThreads = threads, Precision = precision,
                };
                var clock = Stopwatch.StartNew();
                using var model = new BertFineTuneEstimator(ml, options).Fit(train);
                double fit = clock.Elapsed.TotalSeconds;
                clock.Restart();
                var metrics = ml.BinaryClassification.Evaluate(model.Transform(test), "IsSpam");
                accuracy[precision].Add(metrics.Accuracy);
                Console.WriteLine($"| {seed} | {precision} | {metrics.Accuracy:F4} | {metrics.AreaUnderRocCurve:F4} | {metrics.F1Score:F4} | {fit:F0} | {clock.Elapsed.TotalSeconds:F0} |");
            }

        var (fp32, bf16) = (accuracy[NumericPrecision.Fp32], accuracy[NumericPrecision.Bf16]);
        Console.WriteLine();
        foreach (var (name, values) in new[] { ("fp32", fp32), ("bf16", bf16) })
            Console.WriteLine($"- {name}: mean accuracy {values.Average():F4}, standard deviation over seeds {StandardDeviation(values):F4}, range {values.Min():F4}–{values.Max():F4}");
        // Within seed noise: the difference of the means is under two standard errors of that difference.
        double difference = bf16.Average() - fp32.Average();
        double standardError = Math.Sqrt((Math.Pow(StandardDeviation(fp32), 2) + Math.Pow(StandardDeviation(bf16), 2)) / seeds);
        Console.WriteLine($"\nbf16 − fp32 mean accuracy: **{100 * difference:+0.00;-0.00} points**, standard error of that difference {100 * standardError:F2} points: " +
            (seeds < 2 ? "one seed cannot tell noise from a difference." : Math.Abs(difference) <= 2 * standardError ? "within seed noise." : "larger than seed noise."));
        return 0;
    }

    private static double StandardDeviation(List<double> values)
    {
        if (values.Count < 2) return 0;
        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
    }
}
