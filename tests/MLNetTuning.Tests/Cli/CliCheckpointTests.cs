using Xunit.Abstractions;

namespace MLNetTuning.Tests.Cli;

/// <summary>`mlnet-tune train --checkpoint-dir DIR`, Ctrl+C and `--resume`.</summary>
[Collection(TorchRandomCollection.Name)]
public sealed class CliCheckpointTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("mlnt-cli-ckpt-").FullName;
    private readonly string _tiny = TinyCheckpoint.Create(seed: 3, maxPositions: 128);

    public void Dispose()
    {
        Directory.Delete(_folder, recursive: true);
        Directory.Delete(Path.GetDirectoryName(_tiny)!, recursive: true);
    }

    private CliRunner.Result Train(string run, string[] extra, CancellationToken cancellation = default)
    {
        string data = Path.Combine(_folder, "train.tsv");
        if (!File.Exists(data)) CliRunner.WriteTopics(_folder, "train.tsv", 48, seed: 1);
        // The tiny recipe, less the flags that extra sets again (each takes one value).
        var recipe = CliRunner.TinyTraining(_tiny).ToList();
        foreach (string flag in extra.Where(a => a.StartsWith("--", StringComparison.Ordinal)))
            if (recipe.IndexOf(flag) is int at and >= 0) recipe.RemoveRange(at, 2);
        var result = CliRunner.Run(["train", data, "--output", Path.Combine(_folder, run, "model.zip"), "--export-hf", Path.Combine(_folder, run, "hf"),
            .. recipe, .. extra], cancellation: cancellation);
        output.WriteLine(result.ToString());
        return result;
    }

    [Fact]
    public void CtrlC_WritesACheckpointAndSaysWhere_AndResumeEndsLikeAnUninterruptedRun()
    {
        var whole = Train("whole", []);
        Assert.Equal(0, whole.ExitCode);

        string checkpoints = Path.Combine(_folder, "checkpoints");
        using (var cancel = new CancellationTokenSource())
        {
            cancel.Cancel();   // as if Ctrl+C came during the first step: training stops right after it, and saves it
            var cancelled = Train("resumed", ["--checkpoint-dir", checkpoints], cancel.Token);
            Assert.Equal(1, cancelled.ExitCode);
            string saved = Path.Combine(checkpoints, "checkpoint-00000001");
            Assert.Contains($"cancelled; the newest checkpoint is '{saved}': run the same command with --resume to continue from it", cancelled.Error);
            Assert.Contains($"checkpoint at epoch 1 step 1: {saved}", cancelled.Output);
            Assert.True(File.Exists(Path.Combine(saved, "manifest.json")));
            Assert.False(File.Exists(Path.Combine(_folder, "resumed", "model.zip")));
        }

        var resumed = Train("resumed", ["--checkpoint-dir", checkpoints, "--resume"]);
        Assert.Equal(0, resumed.ExitCode);
        Assert.Contains($"resumed from {Path.Combine(checkpoints, "checkpoint-00000001")}: epoch 1, step 1/", resumed.Output);
        Assert.Contains("checkpoint at epoch 2 step", resumed.Output);
        // Same seed, same threads (--threads 1): the same weights, bit for bit, as the run that never stopped.
        Assert.Equal(File.ReadAllBytes(Path.Combine(_folder, "whole", "hf", "model.safetensors")),
            File.ReadAllBytes(Path.Combine(_folder, "resumed", "hf", "model.safetensors")));
    }

    [Fact]
    public void DivergingRun_StopsWithTheStepAndTheFlagsToChange_AndNoStackTrace()
    {
        var run = Train("diverged", ["--learning-rate", "1e30", "--warmup-steps", "0", "--schedule", "Constant"]);
        Assert.Equal(1, run.ExitCode);
        Assert.Matches(@"Training diverged at epoch 1 step \d+/\d+ \(learning rate 1E\+30\): the loss is NaN", run.Error.ReplaceLineEndings(" "));
        Assert.Contains("Lower --learning-rate (now 1E+30)", run.Error.ReplaceLineEndings(" "));
        Assert.Contains("--skip-non-finite-steps", run.Error.ReplaceLineEndings(" "));
        Assert.DoesNotContain("--verbose", run.Error);
        Assert.DoesNotContain("BertFineTuneOptions", run.Error);
        Assert.False(File.Exists(Path.Combine(_folder, "diverged", "model.zip")));
    }

    [Fact]
    public void ResumeWithoutCheckpointDir_IsAUsageErrorNamingBothFlags()
    {
        var run = Train("x", ["--resume"]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--resume is \"latest\"", run.Error);
        Assert.Contains("--checkpoint-dir is not set", run.Error);
    }
}
