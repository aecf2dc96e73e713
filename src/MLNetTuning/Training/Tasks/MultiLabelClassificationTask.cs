using Microsoft.ML.Data;
using MLNetTuning.MlNet;
using MLNetTuning.Models;
using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>
/// Multi-label: one logit per label, each with its own sigmoid and binary cross-entropy (Hugging Face's
/// multi_label_classification); ML.NET's outputs are a float vector <c>Score</c> (per-label probabilities) and a bool vector
/// <c>PredictedLabel</c> (probability at or above the label's threshold), both with the labels as SlotNames.
/// </summary>
internal sealed class MultiLabelClassificationTask : TextLevelTask
{
    /// <summary>The threshold every label starts with.</summary>
    public const float DefaultThreshold = 0.5f;

    private readonly float[]? _positiveWeights;
    private float[] _thresholds;

    /// <param name="labels">The label names, in slot (key) order.</param>
    /// <param name="loss">ClassWeights, one positive weight per label.</param>
    /// <param name="thresholds">Each label's threshold (from a model zip), or null for 0.5 each.</param>
    /// <exception cref="ArgumentException">The class weights are not one per label.</exception>
    /// <exception cref="InvalidDataException">The thresholds are not one per label.</exception>
    public MultiLabelClassificationTask(IReadOnlyList<string> labels, TaskLossOptions loss, float[]? thresholds = null) : base(labels)
    {
        if (loss.ClassWeights is { } weights && weights.Length != labels.Count)
            throw new ArgumentException($"BertFineTuneOptions.ClassWeights has {weights.Length} weights, but label '{loss.LabelColumn}' has {labels.Count} labels. " +
                "For multi-label classification give one positive weight per label, in slot (key) order.", "options");
        _positiveWeights = loss.ClassWeights;
        if (thresholds is not null && thresholds.Length != labels.Count)
            throw new InvalidDataException($"The model has {thresholds.Length} label thresholds but {labels.Count} labels ({string.Join(", ", labels)}); the model zip is damaged.");
        _thresholds = thresholds?.ToArray() ?? Enumerable.Repeat(DefaultThreshold, labels.Count).ToArray();
        TuneThresholds = loss.TuneThresholds;
    }

    public override BertTask Kind => BertTask.MultiLabelClassification;
    public override string ProblemType => "multi_label_classification";
    public override IReadOnlyList<string> ClassNames => HeadLabels;
    public override bool StratifiedSplit => false;
    public override bool LabelIsVector => true;
    private int LabelCount => HeadLabels.Count;

    /// <summary>Whether <see cref="AfterTraining"/> tunes the thresholds on the validation set.</summary>
    public bool TuneThresholds { get; }

    /// <summary>Each label's decision threshold on its probability.</summary>
    public IReadOnlyList<float> Thresholds => _thresholds;

    public override void CheckLabelType(DataViewType type, string column, string dataName, bool classNamesGiven) =>
        MultiLabelColumn.Check(type, column, dataName);

    public override bool AcceptsLabelShape(bool isKey, DataViewType itemType) => isKey || itemType is BooleanDataViewType;

    public override string LabelNeed(string column) => MultiLabelColumn.Need(column);

    // [B, K] 0/1 targets for binary cross-entropy.
    public override Tensor Labels(IReadOnlyList<TokenizedExample> examples, int[] batch, Device device) =>
        tensor(batch.SelectMany(i => examples[i].Targets!).ToArray(), [batch.Length, LabelCount], device: device);

    public override Tensor TrainingLoss(BertTaskModel model, Tensor logits, Tensor labels)
    {
        if (_positiveWeights is null) return model.Loss(logits, labels);
        using var positiveWeights = tensor(_positiveWeights, device: logits.device).to_type(logits.dtype);
        return nn.functional.binary_cross_entropy_with_logits(logits, labels.to_type(logits.dtype), pos_weights: positiveWeights);
    }

    /// <summary>
    /// Starts each label's bias at the log-odds of its share of the training examples (add-half smoothed), so that the
    /// first probabilities are the label frequencies instead of 0.5. Most labels of a multi-label set are rare: from 0.5 the
    /// first few hundred steps only push every bias down to the base rate, and a short fine-tuning run ends there having
    /// learnt little else (measured on GoEmotions: a loss stuck at the base-rate entropy). This is the prior initialisation
    /// of Lin et al. (2017, focal loss), applied to a new head only.
    /// </summary>
    public override void BeforeTraining(BertTaskModel model, IReadOnlyList<TokenizedExample> train)
    {
        var priors = new float[LabelCount];
        for (int k = 0; k < LabelCount; k++)
        {
            double positives = train.Count(e => e.Targets![k] > 0.5f);
            double share = (positives + 0.5) / (train.Count + 1.0);
            priors[k] = (float)Math.Log(share / (1 - share));
        }
        using var noGrad = no_grad();
        using var values = tensor(priors, device: model.Classifier.bias!.device);
        model.Classifier.bias!.copy_(values);
    }

    /// <remarks>
    /// With TuneThresholds the metrics are those at the thresholds tuned on these examples: the thresholds the model would
    /// keep if training stopped here. At fixed thresholds of 0.5 an early model whose probabilities all stay under 0.5 (most
    /// labels are rare) scores F1 0 at every evaluation, and best-model selection could not tell the epochs apart.
    /// </remarks>
    public override Dictionary<string, double> Metrics(float[] logits, IReadOnlyList<TokenizedExample> examples)
    {
        var counts = Count(logits, examples, TuneThresholds ? Tune(logits, examples) : _thresholds);
        return new()
        {
            ["MicroF1"] = counts.MicroF1, ["MacroF1"] = counts.MacroF1,
            ["SubsetAccuracy"] = counts.SubsetAccuracy, ["HammingLoss"] = counts.HammingLoss,
        };
    }

    protected override IReadOnlyList<ValidationMetric> SelectionMetrics { get; } = [ValidationMetric.MicroF1, ValidationMetric.MacroF1];

    /// <summary>With TuneThresholds, each label's threshold becomes the one that maximises its F1 on the validation set.</summary>
    public override void AfterTraining(Func<float[]> scoreValidation, IReadOnlyList<TokenizedExample> validation)
    {
        if (TuneThresholds) _thresholds = Tune(scoreValidation(), validation);
    }

    /// <summary>Each label's threshold that maximises its F1 on <paramref name="examples"/>; ties keep the one nearer 0.5.</summary>
    private float[] Tune(float[] logits, IReadOnlyList<TokenizedExample> examples)
    {
        var thresholds = new float[LabelCount];
        for (int k = 0; k < LabelCount; k++)
        {
            var scored = examples.Select((e, i) => (P: (float)TaskMetrics.Sigmoid(logits[i * LabelCount + k]), Truth: e.Targets![k] > 0.5f))
                .OrderByDescending(s => s.P).ToArray();
            long positives = scored.Count(s => s.Truth);
            // Sweep the threshold down through the probabilities: predicting the top i rows gives tp true and i − tp false positives.
            (double F1, float Threshold) best = (F1(scored.Count(s => s.Truth && s.P >= DefaultThreshold), scored.Count(s => s.P >= DefaultThreshold), positives), DefaultThreshold);
            long tp = 0;
            for (int i = 0; i < scored.Length; i++)
            {
                if (scored[i].Truth) tp++;
                if (i + 1 < scored.Length && scored[i + 1].P == scored[i].P) continue;
                double f1 = F1(tp, i + 1, positives);
                if (f1 > best.F1 + 1e-12) best = (f1, scored[i].P);
            }
            thresholds[k] = best.Threshold;
        }
        return thresholds;
    }

    private static double F1(long truePositives, long predicted, long positives) =>
        predicted + positives == 0 ? 0 : 2.0 * truePositives / (predicted + positives);

    public override IReadOnlyList<OutputColumn> OutputColumns =>
        [OutputColumn.FloatVector("Score", LabelCount, HeadLabels), OutputColumn.BoolVector("PredictedLabel", HeadLabels)];

    public override void WriteOutputs(float[] logits, int rows, OutputBatch outputs)
    {
        int k = LabelCount;
        var scores = outputs.Get<VBuffer<float>>(0);
        var predicted = outputs.Get<VBuffer<bool>>(1);
        for (int row = 0; row < rows; row++)
        {
            var scoreEditor = VBufferEditor.Create(ref scores[row], k);
            var labelEditor = VBufferEditor.Create(ref predicted[row], k);
            for (int label = 0; label < k; label++)
            {
                float p = (float)TaskMetrics.Sigmoid(logits[row * k + label]);
                scoreEditor.Values[label] = p;
                labelEditor.Values[label] = p >= _thresholds[label];
            }
            scores[row] = scoreEditor.Commit();
            predicted[row] = labelEditor.Commit();
        }
    }

    private MultiLabelCounts Count(float[] logits, IReadOnlyList<TokenizedExample> examples, float[] thresholds)
    {
        var counts = new MultiLabelCounts(LabelCount);
        var (truth, guess) = (new bool[LabelCount], new bool[LabelCount]);
        for (int i = 0; i < examples.Count; i++)
        {
            for (int k = 0; k < LabelCount; k++)
            {
                truth[k] = examples[i].Targets![k] > 0.5f;
                // As float, as the thresholds were tuned and as WriteOutputs compares: a double probability can fall just under its own float.
                guess[k] = (float)TaskMetrics.Sigmoid(logits[i * LabelCount + k]) >= thresholds[k];
            }
            counts.Add(truth, guess);
        }
        return counts;
    }
}
