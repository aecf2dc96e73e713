using Microsoft.ML.Data;
using MLNetTuning.Cli;
using MLNetTuning.Cli.Data;
using MLNetTuning.Cli.Reports;

namespace MLNetTuning.Tests.Cli;

/// <summary>The CLI's file reading and label mapping, without torch.</summary>
public sealed class CliDataTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("mlnt-cli-data-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Csv_QuotedFieldsKeepCommasQuotesAndLineBreaks()
    {
        string path = Path.Combine(_folder, "data.csv");
        File.WriteAllText(path, "Text,Label\r\n\"Hello, world\",a\n\"She said \"\"hi\"\"\nthen left\",b\nplain,a\n");
        var file = DataFile.Read(path, "data");
        var examples = Examples.Read(file, ColumnNames.Default, withLabel: true);
        Assert.Equal(["Hello, world", "She said \"hi\"\nthen left", "plain"], examples.Select(e => e.Text));
        Assert.Equal(["a", "b", "a"], examples.Select(e => e.Label));
    }

    [Fact]
    public void Tsv_RowWithTheWrongFieldCount_IsNamedWithItsLine()
    {
        string path = Path.Combine(_folder, "data.tsv");
        File.WriteAllLines(path, ["Label\tText", "a\tfine", "b\tone\ttab too many"]);
        var error = Assert.Throws<CliException>(() => DataFile.Read(path, "data"));
        Assert.Contains("line 3", error.Message);
        Assert.Contains("3 fields", error.Message);
    }

    [Fact]
    public void LabelScheme_Binary_UsesThePositiveClass_OrBooleanSpellings_AndRejectsUnknownLabels()
    {
        var spam = LabelScheme.FromTraining(BertTask.BinaryClassification, ["ham", "spam", "ham"], "spam", "Label", "train");
        Assert.Equal(["ham", "spam"], spam.ClassNames);
        Assert.Equal(1, spam.Encode("spam", "test", 1));
        Assert.Equal(0, spam.Encode("ham", "test", 2));
        var unknown = Assert.Throws<CliException>(() => spam.Encode("eggs", "test", 7));
        Assert.Contains("data row 7", unknown.Message);
        Assert.Contains("'eggs'", unknown.Message);

        var booleans = LabelScheme.FromTraining(BertTask.BinaryClassification, ["True", "false"], null, "Label", "train");
        Assert.Equal(1, booleans.Encode("TRUE", "test", 1));

        var multiclass = LabelScheme.FromTraining(BertTask.MulticlassClassification, ["b", "c", "a", "b"], null, "Label", "train");
        Assert.Equal(["a", "b", "c"], multiclass.ClassNames);
        Assert.Throws<CliException>(() => LabelScheme.FromTraining(BertTask.Regression, [], null, "Label", "train").Encode("n/a", "test", 3));
    }

    [Fact]
    public void MulticlassView_HasOneBasedKeys_InClassNameOrder_WithTheNamesAsKeyValues()
    {
        var scheme = LabelScheme.FromTraining(BertTask.MulticlassClassification, ["work", "mood", "spam"], null, "Label", "train");
        var view = ExampleViews.Labeled(new Microsoft.ML.MLContext(1), [new("a", null, "mood"), new("b", null, "spam"), new("c", null, "work")], scheme, pair: false, "train");
        Assert.Equal([1u, 2u, 3u], Microsoft.ML.Data.ColumnCursorExtensions.GetColumn<uint>(view, "Label"));
        Microsoft.ML.Data.VBuffer<ReadOnlyMemory<char>> names = default;
        view.Schema["Label"].GetKeyValues(ref names);
        Assert.Equal(["mood", "spam", "work"], names.DenseValues().Select(n => n.ToString()));
    }

    [Fact]
    public void MovingAverage_IsTheTrailingMeanOfTheWindow()
    {
        Assert.Equal([1, 2, 4, 6, 8], TrainingPlots.MovingAverage([1, 3, 5, 7, 9], 2));
        Assert.Equal([4, 4, 4], TrainingPlots.MovingAverage([4, 4, 4], 10));
    }
}
