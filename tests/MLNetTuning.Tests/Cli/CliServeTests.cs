using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetTuning.Cli.Modeling;

namespace MLNetTuning.Tests.Cli;

/// <summary>`mlnet-tune serve` as a user runs it: options checked before anything loads, a model zip served until Ctrl+C.</summary>
public sealed class CliServeTests : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-cli-serve-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    [Theory]
    [InlineData(new[] { "--max-batch", "0" }, "--max-batch is 0; it must be at least 1")]
    [InlineData(new[] { "--port", "-1" }, "--port is -1; it must be between 0 and 65535")]
    [InlineData(new[] { "--host", "example.org" }, "--host is 'example.org'; it must be an IP address")]
    public void BadOptions_FailBeforeTheModelLoads(string[] options, string expected)
    {
        var result = CliRunner.Run(["serve", Path.Combine(_scratch, "absent.zip"), .. options]);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains(expected, result.Error);
    }

    [Fact]
    public void AMissingModel_NamesTheFileAndHowToMakeOne()
    {
        var zip = CliRunner.Run(["serve", Path.Combine(_scratch, "absent.zip")]);
        Assert.Equal(1, zip.ExitCode);
        Assert.Contains("absent.zip' (model) does not exist", zip.Error);
        var onnx = CliRunner.Run(["serve", Path.Combine(_scratch, "absent.onnx")]);
        Assert.Equal(1, onnx.ExitCode);
        Assert.Contains("export model.zip", onnx.Error);
    }

    [Fact]
    public async Task Serve_AModelZip_AnswersUntilCancelled()
    {
        string path = Path.Combine(_scratch, "model.zip");
        var ml = new MLContext(seed: 1);
        using (var transformer = new BertFineTuneTransformer(OnnxExportTests.TinyModel(BertTask.MulticlassClassification), "Text", null))
            ModelFile.Save(ml, transformer, new ModelInfo(BertTask.MulticlassClassification, ["ham", "spam", "other"], "Text", null, "Label", "tiny"), path);
        int port = FreePort();
        using var stop = new CancellationTokenSource();
        var run = Task.Run(() => CliRunner.Run(["serve", path, "--port", port.ToString(), "--max-wait-ms", "1"], cancellation: stop.Token));

        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(30) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            Assert.False(run.IsCompleted, run.IsCompleted ? run.Result.ToString() : "");
            try { if ((await client.GetAsync("healthz")).IsSuccessStatusCode) break; }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline) { }
            await Task.Delay(100);
        }
        using var response = await client.PostAsync("predict", new StringContent("""{"texts": ["hello there", "win a prize"]}""", Encoding.UTF8, "application/json"));
        string body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var predictions = JsonNode.Parse(body)!["predictions"]!.AsArray();
        Assert.Equal(2, predictions.Count);
        Assert.Contains((string)predictions[0]!["label"]!, new[] { "ham", "spam", "other" });
        var info = JsonNode.Parse(await client.GetStringAsync("info"))!;
        Assert.Equal("MulticlassClassification", (string?)info["task"]);
        Assert.Equal("float32", (string?)info["precision"]);

        stop.Cancel();
        var result = await run.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"Serving a MulticlassClassification model (float32, {path} (fine-tuned from tiny)) on http://127.0.0.1:{port}", result.Output);
        Assert.Contains("Stopped: every request in flight was answered.", result.Output);
    }

    [Fact]
    public void ExportOnnx_OfABinaryZip_KeepsTheClassNames_SoThatServingTheGraphNamesThem()
    {
        string zip = Path.Combine(_scratch, "binary.zip"), graph = Path.Combine(_scratch, "onnx", "model.onnx");
        using (var transformer = new BertFineTuneTransformer(OnnxExportTests.TinyModel(BertTask.BinaryClassification), "Text", null))
            ModelFile.Save(new MLContext(seed: 1), transformer, new ModelInfo(BertTask.BinaryClassification, ["ham", "spam"], "Text", null, "Label", "tiny"), zip);
        var export = CliRunner.Run(["export", zip, graph, "--format", "onnx"]);
        Assert.True(export.ExitCode == 0, export.ToString());

        using var onnx = MLNetTuning.Serve.OnnxPredictor.Open(graph);
        using var torch = ZipPredictor.Open(zip);
        Assert.Equal(["ham", "spam"], onnx.Card.Labels);
        var inputs = new[] { new MLNetTuning.Serve.PredictInput("win a prize now"), new MLNetTuning.Serve.PredictInput("see you at lunch") };
        var fromGraph = onnx.Predict(inputs);
        var fromZip = torch.Predict(inputs);
        for (int i = 0; i < inputs.Length; i++)
        {
            Assert.Equal((string?)fromZip[i]["label"], (string?)fromGraph[i]["label"]);
            Assert.Equal((float)fromZip[i]["probabilities"]!["spam"]!, (float)fromGraph[i]["probabilities"]!["spam"]!, 4);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
