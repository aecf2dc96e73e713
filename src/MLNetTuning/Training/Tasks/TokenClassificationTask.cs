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

    public override IReadOnlyList<OutputColumn> OutputColumns =>
        [OutputColumn.VariableFloatVector("Score"), OutputColumn.KeyVector("PredictedLabel", HeadLabels)];

    public override void MapBatch(FineTunedBert model, InputBatch inputs, bool hasPair, OutputBatch outputs)
    {
        var sentences = new List<string[]>(inputs.Count);
        if (WordsAreVector)
            foreach (var words in inputs.Get<VBuffer<ReadOnlyMemory<char>>>(0)) sentences.Add(words.DenseValues().Select(w => w.ToString()).ToArray());
        else
            foreach (var text in inputs.Get<ReadOnlyMemory<char>>(0)) sentences.Add(WordInput.SplitText(text.Span));
        var predictions = Predict(model, sentences);
        var scores = outputs.Get<VBuffer<float>>(0);
        var keys = outputs.Get<VBuffer<uint>>(1);
        for (int row = 0; row < inputs.Count; row++)
        {
            var (tags, probabilities) = predictions[row];
            var scoreEditor = VBufferEditor.Create(ref scores[row], tags.Length);
            var keyEditor = VBufferEditor.Create(ref keys[row], tags.Length);
            for (int w = 0; w < tags.Length; w++)
            {
                scoreEditor.Values[w] = probabilities[w];
                keyEditor.Values[w] = (uint)tags[w] + 1;   // keys are 1-based; 0 means missing
            }
            scores[row] = scoreEditor.Commit();
            keys[row] = keyEditor.Commit();
        }
    }

    /// <summary>Each word's tag (0-based) and its probability; a word in two windows is read from the one where it has more context.</summary>
    public (int[] Tags, float[] Probabilities)[] Predict(FineTunedBert model, IReadOnlyList<string[]> sentences) =>
        Predict(model.Tokenizer, model.MaxSequenceLength, model.Logits, sentences);

    /// <summary>
    /// As <see cref="Predict(FineTunedBert, IReadOnlyList{string[]})"/>, with the head's outputs from <paramref name="logitsOf"/>
    /// (each example's real tokens × K, concatenated in order), so that another engine (an exported ONNX graph) is read the same way.
    /// </summary>
    internal (int[] Tags, float[] Probabilities)[] Predict(ITextTokenizer tokenizer, int maxLength, Func<IReadOnlyList<TokenizedExample>, float[]> logitsOf,
        IReadOnlyList<string[]> sentences)
    {
        var windows = new List<WordWindow>[sentences.Count];
        Parallel.For(0, sentences.Count, i => windows[i] = WordWindows.Cut(tokenizer, sentences[i], null, maxLength, Words.WindowStride));
        var examples = windows.SelectMany(w => w).Select(w => w.Example).ToList();
        float[] logits = logitsOf(examples);
        int k = HeadLabels.Count, offset = 0;
        var results = new (int[] Tags, float[] Probabilities)[sentences.Count];
        var probabilities = new float[k];
        for (int s = 0; s < sentences.Count; s++)
        {
            var (tags, scores, context) = (new int[sentences[s].Length], new float[sentences[s].Length], new int[sentences[s].Length]);
            Array.Fill(context, -1);
            foreach (var window in windows[s])
            {
                for (int j = 0; j < window.Positions.Length; j++)
                {
                    int word = window.FirstWord + j;
                    if (window.Context(j) <= context[word]) continue;
                    context[word] = window.Context(j);
                    Softmax(logits.AsSpan(offset + window.Positions[j] * k, k), probabilities);
                    tags[word] = ArgMax(probabilities);
                    scores[word] = probabilities[tags[word]];
                }
                offset += LogitsPerExample(window.Example);
            }
            results[s] = (tags, scores);
        }
        return results;
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    private static void Softmax(ReadOnlySpan<float> logits, Span<float> probabilities)
    {
        float max = float.NegativeInfinity;
        foreach (var x in logits) max = Math.Max(max, x);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += probabilities[i] = MathF.Exp(logits[i] - max);
        for (int i = 0; i < logits.Length; i++) probabilities[i] = (float)(probabilities[i] / sum);
    }
}
