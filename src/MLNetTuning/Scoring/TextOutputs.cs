using Microsoft.ML.Data;
using MLNetTuning.MlNet;

namespace MLNetTuning.Scoring;

// No TorchSharp here: MLNetTuning.Onnx compiles this file too, so that the ONNX scorer and the TorchSharp stage fill
// their columns with the same code from the same logits.

/// <summary>
/// The output columns of a task with one prediction per text, and how a batch of head outputs ([N, K] row-major, in
/// label units) fills them.
/// </summary>
internal abstract class TextOutputs
{
    public abstract IReadOnlyList<OutputColumn> Columns { get; }

    public abstract void Write(float[] logits, int rows, OutputBatch outputs);

    /// <summary>Multiclass: <c>Score</c> = softmax probabilities with the class SlotNames, key <c>PredictedLabel</c> with KeyValues.</summary>
    public static TextOutputs Multiclass(IReadOnlyList<string> classes) => new MulticlassOutputs(classes);

    /// <summary>Binary (one logit): raw <c>Score</c>, sigmoid <c>Probability</c>, bool <c>PredictedLabel</c> (logit &gt; 0).</summary>
    public static TextOutputs Binary() => BinaryOutputs.Instance;

    /// <summary>Regression: <c>Score</c> in label units.</summary>
    public static TextOutputs Regression() => RegressionOutputs.Instance;

    /// <summary>Multi-label: per-label sigmoid <c>Score</c> and a bool vector <c>PredictedLabel</c> (probability ≥ the label's threshold).</summary>
    public static TextOutputs MultiLabel(IReadOnlyList<string> labels, IReadOnlyList<float> thresholds) => new MultiLabelOutputs(labels, thresholds);

    public static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    /// <summary>Row-wise softmax of [N, K] row-major logits, shifted by each row's maximum so that no exponent overflows.</summary>
    public static float[] Softmax(float[] logits, int classes)
    {
        var probabilities = new float[logits.Length];
        for (int row = 0; row < logits.Length / classes; row++)
        {
            var source = logits.AsSpan(row * classes, classes);
            var target = probabilities.AsSpan(row * classes, classes);
            float max = float.NegativeInfinity;
            foreach (float x in source) max = Math.Max(max, x);
            double sum = 0;
            for (int c = 0; c < classes; c++) sum += target[c] = MathF.Exp(source[c] - max);
            for (int c = 0; c < classes; c++) target[c] = (float)(target[c] / sum);
        }
        return probabilities;
    }

    private sealed class MulticlassOutputs(IReadOnlyList<string> classes) : TextOutputs
    {
        public override IReadOnlyList<OutputColumn> Columns { get; } =
            [OutputColumn.FloatVector("Score", classes.Count, classes), OutputColumn.Key("PredictedLabel", classes)];

        public override void Write(float[] logits, int rows, OutputBatch outputs)
        {
            int k = classes.Count;
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
    }

    private sealed class BinaryOutputs : TextOutputs
    {
        public static readonly BinaryOutputs Instance = new();

        public override IReadOnlyList<OutputColumn> Columns { get; } =
        [
            OutputColumn.Scalar("Score", NumberDataViewType.Single), OutputColumn.Scalar("Probability", NumberDataViewType.Single),
            OutputColumn.Scalar("PredictedLabel", BooleanDataViewType.Instance),
        ];

        public override void Write(float[] logits, int rows, OutputBatch outputs)
        {
            var score = outputs.Get<float>(0);
            var probability = outputs.Get<float>(1);
            var label = outputs.Get<bool>(2);
            for (int row = 0; row < rows; row++)
            {
                score[row] = logits[row];
                probability[row] = (float)Sigmoid(logits[row]);
                label[row] = logits[row] > 0;
            }
        }
    }

    private sealed class RegressionOutputs : TextOutputs
    {
        public static readonly RegressionOutputs Instance = new();

        public override IReadOnlyList<OutputColumn> Columns { get; } = [OutputColumn.Scalar("Score", NumberDataViewType.Single)];

        public override void Write(float[] logits, int rows, OutputBatch outputs) => logits.AsSpan(0, rows).CopyTo(outputs.Get<float>(0));
    }

    private sealed class MultiLabelOutputs(IReadOnlyList<string> labels, IReadOnlyList<float> thresholds) : TextOutputs
    {
        public override IReadOnlyList<OutputColumn> Columns { get; } =
            [OutputColumn.FloatVector("Score", labels.Count, labels), OutputColumn.BoolVector("PredictedLabel", labels)];

        public override void Write(float[] logits, int rows, OutputBatch outputs)
        {
            int k = labels.Count;
            var scores = outputs.Get<VBuffer<float>>(0);
            var predicted = outputs.Get<VBuffer<bool>>(1);
            for (int row = 0; row < rows; row++)
            {
                var scoreEditor = VBufferEditor.Create(ref scores[row], k);
                var labelEditor = VBufferEditor.Create(ref predicted[row], k);
                for (int label = 0; label < k; label++)
                {
                    float p = (float)Sigmoid(logits[row * k + label]);
                    scoreEditor.Values[label] = p;
                    labelEditor.Values[label] = p >= thresholds[label];
                }
                scores[row] = scoreEditor.Commit();
                predicted[row] = labelEditor.Commit();
            }
        }
    }
}
