using System.Diagnostics;
using Microsoft.ML;

namespace MLNetTuning.Bench;

/// <summary>
/// What the question-answering head and its windows cost: one training epoch on the bundled SQuAD sample as extractive
/// question answering ([CLS] question [SEP] context window [SEP], start/end logits per token) against sequence
/// classification of the very same (question, context) pairs at the same maximum length and batch size (label: whether
/// the answer lies in the first half of the paragraph, two classes). A paragraph longer than the window is one example
/// for classification (truncated) but several windows for question answering, so throughput is compared per input the
/// model reads: windows/s against pairs/s. The two alternate Fit by Fit (order reversed every round), after an untimed
/// warm-up of each.
/// </summary>
internal static class QuestionAnsweringBench
{
    private sealed class Row
    {
        public string Question { get; set; } = "";
        public string Context { get; set; } = "";
        public string Answer { get; set; } = "";
        public int AnswerStart { get; set; }
        public string Half { get; set; } = "";
    }

    public static int Run(int rows, int maxLength, int batchSize, NumericPrecision precision, int threads, int rounds)
    {
        var ml = new MLContext(seed: 1);
        var questions = Read(rows);
        var loaded = ml.Data.LoadFromEnumerable(questions);
        var data = ml.Data.Cache(ml.Transforms.Conversion.MapValueToKey(nameof(Row.Half)).Fit(loaded).Transform(loaded));
        BertFineTuneOptions Options(bool qa) => new()
        {
            Task = qa ? BertTask.QuestionAnswering : BertTask.MulticlassClassification,
            TextColumnName = nameof(Row.Question), SecondTextColumnName = qa ? null : nameof(Row.Context), LabelColumnName = nameof(Row.Half),
            AnswerStartColumnName = nameof(Row.AnswerStart), DocumentStride = 128,
            MaxSequenceLength = maxLength, BatchSize = batchSize, Epochs = 1, LearningRate = 1e-4f, Seed = 1,
            NumberOfThreads = threads, Precision = precision,
        };
        (double Wall, double Loop, int Examples) Fit(bool qa, IDataView view)
        {
            var clock = Stopwatch.StartNew();
            using var model = new BertFineTuneEstimator(ml, Options(qa)).Fit(view);
            return (clock.Elapsed.TotalSeconds, model.History.TrainingTime.TotalSeconds, model.History.ExampleCounts.Training);
        }

        // Warm-up: libtorch's code and oneDNN's kernels, for both heads.
        Fit(true, ml.Data.TakeRows(data, 2 * batchSize));
        Fit(false, ml.Data.TakeRows(data, 2 * batchSize));
        var (qa, pairs) = (new List<(double Wall, double Loop, int Examples)>(), new List<(double Wall, double Loop, int Examples)>());
        for (int round = 0; round < rounds; round++)
            foreach (bool isQa in round % 2 == 0 ? new[] { true, false } : [false, true])
            {
                var r = Fit(isQa, data);
                (isQa ? qa : pairs).Add(r);
                Console.Error.WriteLine($"round {round + 1} {(isQa ? "question answering" : "sequence classification")}: {r.Examples} inputs, Fit {r.Wall:F1} s, loop {r.Loop:F1} s");
            }

        Console.WriteLine($"## One training epoch, {questions.Count} SQuAD questions, max {maxLength} tokens, batch {batchSize}, {precision}, {threads} threads, {rounds} interleaved rounds\n");
        Console.WriteLine($"Question answering trains on {qa[0].Examples:N0} windows (document stride 128); sequence classification on the " +
            $"{pairs[0].Examples:N0} (question, context) pairs, truncated to {maxLength} tokens.\n");
        Console.WriteLine("| head | inputs/s loop, median | min | max | inputs/s Fit, median | min | max |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        void Line(string name, List<(double Wall, double Loop, int Examples)> runs)
        {
            var loop = runs.Select(r => r.Examples / r.Loop).Order().ToArray();
            var wall = runs.Select(r => r.Examples / r.Wall).Order().ToArray();
            Console.WriteLine($"| {name} | {Median(loop):F2} | {loop[0]:F2} | {loop[^1]:F2} | {Median(wall):F2} | {wall[0]:F2} | {wall[^1]:F2} |");
        }
        Line("question answering (windows)", qa);
        Line("sequence classification (pairs)", pairs);
        var ratio = qa.Zip(pairs, (q, p) => (q.Loop / q.Examples) / (p.Loop / p.Examples)).Order().ToArray();
        Console.WriteLine($"\nQuestion-answering time per window / classification time per pair, per round: median **{Median(ratio):F3}×** " +
            $"(min {ratio[0]:F3}, max {ratio[^1]:F3}).");
        return 0;
    }

    private static double Median(double[] sorted) => sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;

    private static List<Row> Read(int rows) => File.ReadLines(BenchData.File("squad", "train.tsv")).Skip(1).Select(line => line.Split('\t')).Take(rows)
        .Select(f => new Row { Question = f[0], Context = f[1], Answer = f[2], AnswerStart = int.Parse(f[3]), Half = int.Parse(f[3]) < f[1].Length / 2 ? "first" : "second" })
        .ToList();
}
