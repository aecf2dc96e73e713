using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.MlNet;
using MLNetTuning.Text;

namespace MLNetTuning.Training;

/// <summary>
/// Question answering's reading of start and end logits into answers with their character offsets, as Hugging Face's
/// run_qa post-processing does, and its ML.NET columns, apart from any engine: the TorchSharp stage
/// (<c>QuestionAnsweringTask</c>) and the ONNX scorer (MLNetTuning.Onnx, which links this file) call the same code.
/// <c>Score</c> is the span's probability in the window it came from: softmax of the window's start logits at its start ×
/// softmax of the window's end logits at its end.
/// </summary>
internal static class AnswerSpans
{
    /// <summary>Start and end candidates taken from each window before pairing them (run_qa's n_best_size).</summary>
    private const int BestPerWindow = 20;

    private static readonly OutputColumn[] Single =
        [OutputColumn.Scalar("PredictedAnswer", TextDataViewType.Instance), OutputColumn.Scalar("PredictedAnswerStart", NumberDataViewType.Int32), OutputColumn.Scalar("Score", NumberDataViewType.Single)];

    /// <summary><c>PredictedAnswer</c>, <c>PredictedAnswerStart</c> (-1 for no answer) and <c>Score</c>; with <paramref name="topK"/> above 1, also <c>PredictedAnswers</c> and <c>Scores</c>.</summary>
    public static IReadOnlyList<OutputColumn> OutputColumns(int topK) => topK == 1 ? Single : [.. Single,
        new OutputColumn("PredictedAnswers", new VectorDataViewType(TextDataViewType.Instance), DataViewSchema.Annotations.Empty),
        OutputColumn.VariableFloatVector("Scores")];

    /// <summary>The questions (input 0) and contexts (input 1) of a batch.</summary>
    public static (List<string> Questions, List<string> Contexts) ReadQuestions(InputBatch inputs) =>
        (inputs.Texts(0), inputs.Texts(1));

    /// <summary>
    /// The best answers to each question, best first (at least one; the empty answer, start -1, when no span fits): the n best
    /// starts and ends of every window paired within <see cref="AnswerSettings.MaxAnswerLength"/>, inside the context, end ≥ start,
    /// the same span from two windows counted once at its higher score. <paramref name="logitsOf"/> gives each window's
    /// [T, 2] start and end logits, row-major, concatenated in order.
    /// </summary>
    public static List<(string Text, int Start, float Score)>[] Predict(ITextTokenizer tokenizer, int maxLength, AnswerSettings settings,
        Func<IReadOnlyList<TokenizedExample>, float[]> logitsOf, IReadOnlyList<string> questions, IReadOnlyList<string> contexts)
    {
        var windows = new List<AnswerWindow>[questions.Count];
        Parallel.For(0, questions.Count, i => windows[i] = AnswerWindows.Cut(tokenizer, questions[i], contexts[i], null, maxLength, settings.DocumentStride));
        float[] logits = logitsOf(windows.SelectMany(w => w).Select(w => w.Example).ToList());
        var results = new List<(string Text, int Start, float Score)>[questions.Count];
        int offset = 0;
        for (int q = 0; q < questions.Count; q++)
        {
            var spans = new Dictionary<(int Start, int End), float>();
            float noAnswer = float.PositiveInfinity;
            foreach (var window in windows[q])
            {
                int length = window.Example.Ids.Length;
                var (start, end) = (Softmax(logits, offset, length, 0), Softmax(logits, offset, length, 1));
                // run_qa keeps the smallest [CLS] score over the windows as the no-answer score.
                noAnswer = Math.Min(noAnswer, start[0] * end[0]);
                foreach (int s in Best(start, window))
                    foreach (int e in Best(end, window))
                    {
                        if (e < s || e - s + 1 > settings.MaxAnswerLength) continue;
                        var characters = window.Characters(s, e);
                        float p = start[s] * end[e];
                        if (!spans.TryGetValue(characters, out var known) || p > known) spans[characters] = p;
                    }
                offset += length * 2;
            }
            var ranked = spans.Select(kv => (Text: contexts[q].Substring(kv.Key.Start, kv.Key.End - kv.Key.Start), kv.Key.Start, Score: kv.Value)).ToList();
            if (settings.AllowNoAnswer || ranked.Count == 0) ranked.Add(("", -1, ranked.Count == 0 && !settings.AllowNoAnswer ? 0 : noAnswer));
            results[q] = [.. ranked.OrderByDescending(a => a.Score).ThenBy(a => a.Start).Take(settings.TopK)];
        }
        return results;
    }

    /// <summary>Fills <see cref="OutputColumns"/> (in that order) from <paramref name="answers"/>, one row each.</summary>
    public static void Write(List<(string Text, int Start, float Score)>[] answers, int topK, OutputBatch outputs)
    {
        var text = outputs.Get<ReadOnlyMemory<char>>(0);
        var start = outputs.Get<int>(1);
        var score = outputs.Get<float>(2);
        for (int row = 0; row < answers.Length; row++)
        {
            var best = answers[row][0];
            (text[row], start[row], score[row]) = (best.Text.AsMemory(), best.Start, best.Score);
        }
        if (topK == 1) return;
        var texts = outputs.Get<VBuffer<ReadOnlyMemory<char>>>(3);
        var scores = outputs.Get<VBuffer<float>>(4);
        for (int row = 0; row < answers.Length; row++)
        {
            var list = answers[row];
            texts[row] = new VBuffer<ReadOnlyMemory<char>>(list.Count, list.Select(a => a.Text.AsMemory()).ToArray());
            scores[row] = new VBuffer<float>(list.Count, list.Select(a => a.Score).ToArray());
        }
    }

    /// <summary>The input positions of the window's context whose probabilities are among the n best.</summary>
    private static IEnumerable<int> Best(float[] probabilities, AnswerWindow window) =>
        Enumerable.Range(window.ContextPosition, window.ContextTokens).OrderByDescending(t => probabilities[t]).Take(BestPerWindow);

    /// <summary>Softmax over one window's start (<paramref name="which"/> 0) or end (1) logits; the block is [T, 2] row-major.</summary>
    private static float[] Softmax(float[] logits, int offset, int length, int which)
    {
        var result = new float[length];
        float max = float.NegativeInfinity;
        for (int t = 0; t < length; t++) max = Math.Max(max, logits[offset + t * 2 + which]);
        double sum = 0;
        for (int t = 0; t < length; t++) sum += result[t] = MathF.Exp(logits[offset + t * 2 + which] - max);
        for (int t = 0; t < length; t++) result[t] = (float)(result[t] / sum);
        return result;
    }
}
