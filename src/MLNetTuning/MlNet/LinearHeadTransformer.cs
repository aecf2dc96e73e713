using System.Runtime.InteropServices;
using Microsoft.ML.Data;

namespace MLNetTuning.MlNet;

/// <summary>
/// A linear model over a float feature vector: a regression <c>Score</c> (w·x + b), or for multiclass a softmax
/// <c>Score</c> vector (SlotNames = class names) and a key <c>PredictedLabel</c> (KeyValues = class names).
/// </summary>
/// <remarks>
/// The smallest real <see cref="BatchedMappingTransformer"/>: it proves the save/load plumbing (weights in a side
/// stream of the zip, strings in the string table) and the output shapes ML.NET's evaluators need.
/// </remarks>
internal sealed class LinearHeadTransformer : BatchedMappingTransformer, IModelLoadable<LinearHeadTransformer>
{
    internal const string LoaderSignature = "MLNetTuningLinearHead";
    private const string WeightsEntry = "Weights.bin";

    public static ModelFormat Format { get; } = new(
        Signature: "LINHEAD ", LoaderSignature, typeof(LinearHeadTransformer).Assembly,
        Version: 0x00010001, OldestReadableVersion: 0x00010001);

    private readonly float[] _weights;   // [classes, features] row-major; one row for regression
    private readonly float[] _biases;    // [classes]
    private readonly string[]? _classNames;

    private LinearHeadTransformer(string featureColumn, int featureCount, float[] weights, float[] biases,
        string[]? classNames, int batchSize)
        : base(Format, batchSize)
    {
        if (featureCount < 1)
            throw new ArgumentOutOfRangeException(nameof(featureCount), $"featureCount must be at least 1 but is {featureCount}.");
        if (weights.Length != biases.Length * featureCount)
            throw new ArgumentException(
                $"weights has {weights.Length} values; expected classes ({biases.Length}) × features ({featureCount}) = " +
                $"{biases.Length * featureCount}.", nameof(weights));
        FeatureColumn = featureColumn;
        FeatureCount = featureCount;
        _weights = weights;
        _biases = biases;
        _classNames = classNames;
        InputColumns = [new InputColumn(featureColumn, new VectorDataViewType(NumberDataViewType.Single, featureCount))];
        OutputColumns = classNames is null
            ? [OutputColumn.Scalar("Score", NumberDataViewType.Single)]
            : [OutputColumn.FloatVector("Score", classNames.Length, classNames), OutputColumn.Key("PredictedLabel", classNames)];
    }

    /// <summary>Regression: <c>Score = weights · features + bias</c>.</summary>
    public static LinearHeadTransformer ForRegression(string featureColumn, float[] weights, float bias,
        int batchSize = DefaultBatchSize)
    {
        ArgumentNullException.ThrowIfNull(weights);
        return new(featureColumn, weights.Length, (float[])weights.Clone(), [bias], null, batchSize);
    }

    /// <summary>
    /// Multiclass: <c>Score = softmax(W x + b)</c> over <paramref name="classNames"/>; <paramref name="weights"/> is
    /// row-major [classes, features].
    /// </summary>
    public static LinearHeadTransformer ForMulticlass(string featureColumn, int featureCount, float[] weights,
        float[] biases, IReadOnlyList<string> classNames, int batchSize = DefaultBatchSize)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(biases);
        ArgumentNullException.ThrowIfNull(classNames);
        if (classNames.Count != biases.Length)
            throw new ArgumentException($"{classNames.Count} class names but {biases.Length} biases.", nameof(classNames));
        return new(featureColumn, featureCount, (float[])weights.Clone(), (float[])biases.Clone(), classNames.ToArray(), batchSize);
    }

    public string FeatureColumn { get; }

    public int FeatureCount { get; }

    public override IReadOnlyList<InputColumn> InputColumns { get; }

    public override IReadOnlyList<OutputColumn> OutputColumns { get; }

    protected internal override IBatchMapper CreateBatchMapper() => new Mapper(this);

    // Layout v1: main stream = feature column, feature count, class count, class names (or none); the weights and
    // biases go to their own entry so a large blob is stored once and streamed.
    protected override void SaveModel(ModelWriter writer)
    {
        writer.WriteString(FeatureColumn);
        writer.Writer.Write(FeatureCount);
        writer.Writer.Write(_biases.Length);
        writer.Writer.Write(_classNames is not null);
        foreach (string name in _classNames ?? [])
            writer.WriteString(name);
        writer.WriteBinaryStream(WeightsEntry, w =>
        {
            w.Write(MemoryMarshal.AsBytes(_weights.AsSpan()));
            w.Write(MemoryMarshal.AsBytes(_biases.AsSpan()));
        });
    }

    public static LinearHeadTransformer Load(ModelReader reader)
    {
        string featureColumn = reader.ReadString()
            ?? throw new InvalidDataException("LinearHead model: the feature column name is missing.");
        int featureCount = reader.Reader.ReadInt32();
        int classCount = reader.Reader.ReadInt32();
        if (featureCount < 1 || classCount < 1)
            throw new InvalidDataException($"LinearHead model: bad sizes (features {featureCount}, classes {classCount}).");
        string[]? classNames = reader.Reader.ReadBoolean()
            ? Enumerable.Range(0, classCount).Select(_ => reader.ReadString() ?? "").ToArray()
            : null;
        var weights = new float[checked(featureCount * classCount)];
        var biases = new float[classCount];
        reader.ReadBinaryStream(WeightsEntry, r =>
        {
            r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(weights.AsSpan()));
            r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(biases.AsSpan()));
        });
        return new(featureColumn, featureCount, weights, biases, classNames, DefaultBatchSize);
    }

    /// <summary>Reads the shared weights (read-only) and keeps its own logits scratch, so one per cursor is safe.</summary>
    private sealed class Mapper(LinearHeadTransformer head) : IBatchMapper
    {
        private readonly float[] _logits = new float[head._biases.Length];
        private float[] _dense = new float[head.FeatureCount];

        public void MapBatch(InputBatch inputs, OutputBatch outputs)
        {
            ReadOnlySpan<VBuffer<float>> features = inputs.Get<VBuffer<float>>(0);
            for (int row = 0; row < inputs.Count; row++)
            {
                features[row].CopyTo(_dense);
                for (int c = 0; c < _logits.Length; c++)
                {
                    ReadOnlySpan<float> w = head._weights.AsSpan(c * head.FeatureCount, head.FeatureCount);
                    float sum = head._biases[c];
                    for (int f = 0; f < w.Length; f++)
                        sum += w[f] * _dense[f];
                    _logits[c] = sum;
                }
                if (head._classNames is null)
                {
                    outputs.Get<float>(0)[row] = _logits[0];
                    continue;
                }
                Span<VBuffer<float>> scores = outputs.Get<VBuffer<float>>(0);
                VBufferEditor<float> editor = VBufferEditor.Create(ref scores[row], _logits.Length);
                Softmax(_logits, editor.Values);
                scores[row] = editor.Commit();
                // Keys are 1-based; 0 means missing.
                outputs.Get<uint>(1)[row] = (uint)_logits.AsSpan().IndexOf(MaxOf(_logits)) + 1;
            }
        }

        private static float MaxOf(ReadOnlySpan<float> values)
        {
            float max = float.NegativeInfinity;
            foreach (float v in values) max = Math.Max(max, v);
            return max;
        }

        private static void Softmax(ReadOnlySpan<float> logits, Span<float> probabilities)
        {
            float max = MaxOf(logits);
            float total = 0;
            for (int i = 0; i < logits.Length; i++)
                total += probabilities[i] = MathF.Exp(logits[i] - max);
            for (int i = 0; i < logits.Length; i++)
                probabilities[i] /= total;
        }

        public void Dispose() { }
    }
}
