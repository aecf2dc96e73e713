using System.Globalization;
using System.Text.RegularExpressions;

namespace MLNetTuning.FrontDoor.Tests;

/// <summary>The file-based samples, run as the README says: <c>dotnet run samples/X.cs</c> from the repository root.</summary>
[Collection(FrontDoorCollection.Name)]
public sealed class SampleTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData("QuickStart.cs", new[] { "Test on 200 e-mails: accuracy ", "Saved ", "predicted spam", "predicted ham" })]
    [InlineData("TokenClassification.cs", new[] { "Test on 500 sentences: entity precision ", "  PER ", "Tagged: " })]
    [InlineData("QuestionAnswering.cs", new[] { "Test on 503 SQuAD questions: exact match ", "Q: Where does the Rhine rise?\n   A: " })]
    [InlineData("MultiLabel.cs", new[] { "Test on 600 comments: micro F1 ", "  neutral ", "\"Thank you so much, this made my day!\" → " })]
    public void Sample_Runs(string sample, string[] expectedOutput)
    {
        var result = ChildProcess.Dotnet(log, RepoPaths.Root, TimeSpan.FromMinutes(15), "run", Path.Combine("samples", sample));

        Assert.True(result.ExitCode == 0, $"dotnet run samples/{sample} failed (exit {result.ExitCode}):\n{result.Tail()}");
        foreach (var expected in expectedOutput)
            Assert.True(result.Output.Contains(expected, StringComparison.Ordinal), $"samples/{sample} printed no '{expected}':\n{result.Tail()}");
        log.WriteLine($"samples/{sample}: {result.Elapsed.TotalSeconds:F0} s (build included).");
    }

    [Fact]
    public void AfinnRegression_BeatsTheTrainingMeanOnUnseenWords()
    {
        var result = ChildProcess.Dotnet(log, RepoPaths.Root, TimeSpan.FromMinutes(8), "run", Path.Combine("samples", "AfinnRegression.cs"));

        Assert.True(result.ExitCode == 0, $"dotnet run samples/AfinnRegression.cs failed (exit {result.ExitCode}):\n{result.Tail()}");
        double model = Number(result, @"Test on unseen words: RMSE (\d+\.\d+)"), baseline = Number(result, @"Baseline \(always .*\): RMSE (\d+\.\d+)");
        Assert.True(model < 0.8 * baseline, $"The fine-tuned RMSE {model} is not clearly below the training-mean baseline's {baseline}.");
        foreach (var word in new[] { "magnificent", "atrocious" })
            Assert.Matches(new Regex($@"^\s+{word}\s+-?\d+\.\d+\s*$", RegexOptions.Multiline), result.Output);
        log.WriteLine($"samples/AfinnRegression.cs: {result.Elapsed.TotalSeconds:F0} s (build included).");
    }

    private static double Number(ProcessResult result, string pattern)
    {
        var match = Regex.Match(result.Output, pattern);
        Assert.True(match.Success, $"No line matches '{pattern}' in:\n{result.Tail()}");
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }
}
