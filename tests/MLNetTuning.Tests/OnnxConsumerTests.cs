using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Xunit.Abstractions;

namespace MLNetTuning.Tests;

/// <summary>
/// The deployment MLNetTuning.Onnx exists for: an app that references it and not TorchSharp (OnnxConsumer/) is published,
/// its folder holds no libtorch and no TorchSharp, and in two fresh processes it builds, saves, reloads and scores a model
/// that the main package exported, giving the TorchSharp stage's predictions: a multiclass model, and a token classifier
/// behind ML.NET's own word splitter (tags per word).
/// </summary>
public sealed class OnnxConsumerTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-onnx-consumer-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_scratch, recursive: true); } catch (IOException) { }
    }

    private sealed class TextRow
    {
        public string Text { get; set; } = "";
    }

    private sealed class WordsRow
    {
        [VectorType] public string[] Words { get; set; } = [];
    }

    [Fact]
    public void PublishedAppWithoutTorchSharp_ScoresAnExportedModel_AsTheTorchSharpStageDoes()
    {
        // The model and what the TorchSharp stage predicts for 24 real e-mails (whitespace runs flattened to one space for
        // the TSV, so that ML.NET's word splitter and string.Split give the same words to the tagger).
        var texts = RepoFiles.ReadTsv("samples", "data", "spam", "test.tsv")
            .Select(r => string.Join(' ', r[2].Split([' ', '\t', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries))).Take(24).ToArray();
        string tsv = Path.Combine(_scratch, "texts.tsv"), onnx = Path.Combine(_scratch, "export", "model.onnx"), taggerOnnx = Path.Combine(_scratch, "tagger", "model.onnx");
        File.WriteAllLines(tsv, texts);
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(texts.Select(t => new TextRow { Text = t }));
        string[] expectedLabels;
        float[][] expectedScores;
        using (var torch = new BertFineTuneTransformer(OnnxExportTests.TinyModel(BertTask.MulticlassClassification), "Text", null))
        {
            torch.ExportOnnx(onnx);
            var scored = torch.Transform(data);
            expectedLabels = scored.GetColumn<uint>("PredictedLabel").Select(k => torch.ClassNames[(int)k - 1]).ToArray();
            expectedScores = scored.GetColumn<float[]>("Score").ToArray();
        }
        string[] expectedTags;
        float[][] expectedTagScores;
        using (var tagger = new BertFineTuneTransformer(OnnxExportTests.TinyModel(BertTask.TokenClassification), "Words", null))
        {
            tagger.ExportOnnx(taggerOnnx);
            var scored = tagger.Transform(ml.Data.LoadFromEnumerable(texts.Select(t => new WordsRow { Words = t.Split(' ') })));
            expectedTags = scored.GetColumn<uint[]>("PredictedLabel").Select(tags => string.Join(" ", tags.Select(k => tagger.ClassNames[(int)k - 1]))).ToArray();
            expectedTagScores = scored.GetColumn<float[]>("Score").ToArray();
        }

        string app = Path.Combine(_scratch, "app"), published = Path.Combine(_scratch, "published");
        Directory.CreateDirectory(app);
        string template = Path.Combine(AppContext.BaseDirectory, "OnnxConsumer");
        File.Copy(Path.Combine(template, "Program.cs"), Path.Combine(app, "Program.cs"));
        File.WriteAllText(Path.Combine(app, "OnnxConsumer.csproj"), File.ReadAllText(Path.Combine(template, "OnnxConsumer.csproj.template"))
            .Replace("$ONNX_PROJECT$", RepoFiles.Path("src", "MLNetTuning.Onnx", "MLNetTuning.Onnx.csproj")));
        var publish = Run(TimeSpan.FromMinutes(8), "publish", Path.Combine(app, "OnnxConsumer.csproj"), "-c", "Release", "-o", published);
        Assert.True(publish.ExitCode == 0, $"dotnet publish failed:\n{publish.Output}");

        var files = Directory.GetFiles(published, "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToList();
        Assert.Contains("MLNetTuning.Onnx.dll", files);
        Assert.Contains(files, f => f!.Contains("onnxruntime", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(files, f => f!.Contains("torch", StringComparison.OrdinalIgnoreCase) || f!.StartsWith("libc10", StringComparison.Ordinal));
        Assert.DoesNotContain("MLNetTuning.dll", files);
        long megabytes = Directory.GetFiles(published, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) / 1_000_000;
        output.WriteLine($"published folder: {files.Count} files, {megabytes} MB, no libtorch");

        string zip = Path.Combine(_scratch, "scorer.zip"), scores = Path.Combine(_scratch, "scores.tsv");
        string consumer = Path.Combine(published, "OnnxConsumer.dll");
        // Two fresh processes of the app: one builds and saves the ML.NET zip, the other loads it and scores.
        void SaveAndScore(string graph, string modelZip, string results, params string[] mode)
        {
            var save = Run(TimeSpan.FromMinutes(2), [consumer, "save", graph, tsv, modelZip, .. mode]);
            var score = Run(TimeSpan.FromMinutes(2), [consumer, "score", modelZip, tsv, results, .. mode]);
            output.WriteLine(save.Output + score.Output);
            Assert.True(save.ExitCode == 0 && score.ExitCode == 0, save.Output + score.Output);
            Assert.Contains("NO TORCHSHARP", score.Output);
        }

        SaveAndScore(onnx, zip, scores);
        double delta = Compare(File.ReadAllLines(scores), expectedLabels, expectedScores);
        output.WriteLine($"consumer vs TorchSharp stage: labels identical, Score max |Δ| {delta:E2}");
        Assert.True(delta <= 1e-4, $"Score max |Δ| {delta:E2}");

        string taggerZip = Path.Combine(_scratch, "tagger.zip"), tags = Path.Combine(_scratch, "tags.tsv");
        SaveAndScore(taggerOnnx, taggerZip, tags, "words");
        double tagDelta = Compare(File.ReadAllLines(tags), expectedTags, expectedTagScores);
        output.WriteLine($"consumer tagger vs TorchSharp stage: {expectedTagScores.Sum(s => s.Length)} words, tags identical, Score max |Δ| {tagDelta:E2}");
        Assert.True(tagDelta <= 1e-4, $"tagger Score max |Δ| {tagDelta:E2}");
    }

    /// <summary>Checks each line's labels (first field) and returns the largest Score difference (second field).</summary>
    private static double Compare(string[] lines, string[] expectedLabels, float[][] expectedScores)
    {
        Assert.Equal(expectedLabels.Length, lines.Length);
        Assert.Equal(expectedLabels, lines.Select(l => l.Split('\t')[0]));
        double delta = 0;
        for (int i = 0; i < lines.Length; i++)
        {
            var actual = lines[i].Split('\t')[1].Split(' ').Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            Assert.Equal(expectedScores[i].Length, actual.Length);
            delta = Math.Max(delta, expectedScores[i].Zip(actual, (a, b) => Math.Abs(a - b)).Max());
        }
        return delta;
    }

    private static (int ExitCode, string Output) Run(TimeSpan timeout, params string[] args)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet {string.Join(' ', args)} did not finish within {timeout.TotalSeconds:F0} s:\n{stdout.Result}");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
