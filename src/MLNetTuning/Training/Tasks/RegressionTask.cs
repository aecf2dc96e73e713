using MLNetTuning.Scoring;
using Microsoft.ML.Data;
using MLNetTuning.MlNet;
using MLNetTuning.Models;
using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>
/// Regression: one output and a squared-error loss. Targets are standardised for training (so the head's scale needs
/// no tuning) and unscaled on output, so that <c>Score</c> is in label units.
/// </summary>
internal sealed class RegressionTask(float labelMean, float labelScale) : TextLevelTask(["Score"])
{
    /// <summary>The task standardised by the training labels' mean and (population) deviation.</summary>
    public static RegressionTask Standardising(IReadOnlyList<float> labels)
    {
        float mean = labels.Average();
        float scale = (float)Math.Sqrt(labels.Average(y => (y - mean) * (y - mean)));
        if (!(scale > 1e-12f)) scale = 1;   // a constant target: nothing to standardise
        return new RegressionTask(mean, scale);
    }

    public override BertTask Kind => BertTask.Regression;
    public override string ProblemType => "regression";
    public override bool StratifiedSplit => false;
    public override (float Mean, float Scale) LabelScaling => (labelMean, labelScale);

    public override void CheckLabelType(DataViewType type, string column, string dataName, bool classNamesGiven)
    {
        if (type != NumberDataViewType.Single && type != NumberDataViewType.Double)
            throw new ArgumentException($"Label column '{column}' of the {dataName}: regression needs a Single (float) label, but it is {type}. " +
                "Convert it with ml.Transforms.Conversion.ConvertType.", "options");
    }

    public override bool AcceptsLabelShape(bool isKey, DataViewType itemType) =>
        !isKey && (itemType == NumberDataViewType.Single || itemType == NumberDataViewType.Double);

    public override string LabelNeed(string column) => "a Single (float).";

    public override Exception? MissingLabel(string column, string dataName, long row) =>
        new InvalidDataException($"Label column '{column}' of the {dataName} is NaN at row {row}. Regression needs a number on every row: remove or fill such rows (ml.Data.FilterRowsByMissingValues).");

    public override Tensor Labels(IReadOnlyList<TokenizedExample> examples, int[] batch, Device device) =>
        tensor(batch.Select(i => (examples[i].Label - labelMean) / labelScale).ToArray(), device: device);

    public override Dictionary<string, double> Metrics(float[] logits, IReadOnlyList<TokenizedExample> examples) =>
        TaskMetrics.Regression(logits.Select(Unscale).ToArray(), examples.Select(e => e.Label).ToArray());

    protected override IReadOnlyList<ValidationMetric> SelectionMetrics { get; } = [ValidationMetric.Rmse];

    public override void ToLabelUnits(float[] logits)
    {
        for (int i = 0; i < logits.Length; i++) logits[i] = Unscale(logits[i]);
    }

    private float Unscale(float value) => value * labelScale + labelMean;

    public override IReadOnlyList<OutputColumn> OutputColumns => TextOutputs.Regression().Columns;

    public override void WriteOutputs(float[] logits, int rows, OutputBatch outputs) => TextOutputs.Regression().Write(logits, rows, outputs);

    /// <summary>The scale and mean folded into the head (weight × scale, bias × scale + mean), so that its one output is in label units.</summary>
    public override (Tensor Weight, Tensor Bias)? ExportHead(BertConfig config, Tensor weight, Tensor bias, IReadOnlyList<string>? classNames) =>
        (Fold(weight, w => w.mul(labelScale)), Fold(bias, b => b.mul(labelScale).add(labelMean)));

    // In float64, so that the bias takes one rounding, not two.
    private static Tensor Fold(Tensor value, Func<Tensor, Tensor> affine)
    {
        using var scope = NewDisposeScope();
        return affine(value.to_type(ScalarType.Float64)).to_type(value.dtype).MoveToOuterDisposeScope();
    }
}
