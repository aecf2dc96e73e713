using Microsoft.ML;
using Microsoft.ML.Data;
using Xunit.Abstractions;

namespace MLNetTuning.Tests;

/// <summary>
/// MLNetTuning.Onnx's <c>BertOnnxScorer</c> on a graph that <see cref="BertFineTuneTransformer.ExportOnnx"/> wrote, against
/// the TorchSharp stage it came from: the same columns, types, annotations and values, directly and through a model zip.
/// </summary>
public sealed class OnnxScorerTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-onnx-scorer-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private sealed class PairRow
    {
        public string Text { get; set; } = "";
        public string Other { get; set; } = "";
    }

    private static IDataView RealTexts(MLContext ml)
    {
        var texts = RepoFiles.ReadTsv("samples", "data", "spam", "test.tsv").Select(r => r[2]).Take(41).ToList();
        // 40 e-mails with a different one as the pair, plus an empty text: more than one 32-row batch, and an edge case.
        var rows = Enumerable.Range(0, 40).Select(i => new PairRow { Text = texts[i], Other = texts[i + 1] }).Append(new PairRow()).ToList();
        return ml.Data.LoadFromEnumerable(rows);
    }

    public static TheoryData<BertTask, bool> TextTasks => new()
    {
        { BertTask.BinaryClassification, false },
        { BertTask.MulticlassClassification, false },
        { BertTask.MulticlassClassification, true },
        { BertTask.Regression, false },
        { BertTask.MultiLabelClassification, true },
    };

    [Theory]
    [MemberData(nameof(TextTasks))]
    public void OnnxScorer_GivesTheTorchSharpStagesColumns_DirectlyAndAfterAZipRoundTrip(BertTask kind, bool pairs)
    {
        var ml = new MLContext(seed: 1);
        var data = RealTexts(ml);
        using var torch = new BertFineTuneTransformer(OnnxExportTests.TinyModel(kind), "Text", pairs ? "Other" : null);
        string path = Path.Combine(_scratch, kind.ToString(), "model.onnx");
        torch.ExportOnnx(path);

        using var onnx = ml.Transforms.Text.BertOnnxScorer(path).Fit(data);
        var expected = torch.Transform(data);
        AssertSameColumns(kind, expected, onnx.Transform(data), "direct");

        string zip = Path.Combine(_scratch, kind + ".zip");
        ml.Model.Save(onnx, data.Schema, zip);
        var reloaded = ml.Model.Load(zip, out _);
        Assert.IsType<BertOnnxScoringTransformer>(reloaded);
        AssertSameColumns(kind, expected, reloaded.Transform(data), "zip");
        (reloaded as IDisposable)?.Dispose();
    }

    private void AssertSameColumns(BertTask kind, IDataView expected, IDataView actual, string how)
    {
        foreach (var column in expected.Schema.Where(c => c.Name is "Score" or "Probability" or "PredictedLabel"))
        {
            var other = actual.Schema[column.Name];
            Assert.Equal(column.Type, other.Type);
            Assert.Equal(column.Annotations.Schema.Select(a => a.Name), other.Annotations.Schema.Select(a => a.Name));
        }
        if (kind == BertTask.MulticlassClassification)
        {
            VBuffer<ReadOnlyMemory<char>> a = default, b = default;
            expected.Schema["PredictedLabel"].GetKeyValues(ref a);
            actual.Schema["PredictedLabel"].GetKeyValues(ref b);
            Assert.Equal(a.DenseValues().Select(v => v.ToString()), b.DenseValues().Select(v => v.ToString()));
        }
        float[] Flat(IDataView view) => view.Schema["Score"].Type is VectorDataViewType
            ? view.GetColumn<float[]>("Score").SelectMany(x => x).ToArray()
            : view.GetColumn<float>("Score").ToArray();
        float[] e = Flat(expected), o = Flat(actual);
        double delta = e.Zip(o, (x, y) => Math.Abs(x - y)).Max();
        output.WriteLine($"{kind} ({how}): {e.Length} scores, max |Δ| {delta:E2}, spread {e.Max() - e.Min():F3}");
        Assert.Equal(e.Length, o.Length);
        // Regression scores are in label units (scale 20), so their rounding is 20× a logit's.
        Assert.True(delta <= (kind == BertTask.Regression ? 2e-3 : 1e-4), $"{kind} ({how}): Score max |Δ| {delta:E2}");
        Assert.True(e.Max() - e.Min() > 1e-3, $"{kind}: the scores barely vary; the comparison would prove little.");
        switch (kind)
        {
            case BertTask.BinaryClassification:
                Assert.Equal(expected.GetColumn<bool>("PredictedLabel"), actual.GetColumn<bool>("PredictedLabel"));
                Assert.Equal(expected.GetColumn<float>("Probability").ToArray(), actual.GetColumn<float>("Probability").ToArray(), (x, y) => Math.Abs(x - y) <= 1e-5);
                break;
            case BertTask.MulticlassClassification:
                Assert.Equal(expected.GetColumn<uint>("PredictedLabel"), actual.GetColumn<uint>("PredictedLabel"));
                break;
            case BertTask.MultiLabelClassification:
                Assert.Equal(expected.GetColumn<bool[]>("PredictedLabel").SelectMany(x => x), actual.GetColumn<bool[]>("PredictedLabel").SelectMany(x => x));
                break;
        }
    }

    [Fact]
    public void OnnxScorer_NamesTheMissingFile_AndRejectsAnUnknownTask()
    {
        var ml = new MLContext(seed: 1);
        var missing = Assert.Throws<FileNotFoundException>(() => ml.Transforms.Text.BertOnnxScorer(Path.Combine(_scratch, "nope.onnx")));
        Assert.Contains("nope.onnx", missing.Message);

        using var tagger = new BertFineTuneTransformer(OnnxExportTests.TinyModel(BertTask.TokenClassification), "Words", null);
        string path = Path.Combine(_scratch, "tagger", "model.onnx");
        tagger.ExportOnnx(path);
        string settings = Path.Combine(_scratch, "tagger", "mlnet_scoring.json");
        File.WriteAllText(settings, File.ReadAllText(settings).Replace("\"TokenClassification\"", "\"Summarization\""));
        var unsupported = Assert.Throws<InvalidDataException>(() => ml.Transforms.Text.BertOnnxScorer(path));
        Assert.Contains("mlnet_scoring.json", unsupported.Message);
        Assert.Contains("Summarization", unsupported.Message);

        File.Delete(settings);
        var noSettings = Assert.Throws<FileNotFoundException>(() => ml.Transforms.Text.BertOnnxScorer(path));
        Assert.Contains("mlnet_scoring.json", noSettings.Message);
    }

    [Fact]
    public void ModelZipOfTheFirstLayout_StillLoads_AndScoresAsItDidThen()
    {
        // Written by the package before zips held any tokenizer kind's files (see Data/onnx-scorer-v1.1/README.md).
        string folder = Path.Combine(AppContext.BaseDirectory, "Data", "onnx-scorer-v1.1");
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromTextFile(Path.Combine(folder, "texts.tsv"), [new TextLoader.Column("Text", DataKind.String, 0)], separatorChar: '\t');
        var model = ml.Model.Load(Path.Combine(folder, "scorer.zip"), out _);
        var scorer = Assert.IsType<BertOnnxScoringTransformer>(model);
        Assert.Equal("bert", scorer.ModelType);
        var scored = model.Transform(data);
        VBuffer<ReadOnlyMemory<char>> classes = default;
        scored.Schema["PredictedLabel"].GetKeyValues(ref classes);
        var names = classes.DenseValues().Select(c => c.ToString()).ToArray();
        var expected = File.ReadAllLines(Path.Combine(folder, "scores.tsv")).Select(l => l.Split('\t')).ToArray();
        var labels = scored.GetColumn<uint>("PredictedLabel").Select(k => names[k - 1]).ToArray();
        var scores = scored.GetColumn<float[]>("Score").ToArray();
        Assert.Equal(expected.Select(e => e[0]), labels);
        double delta = 0;
        for (int i = 0; i < expected.Length; i++)
            delta = Math.Max(delta, expected[i][1].Split(' ').Select(x => float.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).Zip(scores[i], (a, b) => Math.Abs(a - b)).Max());
        output.WriteLine($"layout 1.1 zip: {labels.Length} rows, labels identical, Score max |Δ| {delta:E2}");
        Assert.True(delta <= 1e-6, $"Score max |Δ| {delta:E2}");
        scorer.Dispose();
    }

    [Fact]
    public void OnnxScorer_NamesAMissingTextColumn()
    {
        var ml = new MLContext(seed: 1);
        using var torch = new BertFineTuneTransformer(OnnxExportTests.TinyModel(BertTask.BinaryClassification), "Text", null);
        string path = Path.Combine(_scratch, "binary", "model.onnx");
        torch.ExportOnnx(path);
        var error = Assert.ThrowsAny<ArgumentException>(() => ml.Transforms.Text.BertOnnxScorer(path, textColumnName: "Body").Fit(RealTexts(ml)));
        Assert.Contains("Body", error.Message);
    }
}
