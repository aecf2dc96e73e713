using Xunit.Abstractions;

namespace MLNetTuning.Tests.Cli;

/// <summary>Exit codes and messages: 2 for usage errors, 1 for failures, a message that names the culprit and no stack trace.</summary>
[Collection(TorchRandomCollection.Name)]
public sealed class CliErrorTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("mlnt-cli-errors-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData("train", "--epochs", "x")]
    [InlineData("train", "--bogus")]
    [InlineData("train", "--task", "ranking")]
    [InlineData("evaluate", "only-one-argument.zip")]
    [InlineData("nonsense")]
    public void ParseErrors_ExitWithTwo_AndPointAtHelp(params string[] args)
    {
        var run = CliRunner.Run(args);
        output.WriteLine(run.ToString());
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("error:", run.Error);
        Assert.Contains("--help", run.Error);
    }

    [Fact]
    public void ContradictoryOptions_AndOutOfRangeValues_AreUsageErrorsNamingTheFlag()
    {
        string data = CliRunner.WriteTopics(_folder, "train.tsv", 12, seed: 1);
        var both = CliRunner.Run(["train", data, "--validation", data, "--validation-fraction", "0.2"]);
        Assert.Equal(2, both.ExitCode);
        Assert.Contains("--validation-fraction", both.Error);

        var range = CliRunner.Run(["train", data, "--batch-size", "0"]);
        output.WriteLine(range.ToString());
        Assert.Equal(2, range.ExitCode);
        Assert.Contains("--batch-size is 0", range.Error);
        Assert.DoesNotContain("   at ", range.Error);
    }

    [Fact]
    public void Predict_WithNoTexts_IsAUsageError()
    {
        var run = CliRunner.Run(["predict", Path.Combine(_folder, "model.zip"), "--top-k", "0"]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--top-k", run.Error);
    }

    [Fact]
    public void MissingDataFile_ExitsWithOne_NamingTheFile_WithoutStackTrace()
    {
        string missing = Path.Combine(_folder, "no-such-file.tsv");
        var run = CliRunner.Run(["train", missing]);
        output.WriteLine(run.ToString());
        Assert.Equal(1, run.ExitCode);
        Assert.Contains(missing, run.Error);
        Assert.DoesNotContain("   at ", run.Error);

        var model = CliRunner.Run(["predict", Path.Combine(_folder, "absent.zip"), "hello"]);
        Assert.Equal(1, model.ExitCode);
        Assert.Contains("absent.zip", model.Error);
    }

    [Fact]
    public void MissingColumn_ExitsWithOne_NamingTheColumnTheOptionAndTheColumnsThereAre()
    {
        string data = CliRunner.WriteTopics(_folder, "train.tsv", 12, seed: 1);
        var run = CliRunner.Run(["train", data, "--label-column", "Category"]);
        output.WriteLine(run.ToString());
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("'Category'", run.Error);
        Assert.Contains("--label-column", run.Error);
        Assert.Contains("Label, Text", run.Error);
        Assert.DoesNotContain("   at ", run.Error);

        var verbose = CliRunner.Run(["train", data, "--label-column", "Category", "--verbose"]);
        Assert.Equal(1, verbose.ExitCode);
        Assert.Contains("   at ", verbose.Error);
    }

    [Fact]
    public void BinaryTask_WithTwoStringLabels_AsksForThePositiveClass()
    {
        string data = Path.Combine(_folder, "binary.tsv");
        File.WriteAllLines(data, ["Text\tLabel", "free money\tspam", "team meeting\tham"]);
        var run = CliRunner.Run(["train", data, "--task", "binary"]);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("--positive-class", run.Error);
        Assert.Contains("'ham', 'spam'", run.Error);
    }

    [Fact]
    public void Cancellation_StopsTraining_AndWritesNothing()
    {
        string tiny = TinyCheckpoint.Create(seed: 3, maxPositions: 128);
        try
        {
            string data = CliRunner.WriteTopics(_folder, "train.tsv", 48, seed: 1);
            string model = Path.Combine(_folder, "out", "model.zip"), report = Path.Combine(_folder, "out", "report");
            using var cancel = new CancellationTokenSource();
            cancel.Cancel();   // as if Ctrl+C came during the first step: training stops right after it
            var run = CliRunner.Run(["train", data, "--output", model, "--report", report, "--export-hf", Path.Combine(_folder, "out", "hf"),
                .. CliRunner.TinyTraining(tiny)], cancellation: cancel.Token);
            output.WriteLine(run.ToString());
            Assert.Equal(1, run.ExitCode);
            Assert.Contains("cancelled, nothing written", run.Error);
            Assert.Contains("step 1/", run.Output);
            Assert.DoesNotContain("step 2/", run.Output);
            Assert.False(Directory.Exists(Path.Combine(_folder, "out")) && Directory.EnumerateFileSystemEntries(Path.Combine(_folder, "out")).Any(),
                "something was written under out/");
        }
        finally { Directory.Delete(Path.GetDirectoryName(tiny)!, recursive: true); }
    }
}
