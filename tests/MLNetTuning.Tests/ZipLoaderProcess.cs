using System.Diagnostics;
using System.Text.Json.Nodes;

namespace MLNetTuning.Tests;

/// <summary>Loads a model zip and scores a TSV in a fresh process (tests/MLNetTuning.ZipLoader), which references only the library.</summary>
internal static class ZipLoaderProcess
{
    /// <summary>Runs the loader with <paramref name="args"/>; the exit code and stdout plus stderr, whatever the outcome.</summary>
    public static (int ExitCode, string Output) RunRaw(TimeSpan timeout, params string[] args)
    {
        string loader = Path.Combine(AppContext.BaseDirectory, "MLNetTuning.ZipLoader.dll");
        Assert.True(File.Exists(loader), $"ZipLoader not built next to the tests: {loader}");
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in new[] { loader }.Concat(args)) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"ZipLoader {string.Join(' ', args)} did not finish within {timeout.TotalSeconds:F0} s:\n{stdout.Result}");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    public static JsonObject Run(string zip, string tsv, params string[] columns)
    {
        string loader = Path.Combine(AppContext.BaseDirectory, "MLNetTuning.ZipLoader.dll");
        Assert.True(File.Exists(loader), $"ZipLoader not built next to the tests: {loader}");
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in new[] { loader, zip, tsv }.Concat(columns)) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(300_000), "ZipLoader did not finish within 5 minutes");
        Assert.True(process.ExitCode == 0, $"ZipLoader exited {process.ExitCode}: {stderr.Result}");
        return JsonNode.Parse(stdout.Result)!.AsObject();
    }
}
