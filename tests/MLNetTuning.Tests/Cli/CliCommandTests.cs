using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetTuning.Pretrained;
using Xunit.Abstractions;

namespace MLNetTuning.Tests.Cli;

/// <summary>train, evaluate, predict, embed and export end to end on a tiny random model and a synthetic two-topic TSV.</summary>
[Collection(TorchRandomCollection.Name)]
public sealed class CliCommandTests(CliTrainedModelFixture trained, ITestOutputHelper output) : IClassFixture<CliTrainedModelFixture>
{
    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    [Fact]
    public void Train_WritesModelZip_Report_AndValidPngs_AndPrintsTestMetricsWithConfusionMatrix()
    {
        var run = trained.Train;
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        Assert.True(new FileInfo(trained.ModelPath).Length > 10_000);
        foreach (var png in new[] { "loss.png", "validation.png" })
        {
            byte[] bytes = File.ReadAllBytes(Path.Combine(trained.ReportFolder, png));
            Assert.True(bytes.Length > 5_000, $"{png} has only {bytes.Length} bytes");
            Assert.Equal(PngSignature, bytes[..8]);
        }
        // No temp files are left beside the outputs.
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(trained.ModelPath)!, "*.tmp", SearchOption.AllDirectories));

        // Redirected output: plain progress lines, one line per evaluation (4 epochs, validation at each epoch end).
        Assert.Contains("step 1/", run.Output);
        Assert.Equal(4, run.Output.Split('\n').Count(line => line.StartsWith("evaluation at epoch", StringComparison.Ordinal)));
        Assert.Contains("MicroAccuracy", run.Output);
        Assert.Contains("Confusion matrix", run.Output);

        string report = File.ReadAllText(Path.Combine(trained.ReportFolder, "report.md"));
        foreach (var section in new[] { "## Data", "## Options", "## Validation", "## Test", "## Time and memory", "![training loss](loss.png)", "**kept**", "peak working set" })
            Assert.Contains(section, report);
        Assert.Contains("| LearningRate | 0.005 |", report);
        Assert.Contains("| truth \\ predicted | spam | work | recall |", report);
        // The tiny model learns the topics: the accuracy it reports is real, not a placeholder.
        double accuracy = double.Parse(report.Split('\n').First(l => l.StartsWith("| MicroAccuracy |", StringComparison.Ordinal)).Split('|')[2]);
        Assert.True(accuracy > 0.8, $"test accuracy {accuracy}");
    }

    [Fact]
    public void Evaluate_PrintsMetrics_AndConfusionMatrixWithClassNames_WhoseCountsCoverEveryRow()
    {
        var run = CliRunner.Run(["evaluate", trained.ModelPath, trained.TestPath]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("MicroAccuracy", run.Output);
        var lines = run.Output.Split('\n');
        string header = lines.First(l => l.Contains("truth \\ predicted", StringComparison.Ordinal));
        Assert.True(header.IndexOf("spam", StringComparison.Ordinal) < header.IndexOf("work", StringComparison.Ordinal), header);
        long total = 0;
        foreach (var name in new[] { "spam", "work" })
        {
            var cells = lines.First(l => l.Split('│', StringSplitOptions.TrimEntries).ElementAtOrDefault(1) == name).Split('│', StringSplitOptions.TrimEntries);
            total += cells.Skip(2).Take(2).Sum(long.Parse);
        }
        Assert.Equal(30, total);
    }

    [Fact]
    public void Predict_Json_GivesOneParseableLinePerText_WithTopKSortedAndSummingToAtMostOne()
    {
        var run = CliRunner.Run(["predict", trained.ModelPath, "--json", "--top-k", "2", "free money win prize now", "team meeting project review tomorrow"]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        var predictions = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(2, predictions.Count);
        foreach (var prediction in predictions)
        {
            var top = prediction["top"]!.AsArray().Select(t => (Label: (string)t!["label"]!, Probability: (double)t["probability"]!)).ToList();
            Assert.Equal(2, top.Count);
            Assert.True(top[0].Probability >= top[1].Probability);
            Assert.InRange(top.Sum(t => t.Probability), 0, 1 + 1e-6);
            Assert.Equal(top[0].Label, (string)prediction["predicted"]!);
        }
        Assert.Equal("spam", (string)predictions[0]["predicted"]!);
        Assert.Equal("work", (string)predictions[1]["predicted"]!);

        // The same texts from standard input, scored as a table.
        var table = CliRunner.Run(["predict", trained.ModelPath], stdin: "free money win prize now\nteam meeting project review tomorrow\n");
        Assert.Equal(0, table.ExitCode);
        Assert.Contains("top probabilities", table.Output);
    }

    [Fact]
    public void Embed_GivesOneUnitVectorOfTheHiddenSizePerText()
    {
        // The tiny model has 128 positions, fewer than embed's default 256 tokens: a usage error that names the flag.
        var tooLong = CliRunner.Run(["embed", "--model", trained.TinyModel, "free money now"]);
        Assert.Equal(2, tooLong.ExitCode);
        Assert.Contains("--max-length 256", tooLong.Error);

        var run = CliRunner.Run(["embed", "--model", trained.TinyModel, "--max-length", "64", "free money now", "team meeting"]);
        output.WriteLine(run.ToString()[..Math.Min(run.ToString().Length, 2000)]);
        Assert.Equal(0, run.ExitCode);
        var vectors = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonSerializer.Deserialize<JsonElement>(l).GetProperty("embedding").EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToList();
        Assert.Equal(2, vectors.Count);
        Assert.All(vectors, v => Assert.Equal(32, v.Length));
        Assert.All(vectors, v => Assert.Equal(1, Math.Sqrt(v.Sum(x => x * x)), 4));
        Assert.NotEqual(vectors[0], vectors[1]);
    }

    [Fact]
    public void Export_WritesAHuggingFaceFolderThatLoads_WithTheClassNames()
    {
        string folder = Path.Combine(trained.Folder, "exported");
        var run = CliRunner.Run(["export", trained.ModelPath, folder]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        using var loaded = ModelResolver.Load(folder);
        Assert.Equal(["spam", "work"], loaded.Config.Labels);
        Assert.Equal(32, loaded.Config.HiddenSize);
    }

    [Fact]
    public void Binary_TrainWithExportHf_AndExport_NameBothClassesFromTheData()
    {
        string folder = Directory.CreateDirectory(Path.Combine(trained.Folder, "binary")).FullName;
        string model = Path.Combine(folder, "model.zip"), trainExport = Path.Combine(folder, "hf-train"), laterExport = Path.Combine(folder, "hf-export");
        var train = CliRunner.Run(["train", trained.TrainPath, "--task", "binary", "--positive-class", "spam", "--train-rows", "48",
            "--output", model, "--report", Path.Combine(folder, "report"), "--export-hf", trainExport, .. CliRunner.TinyTraining(trained.TinyModel)]);
        output.WriteLine(train.ToString());
        Assert.Equal(0, train.ExitCode);
        var export = CliRunner.Run(["export", model, laterExport]);
        Assert.Equal(0, export.ExitCode);

        foreach (var exported in new[] { trainExport, laterExport })
        {
            // As Python's pipeline("text-classification") reads it: softmax over two logits, named by id2label.
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(exported, "config.json")))!;
            Assert.Equal("single_label_classification", (string?)config["problem_type"]);
            Assert.Equal("work", (string?)config["id2label"]!["0"]);
            Assert.Equal("spam", (string?)config["id2label"]!["1"]);
            using var loaded = ModelResolver.Load(exported);
            Assert.Equal(["work", "spam"], loaded.Config.Labels);
        }
    }
}
