using Microsoft.ML;
using MLNetTuning.Checkpoints;
using MLNetTuning.Models;
using MLNetTuning.Training;

namespace MLNetTuning.Tests;

/// <summary>Question answering through the public API on the tiny checkpoint: learning, windows, exact spans, zips, export and bad input.</summary>
[Collection(TinyBertEstimatorCollection.Name)]
public sealed class QuestionAnsweringTests(TinyBertFixture tiny) : IDisposable
{
    private readonly MLContext _ml = new(seed: 1);
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-qa-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    public sealed class QaRow
    {
        public string Question { get; set; } = "";
        public string Context { get; set; } = "";
        public string Answer { get; set; } = "";
    }

    public sealed class StartRow
    {
        public string Question { get; set; } = "";
        public string Context { get; set; } = "";
        public string Answer { get; set; } = "";
        public int Start { get; set; }
    }

    public sealed class BestAnswer
    {
        public string PredictedAnswer { get; set; } = "";
        public int PredictedAnswerStart { get; set; }
        public float Score { get; set; }
    }

    public sealed class AnswerPrediction
    {
        public string PredictedAnswer { get; set; } = "";
        public int PredictedAnswerStart { get; set; }
        public float Score { get; set; }
        public string[] PredictedAnswers { get; set; } = [];
        public float[] Scores { get; set; } = [];
    }

    private static readonly string[] Filler = [.. Enumerable.Range(0, 58).Select(i => $"w{i}"), "a", "is", "and", "to", "you", "we"];

    /// <summary>
    /// Contexts of filler words holding "the team Wk" once: the answer is the word after "team", written in capitals (the
    /// tokenizer lower-cases it) and, on every other row, after two spaces, so that only the offsets give it back as written.
    /// </summary>
    internal static QaRow[] Rows(int count, int seed, int minWords = 6, int maxWords = 30)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(i =>
        {
            var words = Enumerable.Range(0, random.Next(minWords, maxWords + 1)).Select(_ => Filler[random.Next(Filler.Length)]).ToList();
            string answer = $"W{random.Next(58)}";
            int at = random.Next(words.Count + 1);
            words.InsertRange(at, ["the", i % 2 == 0 ? "team" : "team ", answer]);
            return new QaRow { Question = "who is the team ?", Context = string.Join(' ', words), Answer = answer };
        }).ToArray();
    }

    private BertFineTuneOptions Options(int epochs)
    {
        var options = TextData.Options(tiny.Folder, BertTask.QuestionAnswering, epochs);
        options.WarmupRatio = 0;
        options.DocumentStride = 8;
        return options;
    }

    [Fact]
    public void LearnsTheSpan_AcrossWindows_AndAnswersAsTheContextSpellsIt()
    {
        // Up to 40 words and 3 question tokens in 32 positions: most contexts take two or three windows.
        var model = _ml.MulticlassClassification.Trainers.BertQuestionAnswering(Options(epochs: 40)).Fit(_ml.Data.LoadFromEnumerable(Rows(400, seed: 1, maxWords: 40)));
        using var _ = model;
        var test = Rows(50, seed: 2, maxWords: 40);
        var scored = model.Transform(_ml.Data.LoadFromEnumerable(test));

        var metrics = _ml.MulticlassClassification.EvaluateAnswers(scored);
        Assert.True(metrics.ExactMatch >= 80, $"EM {metrics.ExactMatch:F1}, F1 {metrics.F1:F1}");
        var predictions = _ml.Data.CreateEnumerable<BestAnswer>(scored, reuseRowObject: false).ToArray();
        int windowed = 0;
        for (int i = 0; i < test.Length; i++)
        {
            var p = predictions[i];
            Assert.Equal(p.PredictedAnswer, test[i].Context.Substring(p.PredictedAnswerStart, p.PredictedAnswer.Length));
            Assert.InRange(p.Score, 0f, 1f);
            if (test[i].Context.Split(' ').Length > 26 && p.PredictedAnswer == test[i].Answer) windowed++;
        }
        Assert.True(windowed >= 5, $"only {windowed} contexts longer than one window were answered right");
        // Capitals as written, not as the uncased tokenizer sees them.
        Assert.Contains(predictions, p => p.PredictedAnswer.StartsWith('W'));
    }

    [Fact]
    public void SavesAndLoads_WithTheSameAnswers_TopK_PredictionEngine_AndExportsQaOutputs()
    {
        var options = Options(epochs: 1);
        options.TopKAnswers = 3;
        var data = _ml.Data.LoadFromEnumerable(Rows(40, seed: 3));
        using var model = new BertFineTuneEstimator(_ml, options).Fit(data);
        string zip = Path.Combine(_scratch, "qa.zip");
        _ml.Model.Save(model, data.Schema, zip);
        var expected = _ml.Data.CreateEnumerable<AnswerPrediction>(model.Transform(data), reuseRowObject: false).ToArray();
        Assert.All(expected, p => Assert.Equal(3, p.PredictedAnswers.Length));
        Assert.All(expected, p => Assert.Equal(p.PredictedAnswer, p.PredictedAnswers[0]));
        Assert.All(expected, p => Assert.True(p.Scores[0] >= p.Scores[1] && p.Scores[1] >= p.Scores[2]));

        var loaded = new MLContext(seed: 3).Model.Load(zip, out _);
        var actual = _ml.Data.CreateEnumerable<AnswerPrediction>(loaded.Transform(data), reuseRowObject: false).ToArray();
        Assert.Equal(expected.Select(p => (p.PredictedAnswer, p.PredictedAnswerStart, p.Score)), actual.Select(p => (p.PredictedAnswer, p.PredictedAnswerStart, p.Score)));
        Assert.Equal(expected.Select(p => string.Join("|", p.PredictedAnswers)), actual.Select(p => string.Join("|", p.PredictedAnswers)));

        var engine = _ml.Model.CreatePredictionEngine<QaRow, AnswerPrediction>(loaded);
        var one = engine.Predict(Rows(40, seed: 3)[0]);
        Assert.Equal(expected[0].PredictedAnswer, one.PredictedAnswer);

        string folder = Path.Combine(_scratch, "hf");
        model.ExportHuggingFaceFolder(folder);
        using var exported = HuggingFaceFolder.Load(folder);
        Assert.Equal(["BertForQuestionAnswering"], exported.Config.Architectures);
        using var reloaded = new BertForQuestionAnswering(exported.Config);
        exported.LoadTaskModelInto(reloaded);   // strict: qa_outputs.weight and .bias, no pooler
        Assert.Contains("qa_outputs.weight", reloaded.state_dict().Keys);
    }

    [Fact]
    public void BadInput_NamesTheRowOrTheColumn()
    {
        var rows = Rows(3, seed: 4);
        rows[1].Answer = "W99x";
        var error = Assert.Throws<InvalidDataException>(() => Fit(rows));
        Assert.Contains("Row 2", error.Message);
        Assert.Contains("does not occur", error.Message);

        var good = Rows(2, seed: 5);
        StartRow WithStart(int start) => new() { Question = good[0].Question, Context = good[0].Context, Answer = good[0].Answer, Start = start };
        int right = good[0].Context.IndexOf(good[0].Answer, StringComparison.Ordinal);
        foreach (var (start, text) in new[] { (right == 0 ? 1 : 0, "points at"), (-1, "is not a character offset"), (good[0].Context.Length, "is not a character offset") })
        {
            var options = Options(1);
            options.AnswerStartColumnName = "Start";
            var e = Assert.Throws<InvalidDataException>(() => new BertFineTuneEstimator(_ml, options).Fit(_ml.Data.LoadFromEnumerable(new[] { WithStart(right), WithStart(start) })));
            Assert.Contains("Row 2", e.Message);
            Assert.Contains(text, e.Message);
        }

        var typed = Options(1);
        typed.QuestionColumnName = "Start";
        var wrongType = Assert.Throws<ArgumentException>(() => new BertFineTuneEstimator(_ml, typed).Fit(_ml.Data.LoadFromEnumerable(new[] { WithStart(right) })));
        Assert.Contains("'Start'", wrongType.Message);
        Assert.Contains("needs text", wrongType.Message);
    }

    private BertFineTuneTransformer Fit(QaRow[] rows) => new BertFineTuneEstimator(_ml, Options(1)).Fit(_ml.Data.LoadFromEnumerable(rows));

    public sealed class Scored
    {
        public string Answer { get; set; } = "";
        public string PredictedAnswer { get; set; } = "";
    }

    [Fact]
    public void EvaluateAnswers_MatchesSquadByHand()
    {
        Scored[] rows =
        [
            // "broncos" against "denver broncos": EM 0; precision 1/1, recall 1/2, F1 = 2·(1·½)/(1 + ½) = 2/3.
            new() { Answer = "Denver Broncos", PredictedAnswer = "the Broncos" },
            // Case, punctuation, articles and spaces are normalised away: EM 1.
            new() { Answer = "The  Broncos!", PredictedAnswer = "broncos" },
            // Several gold answers: the best counts ("Carolina Panthers" exactly).
            new() { Answer = "Panthers|||Carolina Panthers", PredictedAnswer = "Carolina Panthers" },
            // No word in common: 0 and 0.
            new() { Answer = "Santa Clara", PredictedAnswer = "Levi's Stadium" },
        ];
        var metrics = _ml.MulticlassClassification.EvaluateAnswers(_ml.Data.LoadFromEnumerable(rows));
        Assert.Equal(4, metrics.Count);
        Assert.Equal(100.0 * 2 / 4, metrics.ExactMatch, 10);
        Assert.Equal(100.0 * (2.0 / 3 + 1 + 1 + 0) / 4, metrics.F1, 10);

        Assert.Equal("denver broncos", AnswerEvaluator.Normalize("The Denver, Broncos."));
        // Repeated words count with their multiplicity: "a a b" → "b" after articles go; "b b c" vs "b c": P 2/3, R 1, F1 0.8.
        Assert.Equal(0.8, AnswerEvaluator.Score("b b c", ["b c"]).F1, 10);
        Assert.Equal((1.0, 1.0), AnswerEvaluator.Score("", [""]));
        Assert.Throws<ArgumentException>(() => _ml.MulticlassClassification.EvaluateAnswers(_ml.Data.LoadFromEnumerable(rows), "Missing"));
    }
}
