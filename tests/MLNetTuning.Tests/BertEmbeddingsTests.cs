using Microsoft.ML;
using Microsoft.ML.Data;
using Xunit.Abstractions;

namespace MLNetTuning.Tests;

[Collection(TinyBertEstimatorCollection.Name)]
public sealed class BertEmbeddingsTests(TinyBertFixture tiny, ITestOutputHelper output) : IDisposable
{
    private const int Hidden = 32;
    private readonly MLContext _ml = new(seed: 1);
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-embeddings-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private BertEmbeddingsTransformer Featurizer(IDataView data, BertPooling pooling = BertPooling.Mean, bool normalize = true, int batchSize = 64) =>
        _ml.Transforms.Text.BertEmbeddings("Embedding", "Text", tiny.Folder, pooling, normalize, maxSequenceLength: 32, batchSize).Fit(data);

    private static float[][] Embeddings(IDataView embedded) => embedded.GetColumn<float[]>("Embedding").ToArray();

    private IDataView Texts(params string?[] texts) => _ml.Data.LoadFromEnumerable(texts.Select(t => new TopicRow { Text = t }).ToArray());

    private static double Norm(float[] v) => Math.Sqrt(v.Sum(x => (double)x * x));

    [Fact]
    public void Output_IsAKnownSizeVectorOfTheHiddenSize_AndUnitLengthWhenNormalized()
    {
        var data = _ml.Data.LoadFromEnumerable(TextData.Topics(20, seed: 40));
        using var normalized = Featurizer(data);
        using var raw = Featurizer(data, normalize: false);

        var embedded = normalized.Transform(data);
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, Hidden), embedded.Schema["Embedding"].Type);
        Assert.Equal(Hidden, normalized.Dimension);
        Assert.Equal(embedded.Schema.Select(c => (c.Name, c.Type)), normalized.GetOutputSchema(data.Schema).Select(c => (c.Name, c.Type)));
        Assert.All(Embeddings(embedded), v => Assert.Equal(1.0, Norm(v), 5));
        float[][] rawVectors = Embeddings(raw.Transform(data));
        Assert.Contains(rawVectors, v => Math.Abs(Norm(v) - 1) > 1e-2);
        // Normalising only rescales: the directions agree.
        var pairs = Embeddings(embedded).Zip(rawVectors);
        Assert.All(pairs, p => Assert.Equal(p.First, p.Second.Select(x => (float)(x / Norm(p.Second))), new Tolerance(1e-5f)));
    }

    [Fact]
    public void MeanClsAndMaxPooling_GiveDifferentVectors()
    {
        var data = Texts("free money now", "team meeting tomorrow about the project report");
        float[][] Pool(BertPooling pooling)
        {
            using var featurizer = Featurizer(data, pooling);
            return Embeddings(featurizer.Transform(data));
        }
        float[][] mean = Pool(BertPooling.Mean), cls = Pool(BertPooling.Cls), max = Pool(BertPooling.Max);
        for (int row = 0; row < 2; row++)
        {
            Assert.NotEqual(mean[row], cls[row]);
            Assert.NotEqual(mean[row], max[row]);
            Assert.NotEqual(cls[row], max[row]);
        }
    }

    [Theory]
    [InlineData(BertPooling.Mean)]
    [InlineData(BertPooling.Cls)]
    [InlineData(BertPooling.Max)]
    public void AText_EmbedsTheSameAloneAndPaddedInABatchWithALongText(BertPooling pooling)
    {
        string longText = string.Join(' ', Enumerable.Repeat("meeting project lunch report team code review", 4));
        using var featurizer = Featurizer(Texts("free money"), pooling, batchSize: 2);

        float[] alone = Embeddings(featurizer.Transform(Texts("free money")))[0];
        float[][] batched = Embeddings(featurizer.Transform(Texts(longText, "free money")));

        Assert.Equal(alone, batched[1], new Tolerance(1e-5f));
        Assert.NotEqual(batched[0], batched[1], new Tolerance(1e-3f));
    }

    [Fact]
    public void Embeddings_FeedAnMLNetTrainer_ThatLearnsTheTopics()
    {
        var train = _ml.Data.LoadFromEnumerable(TextData.Topics(150, seed: 41));
        var test = _ml.Data.LoadFromEnumerable(TextData.Topics(60, seed: 42));
        var pipeline = _ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(_ml.Transforms.Text.BertEmbeddings("Embedding", "Text", tiny.Folder, maxSequenceLength: 32))
            // SDCA passes over the data many times; without the cache every pass would run BERT again.
            .AppendCacheCheckpoint(_ml)
            .Append(_ml.MulticlassClassification.Trainers.SdcaMaximumEntropy(featureColumnName: "Embedding"));

        var model = pipeline.Fit(train);
        var metrics = _ml.MulticlassClassification.Evaluate(model.Transform(test));

        output.WriteLine($"SDCA on frozen tiny-BERT embeddings: micro accuracy {metrics.MicroAccuracy:F3}, log loss {metrics.LogLoss:F3}");
        Assert.True(metrics.MicroAccuracy > 0.8, $"accuracy {metrics.MicroAccuracy}");
        Assert.True(metrics.LogLoss < Math.Log(3), $"log loss {metrics.LogLoss}");
    }

    [Fact]
    public void SavedInAZip_TheFeaturizerReloadsWithIdenticalVectors()
    {
        var data = _ml.Data.LoadFromEnumerable(TextData.Topics(40, seed: 43));
        using var featurizer = Featurizer(data, BertPooling.Max, normalize: false, batchSize: 16);
        string zip = Path.Combine(_scratch, "embeddings.zip");

        _ml.Model.Save(featurizer, data.Schema, zip);
        using var loaded = Assert.IsType<BertEmbeddingsTransformer>(new MLContext(seed: 3).Model.Load(zip, out var schema));

        Assert.Equal(["Text", "Label"], schema.Select(c => c.Name));
        Assert.Equal(Embeddings(featurizer.Transform(data)), Embeddings(loaded.Transform(data)));
        long weights = Directory.GetFiles(tiny.Folder, "*.safetensors").Sum(f => new FileInfo(f).Length);
        Assert.InRange(new FileInfo(zip).Length, weights * 7 / 10, weights + 32 * 1024);
    }

    [Fact]
    public void BadInput_IsNamed()
    {
        var data = _ml.Data.LoadFromEnumerable(TextData.Topics(4, seed: 44));
        var missing = Assert.ThrowsAny<ArgumentException>(() => _ml.Transforms.Text.BertEmbeddings("Embedding", "Body", tiny.Folder, maxSequenceLength: 32).Fit(data));
        Assert.Contains("'Body'", missing.Message);
        Assert.Contains("'Text'", missing.Message);
        var tooLong = Assert.ThrowsAny<ArgumentException>(() => _ml.Transforms.Text.BertEmbeddings("Embedding", "Text", tiny.Folder, maxSequenceLength: 512).Fit(data));
        Assert.Contains("128 positions", tooLong.Message);
        Assert.Contains("maxSequenceLength", tooLong.Message);
    }

    private sealed class Tolerance(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(float obj) => 0;
    }
}
