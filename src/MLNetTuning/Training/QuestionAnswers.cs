namespace MLNetTuning.Training;

/// <summary>Questions with their contexts and answers for question answering (read by MlNet/QuestionAnswerReader.cs).</summary>
internal sealed class QuestionAnswers
{
    public List<string> Questions { get; } = [];
    public List<string> Contexts { get; } = [];
    /// <summary>Each answer's character start and length in its context; length 0 for a question with no answer.</summary>
    public List<(int Start, int Length)> Answers { get; } = [];
    public int Count => Questions.Count;

    public void Add(string question, string context, (int Start, int Length) answer)
    {
        Questions.Add(question);
        Contexts.Add(context);
        Answers.Add(answer);
    }

    /// <summary>Holds out a random share of the questions for validation.</summary>
    public (QuestionAnswers Train, QuestionAnswers Validation) Split(float fraction, Random random)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        random.Shuffle(order);
        var held = order.Take((int)Math.Round(Count * fraction)).ToHashSet();
        var (train, validation) = (new QuestionAnswers(), new QuestionAnswers());
        for (int i = 0; i < Count; i++) (held.Contains(i) ? validation : train).Add(Questions[i], Contexts[i], Answers[i]);
        return (train, validation);
    }

    /// <summary>Every question as one or more windows that fit the model, labelled with the answer's start and end positions.</summary>
    public List<TokenizedExample> Windows(Text.ITextTokenizer tokenizer, int maxLength, int stride)
    {
        var windows = new List<AnswerWindow>[Count];
        Parallel.For(0, Count, i => windows[i] = AnswerWindows.Cut(tokenizer, Questions[i], Contexts[i], Answers[i], maxLength, stride));
        return windows.SelectMany(w => w).Select(w => w.Example).ToList();
    }
}
