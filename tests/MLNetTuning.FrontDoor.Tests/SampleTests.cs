namespace MLNetTuning.FrontDoor.Tests;

/// <summary>The file-based samples, run as the README says: <c>dotnet run samples/X.cs</c> from the repository root.</summary>
[Collection(FrontDoorCollection.Name)]
public sealed class SampleTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData("QuickStart.cs", new[] { "Test on 200 e-mails: accuracy ", "Saved ", "predicted spam", "predicted ham" })]
    [InlineData("AfinnRegression.cs", new[] { "Test on unseen words: RMSE ", "Baseline (always ", "magnificent" })]
    public void Sample_Runs(string sample, string[] expectedOutput)
    {
        var result = ChildProcess.Dotnet(log, RepoPaths.Root, TimeSpan.FromMinutes(8), "run", Path.Combine("samples", sample));

        Assert.True(result.ExitCode == 0, $"dotnet run samples/{sample} failed (exit {result.ExitCode}):\n{result.Tail()}");
        foreach (var expected in expectedOutput)
            Assert.True(result.Output.Contains(expected, StringComparison.Ordinal), $"samples/{sample} printed no '{expected}':\n{result.Tail()}");
        log.WriteLine($"samples/{sample}: {result.Elapsed.TotalSeconds:F0} s (build included).");
    }
}
