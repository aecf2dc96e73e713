using System.Diagnostics;
using System.Text;

namespace MLNetTuning.FrontDoor.Tests;

/// <summary>What a finished child process did.</summary>
internal sealed record ProcessResult(string CommandLine, int ExitCode, string Output, TimeSpan Elapsed)
{
    /// <summary>The last lines of the output, for assertion messages that stay readable.</summary>
    public string Tail(int lines = 60) => string.Join('\n', Output.Split('\n').TakeLast(lines));
}

/// <summary>Runs a command, forwards every line it prints to the test output as it comes, and kills it on timeout.</summary>
internal static class ChildProcess
{
    public static ProcessResult Run(ITestOutputHelper log, string fileName, IEnumerable<string> arguments, string workingDirectory,
        TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        // Child builds must not inherit the test host's MSBuild state, and must not wait on a build server that
        // outlives the test run.
        foreach (var name in new[] { "MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH" }) info.Environment.Remove(name);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        info.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        // One libtorch thread per child: these tests share 2 cores with the main test project (dotnet test runs both at
        // once), and OpenMP's spinning threads on an oversubscribed machine slow training many times over (a notebook
        // took 8 min instead of 1 here). The notebooks and samples themselves leave the thread count to libtorch.
        info.Environment["OMP_NUM_THREADS"] = "1";
        info.Environment["MKL_NUM_THREADS"] = "1";
        if (environment is not null)
            foreach (var (name, value) in environment) info.Environment[name] = value;

        string commandLine = $"{fileName} {string.Join(' ', info.ArgumentList)}";
        log.WriteLine($"$ {commandLine}   (in {workingDirectory})");
        var output = new StringBuilder();
        void Forward(string? line)
        {
            if (line is null) return;
            lock (output) output.AppendLine(line);
            try { log.WriteLine(line); } catch (InvalidOperationException) { /* the test already ended (timeout) */ }
        }

        var clock = Stopwatch.StartNew();
        using var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Forward(e.Data);
        process.ErrorDataReceived += (_, e) => Forward(e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new TimeoutException($"'{commandLine}' did not finish within {timeout.TotalMinutes:F0} min and was killed. Its output ended with:\n{Tail(output)}");
        }
        process.WaitForExit(); // drains the asynchronous output readers
        log.WriteLine($"exit code {process.ExitCode} after {clock.Elapsed.TotalSeconds:F0} s: {commandLine}");
        lock (output) return new ProcessResult(commandLine, process.ExitCode, output.ToString(), clock.Elapsed);
    }

    /// <summary>Runs <c>dotnet</c> with the SDK that runs these tests.</summary>
    public static ProcessResult Dotnet(ITestOutputHelper log, string workingDirectory, TimeSpan timeout, params string[] arguments)
        => Run(log, DotnetHost, arguments, workingDirectory, timeout);

    public static string DotnetHost { get; } = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    private static string Tail(StringBuilder output)
    {
        lock (output) return string.Join('\n', output.ToString().Split('\n').TakeLast(40));
    }
}
