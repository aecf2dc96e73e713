namespace MLNetTuning.FrontDoor.Tests;

/// <summary>Finds Debian's Chromium, installing it with apt-get when the tests run as root (as in CI containers).</summary>
internal static class Chromium
{
    private const string Install = "apt-get install -y chromium";

    public static string Find(ITestOutputHelper log)
    {
        if (OnPath() is { } found) return found;
        if (Environment.UserName != "root")
            Assert.Fail($"Chromium is not installed, and the page test needs it (headless). Install it with: sudo {Install} (Debian/Ubuntu), then run the tests again.");
        log.WriteLine($"Chromium is not installed; running: {Install}");
        var update = ChildProcess.Run(log, "apt-get", ["update"], "/", TimeSpan.FromMinutes(5));
        var install = ChildProcess.Run(log, "apt-get", ["install", "-y", "chromium"], "/", TimeSpan.FromMinutes(10),
            new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive" });
        return OnPath() ?? throw new InvalidOperationException(
            $"'{Install}' did not install Chromium (apt-get update exit {update.ExitCode}, install exit {install.ExitCode}):\n{install.Tail()}");
    }

    private static string? OnPath() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .SelectMany(dir => new[] { Path.Combine(dir, "chromium"), Path.Combine(dir, "chromium-browser") })
            .FirstOrDefault(File.Exists);
}
