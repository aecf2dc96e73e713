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

    public override IReadOnlyList<OutputColumn> OutputColumns =>
        [OutputColumn.FloatVector("Score", Classes, HeadLabels), OutputColumn.Key("PredictedLabel", HeadLabels)];

    public override void WriteOutputs(float[] logits, int rows, OutputBatch outputs)
    {
        int k = Classes;
        var probabilities = Softmax(logits, k);
        var scores = outputs.Get<VBuffer<float>>(0);
        var predicted = outputs.Get<uint>(1);
        for (int row = 0; row < rows; row++)
        {
            var editor = VBufferEditor.Create(ref scores[row], k);
            var rowProbabilities = probabilities.AsSpan(row * k, k);
            rowProbabilities.CopyTo(editor.Values);
            scores[row] = editor.Commit();
            int best = 0;
            for (int c = 1; c < k; c++) if (rowProbabilities[c] > rowProbabilities[best]) best = c;
            predicted[row] = (uint)best + 1;   // keys are 1-based; 0 means missing
        }
    }

    /// <summary>Row-wise softmax of [N, K] row-major logits, shifted by each row's maximum so that no exponent overflows.</summary>
    public static float[] Softmax(float[] logits, int classes)
    {
        var probabilities = new float[logits.Length];
        for (int row = 0; row < logits.Length / classes; row++)
        {
            var source = logits.AsSpan(row * classes, classes);
            var target = probabilities.AsSpan(row * classes, classes);
            float max = float.NegativeInfinity;
            foreach (var x in source) max = Math.Max(max, x);
            double sum = 0;
            for (int k = 0; k < classes; k++) sum += target[k] = MathF.Exp(source[k] - max);
            for (int k = 0; k < classes; k++) target[k] = (float)(target[k] / sum);
        }
        return probabilities;
    }
}
