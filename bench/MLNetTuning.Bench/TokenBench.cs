using System.Diagnostics;
using Microsoft.ML;
using MLNetTuning.Training;

namespace MLNetTuning.Bench;

/// <summary>
/// What the token-classification head costs: one training epoch on the bundled NER sample (Universal NER English-EWT) as
/// token classification, against sequence classification of the very same sentences (each sentence's most frequent entity
/// type, or <c>none</c>), at the same batch size and maximum length, so that both see the same sub-word tokens. The two
/// alternate Fit by Fit (order reversed every round), after an untimed warm-up of each, so slow phases of the shared
/// machine hit both alike.
/// </summary>
internal static class TokenBench
{
    private sealed class Sentence
    {
        public string[] Words { get; set; } = [];
        public string[] Tags { get; set; } = [];
        public string Text { get; set; } = "";
        public string Kind { get; set; } = "";
    }

    public static int Run(int rows, int maxLength, int batchSize, NumericPrecision precision, int threads, int rounds)
    {
        var ml = new MLContext(seed: 1);
        var sentences = Read(rows);
        var data = ml.Data.Cache(ml.Transforms.Conversion.MapValueToKey(nameof(Sentence.Tags))
            .Append(ml.Transforms.Conversion.MapValueToKey(nameof(Sentence.Kind))).Fit(ml.Data.LoadFromEnumerable(sentences))
            .Transform(ml.Data.LoadFromEnumerable(sentences)));
        BertFineTuneOptions Options(bool token) => new()
        {
            Task = token ? BertTask.TokenClassification : BertTask.MulticlassClassification,
            TextColumnName = token ? nameof(Sentence.Words) : nameof(Sentence.Text),
            LabelColumnName = token ? nameof(Sentence.Tags) : nameof(Sentence.Kind),
            MaxSequenceLength = maxLength, BatchSize = batchSize, Epochs = 1, LearningRate = 1e-4f, Seed = 1,
            NumberOfThreads = threads, Precision = precision,
        };
        (double Wall, double Loop, long Tokens) Fit(bool token, IDataView view)
        {
            var clock = Stopwatch.StartNew();
            using var model = new BertFineTuneEstimator(ml, Options(token)).Fit(view);
            double wall = clock.Elapsed.TotalSeconds;
            var tokenizer = model.FineTuned.Tokenizer;
            long tokens = token
                ? sentences.Sum(s => WordWindows.Cut(tokenizer, s.Words, null, maxLength, 32).Sum(w => (long)w.Example.Ids.Length))
                : sentences.Sum(s => (long)tokenizer.Encode(s.Text, null, maxLength).Ids.Length);
            return (wall, model.History.TrainingTime.TotalSeconds, tokens);
        }

        // Warm-up: libtorch's code and oneDNN's kernels, for both heads.
        Fit(true, ml.Data.TakeRows(data, 2 * batchSize));
        Fit(false, ml.Data.TakeRows(data, 2 * batchSize));
        var (token, sequence) = (new List<(double Wall, double Loop, long Tokens)>(), new List<(double Wall, double Loop, long Tokens)>());
        for (int round = 0; round < rounds; round++)
            foreach (bool isToken in round % 2 == 0 ? new[] { true, false } : [false, true])
            {
                var r = Fit(isToken, data);
                (isToken ? token : sequence).Add(r);
                Console.Error.WriteLine($"round {round + 1} {(isToken ? "token" : "sequence")}: Fit {r.Wall:F1} s, loop {r.Loop:F1} s");
            }

        Console.WriteLine($"## One training epoch, {sentences.Count} NER-EWT sentences, max {maxLength} tokens, batch {batchSize}, {precision}, {threads} threads, {rounds} interleaved rounds\n");
        Console.WriteLine($"Token classification: {sentences.Count} sentences as word vectors, IOB2 tags (7). Sequence classification: the same sentences joined with spaces, " +
            $"label = the most frequent entity type or none ({sentences.Select(s => s.Kind).Distinct().Count()} classes). " +
            $"Tokens per epoch: token {token[0].Tokens:N0}, sequence {sequence[0].Tokens:N0} (with [CLS]/[SEP]).\n");
        Console.WriteLine("| head | examples/s loop, median | min | max | examples/s Fit, median | min | max |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        void Row(string name, List<(double Wall, double Loop, long Tokens)> runs)
        {
            var loop = runs.Select(r => sentences.Count / r.Loop).Order().ToArray();
            var wall = runs.Select(r => sentences.Count / r.Wall).Order().ToArray();
            Console.WriteLine($"| {name} | {Median(loop):F2} | {loop[0]:F2} | {loop[^1]:F2} | {Median(wall):F2} | {wall[0]:F2} | {wall[^1]:F2} |");
        }
        Row("token classification", token);
        Row("sequence classification", sequence);
        // Ratios of seconds per epoch, round by round (each round has one run of each, back to back).
        var loopRatio = token.Zip(sequence, (t, s) => t.Loop / s.Loop).Order().ToArray();
        var wallRatio = token.Zip(sequence, (t, s) => t.Wall / s.Wall).Order().ToArray();
        Console.WriteLine($"\nToken / sequence time per epoch, per round: training loop median **{Median(loopRatio):F3}×** (min {loopRatio[0]:F3}, max {loopRatio[^1]:F3}); " +
            $"whole Fit median {Median(wallRatio):F3}× (min {wallRatio[0]:F3}, max {wallRatio[^1]:F3}). Target: under 1.15×.");
        return 0;
    }

    private static double Median(double[] sorted) => sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;

    private static List<Sentence> Read(int rows)
    {
        string path = BenchData.File("ner-ewt", "train.conll");
        var sentences = new List<Sentence>();
        var (words, tags) = (new List<string>(), new List<string>());
        foreach (var line in File.ReadLines(path).Append(""))
        {
            if (line.StartsWith('#')) continue;
            if (line.Length == 0)
            {
                if (words.Count > 0)
                {
                    string kind = tags.Where(t => t != "O").Select(t => t[2..]).GroupBy(t => t).OrderByDescending(g => g.Count()).ThenBy(g => g.Key)
                        .Select(g => g.Key).FirstOrDefault() ?? "none";
                    sentences.Add(new Sentence { Words = [.. words], Tags = [.. tags], Text = string.Join(' ', words), Kind = kind });
                }
                words.Clear();
                tags.Clear();
                continue;
            }
            var fields = line.Split('\t');
            words.Add(fields[1]);
            tags.Add(fields[2]);
        }
        return sentences.Take(rows).ToList();
    }
}
