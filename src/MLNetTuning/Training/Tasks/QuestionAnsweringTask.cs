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

    public override IReadOnlyList<OutputColumn> OutputColumns => AnswerSpans.OutputColumns(Settings.TopK);

    public override void MapBatch(FineTunedBert model, InputBatch inputs, bool hasPair, OutputBatch outputs)
    {
        var (questions, contexts) = AnswerSpans.ReadQuestions(inputs);
        AnswerSpans.Write(Predict(model, questions, contexts), Settings.TopK, outputs);
    }

    /// <summary>The best answers to each question, best first (see <see cref="AnswerSpans.Predict"/>).</summary>
    public List<(string Text, int Start, float Score)>[] Predict(FineTunedBert model, IReadOnlyList<string> questions, IReadOnlyList<string> contexts) =>
        AnswerSpans.Predict(model.Tokenizer, model.MaxSequenceLength, Settings, model.Logits, questions, contexts);

    private static int ArgMax(float[] logits, int offset, int length, int which)
    {
        int best = 0;
        for (int t = 1; t < length; t++) if (logits[offset + t * 2 + which] > logits[offset + best * 2 + which]) best = t;
        return best;
    }
}
