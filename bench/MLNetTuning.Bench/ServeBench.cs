using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Serve;

namespace MLNetTuning.Bench;

/// <summary>
/// <c>mlnet-tune serve</c> under load over loopback: <see cref="Clients"/> clients each send one e-mail per request for a
/// fixed time, against the server with dynamic batching and without it (<c>--max-batch 1</c>), beside the raw batched
/// speed of the same predictor called directly (batches of 32, no HTTP). Throughput in predictions/s and p50/p99
/// latency per request. The model is all-MiniLM-L6-v2 with a binary head after a few training steps (speed does not
/// depend on how far it trained), exported to ONNX in float32 and int8 and served through MLNetTuning.Onnx.
/// </summary>
internal static class ServeBench
{
    private const int Clients = 32;

    public static int Run(int seconds, int threads)
    {
        var ml = new MLContext(seed: 1);
        var (train, test) = SpamSample.Load(ml, 16);
        var options = new BertFineTuneOptions
        {
            Task = BertTask.BinaryClassification, LabelColumnName = "IsSpam", MaxSequenceLength = 128, BatchSize = 8, Epochs = 1,
            LearningRate = 2e-4f, Seed = 1, NumberOfThreads = threads,
        };
        string folder = Directory.CreateTempSubdirectory("mlnt-serve-bench-").FullName;
        using (var model = new BertFineTuneEstimator(ml, options).Fit(train))
        {
            model.ExportOnnx(Path.Combine(folder, "fp32", "model.onnx"));
            model.ExportOnnx(Path.Combine(folder, "int8", "model.onnx"), OnnxQuantization.Int8);
        }
        // Real e-mails, cut by the tokenizer at 128 tokens as training cut them; and short texts (their first 64 characters,
        // about 16 tokens), where a call of the model costs little next to its fixed overhead and batching pays most.
        string[] emails = test.GetColumn<string>("Text").Take(256).ToArray();
        string[] shortTexts = emails.Select(t => t.Length > 64 ? t[..64] : t).ToArray();

        Console.WriteLine($"<!-- MLNetTuning.Bench serve --seconds {seconds}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, load average at start: {LoadAverage()} -->");
        Console.WriteLine($"## mlnet-tune serve under load: {Clients} clients, one text per request, {seconds} s per row, loopback\n");
        Console.WriteLine($"Model: all-MiniLM-L6-v2, binary head, max length 128, ONNX Runtime through MLNetTuning.Onnx ({Environment.ProcessorCount} cores). " +
            "Raw: the same predictor called directly, one call after another, with batches of 32 or 1 (tokenization and ML.NET included, no HTTP).\n");
        Console.WriteLine("| graph | texts | mode | predictions/s | p50 ms | p99 ms | mean batch | errors |\n|---|---|---|---|---|---|---|---|");
        foreach (string precision in new[] { "int8", "fp32" })
        {
            using var predictor = OnnxPredictor.Open(Path.Combine(folder, precision, "model.onnx"));
            foreach (var (kind, texts) in new[] { ("e-mails, 128 tokens", emails), ("short, ~16 tokens", shortTexts) })
            {
                foreach (int batch in new[] { 32, 1 })
                    Console.WriteLine($"| {precision} | {kind} | raw, batches of {batch} | {Raw(predictor, texts, seconds, batch):F1} | | | {batch} | |");
                foreach (var (mode, settings) in new[]
                {
                    ("served, dynamic batching (--max-batch 32 --max-wait-ms 5)", new ServeSettings { MaxBatch = 32, MaxWaitMs = 5 }),
                    ("served, no batching (--max-batch 1)", new ServeSettings { MaxBatch = 1, MaxWaitMs = 0 }),
                })
                {
                    var r = Load(predictor, settings with { Port = 0, QueueSize = 1024 }, texts, seconds).GetAwaiter().GetResult();
                    Console.WriteLine($"| {precision} | {kind} | {mode} | {r.Throughput:F1} | {r.P50:F0} | {r.P99:F0} | {r.MeanBatch:F1} | {r.Errors} |");
                }
            }
        }
        Console.WriteLine($"\nLoad average at the end: {LoadAverage()}.");
        Directory.Delete(folder, recursive: true);
        return 0;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    private static double Raw(IPredictor predictor, string[] texts, int seconds, int size)
    {
        predictor.Predict(texts.Take(size).Select(t => new PredictInput(t)).ToList());   // warm-up
        var clock = Stopwatch.StartNew();
        int done = 0;
        for (int i = 0; clock.Elapsed.TotalSeconds < seconds; i++)
        {
            var batch = Enumerable.Range(0, size).Select(j => new PredictInput(texts[(i * size + j) % texts.Length])).ToList();
            done += predictor.Predict(batch).Count;
        }
        return done / clock.Elapsed.TotalSeconds;
    }

    private sealed record LoadResult(double Throughput, double P50, double P99, double MeanBatch, int Errors);

    private static async Task<LoadResult> Load(IPredictor predictor, ServeSettings settings, string[] texts, int seconds)
    {
        await using var app = ServeApp.Create(predictor, settings);
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(ServeApp.Address(app)), Timeout = TimeSpan.FromMinutes(2) };
        // Warm-up: one request, so that the first batch's set-up is not counted.
        (await client.PostAsJsonAsync("predict", new { texts = new[] { texts[0] } })).EnsureSuccessStatusCode();
        var before = await client.GetFromJsonAsync<JsonObject>("healthz");
        var latencies = new List<double>();
        int errors = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Clients).Select(id => Task.Run(async () =>
        {
            for (int i = 0; clock.Elapsed.TotalSeconds < seconds; i++)
            {
                var watch = Stopwatch.StartNew();
                using var response = await client.PostAsJsonAsync("predict", new { texts = new[] { texts[(id * 31 + i) % texts.Length] } });
                await response.Content.ReadAsStringAsync();
                lock (latencies)
                {
                    if (response.IsSuccessStatusCode) latencies.Add(watch.Elapsed.TotalMilliseconds);
                    else errors++;
                }
            }
        })));
        double elapsed = clock.Elapsed.TotalSeconds;
        var after = await client.GetFromJsonAsync<JsonObject>("healthz");
        double batches = (long)after!["batches"]! - (long)before!["batches"]!, predictions = (long)after["predictions"]! - (long)before["predictions"]!;
        await app.StopAsync();
        latencies.Sort();
        double Percentile(double p) => latencies.Count == 0 ? double.NaN : latencies[Math.Min(latencies.Count - 1, (int)(p * latencies.Count))];
        return new LoadResult(latencies.Count / elapsed, Percentile(0.50), Percentile(0.99), predictions / Math.Max(1, batches), errors);
    }
}
