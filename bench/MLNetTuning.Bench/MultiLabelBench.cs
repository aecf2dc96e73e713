using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Training;

namespace MLNetTuning.Bench;

/// <summary>
/// What the multi-label head costs: one training epoch on the bundled GoEmotions sample as multi-label classification
/// (28 labels, a bool vector, sigmoid and binary cross-entropy) against multiclass classification of the very same
/// comments (label = each comment's first emotion), at the same batch size and maximum length, so both see the same
/// sub-word tokens. The two alternate Fit by Fit (order reversed every round), after an untimed warm-up of each.
/// </summary>
internal static class MultiLabelBench
{
    private const int LabelCount = 28;

    private sealed class Comment
    {
        public string Text { get; set; } = "";
        [VectorType(LabelCount)] public bool[] Labels { get; set; } = [];
        public string First { get; set; } = "";
    }

    public static int Run(int rows, int maxLength, int batchSize, NumericPrecision precision, int threads, int rounds)
    {
        var ml = new MLContext(seed: 1);
        var comments = Read(rows, out string[] names);
        var schema = SchemaDefinition.Create(typeof(Comment));
        schema[nameof(Comment.Labels)].AddAnnotation("SlotNames", new VBuffer<ReadOnlyMemory<char>>(LabelCount, names.Select(n => n.AsMemory()).ToArray()),
            new VectorDataViewType(TextDataViewType.Instance, LabelCount));
        var loaded = ml.Data.LoadFromEnumerable(comments, schema);
        var data = ml.Data.Cache(ml.Transforms.Conversion.MapValueToKey(nameof(Comment.First)).Fit(loaded).Transform(loaded));
        BertFineTuneOptions Options(bool multiLabel) => new()
        {
            Task = multiLabel ? BertTask.MultiLabelClassification : BertTask.MulticlassClassification,
            LabelColumnName = multiLabel ? nameof(Comment.Labels) : nameof(Comment.First),
            MaxSequenceLength = maxLength, BatchSize = batchSize, Epochs = 1, LearningRate = 1e-4f, Seed = 1,
            NumberOfThreads = threads, Precision = precision,
        };
        (double Wall, double Loop) Fit(bool multiLabel, IDataView view)
        {
            var clock = Stopwatch.StartNew();
            using var model = new BertFineTuneEstimator(ml, Options(multiLabel)).Fit(view);
            return (clock.Elapsed.TotalSeconds, model.History.TrainingTime.TotalSeconds);
        }

        // Warm-up: libtorch's code and oneDNN's kernels, for both heads.
        Fit(true, ml.Data.TakeRows(data, 2 * batchSize));
        Fit(false, ml.Data.TakeRows(data, 2 * batchSize));
        var (multi, single) = (new List<(double Wall, double Loop)>(), new List<(double Wall, double Loop)>());
        for (int round = 0; round < rounds; round++)
            foreach (bool isMulti in round % 2 == 0 ? new[] { true, false } : [false, true])
            {
                var r = Fit(isMulti, data);
                (isMulti ? multi : single).Add(r);
                Console.Error.WriteLine($"round {round + 1} {(isMulti ? "multi-label" : "multiclass")}: Fit {r.Wall:F1} s, loop {r.Loop:F1} s");
            }

        Console.WriteLine($"## One training epoch, {comments.Count} GoEmotions comments, max {maxLength} tokens, batch {batchSize}, {precision}, {threads} threads, {rounds} interleaved rounds\n");
        Console.WriteLine($"Multi-label: {LabelCount} labels as a bool vector ({comments.Sum(c => c.Labels.Count(b => b)):N0} labels in all). " +
            $"Multiclass: the same comments, label = the first emotion ({comments.Select(c => c.First).Distinct().Count()} classes).\n");
        Console.WriteLine("| head | examples/s loop, median | min | max | examples/s Fit, median | min | max |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        void Row(string name, List<(double Wall, double Loop)> runs)
        {
            var loop = runs.Select(r => comments.Count / r.Loop).Order().ToArray();
            var wall = runs.Select(r => comments.Count / r.Wall).Order().ToArray();
            Console.WriteLine($"| {name} | {Median(loop):F2} | {loop[0]:F2} | {loop[^1]:F2} | {Median(wall):F2} | {wall[0]:F2} | {wall[^1]:F2} |");
        }
        Row("multi-label", multi);
        Row("multiclass", single);
        var loopRatio = multi.Zip(single, (m, s) => m.Loop / s.Loop).Order().ToArray();
        var wallRatio = multi.Zip(single, (m, s) => m.Wall / s.Wall).Order().ToArray();
        Console.WriteLine($"\nMulti-label / multiclass time per epoch, per round: training loop median **{Median(loopRatio):F3}×** (min {loopRatio[0]:F3}, max {loopRatio[^1]:F3}); " +
            $"whole Fit median {Median(wallRatio):F3}× (min {wallRatio[0]:F3}, max {wallRatio[^1]:F3}). Target: within 5%.");
        Console.WriteLine($"\nPer-round seconds (training loop): multi-label {string.Join(" / ", multi.Select(r => r.Loop.ToString("F1")))}, " +
            $"multiclass {string.Join(" / ", single.Select(r => r.Loop.ToString("F1")))}.");
        return 0;
    }

    private static double Median(double[] sorted) => sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;

    private static List<Comment> Read(int rows, out string[] names)
    {
        var parsed = File.ReadLines(BenchData.File("goemotions", "train.tsv")).Skip(1).Select(line => line.Split('\t'))
            .Select(f => (Text: f[0], Labels: f[1].Split(' ', StringSplitOptions.RemoveEmptyEntries))).Take(rows).ToList();
        names = ["admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity", "desire", "disappointment",
            "disapproval", "disgust", "embarrassment", "excitement", "fear", "gratitude", "grief", "joy", "love", "nervousness", "optimism",
            "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral"];
        var known = names;
        return parsed.Select(r => new Comment { Text = r.Text, Labels = known.Select(n => r.Labels.Contains(n)).ToArray(), First = r.Labels[0] }).ToList();
    }
}
