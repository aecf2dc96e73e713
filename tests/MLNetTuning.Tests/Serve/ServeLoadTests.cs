using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using MLNetTuning.Serve;
using Xunit.Abstractions;

namespace MLNetTuning.Tests.Serve;

/// <summary>
/// 32 concurrent clients for 10 seconds against a tiny ONNX model over loopback: every request must succeed, and the
/// batcher must have joined them. Ten seconds (not the twenty) keeps the suite fast; the bench's serve job runs longer.
/// </summary>
public sealed class ServeLoadTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-serve-load-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    [Fact]
    public async Task ThirtyTwoClientsForTenSeconds_GetNoErrors()
    {
        using (var torch = new BertFineTuneTransformer(OnnxExportTests.TinyModel(BertTask.MulticlassClassification), "Text", null))
            torch.ExportOnnx(Path.Combine(_scratch, "model.onnx"));
        using var predictor = OnnxPredictor.Open(Path.Combine(_scratch, "model.onnx"));
        await using var server = await ServeHarness.StartAsync(predictor, new ServeSettings { MaxBatch = 32, MaxWaitMs = 2, QueueSize = 64 });
        string[] texts = ["a free cruise offer, reply now", "the meeting moved to Thursday", "short", "Is the build green again after the tokenizer fix?"];

        var stop = Stopwatch.StartNew();
        int ok = 0;
        var failures = new List<string>();
        async Task Client(int id)
        {
            for (int i = 0; stop.Elapsed < TimeSpan.FromSeconds(10); i++)
            {
                string text = texts[(id + i) % texts.Length];
                using var response = await server.PostAsync(new JsonObject { ["texts"] = new JsonArray(text) }.ToJsonString());
                string body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode == HttpStatusCode.OK && JsonNode.Parse(body)!["predictions"]![0]!["label"] is not null) Interlocked.Increment(ref ok);
                else lock (failures) failures.Add($"{(int)response.StatusCode}: {body}");
            }
        }
        await Task.WhenAll(Enumerable.Range(0, 32).Select(id => Task.Run(() => Client(id))));

        var health = await server.GetJsonAsync("healthz");
        long batches = (long)health["batches"]!, predictions = (long)health["predictions"]!;
        output.WriteLine($"{ok} requests in {stop.Elapsed.TotalSeconds:F1} s ({ok / stop.Elapsed.TotalSeconds:F0}/s), {batches} batches, mean batch {predictions / (double)batches:F1}");
        Assert.Empty(failures.Take(5));
        Assert.True(ok > 100, $"Only {ok} requests succeeded in 10 s.");
        Assert.Equal(ok, predictions);
        Assert.True(predictions / (double)batches > 2, $"Mean batch {predictions / (double)batches:F1}: under 32 clients the batcher should join requests.");
    }
}
