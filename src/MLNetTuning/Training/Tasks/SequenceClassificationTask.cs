using MLNetTuning.Scoring;
using Microsoft.ML.Data;
using MLNetTuning.MlNet;
using MLNetTuning.Models;
using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>Multiclass: one logit per class, softmax, cross-entropy; ML.NET's key <c>PredictedLabel</c> and probability <c>Score</c>.</summary>
internal sealed class SequenceClassificationTask : TextLevelTask
{
    private readonly BertLossOptions _loss;

    /// <exception cref="ArgumentException">The class weights are not one per class.</exception>
    public SequenceClassificationTask(IReadOnlyList<string> classNames, TaskLossOptions loss) : base(classNames)
    {
        if (loss.ClassWeights is { } weights && weights.Length != classNames.Count)
            throw new ArgumentException($"BertFineTuneOptions.ClassWeights has {weights.Length} weights, but label '{loss.LabelColumn}' has {classNames.Count} classes. Give one weight per class, in key order.", "options");
        _loss = new BertLossOptions(loss.ClassWeights, loss.LabelSmoothing);
    }

    public override BertTask Kind => BertTask.MulticlassClassification;
    public override string ProblemType => "single_label_classification";
    public override IReadOnlyList<string> ClassNames => HeadLabels;
    private int Classes => HeadLabels.Count;

    public override void CheckLabelType(DataViewType type, string column, string dataName, bool classNamesGiven)
    {
        if (type is KeyDataViewType || type is TextDataViewType && classNamesGiven) return;
        string hint = type is TextDataViewType
            ? $" Map the strings to keys first: ml.Transforms.Conversion.MapValueToKey(\"{column}\") before the BERT stage."
            : " Convert it with ml.Transforms.Conversion.MapValueToKey.";
        throw new ArgumentException($"Label column '{column}' of the {dataName}: multiclass classification needs a key type, but it is {type}.{hint}", "options");
    }

    public override bool AcceptsLabelShape(bool isKey, DataViewType itemType) => isKey;

    public override string LabelNeed(string column) => $"a key; add ml.Transforms.Conversion.MapValueToKey(\"{column}\") before this stage.";

    public override Tensor Labels(IReadOnlyList<TokenizedExample> examples, int[] batch, Device device) =>
        tensor(batch.Select(i => (long)examples[i].Label).ToArray(), device: device);

    public override Tensor TrainingLoss(BertTaskModel model, Tensor logits, Tensor labels) => model.Loss(logits, labels, _loss);

    public override Dictionary<string, double> Metrics(float[] logits, IReadOnlyList<TokenizedExample> examples) =>
        TaskMetrics.Multiclass(Softmax(logits, Classes), examples.Select(e => (int)e.Label).ToArray(), Classes);

    protected override IReadOnlyList<ValidationMetric> SelectionMetrics { get; } = [ValidationMetric.Accuracy, ValidationMetric.MacroF1];

    // The columns and their filling are shared with MLNetTuning.Onnx's scorer (Scoring/TextOutputs.cs).
    public override IReadOnlyList<OutputColumn> OutputColumns => TextOutputs.Multiclass(HeadLabels).Columns;

    public override void WriteOutputs(float[] logits, int rows, OutputBatch outputs) => TextOutputs.Multiclass(HeadLabels).Write(logits, rows, outputs);

    /// <summary>Row-wise softmax of [N, K] row-major logits (see <see cref="TextOutputs.Softmax"/>).</summary>
    public static float[] Softmax(float[] logits, int classes) => TextOutputs.Softmax(logits, classes);
}
