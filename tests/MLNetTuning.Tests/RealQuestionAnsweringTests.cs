using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.ML;
using MLNetTuning.Training;
using Xunit.Abstractions;

namespace MLNetTuning.Tests;

/// <summary>
/// Acceptance of extractive question answering on real data: the embedded all-MiniLM-L6-v2 fine-tuned on the bundled SQuAD
/// v1.1 sample (1,509 training questions, 503 XQuAD/dev test questions), against the sliding-window baseline of the SQuAD
/// paper (Rajpurkar et al., 2016, section 5), both scored by <c>EvaluateAnswers</c> on the same test questions.
/// </summary>
[Collection(RealModelCollection.Name)]
public sealed class RealQuestionAnsweringTests(ITestOutputHelper output)
{
    public sealed class SquadRow
    {
        public string Question { get; set; } = "";
        public string Context { get; set; } = "";
        public string Answer { get; set; } = "";
        public int AnswerStart { get; set; }
        public string Baseline { get; set; } = "";
    }

    private static List<SquadRow> ReadTsv(string file)
    {
        string path = RepoFiles.Path("samples", "data", "squad", file);
        Assert.True(File.Exists(path), $"The bundled sample {path} is missing; it is committed under samples/data.");
        var lines = File.ReadAllLines(path);
        Assert.Equal("Question\tContext\tAnswer\tAnswerStart", lines[0]);
        return lines.Skip(1).Select(line => line.Split('\t')).Select(f => new SquadRow { Question = f[0], Context = f[1], Answer = f[2], AnswerStart = int.Parse(f[3]) }).ToList();
    }

    [Fact]
    public void SquadSampleBeatsTheSlidingWindowBaselineByFifteenPointsOfF1()
    {
        var ml = new MLContext(seed: 1);
        var train = ReadTsv("train.tsv");
        var test = ReadTsv("test.tsv");
        Assert.Equal((1509, 503), (train.Count, test.Count));
        foreach (var row in test) row.Baseline = SlidingWindowBaseline.Answer(row.Question, row.Context);

        var progress = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var options = new BertFineTuneOptions
        {
            Task = BertTask.QuestionAnswering, Model = "all-MiniLM-L6-v2", AnswerStartColumnName = nameof(SquadRow.AnswerStart),
            MaxSequenceLength = 256, DocumentStride = 64, Epochs = 2, BatchSize = 16, LearningRate = 1e-4f, Seed = 1,
            Precision = NumericPrecision.Bf16,
            NumberOfThreads = Environment.ProcessorCount,
            Progress = new Progress<TrainingProgress>(p => { if (p.Step % 20 == 0 || p.Step == p.TotalSteps) progress.Enqueue($"epoch {p.Epoch} step {p.Step}/{p.TotalSteps} loss {p.Loss:F3} {p.ExamplesPerSecond:F1} ex/s"); }),
        };
        var clock = Stopwatch.StartNew();
        using var model = ml.MulticlassClassification.Trainers.BertQuestionAnswering(options).Fit(ml.Data.LoadFromEnumerable(train));
        var fit = clock.Elapsed;
        clock.Restart();
        var scored = ml.Data.Cache(model.Transform(ml.Data.LoadFromEnumerable(test)));
        var tuned = ml.MulticlassClassification.EvaluateAnswers(scored, nameof(SquadRow.Answer), "PredictedAnswer");
        var score = clock.Elapsed;
        var baseline = ml.MulticlassClassification.EvaluateAnswers(scored, nameof(SquadRow.Answer), nameof(SquadRow.Baseline));
        foreach (var line in progress) output.WriteLine(line);
        output.WriteLine($"fine-tuned: EM {tuned.ExactMatch:F1}, F1 {tuned.F1:F1} over {tuned.Count} questions; fit {fit.TotalSeconds:F0} s, scoring {score.TotalSeconds:F0} s");
        output.WriteLine($"sliding-window baseline: EM {baseline.ExactMatch:F1}, F1 {baseline.F1:F1}");
        // Measured (256 tokens, stride 64, 2 epochs = 220 steps of 16 windows, LR 1e-4, bf16, seed 1): EM 29.4, F1 42.0 against
        // the baseline's EM 5.6, F1 11.3 (the paper's 13.0/20.0 is against about three gold answers each; XQuAD keeps one).
        // The fit took 1,124 s on 2 cores shared with other test runs (load 9 to 13; about 3 to 5 windows a second), scoring 32 s.
        Assert.Equal(503, tuned.Count);
        Assert.True(tuned.F1 >= baseline.F1 + 15, $"fine-tuned F1 {tuned.F1:F1} (EM {tuned.ExactMatch:F1}), baseline F1 {baseline.F1:F1} (EM {baseline.ExactMatch:F1})");
    }

    [Fact]
    public void SlidingWindowBaseline_PicksTheSpanWhoseSentenceSharesTheMostQuestionWords()
    {
        const string context = "The castle was built in 1250 by the duke. The river Avon flows past the old mill near Bath.";
        Assert.Equal("1250", SlidingWindowBaseline.Answer("When was the castle built?", context));
        Assert.StartsWith("Avon", SlidingWindowBaseline.Answer("Which river flows past the mill?", context));
        Assert.Equal("", SlidingWindowBaseline.Answer("?", ""));
    }
}

/// <summary>
/// The sliding-window baseline of the SQuAD paper (Rajpurkar et al., 2016, section 5), approximated without a parser:
/// candidates are all spans of one to <see cref="MaxWords"/> words inside one sentence (the paper's constituents), not
/// starting or ending with a stopword and holding no question word (the paper excludes the candidate from the overlap).
/// A candidate scores the question words (lower-cased, stopwords ignored, each counted once) found in its sentence outside
/// it, weighted by Richardson et al.'s inverse count log(1 + 1/count in the passage); ties go to the candidate nearest a
/// question word (the paper's distance extension), then to the shorter one, then to the earlier one.
/// </summary>
internal static class SlidingWindowBaseline
{
    private const int MaxWords = 5;

    private static readonly HashSet<string> Stopwords =
    [
        "a", "an", "the", "of", "in", "on", "at", "to", "for", "by", "with", "from", "as", "and", "or", "but", "is", "are", "was", "were",
        "be", "been", "being", "did", "do", "does", "has", "have", "had", "what", "which", "who", "whom", "whose", "when", "where", "why",
        "how", "that", "this", "these", "those", "it", "its", "he", "she", "they", "them", "his", "her", "their", "there", "into", "than",
        "then", "not", "no", "can", "could", "would", "should", "will", "may", "many", "much", "some", "any", "one", "also", "after", "before",
    ];

    private static readonly Regex Word = new(@"[\p{L}\p{N}]+(?:[.,'’-][\p{L}\p{N}]+)*", RegexOptions.Compiled);
    private static readonly Regex SentenceEnd = new(@"(?<=[.!?])\s+", RegexOptions.Compiled);

    public static string Answer(string question, string context)
    {
        var asked = Word.Matches(question).Select(m => m.Value.ToLowerInvariant()).Where(w => !Stopwords.Contains(w)).ToHashSet();
        var words = Word.Matches(context).ToList();
        if (words.Count == 0) return "";
        var lower = words.Select(w => w.Value.ToLowerInvariant()).ToArray();
        var counts = lower.GroupBy(w => w).ToDictionary(g => g.Key, g => g.Count());
        var weight = (string w) => Math.Log(1 + 1.0 / counts[w]);
        // The sentence of each word: a boundary is white space after . ! or ? (a rough split; abbreviations cut too early).
        var boundaries = SentenceEnd.Matches(context).Select(m => m.Index).ToArray();
        var sentence = words.Select(w => boundaries.Count(b => b < w.Index)).ToArray();

        (double Score, int Distance, int Length, int First) best = (-1, 0, 0, 0);
        int bestFirst = -1, bestLast = -1;
        for (int first = 0; first < words.Count; first++)
            for (int last = first; last < Math.Min(words.Count, first + MaxWords) && sentence[last] == sentence[first]; last++)
            {
                if (Stopwords.Contains(lower[first]) || Stopwords.Contains(lower[last])) continue;
                if (Enumerable.Range(first, last - first + 1).Any(i => asked.Contains(lower[i]))) continue;
                var outside = Enumerable.Range(0, words.Count).Where(i => sentence[i] == sentence[first] && (i < first || i > last) && asked.Contains(lower[i])).ToList();
                double score = outside.Select(i => lower[i]).Distinct().Sum(weight);
                int distance = outside.Count == 0 ? int.MaxValue : outside.Min(i => i < first ? first - i : i - last);
                var candidate = (score, distance, last - first + 1, first);
                if (bestFirst < 0 || score > best.Score || score == best.Score && (distance < best.Distance || distance == best.Distance && last - first + 1 < best.Length))
                    (best, bestFirst, bestLast) = (candidate, first, last);
            }
        if (bestFirst < 0) return "";
        int start = words[bestFirst].Index;
        return context[start..(words[bestLast].Index + words[bestLast].Length)];
    }
}
