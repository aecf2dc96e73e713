using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNetTuning.MlNet;
using Xunit;
using Xunit.Abstractions;

namespace MLNetTuning.Tests;

public sealed class MlNetModelZipTests(ITestOutputHelper output) : IDisposable
{
    private readonly MLContext _ml = new(seed: 1);
    private readonly string _folder = Directory.CreateTempSubdirectory("mlnet-zip-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void RegressionPipeline_SavesAndLoadsInProcess_WithIdenticalScores()
    {
        IDataView data = _ml.Data.LoadFromEnumerable(MlNetTestData.RegressionRows(50, seed: 2));
        TransformerChain<LinearHeadTransformer> model = MlNetTestData.RegressionFeaturizer(_ml).Fit(data)
            .Append(LinearHeadTransformer.ForRegression("Features", [0.5f, -2f, 3f], bias: 0.25f));
        string path = Path.Combine(_folder, "regression.zip");

        _ml.Model.Save(model, data.Schema, path);
        ITransformer loaded = new MLContext(seed: 5).Model.Load(path, out DataViewSchema inputSchema);

        Assert.Equal(["A", "B", "C", "Label"], inputSchema.Select(c => c.Name));
        LinearHeadTransformer loadedHead = Assert.IsType<LinearHeadTransformer>(((TransformerChain<ITransformer>)loaded).Last());
        Assert.Equal("Features", loadedHead.FeatureColumn);
        Assert.Equal(Scores(model.Transform(data)), Scores(loaded.Transform(data)));
    }

    [Fact]
    public void RegressionEvaluate_WorksOnScore()
    {
        IDataView data = _ml.Data.LoadFromEnumerable(MlNetTestData.RegressionRows(60, seed: 3));
        var model = MlNetTestData.RegressionFeaturizer(_ml).Fit(data)
            .Append(LinearHeadTransformer.ForRegression("Features", [1f, 1f, 1f], bias: 0f));
        IDataView scored = model.Transform(data);

        RegressionMetrics metrics = _ml.Regression.Evaluate(scored, labelColumnName: "Label", scoreColumnName: "Score");

        float[] labels = scored.GetColumn<float>("Label").ToArray();
        float[] scores = scored.GetColumn<float>("Score").ToArray();
        double mae = labels.Zip(scores, (l, s) => Math.Abs((double)l - s)).Average();
        Assert.Equal(mae, metrics.MeanAbsoluteError, precision: 4);
    }

    [Fact]
    public void MulticlassHead_KeyPredictedLabel_WorksWithMapKeyToValueAndEvaluate_AfterReload()
    {
        IDataView data = _ml.Data.LoadFromEnumerable(MlNetTestData.ClassRows(90, seed: 4));
        var featurizer = MlNetTestData.MulticlassFeaturizer(_ml).Fit(data);
        // Captured at fit time and saved: the label column is absent when scoring new data.
        string[] classes = KeyValueNames.Read(featurizer.GetOutputSchema(data.Schema)["Label"]);
        var model = featurizer.Append(MlNetTestData.RandomMulticlassHead(4, classes, seed: 5));
        string path = Path.Combine(_folder, "multiclass.zip");
        _ml.Model.Save(model, data.Schema, path);
        ITransformer loaded = _ml.Model.Load(path, out _);

        IDataView scored = _ml.Transforms.Conversion.MapKeyToValue("PredictedClass", "PredictedLabel")
            .Fit(loaded.Transform(data)).Transform(loaded.Transform(data));
        MulticlassClassificationMetrics metrics = _ml.MulticlassClassification.Evaluate(scored);

        float[][] probabilities = scored.GetColumn<float[]>("Score").ToArray();
        string[] predicted = scored.GetColumn<string>("PredictedClass").ToArray();
        string[] truth = data.GetColumn<string>("Label").ToArray();
        Assert.All(probabilities, p => Assert.Equal(1f, p.Sum(), precision: 5));
        Assert.Equal(probabilities.Select(p => classes[Array.IndexOf(p, p.Max())]), predicted);
        double accuracy = predicted.Zip(truth, (p, t) => p == t ? 1.0 : 0.0).Average();
        Assert.Equal(accuracy, metrics.MicroAccuracy, precision: 6);
        double logLoss = probabilities.Zip(truth, (p, t) => -Math.Log(Math.Max(p[Array.IndexOf(classes, t)], 1e-15))).Average();
        Assert.Equal(logLoss, metrics.LogLoss, precision: 4);
    }

    [Fact]
    public void FreshProcess_LoadsTheZip_AndReproducesScoresExactly()
    {
        string trainTsv = Path.Combine(_folder, "train.tsv");
        MlNetTestData.WriteClassTsv(trainTsv, MlNetTestData.ClassRows(40, seed: 6));
        var columns = new[]
        {
            new TextLoader.Column("A", DataKind.Single, 0), new TextLoader.Column("B", DataKind.Single, 1),
            new TextLoader.Column("C", DataKind.Single, 2), new TextLoader.Column("D", DataKind.Single, 3),
            new TextLoader.Column("Label", DataKind.String, 4),
        };
        IDataView data = _ml.Data.LoadFromTextFile(trainTsv, columns, separatorChar: '\t', hasHeader: true);
        var featurizer = MlNetTestData.MulticlassFeaturizer(_ml).Fit(data);
        string[] classes = KeyValueNames.Read(featurizer.GetOutputSchema(data.Schema)["Label"]);
        var model = featurizer.Append(MlNetTestData.RandomMulticlassHead(4, classes, seed: 7));
        string zip = Path.Combine(_folder, "model.zip");
        ModelFiles.SafeModelSave(_ml, model, data.Schema, zip);

        JsonObject output = ZipLoaderProcess.Run(zip, trainTsv);

        IDataView scored = model.Transform(data);
        float[][] expectedScores = scored.GetColumn<float[]>("Score").ToArray();
        string[] expectedLabels = scored.GetColumn<uint>("PredictedLabel").Select(k => classes[k - 1]).ToArray();
        var rows = output["rows"]!.AsArray();
        Assert.Equal(expectedScores.Length, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            float[] score = rows[i]!["Score"]!.AsArray().Select(v => v!.GetValue<float>()).ToArray();
            Assert.Equal(expectedScores[i], score);   // bit-identical: JSON floats round-trip
            Assert.Equal(expectedLabels[i], rows[i]!["PredictedLabel"]!.GetValue<string>());
        }
    }

    [Fact]
    public void Zip_HoldsAOneMegabyteWeightBlobOnce()
    {
        const int features = 4096, classCount = 64;   // 262,144 floats = 1 MiB
        string[] classes = Enumerable.Range(0, classCount).Select(i => $"class{i}").ToArray();
        LinearHeadTransformer head = MlNetTestData.RandomMulticlassHead(features, classes, seed: 8);
        IDataView data = _ml.Data.LoadFromEnumerable(MlNetTestData.VectorRows(3, features, seed: 9),
            MlNetTestData.VectorSchema(_ml, features));
        string path = Path.Combine(_folder, "big.zip");

        _ml.Model.Save(head, data.Schema, path);

        long blob = (long)features * classCount * sizeof(float);
        long zipSize = new FileInfo(path).Length;
        using (ZipArchive archive = ZipFile.OpenRead(path))
        {
            ZipArchiveEntry[] large = archive.Entries.Where(e => e.Length >= blob / 2).ToArray();
            ZipArchiveEntry weights = Assert.Single(large);
            Assert.EndsWith("Weights.bin", weights.FullName);
            Assert.Equal(blob + classCount * sizeof(float), weights.Length);
        }
        output.WriteLine($"weights blob {blob:N0} bytes, zip {zipSize:N0} bytes ({100.0 * zipSize / blob:F1}%)");
        // Random floats barely compress: the zip is about one copy of the blob, never two.
        Assert.InRange(zipSize, blob * 8 / 10, blob + 64 * 1024);
        ITransformer loaded = _ml.Model.Load(path, out _);
        Assert.Equal(head.Transform(data).GetColumn<float[]>("Score").ToArray(),
            loaded.Transform(data).GetColumn<float[]>("Score").ToArray());
    }

    [Fact]
    public void SafeModelSave_WhenSavingThrows_KeepsTheExistingZipAndLeavesNoTempFile()
    {
        IDataView data = _ml.Data.LoadFromEnumerable(MlNetTestData.RegressionRows(10, seed: 10));
        var good = MlNetTestData.RegressionFeaturizer(_ml).Fit(data)
            .Append(LinearHeadTransformer.ForRegression("Features", [1f, 2f, 3f], bias: 1f));
        string path = Path.Combine(_folder, "model.zip");
        ModelFiles.SafeModelSave(_ml, good, data.Schema, path);
        byte[] goodBytes = File.ReadAllBytes(path);
        var failing = good.Append<ITransformer>(new ThrowingTransformer());

        var error = Assert.Throws<InvalidOperationException>(() => ModelFiles.SafeModelSave(_ml, failing, data.Schema, path));

        Assert.Contains("disk full", error.Message);
        Assert.Equal(goodBytes, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(_folder));
        Assert.Equal(Scores(good.Transform(data)), Scores(_ml.Model.Load(path, out _).Transform(data)));

        // Why the helper exists: plain Model.Save truncates the target first.
        Assert.ThrowsAny<Exception>(() => _ml.Model.Save(failing, data.Schema, path));
        Assert.NotEqual(goodBytes, File.ReadAllBytes(path));
    }

    [Fact]
    public void ModelFormat_RejectsHeaderFieldsMLNetCannotStore()
    {
        var assembly = typeof(LinearHeadTransformer).Assembly;
        Assert.Contains("exactly 8", Assert.Throws<ArgumentException>(() => new ModelFormat("SHORT", "Loader", assembly, 1, 1)).Message);
        Assert.Contains("1 to 24", Assert.Throws<ArgumentException>(() => new ModelFormat("EIGHTCHR", new string('x', 25), assembly, 1, 1)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ModelFormat("EIGHTCHR", "Loader", assembly, 1, 2));
    }

    private static float[] Scores(IDataView scored) => scored.GetColumn<float>("Score").ToArray();

    /// <summary>Stands for a transformer whose save fails part-way (disk full, disposed weights...).</summary>
    private sealed class ThrowingTransformer : ITransformer, ICanSaveModel
    {
        public bool IsRowToRowMapper => false;
        public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => inputSchema;
        public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => throw new NotSupportedException();
        public IDataView Transform(IDataView input) => input;
        public void Save(ModelSaveContext ctx) => throw new InvalidOperationException("simulated disk full while saving");
    }
}

/// <summary>Small deterministic data sets and heads for the MlNet tests.</summary>
internal static class MlNetTestData
{
    internal sealed class VectorRow
    {
        public float Id { get; set; }
        [VectorType] public float[] Features { get; set; } = [];
    }

    internal sealed class RegressionRow
    {
        public float A { get; set; }
        public float B { get; set; }
        public float C { get; set; }
        public float Label { get; set; }
    }

    internal sealed class ClassRow
    {
        public float A { get; set; }
        public float B { get; set; }
        public float C { get; set; }
        public float D { get; set; }
        public string Label { get; set; } = "";
    }

    public static VectorRow[] VectorRows(int count, int size, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(i => new VectorRow
        {
            Id = i,
            Features = Enumerable.Range(0, size).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray(),
        }).ToArray();
    }

    /// <summary>A schema with a known-size Features vector (LoadFromEnumerable cannot infer the size of a float[]).</summary>
    public static SchemaDefinition VectorSchema(MLContext ml, int size)
    {
        SchemaDefinition schema = SchemaDefinition.Create(typeof(VectorRow));
        schema[nameof(VectorRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
        return schema;
    }

    public static RegressionRow[] RegressionRows(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            float a = (float)random.NextDouble() * 10, b = (float)random.NextDouble() - 0.5f, c = (float)random.NextDouble() * 3;
            return new RegressionRow { A = a, B = b, C = c, Label = a * 0.3f + b * 2 - c + (float)random.NextDouble() };
        }).ToArray();
    }

    public static ClassRow[] ClassRows(int count, int seed)
    {
        var random = new Random(seed);
        string[] labels = ["cat", "dog", "eel"];
        return Enumerable.Range(0, count).Select(i => new ClassRow
        {
            A = (float)random.NextDouble(), B = (float)random.NextDouble() * 5,
            C = (float)random.NextDouble() - 2, D = i % 3 + (float)random.NextDouble(),
            Label = labels[i % 3],
        }).ToArray();
    }

    public static void WriteClassTsv(string path, IEnumerable<ClassRow> rows)
    {
        static string F(float v) => v.ToString("R", CultureInfo.InvariantCulture);
        File.WriteAllLines(path, new[] { "A\tB\tC\tD\tLabel" }
            .Concat(rows.Select(r => $"{F(r.A)}\t{F(r.B)}\t{F(r.C)}\t{F(r.D)}\t{r.Label}")));
    }

    public static EstimatorChain<NormalizingTransformer> RegressionFeaturizer(MLContext ml) =>
        ml.Transforms.Concatenate("Features", "A", "B", "C").Append(ml.Transforms.NormalizeMinMax("Features"));

    public static EstimatorChain<NormalizingTransformer> MulticlassFeaturizer(MLContext ml) =>
        ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.Concatenate("Features", "A", "B", "C", "D"))
            .Append(ml.Transforms.NormalizeMinMax("Features"));

    public static LinearHeadTransformer RandomMulticlassHead(int features, IReadOnlyList<string> classes, int seed)
    {
        var random = new Random(seed);
        float[] weights = Enumerable.Range(0, features * classes.Count).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        float[] biases = classes.Select(_ => (float)random.NextDouble()).ToArray();
        return LinearHeadTransformer.ForMulticlass("Features", features, weights, biases, classes);
    }
}

/// <summary>An estimator whose Fit returns a ready transformer: lets a test put one into an EstimatorChain.</summary>
internal sealed class FixedEstimator(BatchedMappingTransformer transformer) : IEstimator<ITransformer>
{
    public ITransformer Fit(IDataView input)
    {
        transformer.GetOutputSchema(input.Schema);
        return transformer;
    }

    public SchemaShape GetOutputSchema(SchemaShape inputSchema) => transformer.GetOutputSchema(inputSchema);
}
