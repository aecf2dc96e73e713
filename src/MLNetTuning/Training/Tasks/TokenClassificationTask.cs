using MLNetTuning.Text;
using Microsoft.ML.Data;
using MLNetTuning.MlNet;
using MLNetTuning.Models;
using MLNetTuning.Tagging;
using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>
/// Token classification (named entities, part of speech): one tag per word, predicted from the word's first sub-token by a
/// linear head over every hidden state; ML.NET's outputs are a key vector <c>PredictedLabel</c> and a float vector
/// <c>Score</c> (the predicted tag's probability), one item per word.
/// </summary>
internal sealed class TokenClassificationTask : FineTuneTask
{
    private readonly BertLossOptions _loss;

    /// <exception cref="ArgumentException">The class weights are not one per tag.</exception>
    public TokenClassificationTask(IReadOnlyList<string> tags, TaskLossOptions loss, WordInput words) : base(tags)
    {
        if (loss.ClassWeights is { } weights && weights.Length != tags.Count)
            throw new ArgumentException($"BertFineTuneOptions.ClassWeights has {weights.Length} weights, but label '{loss.LabelColumn}' has {tags.Count} tags. Give one weight per tag, in key order.", "options");
        _loss = new BertLossOptions(loss.ClassWeights, loss.LabelSmoothing);
        Words = words;
        // Entity F1 means something only when every tag is O or a B-/I-/E-/S- position; POS tags are scored by accuracy.
        IsEntityTagSet = EntityCounter.IsEntityTagSet(tags);
    }

    public override BertTask Kind => BertTask.TokenClassification;
    public override string ProblemType => "single_label_classification";
    public override IReadOnlyList<string> ClassNames => HeadLabels;
    public override bool StratifiedSplit => false;
    public override bool LabelIsVector => true;
    public WordInput Words { get; }
    public bool WordsAreVector => Words.WordsAreVector;

    /// <summary>Whether the tags are entity positions (IOB2, IOBES), so that validation reports entity F1.</summary>
    public bool IsEntityTagSet { get; }

    public override BertTaskModel CreateModel(BertConfig config, Device? device = null) => ModelFamilies.Of(config).CreateTokenClassifier(config, device);
    public override string Architecture => "BertForTokenClassification";

    public override void CheckLabelType(DataViewType type, string column, string dataName, bool classNamesGiven)
    {
        if (type is VectorDataViewType { ItemType: KeyDataViewType }) return;
        throw new ArgumentException($"Label column '{column}' of the {dataName}: token classification needs a vector of keys (one tag per word), but it is {type}. " +
            $"Split the tags into words and map them to keys, for example ml.Transforms.Text.TokenizeIntoWords(\"{column}\").Append(ml.Transforms.Conversion.MapValueToKey(\"{column}\")).", "options");
    }

    public override bool AcceptsLabelShape(bool isKey, DataViewType itemType) => isKey;

    public override string LabelNeed(string column) =>
        $"a vector of keys, one per word: ml.Transforms.Text.TokenizeIntoWords(\"{column}\") then ml.Transforms.Conversion.MapValueToKey(\"{column}\") before this stage.";

    /// <summary>[B, T] tag ids, padded with the ignore index to the batch's longest window.</summary>
    public override Tensor Labels(IReadOnlyList<TokenizedExample> examples, int[] batch, Device device)
    {
        int length = batch.Max(i => examples[i].Ids.Length);
        var labels = new long[batch.Length * length];
        Array.Fill(labels, BertForTokenClassification.IgnoreIndex);
        for (int row = 0; row < batch.Length; row++)
        {
            var tags = examples[batch[row]].TokenLabels!;
            for (int t = 0; t < tags.Length; t++) labels[row * length + t] = tags[t];
        }
        return tensor(labels, [batch.Length, length], device: device);
    }

    // Batches padded to a fixed length carry more positions than the labels; they are padding, so the loss leaves them out.
    public override Tensor TrainingLoss(BertTaskModel model, Tensor logits, Tensor labels) =>
        model.Loss(logits.narrow(1, 0, labels.shape[1]), labels, _loss);

    public override int LogitsPerExample(TokenizedExample example) => example.Ids.Length * HeadLabels.Count;

    /// <summary>Word accuracy and, for entity tags, seqeval's micro entity F1, over the labelled first sub-tokens of each window.</summary>
    public override Dictionary<string, double> Metrics(float[] logits, IReadOnlyList<TokenizedExample> examples)
    {
        int k = HeadLabels.Count, offset = 0;
        var counter = new EntityCounter();
        var tagOf = HeadLabels.Select(t => counter.Tag(t)).ToArray();
        var (truth, guess) = (new List<EntityTag>(), new List<EntityTag>());
        long words = 0, correct = 0;
        foreach (var example in examples)
        {
            truth.Clear();
            guess.Clear();
            var labels = example.TokenLabels!;
            for (int t = 0; t < labels.Length; t++)
            {
                if (labels[t] < 0) continue;
                int predicted = ArgMax(logits.AsSpan(offset + t * k, k));
                words++;
                if (predicted == labels[t]) correct++;
                if (IsEntityTagSet) { truth.Add(tagOf[labels[t]]!.Value); guess.Add(tagOf[predicted]!.Value); }
            }
            if (IsEntityTagSet) counter.Add(truth.ToArray(), guess.ToArray());
            offset += LogitsPerExample(example);
        }
        var metrics = new Dictionary<string, double> { ["Accuracy"] = words == 0 ? 0 : (double)correct / words };
        if (IsEntityTagSet)
        {
            var entities = counter.ToMetrics();
            (metrics["F1"], metrics["Precision"], metrics["Recall"]) = (entities.F1, entities.Precision, entities.Recall);
        }
        return metrics;
    }

    protected override IReadOnlyList<ValidationMetric> SelectionMetrics =>
        IsEntityTagSet ? [ValidationMetric.F1, ValidationMetric.Accuracy] : [ValidationMetric.Accuracy];

    public override IReadOnlyList<OutputColumn> OutputColumns => WordTagger.OutputColumns(HeadLabels);

    public override void MapBatch(FineTunedBert model, InputBatch inputs, bool hasPair, OutputBatch outputs) =>
        WordTagger.Write(Predict(model, WordTagger.ReadSentences(inputs, WordsAreVector)), outputs);

    /// <summary>Each word's tag (0-based) and its probability; a word in two windows is read from the one where it has more context.</summary>
    public (int[] Tags, float[] Probabilities)[] Predict(FineTunedBert model, IReadOnlyList<string[]> sentences) =>
        WordTagger.Predict(model.Tokenizer, model.MaxSequenceLength, Words.WindowStride, HeadLabels.Count, model.Logits, sentences);

    /// <summary>
    /// As <see cref="Predict(FineTunedBert, IReadOnlyList{string[]})"/>, with the head's outputs from <paramref name="logitsOf"/>
    /// (each example's real tokens × K, concatenated in order), so that another engine (an exported ONNX graph) is read the same way.
    /// </summary>
    internal (int[] Tags, float[] Probabilities)[] Predict(ITextTokenizer tokenizer, int maxLength, Func<IReadOnlyList<TokenizedExample>, float[]> logitsOf,
        IReadOnlyList<string[]> sentences) =>
        WordTagger.Predict(tokenizer, maxLength, Words.WindowStride, HeadLabels.Count, logitsOf, sentences);

    private static int ArgMax(ReadOnlySpan<float> values) => WordTagger.ArgMax(values);
}
