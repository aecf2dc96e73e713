using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace MLNetTuning.Bench;

/// <summary>
/// The README's main job (<c>mlnet-tune train</c>: MiniLM, the bundled spam sample, batch 8, 128 tokens) run as a user runs
/// it, in its own process, with the library's phase report on (MLNETTUNING_MEMORY_PHASES): the peak resident set of each
/// phase (load, tokenize, train, evaluate, test, save) against the estimate of what training must hold, plus the speed the
/// job printed, so that a memory change that costs speed shows in the same table.
/// </summary>
/// <remarks>
/// Variants (<c>--variant name=KEY=VALUE[;KEY=VALUE]</c>) run the same job with environment variables set, interleaved run by
/// run with the default, so that a shared machine's slow phases hit all alike.
/// </remarks>
internal static partial class MemoryBench
{
    // MiniLM with a 2-class head: the parameters whose weights, gradients and AdamW moments training holds.
    private const long MiniLmParameters = 22_713_986;
    private const double Gib = 1024.0 * 1024 * 1024;

    public static int Run(string cli, int runs, IReadOnlyList<string> variantSpecs, string[] extraArguments)
    {
        if (!File.Exists(cli))
            throw new FileNotFoundException($"--cli '{cli}' does not exist: build the command line first (dotnet build src/MLNetTuning.Cli -c Release -o DIR) and pass DIR/mlnet-tune.", cli);
        var variants = new List<(string Name, Dictionary<string, string> Environment)> { ("default", []) };
        foreach (var spec in variantSpecs)
        {
            int equals = spec.IndexOf('=');
            if (equals <= 0) throw new ArgumentException($"--variant '{spec}' must look like name=KEY=VALUE[;KEY=VALUE].");
            var settings = spec[(equals + 1)..].Split(';').Select(s => s.Split('=', 2))
                .Select(kv => kv.Length == 2 ? kv : throw new ArgumentException($"--variant '{spec}': '{string.Join('=', kv)}' is not KEY=VALUE."))
                .ToDictionary(kv => kv[0], kv => kv[1]);
            variants.Add((spec[..equals], settings));
        }

        var estimate = MemoryEstimate.ForTraining(MiniLmParameters, batch: 8, length: 128);
        Console.WriteLine($"# Memory of the main job (`mlnet-tune train {string.Join(' ', extraArguments)}`)");
        Console.WriteLine();
        Console.WriteLine($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores. Estimate of what training must hold at batch 8 × 128 tokens: " +
                          $"{estimate.Describe()} = {estimate.TotalGb:F2} GiB = **{estimate.TotalGb * Gib / 1e9:F2} GB**, beside the runtime itself (.NET, libtorch's code, ML.NET).");
        Console.WriteLine();
        var results = new List<(string Variant, RunResult Result)>();
        for (int run = 0; run < runs; run++)
            foreach (var (name, environment) in run % 2 == 0 ? variants : Enumerable.Reverse(variants))
            {
                var result = RunOnce(cli, environment, extraArguments);
                results.Add((name, result));
                Console.Error.WriteLine($"run {run + 1} {name}: peak {result.PeakGb:F2} GB, {result.ExamplesPerSecond:F1} examples/s, load {result.Load}");
            }

        Console.WriteLine("Peak resident set per phase (GB of 10^9 bytes, as the command prints it; each phase's own peak, the kernel's VmHWM reset at each phase end), median over runs. " +
            "`/usr/bin/time`'s maximum RSS is not shown: the resets hide the earlier phases from it.");
        Console.WriteLine();
        var phases = results.SelectMany(r => r.Result.Phases.Keys).Distinct().ToList();
        Console.WriteLine($"| variant | {string.Join(" | ", phases)} | whole run | examples/s | load average |");
        Console.WriteLine($"|---|{string.Concat(phases.Select(_ => "---|"))}---|---|---|");
        foreach (var (name, _) in variants)
        {
            var mine = results.Where(r => r.Variant == name).Select(r => r.Result).ToList();
            string Cell(Func<RunResult, double> value, string format) =>
                $"{Median(mine.Select(value)).ToString(format, CultureInfo.InvariantCulture)} ({string.Join(", ", mine.Select(r => value(r).ToString(format, CultureInfo.InvariantCulture)))})";
            Console.WriteLine($"| {name} | {string.Join(" | ", phases.Select(p => Median(mine.Select(r => r.Phases.GetValueOrDefault(p).Peak)).ToString("F2", CultureInfo.InvariantCulture)))} | " +
                $"{Cell(r => r.PeakGb, "F2")} | {Cell(r => r.ExamplesPerSecond, "F1")} | {string.Join(", ", mine.Select(r => r.Load))} |");
        }
        Console.WriteLine();
        Console.WriteLine("At each phase's end (last run of each variant, MiB): resident, glibc in use / kept free, managed heap, live tensors of the training thread:");
        Console.WriteLine();
        foreach (var (name, _) in variants)
        {
            var last = results.Last(r => r.Variant == name).Result;
            Console.WriteLine($"- {name}: " + string.Join("; ", last.Phases.Select(p => $"{p.Key} {p.Value.Resident:F0} (malloc {p.Value.MallocUsed:F0}/{p.Value.MallocFree:F0}, managed {p.Value.Managed:F0}, tensors {p.Value.Tensors})")));
        }
        return 0;
    }

    private sealed record PhaseEnd(double Peak, double Resident, double MallocUsed, double MallocFree, double Managed, long Tensors);

    private sealed record RunResult(Dictionary<string, PhaseEnd> Phases, double PeakGb, double MaxRssGb, double ExamplesPerSecond, string Load);

    private static RunResult RunOnce(string cli, Dictionary<string, string> environment, string[] extraArguments)
    {
        string folder = Directory.CreateTempSubdirectory("mlnettuning-memory-").FullName;
        try
        {
            string phasesFile = Path.Combine(folder, "phases.tsv"), timeFile = Path.Combine(folder, "time.txt");
            var start = new ProcessStartInfo("/usr/bin/time") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Directory.GetCurrentDirectory() };
            foreach (var argument in new[] { "-v", "-o", timeFile, cli, "train", "--output", Path.Combine(folder, "model.zip"), "--report", Path.Combine(folder, "reports") }.Concat(extraArguments))
                start.ArgumentList.Add(argument);
            start.Environment["MLNETTUNING_MEMORY_PHASES"] = phasesFile;
            foreach (var (key, value) in environment) start.Environment[key] = value;
            using var process = Process.Start(start)!;
            var error = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0) throw new InvalidOperationException($"mlnet-tune train exited with {process.ExitCode}:\n{output}\n{error.Result}");

            var phases = new Dictionary<string, PhaseEnd>();
            foreach (var line in File.ReadLines(phasesFile).Skip(1))
            {
                var f = line.Split('\t');
                double Get(int i) => double.Parse(f[i], CultureInfo.InvariantCulture);
                var end = new PhaseEnd(Get(1) * (1 << 20) / 1e9, Get(2), Get(3), Get(4), Get(5), long.Parse(f[7], CultureInfo.InvariantCulture));
                // Training alternates with validation: a phase's peak is the largest of its stretches, its end state the last.
                phases[f[0]] = phases.TryGetValue(f[0], out var earlier) ? end with { Peak = Math.Max(earlier.Peak, end.Peak) } : end;
            }
            double peak = double.Parse(PeakLine().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
            double maxRss = double.Parse(MaxRssLine().Match(File.ReadAllText(timeFile)).Groups[1].Value, CultureInfo.InvariantCulture) / 1024 / 1024;
            // The last progress line's running rate covers the whole epoch.
            double speed = ExamplesLine().Matches(output) is { Count: > 0 } m ? double.Parse(m[^1].Groups[1].Value, CultureInfo.InvariantCulture) : double.NaN;
            string load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return new RunResult(phases, peak, maxRss, speed, load);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : (sorted[(sorted.Length - 1) / 2] + sorted[sorted.Length / 2]) / 2;
    }

    [GeneratedRegex(@"peak working set ([0-9.]+) GB")]
    private static partial Regex PeakLine();

    [GeneratedRegex(@"Maximum resident set size \(kbytes\): ([0-9]+)")]
    private static partial Regex MaxRssLine();

    [GeneratedRegex(@"([0-9.]+) examples/s")]
    private static partial Regex ExamplesLine();
}
