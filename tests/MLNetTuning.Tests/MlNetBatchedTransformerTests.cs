using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.MlNet;
using Xunit;

namespace MLNetTuning.Tests;

public sealed class MlNetBatchedTransformerTests
{
    private readonly MLContext _ml = new(seed: 1);

    [Fact]
    public void Transform_IsLazy_AndMapsInBatchesOfBatchSize()
    {
        IDataView data = _ml.Data.LoadFromEnumerable(MlNetTestData.VectorRows(150, 3, seed: 2));
        var recorder = new RecordingTransformer(batchSize: 64);

        IDataView scored = recorder.Transform(data);
        Assert.Empty(recorder.BatchSizes);

        float[] sums = scored.GetColumn<float>("Sum").ToArray();
        Assert.Equal([64, 64, 22], recorder.BatchSizes);
        float[] expected = data.GetColumn<float[]>("Features").Select(FloatSum).ToArray();
        Assert.Equal(expected, sums);
    }

    [Fact]
    public void Transform_KeepsPassThroughColumnsAlignedWithOutputs()
    {
        IDataView data = _ml.Data.LoadFromEnumerable(MlNetTestData.VectorRows(100, 3, seed: 3));
        IDataView scored = new RecordingTransformer(batchSize: 7).Transform(data);

        Assert.Equal(data.Schema.Count + 1, scored.Schema.Count);
        foreach (DataViewSchema.Column column in data.Schema)
            Assert.Equal(column.Type, scored.Schema[column.Name].Type);
        var rows = _ml.Data.CreateEnumerable<SumRow>(scored, reuseRowObject: false).ToList();
        Assert.Equal(100, rows.Count);
        Assert.All(rows, r => Assert.Equal(FloatSum(r.Features), r.Sum));
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (float)i), rows.Select(r => r.Id));
    }

    [Fact]
    public void Cursor_WithOnlyPassThroughColumns_NeverCallsTheMapper()
    {
        IDataView data = _ml.Data.LoadFromEnumerable(MlNetTestData.VectorRows(10, 3, seed: 4));
        var recorder = new RecordingTransformer(batchSize: 4);

        float[] ids = recorder.Transform(data).GetColumn<float>("Id").ToArray();

        Assert.Equal(Enumerable.Range(0, 10).Select(i => (float)i), ids);
        Assert.Empty(recorder.BatchSizes);
    }

    [Fact]
    public void GetOutputSchema_CarriesSlotNamesAndKeyValues()
    {
        IDataView data = _ml.Data.LoadFromEnumerable(MlNetTestData.VectorRows(5, 4, seed: 5), MlNetTestData.VectorSchema(_ml, 4));
        LinearHeadTransformer head = MlNetTestData.RandomMulticlassHead(4, ["cat", "dog", "eel"], seed: 6);

        DataViewSchema schema = head.GetOutputSchema(data.Schema);

        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, 3), schema["Score"].Type);
        var slotNames = default(VBuffer<ReadOnlyMemory<char>>);
        schema["Score"].GetSlotNames(ref slotNames);
        Assert.Equal(["cat", "dog", "eel"], slotNames.DenseValues().Select(v => v.ToString()));
        Assert.Equal(new KeyDataViewType(typeof(uint), 3), schema["PredictedLabel"].Type);
        Assert.Equal(["cat", "dog", "eel"], KeyValueNames.Read(schema["PredictedLabel"]));
        Assert.NotNull(schema.GetColumnOrNull("Id"));
    }

    [Fact]
    public void GetOutputSchema_OfSchemaShape_MatchesTheFittedSchema_WithoutData()
    {
        IDataView data = _ml.Data.LoadFromEnumerable(MlNetTestData.ClassRows(20, seed: 7));
        LinearHeadTransformer head = MlNetTestData.RandomMulticlassHead(4, ["a", "b", "c"], seed: 8);
        var pipeline = MlNetTestData.MulticlassFeaturizer(_ml).Append(new FixedEstimator(head));

        SchemaShape shape = pipeline.GetOutputSchema(MlNetSchemaShapes.FromSchema(data.Schema));

        DataViewSchema fitted = pipeline.Fit(data).GetOutputSchema(data.Schema);
        var expected = MlNetSchemaShapes.FromSchema(fitted).Select(Describe).ToList();
        Assert.Equal(expected, shape.Select(Describe).ToList());
        Assert.Contains("PredictedLabel:Scalar:True:UInt32:[KeyValues]", expected);
        Assert.Contains("Score:Vector:False:Single:[SlotNames]", expected);
    }

    [Fact]
    public void MissingInputColumn_ErrorNamesColumnAndExpectedType()
    {
        IDataView data = _ml.Data.LoadFromEnumerable(MlNetTestData.ClassRows(5, seed: 9));
        LinearHeadTransformer head = LinearHeadTransformer.ForRegression("Features", [1f, 2f], 0f);

        var error = Assert.ThrowsAny<ArgumentException>(() => head.Transform(data));
        Assert.Contains("'Features'", error.Message);
        Assert.Contains("Vector<Single, 2>", error.Message);
        Assert.Contains("no such column", error.Message);

        var shapeError = Assert.ThrowsAny<ArgumentException>(() => head.GetOutputSchema(MlNetSchemaShapes.FromSchema(data.Schema)));
        Assert.Contains("'Features'", shapeError.Message);
    }

    [Fact]
    public void MistypedInputColumn_ErrorNamesExpectedAndActualType()
    {
        IDataView data = _ml.Data.LoadFromEnumerable(MlNetTestData.VectorRows(5, 3, seed: 10), MlNetTestData.VectorSchema(_ml, 3));
        LinearHeadTransformer head = LinearHeadTransformer.ForRegression("Features", [1f, 2f], 0f);

        var error = Assert.ThrowsAny<ArgumentException>(() => head.GetRowToRowMapper(data.Schema));

        Assert.Contains("'Features' must be Vector<Single, 2> but is Vector<Single, 3>", error.Message);
    }

    [Fact]
    public void PredictionEngine_GivesTheSameScoresAsTransform()
    {
        var rows = MlNetTestData.VectorRows(40, 4, seed: 11);
        IDataView data = _ml.Data.LoadFromEnumerable(rows, MlNetTestData.VectorSchema(_ml, 4));
        LinearHeadTransformer head = MlNetTestData.RandomMulticlassHead(4, ["x", "y", "z"], seed: 12);
        float[][] expected = head.Transform(data).GetColumn<float[]>("Score").ToArray();
        uint[] expectedLabels = head.Transform(data).GetColumn<uint>("PredictedLabel").ToArray();

        using var engine = _ml.Model.CreatePredictionEngine<MlNetTestData.VectorRow, MulticlassOutput>(head, data.Schema);
        for (int i = 0; i < rows.Length; i++)
        {
            MulticlassOutput prediction = engine.Predict(rows[i]);
            Assert.Equal(expected[i], prediction.Score);
            Assert.Equal(expectedLabels[i], prediction.PredictedLabel);
        }
    }

    [Fact]
    public void PredictionEngines_OnePerThread_AreIndependent()
    {
        const int threads = 4, passes = 10, features = 128;
        var rows = MlNetTestData.VectorRows(200, features, seed: 13);
        IDataView data = _ml.Data.LoadFromEnumerable(rows, MlNetTestData.VectorSchema(_ml, features));
        LinearHeadTransformer head = MlNetTestData.RandomMulticlassHead(features, ["a", "b", "c", "d", "e", "f", "g", "h"], seed: 14);
        float[][] expected = head.Transform(data).GetColumn<float[]>("Score").ToArray();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var start = new Barrier(threads);

        var workers = Enumerable.Range(0, threads).Select(thread => new Thread(() =>
        {
            using var engine = _ml.Model.CreatePredictionEngine<MlNetTestData.VectorRow, MulticlassOutput>(head, data.Schema);
            start.SignalAndWait();   // all engines predict at the same time
            for (int pass = 0; pass < passes; pass++)
            {
                // Each thread walks the rows in its own order so the engines interleave different inputs.
                for (int k = 0; k < rows.Length; k++)
                {
                    int i = (k * (2 * thread + 1) + pass) % rows.Length;
                    if (!engine.Predict(rows[i]).Score.SequenceEqual(expected[i]))
                        failures.Add($"thread {thread}, row {i}");
                }
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());

        Assert.Empty(failures);
    }

    // Float accumulation in row order, as the mapper does (Enumerable.Sum accumulates in double).
    private static float FloatSum(float[] values)
    {
        float sum = 0;
        foreach (float v in values) sum += v;
        return sum;
    }

    private static string Describe(SchemaShape.Column c) =>
        $"{c.Name}:{c.Kind}:{c.IsKey}:{c.ItemType}:[{string.Join(",", c.Annotations.Select(a => a.Name))}]";

    private sealed class SumRow
    {
        public float Id { get; set; }
        [VectorType] public float[] Features { get; set; } = [];
        public float Sum { get; set; }
    }

    private sealed class MulticlassOutput
    {
        public float[] Score { get; set; } = [];
        public uint PredictedLabel { get; set; }
    }

    /// <summary>Sums the Features vector and records the size of every batch it is given.</summary>
    private sealed class RecordingTransformer(int batchSize) : BatchedMappingTransformer(Format, batchSize)
    {
        private static readonly ModelFormat Format = new("RECORDER", "RecordingTransformer", typeof(RecordingTransformer).Assembly, 1, 1);

        public List<int> BatchSizes { get; } = [];

        public override IReadOnlyList<InputColumn> InputColumns { get; } =
            [new InputColumn("Features", new VectorDataViewType(NumberDataViewType.Single))];

        public override IReadOnlyList<OutputColumn> OutputColumns { get; } = [OutputColumn.Scalar("Sum", NumberDataViewType.Single)];

        protected internal override IBatchMapper CreateBatchMapper() => new Mapper(this);

        protected override void SaveModel(ModelWriter writer) => throw new NotSupportedException("test transformer");

        private sealed class Mapper(RecordingTransformer owner) : IBatchMapper
        {
            public void MapBatch(InputBatch inputs, OutputBatch outputs)
            {
                lock (owner.BatchSizes) owner.BatchSizes.Add(inputs.Count);
                ReadOnlySpan<VBuffer<float>> features = inputs.Get<VBuffer<float>>(0);
                Span<float> sums = outputs.Get<float>(0);
                for (int i = 0; i < inputs.Count; i++)
                {
                    float sum = 0;
                    foreach (float v in features[i].DenseValues()) sum += v;
                    sums[i] = sum;
                }
            }

            public void Dispose() { }
        }
    }
}
