using System.Diagnostics;
using Microsoft.ML;

namespace MLNetTuning.Bench;

/// <summary>
/// Does bf16 mixed precision keep the accuracy? The main job's recipe (600 e-mails, one epoch, 128 tokens, batch 8,
/// learning rate 2e-4, the same seed) in float32 and in bfloat16, each evaluated on the whole test split (1,174 e-mails).
/// </summary>
internal static class AccuracyBench
{
    public static int Run(int rows, int threads)
    {
        var ml = new MLContext(seed: 1);
        var (train, test) = SpamSample.Load(ml, rows);

        Console.WriteLine($"## Accuracy of bf16 mixed precision: {rows} training e-mails, 1 epoch, 128 tokens; the whole test split\n");
        Console.WriteLine("| precision | accuracy | AUC | F1 | Fit s | scoring s |");
        Console.WriteLine("|---|---|---|---|---|---|");
        var accuracy = new Dictionary<NumericPrecision, double>();
        foreach (var precision in new[] { NumericPrecision.Fp32, NumericPrecision.Bf16 })
        {
            var options = new BertFineTuneOptions
            {
                Task = BertTask.BinaryClassification, LabelColumnName = "IsSpam", MaxSequenceLength = 128, BatchSize = 8, Epochs = 1,
                LearningRate = 2e-4f, Seed = 1, NumberOfThreads = threads, Precision = precision,
            };
            var clock = Stopwatch.StartNew();
            using var model = new BertFineTuneEstimator(ml, options).Fit(train);
            double fit = clock.Elapsed.TotalSeconds;
            clock.Restart();
            var metrics = ml.BinaryClassification.Evaluate(model.Transform(test), "IsSpam");
            accuracy[precision] = metrics.Accuracy;
            Console.WriteLine($"| {precision} | {metrics.Accuracy:F4} | {metrics.AreaUnderRocCurve:F4} | {metrics.F1Score:F4} | {fit:F0} | {clock.Elapsed.TotalSeconds:F0} |");
        }
        Console.WriteLine($"\nbf16 − fp32 accuracy: **{100 * (accuracy[NumericPrecision.Bf16] - accuracy[NumericPrecision.Fp32]):+0.00;-0.00} points** (target: within ±0.5).");
        return 0;
    }
}
