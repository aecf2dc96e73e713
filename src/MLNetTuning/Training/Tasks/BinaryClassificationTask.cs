using MLNetTuning.Scoring;
using Microsoft.ML.Data;
using MLNetTuning.MlNet;
using MLNetTuning.Models;
using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>
/// Binary: one logit with a sigmoid, ML.NET's binary convention (raw <c>Score</c>, <c>Probability</c>, bool
/// <c>PredictedLabel</c>) and Hugging Face's multi-label head.
/// </summary>
internal sealed class BinaryClassificationTask : TextLevelTask
{
    /// <summary>The class names an export writes when the caller knows none: ML.NET's binary label is a bool.</summary>
    public static readonly IReadOnlyList<string> DefaultClassNames = ["False", "True"];

    /// <summary>Positive weight over negative weight, as binary cross-entropy's <c>pos_weight</c> takes it; null for none.</summary>
    private readonly float? _positiveWeight;

    /// <exception cref="ArgumentException">The class weights are not two.</exception>
    public BinaryClassificationTask(TaskLossOptions loss) : base(["True"])
    {
        if (loss.ClassWeights is { Length: not 2 } weights)
            throw new ArgumentException($"BertFineTuneOptions.ClassWeights has {weights.Length} weights; binary classification takes two: negative, positive.", "options");
        _positiveWeight = loss.ClassWeights is [var negative, var positive] ? positive / negative : null;
    }

    public override BertTask Kind => BertTask.BinaryClassification;
    public override string ProblemType => "multi_label_classification";

    public override void CheckLabelType(DataViewType type, string column, string dataName, bool classNamesGiven)
    {
        if (type is not BooleanDataViewType)
            throw new ArgumentException($"Label column '{column}' of the {dataName}: binary classification needs a Boolean label, but it is {type}. " +
                "Load it as bool, or use BertTask.MulticlassClassification with MapValueToKey for more than two classes.", "options");
    }

    public override bool AcceptsLabelShape(bool isKey, DataViewType itemType) => !isKey && itemType is BooleanDataViewType;

    public override string LabelNeed(string column) => "a Boolean.";

    // One logit with a sigmoid: [B, 1] targets for binary cross-entropy.
    public override Tensor Labels(IReadOnlyList<TokenizedExample> examples, int[] batch, Device device) =>
        tensor(batch.Select(i => examples[i].Label).ToArray(), device: device).unsqueeze(1);

    public override Tensor TrainingLoss(BertTaskModel model, Tensor logits, Tensor labels)
    {
        if (_positiveWeight is not float weight) return model.Loss(logits, labels);
        using var positiveWeight = tensor(new[] { weight }, device: logits.device);
        return nn.functional.binary_cross_entropy_with_logits(logits, labels, pos_weights: positiveWeight);
    }

    public override Dictionary<string, double> Metrics(float[] logits, IReadOnlyList<TokenizedExample> examples) =>
        TaskMetrics.Binary(logits, examples.Select(e => e.Label > 0.5f).ToArray());

    protected override IReadOnlyList<ValidationMetric> SelectionMetrics { get; } = [ValidationMetric.Auc, ValidationMetric.F1, ValidationMetric.Accuracy];

    public override IReadOnlyList<OutputColumn> OutputColumns => TextOutputs.Binary().Columns;

    public override void WriteOutputs(float[] logits, int rows, OutputBatch outputs) => TextOutputs.Binary().Write(logits, rows, outputs);

    /// <summary>
    /// Two logits [0, z] (problem_type single_label_classification), whose softmax is [1 − sigmoid(z), sigmoid(z)]:
    /// the probabilities are unchanged and id2label names both classes.
    /// </summary>
    public override (Tensor Weight, Tensor Bias)? ExportHead(BertConfig config, Tensor weight, Tensor bias, IReadOnlyList<string>? classNames)
    {
        var names = CheckClassNames(classNames ?? DefaultClassNames);
        config.Labels = [.. names];
        config.ProblemType = "single_label_classification";
        return (PrependZeroRow(weight), PrependZeroRow(bias));
    }

    /// <summary>[1, H] → [2, H] (or [1] → [2]) with zeros for class 0: logit 0 for the negative class.</summary>
    private static Tensor PrependZeroRow(Tensor value)
    {
        using var zero = zeros_like(value);
        return cat([zero, value], dim: 0);
    }

    private static IReadOnlyList<string> CheckClassNames(IReadOnlyList<string> names)
    {
        if (names.Count != 2 || names.Any(string.IsNullOrEmpty) || names[0] == names[1])
            throw new ArgumentException($"A binary model is exported with two class names, negative then positive, distinct and not empty; got [{string.Join(", ", names.Select(n => $"'{n}'"))}].",
                "binaryClassNames");
        return names;
    }
}
