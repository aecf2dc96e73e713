using MLNetTuning.Text;

namespace MLNetTuning.Training;

/// <summary>How a question-answering model reads and answers: Hugging Face's run_qa settings.</summary>
/// <param name="DocumentStride">Context tokens that consecutive windows share (at most half a window's context).</param>
/// <param name="MaxAnswerLength">The longest answer predicted, in sub-word tokens.</param>
/// <param name="TopK">Answers predicted per question.</param>
/// <param name="AllowNoAnswer">Whether the empty answer may win (SQuAD 2.0).</param>
internal sealed record AnswerSettings(int DocumentStride, int MaxAnswerLength, int TopK, bool AllowNoAnswer)
{
    public static AnswerSettings Default { get; } = new(128, 30, 1, false);
}

/// <summary>
/// One model input cut from a question and its context: <c>[CLS] question [SEP] context[FirstToken..] [SEP]</c>. The
/// window's context starts at input position <see cref="ContextPosition"/>; <see cref="Offsets"/> holds the character range of
/// every context token in the original context (shared by all windows of one context).
/// </summary>
internal sealed record AnswerWindow(TokenizedExample Example, int ContextPosition, int FirstToken, int ContextTokens, (int Start, int End)[] Offsets)
{
    /// <summary>The character range in the context of the span from input position <paramref name="start"/> to <paramref name="end"/>.</summary>
    public (int Start, int End) Characters(int start, int end) =>
        (Offsets[FirstToken + start - ContextPosition].Start, Offsets[FirstToken + end - ContextPosition].End);
}

/// <summary>
/// Cuts a question and its context into inputs that fit the model, as Hugging Face's run_qa does with
/// <c>truncation="only_second"</c> and <c>return_overflowing_tokens</c>: the question whole in every window (cut to half a
/// window if longer), the context in overlapping windows, never truncated. The answer's start and end go to the input
/// positions of its first and last token in the window that holds it whole, and to <c>[CLS]</c> (position 0) elsewhere.
/// </summary>
internal static class AnswerWindows
{
    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="question">The question.</param>
    /// <param name="context">The context.</param>
    /// <param name="answer">The answer's character start and length in the context (length 0: no answer), or null when scoring.</param>
    /// <param name="maxLength">The model's input length.</param>
    /// <param name="stride">Context tokens that consecutive windows share.</param>
    public static List<AnswerWindow> Cut(ITextTokenizer tokenizer, string question, string context, (int Start, int Length)? answer, int maxLength, int stride)
    {
        var template = tokenizer.Template;
        var questionIds = tokenizer.Encode(question, null, int.MaxValue).Ids;
        int questionLength = Math.Min(questionIds.Length - template.SingleCount, (maxLength - template.PairCount) / 2);
        var encoded = tokenizer.Encode(context, null, int.MaxValue);
        var offsets = encoded.Offsets[1..^1];
        var contextIds = encoded.Ids.AsSpan(1, offsets.Length);
        var span = answer is { Length: > 0 } a ? TokenSpan(offsets, a.Start, a.Start + a.Length) : null;

        int budget = maxLength - template.PairCount - questionLength, contextPosition = template.Start.Length + questionLength + template.Separator.Length;
        int step = budget - Math.Clamp(stride, 0, budget / 2);
        var windows = new List<AnswerWindow>();
        for (int first = 0; ; first += step)
        {
            int end = Math.Min(offsets.Length, first + budget);
            int length = contextPosition + (end - first) + template.End.Length;
            var ids = new int[length];
            var types = new int[length];
            // Start question Separator context End: [CLS] q [SEP] c [SEP] or <s> q </s></s> c </s>.
            template.Start.CopyTo(ids, 0);
            questionIds.AsSpan(template.Start.Length, questionLength).CopyTo(ids.AsSpan(template.Start.Length));
            template.Separator.CopyTo(ids, template.Start.Length + questionLength);
            contextIds[first..end].CopyTo(ids.AsSpan(contextPosition));
            template.End.CopyTo(ids, length - template.End.Length);
            if (template.SecondSequenceTypeOne) types.AsSpan(contextPosition).Fill(1);
            // Hugging Face's run_qa: an answer not wholly inside this window is labelled at [CLS].
            int[] positions = span is var (s, e) && s >= first && e < end ? [contextPosition + s - first, contextPosition + e - first] : [0, 0];
            windows.Add(new AnswerWindow(new TokenizedExample(ids, types, 0, positions), contextPosition, first, end - first, offsets));
            if (end >= offsets.Length) break;
        }
        return windows;
    }

    /// <summary>The first and last context token that overlap the characters [start, end), or null when none does.</summary>
    private static (int Start, int End)? TokenSpan((int Start, int End)[] offsets, int start, int end)
    {
        int first = -1, last = -1;
        for (int t = 0; t < offsets.Length; t++)
        {
            if (offsets[t].End <= start || offsets[t].Start >= end) continue;
            if (first < 0) first = t;
            last = t;
        }
        return first < 0 ? null : (first, last);
    }
}
