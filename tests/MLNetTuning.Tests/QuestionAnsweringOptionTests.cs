using Microsoft.ML;
using MLNetTuning.Training;

namespace MLNetTuning.Tests;

/// <summary>Question answering's no-answer option and its answer-start column types, on the tiny checkpoint.</summary>
[Collection(TinyBertEstimatorCollection.Name)]
public sealed class QuestionAnsweringOptionTests(TinyBertFixture tiny)
{
    private readonly MLContext _ml = new(seed: 1);

    private BertFineTuneOptions Options(int epochs, bool allowNoAnswer = false)
    {
        var options = TextData.Options(tiny.Folder, BertTask.QuestionAnswering, epochs);
        options.WarmupRatio = 0;
        options.DocumentStride = 8;
        options.AllowNoAnswer = allowNoAnswer;
        return options;
    }

    /// <summary>
    /// "who is the team ?" over short contexts: every other one holds "the team Wk" (answer Wk); the others hold the
    /// distractor "the club Wk" instead and have no answer (empty), so only the word "team" tells them apart.
    /// </summary>
    private static QuestionAnsweringTests.QaRow[] Rows(int count, int seed)
    {
        var rows = QuestionAnsweringTests.Rows(count, seed, minWords: 4, maxWords: 12);
        for (int i = 1; i < rows.Length; i += 2)
            (rows[i].Context, rows[i].Answer) = (rows[i].Context.Replace("team ", "team").Replace("team", "club"), "");
        return rows;
    }

    [Fact]
    public void AllowNoAnswer_AnswersEmptyWhereTheContextHasNoAnswer_AndStillAnswersTheOthers()
    {
        var train = _ml.Data.LoadFromEnumerable(Rows(300, seed: 11));
        using var model = _ml.MulticlassClassification.Trainers.BertQuestionAnswering(Options(epochs: 30, allowNoAnswer: true)).Fit(train);
        var test = Rows(40, seed: 12);
        var scored = model.Transform(_ml.Data.LoadFromEnumerable(test));
        var predictions = _ml.Data.CreateEnumerable<QuestionAnsweringTests.BestAnswer>(scored, reuseRowObject: false).ToArray();

        var unanswerable = Enumerable.Range(0, test.Length).Where(i => test[i].Answer.Length == 0).ToArray();
        var answerable = Enumerable.Range(0, test.Length).Where(i => test[i].Answer.Length > 0).ToArray();
        int empty = unanswerable.Count(i => predictions[i].PredictedAnswer == "" && predictions[i].PredictedAnswerStart == -1);
        int right = answerable.Count(i => predictions[i].PredictedAnswer == test[i].Answer);
        Assert.True(empty >= unanswerable.Length * 8 / 10, $"{empty} of {unanswerable.Length} unanswerable questions answered empty");
        Assert.True(right >= answerable.Length * 8 / 10, $"{right} of {answerable.Length} answerable questions answered right");
        Assert.All(predictions, p => Assert.Equal(p.PredictedAnswer.Length == 0, p.PredictedAnswerStart == -1));
        // Empty gold answers count as SQuAD v2 does: an empty prediction matches them exactly.
        Assert.True(_ml.MulticlassClassification.EvaluateAnswers(scored).ExactMatch >= 80);

        // Without the option the same model always gives a span, even where the context has no answer.
        var options = Options(epochs: 1);
        using var spansOnly = _ml.MulticlassClassification.Trainers.BertQuestionAnswering(options).Fit(train);
        var forced = _ml.Data.CreateEnumerable<QuestionAnsweringTests.BestAnswer>(spansOnly.Transform(_ml.Data.LoadFromEnumerable(test)), reuseRowObject: false);
        Assert.All(forced, p => Assert.True(p.PredictedAnswer.Length > 0 && p.PredictedAnswerStart >= 0));
    }

    /// <summary>A row whose answer start is of type <typeparamref name="T"/>.</summary>
    public sealed class Row<T>
    {
        public string Question { get; set; } = "";
        public string Context { get; set; } = "";
        public string Answer { get; set; } = "";
        public T Start { get; set; } = default!;
    }

    [Fact]
    public void AnswerStart_ReadsInt64AndWholeSingle_AndRejectsAFraction()
    {
        var rows = QuestionAnsweringTests.Rows(8, seed: 13);
        int[] starts = [.. rows.Select(r => r.Context.IndexOf(" " + r.Answer, StringComparison.Ordinal) + 1)];
        var options = Options(epochs: 1);
        options.AnswerStartColumnName = "Start";
        IDataView Longs(Func<int, long> start) => _ml.Data.LoadFromEnumerable(rows.Select((r, i) => new Row<long> { Question = r.Question, Context = r.Context, Answer = r.Answer, Start = start(i) }));
        IDataView Floats(Func<int, float> start) => _ml.Data.LoadFromEnumerable(rows.Select((r, i) => new Row<float> { Question = r.Question, Context = r.Context, Answer = r.Answer, Start = start(i) }));

        using (new BertFineTuneEstimator(_ml, options).Fit(Longs(i => starts[i]))) { }
        using (new BertFineTuneEstimator(_ml, options).Fit(Floats(i => starts[i]))) { }

        // The values are read, not ignored: one off by a character is caught, for both types.
        var offLong = Assert.Throws<InvalidDataException>(() => new BertFineTuneEstimator(_ml, options).Fit(Longs(i => starts[i] + (i == 2 ? 1 : 0))));
        Assert.Contains("Row 3", offLong.Message);
        Assert.Contains("points at", offLong.Message);
        var offFloat = Assert.Throws<InvalidDataException>(() => new BertFineTuneEstimator(_ml, options).Fit(Floats(i => starts[i] + (i == 2 ? 1 : 0))));
        Assert.Contains("points at", offFloat.Message);

        var fraction = Assert.Throws<InvalidDataException>(() => new BertFineTuneEstimator(_ml, options).Fit(Floats(i => starts[i] + (i == 4 ? 0.5f : 0))));
        Assert.Contains("Row 5", fraction.Message);
        Assert.Contains($"answer start {starts[4] + 0.5}", fraction.Message);
        Assert.Contains("whole number", fraction.Message);
    }
}
