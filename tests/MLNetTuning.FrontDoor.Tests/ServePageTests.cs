using System.Text.Json.Nodes;
using MLNetTuning.Serve;

namespace MLNetTuning.FrontDoor.Tests;

/// <summary>
/// The try-it page of <c>mlnet-tune serve</c> in headless Chromium from Debian: the page loads from the server (no CDN),
/// reads GET /info, posts the text from its <c>?text=</c> link to /predict and shows the prediction. A keyword stand-in
/// plays the model, so that the test is about the page; the models' JSON is tested in MLNetTuning.Tests/Serve.
/// </summary>
[Collection(FrontDoorCollection.Name)]
public sealed class ServePageTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-page-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    [Fact]
    public async Task Page_ShowsThePrediction_InHeadlessChromium()
    {
        string chromium = Chromium.Find(log);
        using var predictor = new KeywordModel();
        await using var app = ServeApp.Create(predictor, new ServeSettings { Host = "127.0.0.1", Port = 0 });
        await app.StartAsync();
        string url = $"{ServeApp.Address(app)}/?text={Uri.EscapeDataString("A special offer, just for you")}";

        // --virtual-time-budget lets the page's fetches finish before the DOM is dumped (virtual time waits for the network).
        var dom = Run(chromium, "--dump-dom", url);
        Assert.True(dom.ExitCode == 0, $"chromium --dump-dom failed (exit {dom.ExitCode}):\n{dom.Tail()}");
        Assert.Contains("data-state=\"predicted\"", dom.Output);
        Assert.Contains("Predicted: spam", dom.Output);
        Assert.Contains("spam 0.900", dom.Output);
        Assert.Contains("BinaryClassification model, float32, labels: ham, spam", dom.Output);
        Assert.Equal(1, predictor.Calls);

        string png = Path.Combine(_scratch, "page.png");
        var shot = Run(chromium, $"--screenshot={png}", "--window-size=900,700", url);
        Assert.True(shot.ExitCode == 0 && File.Exists(png), $"chromium --screenshot wrote no {png} (exit {shot.ExitCode}):\n{shot.Tail()}");
        byte[] bytes = File.ReadAllBytes(png);
        Assert.True(bytes.Length > 2000 && bytes[..4].SequenceEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }), $"{png} is not a PNG screenshot ({bytes.Length} bytes).");
        await app.StopAsync();
    }

    private ProcessResult Run(string chromium, string what, params string[] rest) => ChildProcess.Run(log, chromium,
    [
        // --no-sandbox: Chromium refuses to run as root with its sandbox (CI containers run as root).
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", $"--user-data-dir={Path.Combine(_scratch, "profile")}",
        "--virtual-time-budget=15000", what, .. rest,
    ], _scratch, TimeSpan.FromMinutes(2));

    /// <summary>"spam" when a text holds "offer", else "ham"; counts its calls.</summary>
    private sealed class KeywordModel : IPredictor
    {
        public ModelCard Card { get; } = new("BinaryClassification", ["ham", "spam"], "keyword stand-in", "float32", InputKind.Texts);
        public int Calls { get; private set; }

        public IReadOnlyList<JsonObject> Predict(IReadOnlyList<PredictInput> inputs)
        {
            Calls++;
            return inputs.Select(i => PredictionJson.Classification(Card.Labels, i.Text.Contains("offer") ? [0.1f, 0.9f] : [0.8f, 0.2f])).ToList();
        }

        public void Dispose() { }
    }
}
