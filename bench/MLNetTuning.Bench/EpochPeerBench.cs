using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Training;
using static TorchSharp.torch;

namespace MLNetTuning.Bench;

/// <summary>
/// One real-data training epoch end to end against PyTorch 2.6 on the same work. Ours: the ML.NET estimator on the
/// SpamAssassin sample (all-MiniLM-L6-v2, binary head, <see cref="EpochBench"/>'s sizes), the whole Fit timed
/// (tokenization, batching, weight loading included). It records the exact batches it trained on
/// (<see cref="BertFineTuneOptions.TrainingBatchObserver"/>) and writes them, with the learning rate of every step, to a
/// file that the Python peer (bench/peers/epoch_peer.py) trains one epoch over: the same token ids, masks, token types,
/// labels, padding, order, loss, optimizer and schedule. Each run is a fresh process; ours and the peer's, fp32 and bf16,
/// run interleaved round by round so that the shared machine's slow phases hit all of them alike.
/// </summary>
internal static class EpochPeerBench
{
    /// <summary>The export file's first 8 bytes; epoch_peer.py checks them.</summary>
    private const string Magic = "MLNTEPB1";
    /// <summary>Step losses shown side by side: enough to see that both start from the same loss and fall alike.</summary>
    private const int LossSteps = 12;

    private sealed record PlannedRun(string Name, Func<RunResult> Start);

    /// <summary>One run's figures: ours from <see cref="RunOne"/>, the peer's from epoch_peer.py (the same JSON fields).</summary>
    public sealed record RunResult(string Name, int Examples, int Steps, double Wall, double Loop, double[] Losses, string? Hash);

    /// <summary>Drives the rounds: ours fp32 and bf16 (each a child process of this program) and the peer's two commands.</summary>
    /// <param name="batchesPath">Where our first run writes the batches (a path the peer commands read, under the chroot's bind mount).</param>
    /// <param name="peerFp32">The peer's fp32 command line (run by bash).</param>
    /// <param name="peerBf16">The peer's bf16 command line.</param>
    public static int Run(int rows, int maxLength, int batchSize, int threads, int rounds, string batchesPath, string peerFp32, string peerBf16)
    {
        if (rounds < 1) throw new ArgumentOutOfRangeException(nameof(rounds), $"--rounds is {rounds}; it must be at least 1.");
        if (string.IsNullOrWhiteSpace(peerFp32) || string.IsNullOrWhiteSpace(peerBf16))
            throw new ArgumentException("epoch-peer needs --peer-fp32 CMD and --peer-bf16 CMD: the PyTorch 2.6 peer's command lines (bench/run.sh epoch-peer gives them).");
        batchesPath = Path.GetFullPath(batchesPath);
        Directory.CreateDirectory(Path.GetDirectoryName(batchesPath)!);
        File.Delete(batchesPath);   // a stale export from other settings must never be trained on by the peer

        string loadAtStart = LoadAverage();
        var runs = new[]
        {
            new PlannedRun("ours fp32", () => Ours(NumericPrecision.Fp32)),
            new PlannedRun("ours bf16", () => Ours(NumericPrecision.Bf16)),
            new PlannedRun("PyTorch 2.6 fp32 (SDPA)", () => Peer("PyTorch 2.6 fp32 (SDPA)", peerFp32)),
            new PlannedRun("PyTorch 2.6 bf16 autocast", () => Peer("PyTorch 2.6 bf16 autocast", peerBf16)),
        };
        var results = runs.ToDictionary(r => r.Name, _ => new List<RunResult>());
        for (int round = 0; round < rounds; round++)
        {
            // Ours fp32 first in round 1: it writes the batches the peer reads. Odd rounds run in reverse order.
            var order = round % 2 == 0 ? runs : runs.Reverse().ToArray();
            foreach (var run in order)
            {
                var result = run.Start();
                results[run.Name].Add(result);
                Console.Error.WriteLine($"round {round + 1}/{rounds} {run.Name}: {result.Examples / result.Wall:F2} examples/s (Fit or epoch {result.Wall:F1} s, loop {result.Loop:F1} s)");
            }
        }

        var ours = results["ours fp32"][0];
        // Every one of our runs trained the same batches (tokenization, order and padding alike in fp32 and bf16), and the peer read them.
        var hashes = results["ours fp32"].Concat(results["ours bf16"]).Select(r => r.Hash).Distinct().ToList();
        if (hashes.Count != 1)
            throw new InvalidOperationException($"Our runs trained different batches ({hashes.Count} distinct exports); the peer's work would not be ours.");
        foreach (var peer in results.Where(kv => kv.Key.StartsWith("PyTorch")).SelectMany(kv => kv.Value))
            if (peer.Hash != ours.Hash || peer.Examples != ours.Examples || peer.Steps != ours.Steps)
                throw new InvalidOperationException($"{peer.Name} trained {peer.Examples} examples in {peer.Steps} steps from a file with SHA-256 {peer.Hash}; " +
                    $"ours {ours.Examples} in {ours.Steps}, SHA-256 {ours.Hash}. Its --batches must name the file this job writes (--batches {batchesPath}).");

        Report(rows, maxLength, batchSize, threads, rounds, batchesPath, results, loadAtStart);
        return 0;

        RunResult Ours(NumericPrecision precision)
        {
            bool export = !File.Exists(batchesPath);
            var start = new ProcessStartInfo(Environment.ProcessPath!)
            {
                RedirectStandardOutput = true,
                ArgumentList = { "epoch-peer-one", "--rows", rows.ToString(), "--max-length", maxLength.ToString(), "--batch", batchSize.ToString(),
                    "--precision", precision == NumericPrecision.Bf16 ? "bf16" : "fp32", "--threads", threads.ToString() },
            };
            if (export) { start.ArgumentList.Add("--export"); start.ArgumentList.Add(batchesPath); }
            return Child(start, $"epoch-peer-one --precision {precision}");
        }

        RunResult Peer(string name, string command)
        {
            var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, ArgumentList = { "-c", command } };
            return Child(start, name) with { Name = name };
        }
    }

    /// <summary>Runs a child to its end and reads its last JSON line (everything else it prints goes to standard error).</summary>
    private static RunResult Child(ProcessStartInfo start, string what)
    {
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{what}: could not start '{start.FileName}'.");
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        string? json = output.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith('{'));
        if (process.ExitCode != 0 || json is null)
            throw new InvalidOperationException($"{what} failed (exit code {process.ExitCode}); its output ended: {output[Math.Max(0, output.Length - 2000)..]}");
        return JsonSerializer.Deserialize<RunResult>(json, new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
    }

    private static void Report(int rows, int maxLength, int batchSize, int threads, int rounds, string batchesPath,
        Dictionary<string, List<RunResult>> results, string loadAtStart)
    {
        var header = ReadHeader(batchesPath);
        var ours = results["ours fp32"][0];
        Console.WriteLine($"<!-- MLNetTuning.Bench epoch-peer --rows {rows} --max-length {maxLength} --batch {batchSize} --rounds {rounds} --threads {threads}, " +
            $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, load average at start {loadAtStart}, at the end {LoadAverage()} -->");
        Console.WriteLine($"## One training epoch end to end against PyTorch 2.6, on the same batches ({threads} threads, {rounds} interleaved rounds)\n");
        Console.WriteLine($"Work: {ours.Examples} SpamAssassin e-mails, all-MiniLM-L6-v2 with a binary head (one logit, binary cross-entropy), " +
            $"max {maxLength} tokens, batch {batchSize}, length-grouped dynamic padding: {ours.Steps} steps, {header.GetProperty("batched_tokens").GetInt64():N0} tokens " +
            $"in batches ({header.GetProperty("real_tokens").GetInt64():N0} real). AdamW lr {header.GetProperty("learning_rate").GetSingle():G3} " +
            $"(weight decay {header.GetProperty("weight_decay").GetSingle():G3}, none on biases and LayerNorm), linear schedule with " +
            $"{header.GetProperty("warmup_steps").GetInt32()} warm-up steps, gradient clipping at {header.GetProperty("max_grad_norm").GetSingle():G3}, dropout 0.1.\n");
        Console.WriteLine("Ours: the whole `Fit` of `BertFineTuneEstimator` (tokenization, batching, loading the embedded weights, training), " +
            "and its training loop alone. The peer (`bench/peers/epoch_peer.py`, PyTorch 2.6 from Debian 13, `OPENBLAS_CORETYPE=SkylakeX`, " +
            "`scaled_dot_product_attention`; bf16 through `torch.autocast`) reads the token ids we exported, so tokenization costs it nothing: " +
            "its time is the epoch's loop (batches from arrays, forward, loss, backward, clip, AdamW). Each run is a fresh process after a 2-batch warm-up.\n");
        Console.WriteLine("| run | examples/s median | min | max | seconds median |\n|---|---|---|---|---|");
        foreach (var (name, list) in results)
        {
            Row(name.StartsWith("ours") ? $"{name}, whole Fit" : $"{name}, epoch loop", list.Select(r => r.Wall).ToList(), list[0].Examples);
            if (name.StartsWith("ours")) Row($"{name}, training loop", list.Select(r => r.Loop).ToList(), list[0].Examples);
        }

        Console.WriteLine("\nRatios, peer time / ours per round (above 1: we are faster); median (min–max):\n");
        Console.WriteLine("| ours | against | whole Fit vs peer epoch | training loop vs peer epoch |\n|---|---|---|---|");
        foreach (var (mine, peer) in new[]
        {
            ("ours fp32", "PyTorch 2.6 fp32 (SDPA)"), ("ours bf16", "PyTorch 2.6 fp32 (SDPA)"), ("ours bf16", "PyTorch 2.6 bf16 autocast"),
        })
        {
            var a = results[mine];
            var b = results[peer];
            string Ratio(Func<RunResult, double> time) => Spread(Enumerable.Range(0, a.Count).Select(i => b[i].Wall / time(a[i])).ToList(), "F2", "×");
            Console.WriteLine($"| {mine} | {peer} | {Ratio(r => r.Wall)} | {Ratio(r => r.Loop)} |");
        }

        Console.WriteLine($"\nLoss of the first {LossSteps} steps, round 1 (both sides draw their own head and dropout masks, so the curves agree in level, not to the digit):\n");
        var names = results.Keys.ToList();
        var rates = header.GetProperty("learning_rates").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Console.WriteLine("| step | learning rate | " + string.Join(" | ", names) + " |\n|---|---|" + string.Concat(names.Select(_ => "---|")));
        for (int step = 0; step < Math.Min(LossSteps, ours.Steps); step++)
            Console.WriteLine($"| {step + 1} | {rates[step]:G3} | " + string.Join(" | ", names.Select(n => results[n][0].Losses.ElementAtOrDefault(step).ToString("F4"))) + " |");
        Console.WriteLine($"\nMean loss over the whole epoch, round 1: " +
            string.Join(", ", names.Select(n => $"{n} {results[n][0].Losses.Average():F4}")) + ".");
    }

    private static void Row(string name, List<double> seconds, int examples)
    {
        var rates = seconds.Select(s => examples / s).ToList();
        Console.WriteLine($"| {name} | {Median(rates):F2} | {rates.Min():F2} | {rates.Max():F2} | {Median(seconds):F1} |");
    }

    private static string Spread(List<double> values, string format, string unit) =>
        $"**{Median(values).ToString(format)}{unit}** ({values.Min().ToString(format)}–{values.Max().ToString(format)})";

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    internal static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    /// <summary>
    /// One timed Fit in this process after a small untimed warm-up Fit, recording the batches it trains on; prints a
    /// <see cref="RunResult"/> as JSON, and with <paramref name="exportPath"/> writes the batches for the peer.
    /// </summary>
    public static int RunOne(int rows, int maxLength, int batchSize, NumericPrecision precision, int threads, string? exportPath)
    {
        var ml = new MLContext(seed: 1);
        var (data, _) = SpamSample.Load(ml, rows);
        int count = data.GetColumn<bool>("IsSpam").Count();
        // EpochBench's recipe (its sizes and learning rate), with its default length-grouped dynamic padding.
        BertFineTuneOptions Options() => EpochBench.Recipe(maxLength, batchSize, precision, threads);
        EpochBench.WarmUp(ml, data, Options());

        // The observer keeps references only (the examples list and each batch's row indices): nothing is copied while timed.
        IReadOnlyList<TokenizedExample>? examples = null;
        var batches = new List<int[]>();
        var options = Options();
        options.TrainingBatchObserver = (trained, batch) => { examples = trained; batches.Add(batch); };
        var clock = Stopwatch.StartNew();
        using var model = new BertFineTuneEstimator(ml, options).Fit(data);
        double wall = clock.Elapsed.TotalSeconds, loop = model.History.TrainingTime.TotalSeconds;
        if (examples is null || batches.Sum(b => b.Length) != count)
            throw new InvalidOperationException($"The Fit trained {batches.Sum(b => b.Length)} examples in {batches.Count} batches; the data has {count} rows.");

        byte[] export = Export(model, options, examples, batches);
        if (exportPath is not null) File.WriteAllBytes(exportPath, export);
        var steps = model.History.Steps;
        Console.WriteLine(JsonSerializer.Serialize(new RunResult($"ours {precision}", count, steps.Count, wall, loop,
            steps.Select(s => (double)s.Loss).ToArray(), Convert.ToHexString(SHA256.HashData(export)))));
        return 0;
    }

    /// <summary>
    /// The batches as the loop collated them (<see cref="Batching.Collate"/>, the same padding), little-endian:
    /// <c>MLNTEPB1</c>, an int32 header length, a UTF-8 JSON header (recipe, model config, every step's learning rate), then per
    /// batch int32 rows and length, int32 ids, attention mask and token types [rows × length], float32 labels [rows].
    /// </summary>
    private static byte[] Export(BertFineTuneTransformer model, BertFineTuneOptions options, IReadOnlyList<TokenizedExample> examples, List<int[]> batches)
    {
        var fine = model.FineTuned;
        var config = fine.Config;
        var header = new Dictionary<string, object>
        {
            ["model"] = options.Model,
            ["task"] = "binary, one logit, binary cross-entropy with logits (mean over the batch)",
            ["num_labels"] = 1,
            ["max_length"] = options.MaxSequenceLength,
            ["batch_size"] = options.BatchSize,
            ["pad_id"] = fine.Tokenizer.PadId,
            ["learning_rate"] = options.LearningRate,
            ["weight_decay"] = options.WeightDecay,
            ["no_decay"] = "names ending in .bias or containing LayerNorm",
            ["adam_beta1"] = options.AdamBeta1,
            ["adam_beta2"] = options.AdamBeta2,
            ["adam_epsilon"] = options.AdamEpsilon,
            ["max_grad_norm"] = options.MaxGradientNorm,
            // As the loop derives it (FineTuneLoop.Train); the peer follows learning_rates, which hold the schedule itself.
            ["warmup_steps"] = options.WarmupSteps ?? (int)Math.Round(options.WarmupRatio * model.History.Steps.Count),
            ["learning_rates"] = model.History.Steps.Select(s => s.LearningRate).ToArray(),
            ["hidden_dropout"] = config.HiddenDropoutProb,
            ["attention_dropout"] = config.AttentionProbsDropoutProb,
            ["classifier_dropout"] = config.ClassifierDropout ?? config.HiddenDropoutProb,
            ["batches"] = batches.Count,
            ["examples"] = batches.Sum(b => b.Length),
            ["batched_tokens"] = batches.Sum(b => (long)b.Length * b.Max(i => examples[i].Ids.Length)),
            ["real_tokens"] = batches.Sum(b => b.Sum(i => (long)examples[i].Ids.Length)),
        };
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream);   // BinaryWriter writes little-endian on every platform
        writer.Write(System.Text.Encoding.ASCII.GetBytes(Magic));
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(header);
        writer.Write(json.Length);
        writer.Write(json);
        foreach (var batch in batches)
        {
            using var scope = NewDisposeScope();
            var (ids, mask, types) = Batching.Collate(examples, batch, fine.Tokenizer.PadId, CPU);
            writer.Write(batch.Length);
            writer.Write((int)ids.shape[1]);
            foreach (var tensor in new[] { ids, mask, types })
                foreach (long value in tensor.data<long>()) writer.Write(checked((int)value));
            foreach (int row in batch) writer.Write(examples[row].Label);
        }
        writer.Flush();
        return stream.ToArray();
    }

    private static JsonElement ReadHeader(string path)
    {
        using var reader = new BinaryReader(File.OpenRead(path));
        if (System.Text.Encoding.ASCII.GetString(reader.ReadBytes(Magic.Length)) != Magic)
            throw new InvalidDataException($"{path} is not an epoch-peer batch export (it does not start with {Magic}).");
        return JsonDocument.Parse(reader.ReadBytes(reader.ReadInt32())).RootElement.Clone();
    }
}
