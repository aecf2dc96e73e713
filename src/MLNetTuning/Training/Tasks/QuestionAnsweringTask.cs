using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.MlNet;
using MLNetTuning.Models;
using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>
/// Extractive question answering: a start and an end logit per token (<see cref="BertForQuestionAnswering"/>), read back
/// into a span of the context as Hugging Face's run_qa post-processing does. <c>Score</c> is the span's probability in the
/// window it came from: softmax of the window's start logits at its start × softmax of the window's end logits at its end.
/// </summary>
internal sealed class QuestionAnsweringTask(AnswerSettings settings) : FineTuneTask(["start", "end"])
{
    /// <summary>Start and end candidates taken from each window before pairing them (run_qa's n_best_size).</summary>
    private const int BestPerWindow = 20;

    public override BertTask Kind => BertTask.QuestionAnswering;
    public override string ProblemType => "single_label_classification";
    public override bool StratifiedSplit => false;
    public AnswerSettings Settings { get; } = settings;
    public override string Architecture => "BertForQuestionAnswering";
    public override BertTaskModel CreateModel(BertConfig config, Device? device = null) => ModelFamilies.Of(config).CreateQuestionAnswering(config, device);

    public override void CheckLabelType(DataViewType type, string column, string dataName, bool classNamesGiven)
    {
        if (type is not TextDataViewType)
            throw new ArgumentException($"Answer column '{column}' of the {dataName}: question answering needs {LabelNeed(column)} It is {type}.", "options");
    }

    public override bool AcceptsLabelShape(bool isKey, DataViewType itemType) => !isKey && itemType is TextDataViewType;

    public override string LabelNeed(string column) => "text: the answer exactly as it appears in the context (empty for no answer).";

    /// <summary>[B, 2] start and end positions.</summary>
    public override Tensor Labels(IReadOnlyList<TokenizedExample> examples, int[] batch, Device device) =>
        tensor(batch.SelectMany(i => examples[i].TokenLabels!.Select(p => (long)p)).ToArray(), [batch.Length, 2], device: device);

    public override int LogitsPerExample(TokenizedExample example) => example.Ids.Length * 2;

    /// <summary>The share of windows whose most likely start and end are both the labelled ones (<c>[CLS]</c> where the answer is elsewhere).</summary>
    public override Dictionary<string, double> Metrics(float[] logits, IReadOnlyList<TokenizedExample> examples)
    {
        int offset = 0, correct = 0;
        foreach (var example in examples)
        {
            var (start, end) = (ArgMax(logits, offset, example.Ids.Length, 0), ArgMax(logits, offset, example.Ids.Length, 1));
            if (start == example.TokenLabels![0] && end == example.TokenLabels[1]) correct++;
            offset += LogitsPerExample(example);
        }
        return new() { ["Accuracy"] = examples.Count == 0 ? 0 : (double)correct / examples.Count };
    }

    protected override IReadOnlyList<ValidationMetric> SelectionMetrics => [ValidationMetric.Accuracy];

    public override IReadOnlyList<OutputColumn> OutputColumns => Settings.TopK == 1 ? Single : [.. Single,
        new OutputColumn("PredictedAnswers", new VectorDataViewType(TextDataViewType.Instance), DataViewSchema.Annotations.Empty),
        OutputColumn.VariableFloatVector("Scores")];

    private static readonly OutputColumn[] Single =
        [OutputColumn.Scalar("PredictedAnswer", TextDataViewType.Instance), OutputColumn.Scalar("PredictedAnswerStart", NumberDataViewType.Int32), OutputColumn.Scalar("Score", NumberDataViewType.Single)];

    public override void MapBatch(FineTunedBert model, InputBatch inputs, bool hasPair, OutputBatch outputs)
    {
        var questions = inputs.Get<ReadOnlyMemory<char>>(0).ToArray().Select(q => q.ToString()).ToList();
        var contexts = inputs.Get<ReadOnlyMemory<char>>(1).ToArray().Select(c => c.ToString()).ToList();
        var answers = Predict(model, questions, contexts);
        var text = outputs.Get<ReadOnlyMemory<char>>(0);
        var start = outputs.Get<int>(1);
        var score = outputs.Get<float>(2);
        for (int row = 0; row < inputs.Count; row++)
        {
            var best = answers[row][0];
            (text[row], start[row], score[row]) = (best.Text.AsMemory(), best.Start, best.Score);
        }
        if (Settings.TopK == 1) return;
        var texts = outputs.Get<VBuffer<ReadOnlyMemory<char>>>(3);
        var scores = outputs.Get<VBuffer<float>>(4);
        for (int row = 0; row < inputs.Count; row++)
        {
            var list = answers[row];
            texts[row] = new VBuffer<ReadOnlyMemory<char>>(list.Count, list.Select(a => a.Text.AsMemory()).ToArray());
            scores[row] = new VBuffer<float>(list.Count, list.Select(a => a.Score).ToArray());
        }
    }

    /// <summary>
    /// The best answers to each question, best first (at least one; the empty answer, start -1, when no span fits): the n best
    /// starts and ends of every window paired within <see cref="AnswerSettings.MaxAnswerLength"/>, inside the context, end ≥ start,
    /// the same span from two windows counted once at its higher score.
    /// </summary>
    public List<(string Text, int Start, float Score)>[] Predict(FineTunedBert model, IReadOnlyList<string> questions, IReadOnlyList<string> contexts)
    {
        var windows = new List<AnswerWindow>[questions.Count];
        Parallel.For(0, questions.Count, i => windows[i] = AnswerWindows.Cut(model.Tokenizer, questions[i], contexts[i], null, model.MaxSequenceLength, Settings.DocumentStride));
        float[] logits = model.Logits(windows.SelectMany(w => w).Select(w => w.Example).ToList());
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
                        if (e < s || e - s + 1 > Settings.MaxAnswerLength) continue;
                        var characters = window.Characters(s, e);
                        float p = start[s] * end[e];
                        if (!spans.TryGetValue(characters, out var known) || p > known) spans[characters] = p;
                    }
                offset += LogitsPerExample(window.Example);
            }
            var ranked = spans.Select(kv => (Text: contexts[q].Substring(kv.Key.Start, kv.Key.End - kv.Key.Start), kv.Key.Start, Score: kv.Value)).ToList();
            if (Settings.AllowNoAnswer || ranked.Count == 0) ranked.Add(("", -1, ranked.Count == 0 && !Settings.AllowNoAnswer ? 0 : noAnswer));
            results[q] = [.. ranked.OrderByDescending(a => a.Score).ThenBy(a => a.Start).Take(Settings.TopK)];
        }
        return results;
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

    private static int ArgMax(float[] logits, int offset, int length, int which)
    {
        int best = 0;
        for (int t = 1; t < length; t++) if (logits[offset + t * 2 + which] > logits[offset + best * 2 + which]) best = t;
        return best;
    }
}
