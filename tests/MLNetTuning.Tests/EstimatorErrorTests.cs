using Microsoft.ML;
using MLNetTuning.MlNet;

namespace MLNetTuning.Tests;

/// <summary>Bad data and bad options fail early with a message that names the column or option, what was expected and what was found.</summary>
[Collection(TinyBertEstimatorCollection.Name)]
public sealed class EstimatorErrorTests(TinyBertFixture tiny) : IDisposable
{
    private readonly MLContext _ml = new(seed: 1);
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-errors-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private BertFineTuneOptions Options(BertTask task = BertTask.BinaryClassification) => TextData.Options(tiny.Folder, task, epochs: 1);

    private IDataView SpamOrWork(int count = 32) => _ml.Data.LoadFromEnumerable(TextData.SpamOrWork(count, seed: 30));

    private Exception FitError(BertFineTuneOptions options, IDataView data) =>
        Assert.ThrowsAny<Exception>(() => new BertFineTuneEstimator(_ml, options).Fit(data).Dispose());

    [Fact]
    public void MissingTextColumn_IsNamed_AndTheColumnsPresentAreListed()
    {
        var options = Options();
        options.TextColumnName = "Body";

        var error = Assert.IsAssignableFrom<ArgumentException>(FitError(options, SpamOrWork()));
        Assert.Contains("'Body'", error.Message);
        Assert.Contains("TextColumnName", error.Message);
        Assert.Contains("Text (String)", error.Message);
        Assert.Contains("Label (Boolean)", error.Message);

        var shapeError = Assert.ThrowsAny<ArgumentException>(() => new BertFineTuneEstimator(_ml, options).GetOutputSchema(MlNetSchemaShapes.FromSchema(SpamOrWork().Schema)));
        Assert.Contains("'Body'", shapeError.Message);
        Assert.Contains("'Text'", shapeError.Message);
    }

    [Fact]
    public void TextColumnOfTheWrongType_NamesExpectedAndActualTypes()
    {
        var data = _ml.Data.LoadFromEnumerable(new[] { new NumberTextRow { Text = 1, Label = true }, new NumberTextRow { Text = 2, Label = false } });

        var error = Assert.IsAssignableFrom<ArgumentException>(FitError(Options(), data));
        Assert.Contains("'Text'", error.Message);
        Assert.Contains("String", error.Message);
        Assert.Contains("Single", error.Message);
    }

    [Fact]
    public void MulticlassLabelThatIsAString_AsksForMapValueToKey()
    {
        var data = _ml.Data.LoadFromEnumerable(TextData.Topics(12, seed: 31));
        var options = Options(BertTask.MulticlassClassification);

        var error = Assert.IsAssignableFrom<ArgumentException>(FitError(options, data));
        Assert.Contains("MapValueToKey(\"Label\")", error.Message);
        Assert.Contains("String", error.Message);
        var shapeError = Assert.Throws<ArgumentException>(() => new BertFineTuneEstimator(_ml, options).GetOutputSchema(MlNetSchemaShapes.FromSchema(data.Schema)));
        Assert.Contains("MapValueToKey(\"Label\")", shapeError.Message);
    }

    [Fact]
    public void BinaryLabelThatIsNotBoolean_IsNamedWithItsType()
    {
        var data = _ml.Data.LoadFromEnumerable(TextData.GreatCount(12, seed: 32));

        var error = Assert.IsAssignableFrom<ArgumentException>(FitError(Options(), data));
        Assert.Contains("'Label'", error.Message);
        Assert.Contains("Boolean", error.Message);
        Assert.Contains("Single", error.Message);
    }

    [Fact]
    public void RegressionLabelThatIsNaN_NamesTheColumnAndTheRow()
    {
        var rows = TextData.GreatCount(12, seed: 33);
        rows[4].Label = float.NaN;

        var error = Assert.IsType<InvalidDataException>(FitError(Options(BertTask.Regression), _ml.Data.LoadFromEnumerable(rows)));
        Assert.Contains("'Label'", error.Message);
        Assert.Contains("row 5", error.Message);
    }

    [Theory]
    [InlineData(float.PositiveInfinity, "+Infinity")]
    [InlineData(float.NegativeInfinity, "-Infinity")]
    public void RegressionLabelThatIsInfinite_NamesTheColumnAndTheRow(float label, string shown)
    {
        var rows = TextData.GreatCount(12, seed: 33);
        rows[6].Label = label;

        var error = Assert.IsType<InvalidDataException>(FitError(Options(BertTask.Regression), _ml.Data.LoadFromEnumerable(rows)));
        Assert.Contains($"'Label' of the training data is {shown} at row 7", error.Message);
        Assert.Contains("finite number", error.Message);
    }

    [Fact]
    public void EmptyTrainingSet_SaysThereAreNoRows()
    {
        var error = Assert.IsAssignableFrom<ArgumentException>(FitError(Options(), _ml.Data.LoadFromEnumerable(Array.Empty<BoolRow>())));
        Assert.Contains("no rows", error.Message);
    }

    [Fact]
    public void EmptyTrainingSetBeforeMapValueToKey_SaysThereAreNoRows()
    {
        // The usual multiclass pipeline: MapValueToKey fitted on no rows makes a key type of no classes.
        var empty = _ml.Data.LoadFromEnumerable(Array.Empty<TopicRow>());
        var error = Assert.ThrowsAny<ArgumentException>(() =>
            _ml.Transforms.Conversion.MapValueToKey("Label").Append(new BertFineTuneEstimator(_ml, Options(BertTask.MulticlassClassification))).Fit(empty));
        Assert.Contains("training data has no rows", error.Message);
    }

    [Fact]
    public void ValidationFractionThatTakesEveryRow_SaysNoTrainingRowsAreLeft()
    {
        var options = Options(BertTask.Regression);
        options.ValidationFraction = 0.9f;
        var error = Assert.ThrowsAny<ArgumentException>(() => new BertFineTuneEstimator(_ml, options).Fit(_ml.Data.LoadFromEnumerable(TextData.GreatCount(1, seed: 3))).Dispose());
        Assert.Contains("ValidationFraction", error.Message);
        Assert.Contains("no training rows", error.Message);
    }

    [Theory]
    [InlineData(BertTask.MulticlassClassification)]
    [InlineData(BertTask.BinaryClassification)]
    [InlineData(BertTask.Regression)]
    public void EmptyTrainingFile_SaysThereAreNoRows(BertTask task)
    {
        // A file with a header and no rows, loaded as a user loads a TSV.
        string file = Path.Combine(_scratch, "empty.tsv");
        File.WriteAllText(file, "Text\tLabel\n");
        var labelKind = task switch { BertTask.BinaryClassification => Microsoft.ML.Data.DataKind.Boolean, BertTask.Regression => Microsoft.ML.Data.DataKind.Single, _ => Microsoft.ML.Data.DataKind.String };
        var empty = _ml.Data.LoadFromTextFile(file, [new("Text", Microsoft.ML.Data.DataKind.String, 0), new("Label", labelKind, 1)], hasHeader: true);
        var options = Options(task);
        options.ValidationFraction = 0.2f;
        IEstimator<ITransformer> pipeline = task == BertTask.MulticlassClassification
            ? _ml.Transforms.Conversion.MapValueToKey("Label").Append(_ml.MulticlassClassification.Trainers.BertFineTune(options))
            : new BertFineTuneEstimator(_ml, options);
        var error = Assert.ThrowsAny<ArgumentException>(() => pipeline.Fit(empty));
        Assert.Contains("training data has no rows", error.Message);
    }

    [Fact]
    public void MaxSequenceLengthBeyondTheModelsPositions_NamesTheOptionAndTheLimit()
    {
        var options = Options();
        options.MaxSequenceLength = 129;

        var error = Assert.IsType<ArgumentOutOfRangeException>(FitError(options, SpamOrWork()));
        Assert.Contains("MaxSequenceLength is 129", error.Message);
        Assert.Contains("128 positions", error.Message);
    }

    [Theory]
    [InlineData("config.json")]
    [InlineData("model.safetensors")]
    [InlineData("vocab.txt")]
    public void ModelFolderMissingAFile_NamesTheFile(string missing)
    {
        string folder = Path.Combine(_scratch, "broken");
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(tiny.Folder).Where(f => Path.GetFileName(f) != missing))
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        var options = Options();
        options.Model = folder;

        var error = FitError(options, SpamOrWork());
        Assert.True(error is InvalidDataException or FileNotFoundException, error.ToString());
        Assert.Contains(missing, error.Message);
        Assert.Contains(folder, error.Message);
    }

    [Fact]
    public void ValidationSetWithAnotherLabelType_SaysHowToPrepareIt()
    {
        var toKey = _ml.Transforms.Conversion.MapValueToKey("Label");
        var train = _ml.Data.LoadFromEnumerable(TextData.Topics(30, seed: 34));
        // Fitted on two classes: the key type differs from the training data's three.
        var validation = _ml.Data.LoadFromEnumerable(TextData.Topics(30, seed: 35).Where(r => r.Label != "mood").ToArray());
        var options = Options(BertTask.MulticlassClassification);
        options.ValidationSet = toKey.Fit(validation).Transform(validation);

        var error = Assert.Throws<ArgumentException>(() => toKey.Append(new BertFineTuneEstimator(_ml, options)).Fit(train));
        Assert.Contains("ValidationSet", error.Message);
        Assert.Contains("Key<UInt32, 0-2>", error.Message);
        Assert.Contains("Key<UInt32, 0-1>", error.Message);
    }

    [Fact]
    public void RawValidationSetBeforeMapValueToKey_MapsItsClassNames()
    {
        // The issue's own usage: the validation data is given as loaded, while the pipeline maps the training labels to keys.
        var train = _ml.Data.LoadFromEnumerable(TextData.Topics(30, seed: 38));
        var options = Options(BertTask.MulticlassClassification);
        options.Epochs = 1;
        options.ValidationSet = _ml.Data.LoadFromEnumerable(TextData.Topics(12, seed: 39));
        var model = _ml.Transforms.Conversion.MapValueToKey("Label").Append(new BertFineTuneEstimator(_ml, options)).Fit(train);
        var evaluation = Assert.Single(model.LastTransformer.History.Evaluations);
        // The raw class names were mapped to the training keys: the pipeline's own MapValueToKey and ML.NET's evaluator agree.
        var measured = _ml.MulticlassClassification.Evaluate(model.Transform(options.ValidationSet));
        Assert.Equal(measured.MicroAccuracy, evaluation.Metrics["Accuracy"], 5);
        model.LastTransformer.Dispose();

        options.ValidationSet = _ml.Data.LoadFromEnumerable(TextData.Topics(12, seed: 39).Select(r => { r.Label = r.Label == "mood" ? "weather" : r.Label; return r; }).ToArray());
        var error = Assert.Throws<InvalidDataException>(() => _ml.Transforms.Conversion.MapValueToKey("Label").Append(new BertFineTuneEstimator(_ml, options)).Fit(train));
        Assert.Contains("'weather'", error.Message);
        Assert.Contains("validation set", error.Message);
    }

    [Fact]
    public void ValidationLabelsUnseenInTraining_AreAClearError()
    {
        var trainRows = TextData.Topics(30, seed: 36).Where(r => r.Label != "mood").ToArray();
        var toKey = _ml.Transforms.Conversion.MapValueToKey("Label").Fit(_ml.Data.LoadFromEnumerable(trainRows));
        var train = toKey.Transform(_ml.Data.LoadFromEnumerable(trainRows));
        var options = Options(BertTask.MulticlassClassification);
        // "mood" maps to key 0 (missing) under the training data's mapping.
        options.ValidationSet = toKey.Transform(_ml.Data.LoadFromEnumerable(TextData.Topics(9, seed: 37)));

        var error = FitError(options, train);
        Assert.IsType<InvalidDataException>(error);
        Assert.Contains("3 rows", error.Message);
        Assert.Contains("unseen in the training data", error.Message);
    }

    [Fact]
    public void BadOptionValues_FailAtConstruction_NamingTheOption()
    {
        static ArgumentException Build(MLContext ml, BertFineTuneOptions options) =>
            Assert.ThrowsAny<ArgumentException>(() => new BertFineTuneEstimator(ml, options));

        var options = Options();
        options.BatchSize = 0;
        var batch = Assert.IsType<ArgumentOutOfRangeException>(Build(_ml, options));
        Assert.Contains("BatchSize is 0", batch.Message);

        options = Options();
        options.LearningRate = float.NaN;
        Assert.Contains("LearningRate is NaN", Assert.IsType<ArgumentOutOfRangeException>(Build(_ml, options)).Message);

        options = Options(BertTask.MulticlassClassification);
        options.ValidationMetric = ValidationMetric.Rmse;
        var metric = Build(_ml, options);
        Assert.Contains("ValidationMetric is Rmse", metric.Message);
        Assert.Contains("Accuracy, MacroF1", metric.Message);

        options = Options();
        options.EarlyStoppingPatience = 2;
        var patience = Build(_ml, options);
        Assert.Contains("EarlyStoppingPatience", patience.Message);
        Assert.Contains("ValidationFraction", patience.Message);

        // The catalog applies the same checks after it sets the task.
        options = Options(BertTask.MulticlassClassification);
        options.ValidationMetric = ValidationMetric.Auc;
        Assert.Contains("ValidationMetric is Auc", Assert.ThrowsAny<ArgumentException>(() => _ml.Regression.Trainers.BertFineTune(options)).Message);
    }

    [Fact]
    public void CudaOnACpuBuild_ExplainsTheBackendSwitch()
    {
        var options = Options();
        options.Device = TorchDevice.Cuda;

        var error = Assert.IsType<ArgumentException>(FitError(options, SpamOrWork()));
        Assert.Contains("TorchBackend=cuda", error.Message);
        Assert.Contains("Device", error.Message);
    }

    [Fact]
    public void NullAndEmptyText_TrainAndScoreAsAnEmptySequence()
    {
        var rows = TextData.SpamOrWork(30, seed: 38);
        rows[0].Text = null;
        rows[1].Text = "";
        using var model = new BertFineTuneEstimator(_ml, Options()).Fit(_ml.Data.LoadFromEnumerable(rows));

        var scored = model.Transform(_ml.Data.LoadFromEnumerable(new[]
        {
            new BoolRow { Text = null }, new BoolRow { Text = "" }, new BoolRow { Text = "free money" },
        }));
        float[] scores = TextData.ScalarScores(scored);
        Assert.All(scores, s => Assert.True(float.IsFinite(s)));
        TensorAsserts.AssertScoresAgree([scores[0]], [scores[1]]);
        Assert.True(Math.Abs(scores[0] - scores[2]) > 1e-4, $"'free money' scored like an empty text: {scores[2]}");
    }

    public sealed class NumberTextRow
    {
        public float Text { get; set; }
        public bool Label { get; set; }
    }
}
