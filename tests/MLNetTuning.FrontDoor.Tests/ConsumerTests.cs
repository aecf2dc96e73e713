namespace MLNetTuning.FrontDoor.Tests;

/// <summary>
/// What a NuGet user experiences: a fresh console app in a temp folder (outside the repository, so none of its
/// Directory.Build.* or central versions apply) that references the packed MLNetTuning and TorchSharp-cpu from an
/// offline nuget.config, builds, and fine-tunes, saves, reloads and predicts (Consumer/Program.cs).
/// </summary>
[Collection(FrontDoorCollection.Name)]
public sealed class ConsumerTests(PackedPackage package, ITestOutputHelper log)
{
    [Fact]
    public void FreshConsoleApp_ReferencingThePackedPackage_FineTunesSavesReloadsAndPredicts()
    {
        var pack = package.Get(log);
        string app = Directory.CreateTempSubdirectory("mlnt-consumer").FullName;
        try
        {
            string template = Path.Combine(AppContext.BaseDirectory, "Consumer");
            File.Copy(Path.Combine(template, "Program.cs"), Path.Combine(app, "Program.cs"));
            File.WriteAllText(Path.Combine(app, "Consumer.csproj"),
                File.ReadAllText(Path.Combine(template, "Consumer.csproj.template")).Replace("$MLNETTUNING_VERSION$", pack.Version));
            File.WriteAllText(Path.Combine(app, "nuget.config"), File.ReadAllText(Path.Combine(template, "nuget.config.template"))
                .Replace("$PACK_FOLDER$", pack.Folder).Replace("$GLOBAL_PACKAGES$", RepoPaths.GlobalPackages));

            var result = ChildProcess.Dotnet(log, app, TimeSpan.FromMinutes(8), "run", "-c", "Release");

            Assert.True(result.ExitCode == 0, $"The consumer app failed (exit {result.ExitCode}):\n{result.Tail()}");
            foreach (var expected in new[] { "OK wrote a tiny Hugging Face folder", "OK fine-tuned", "OK evaluated",
                         "OK saved, reloaded and predicted identically", "'win free money' -> spam", "'team project review' -> work",
                         "OK embedded with all-MiniLM-L6-v2", "CONSUMER DONE" })
                Assert.True(result.Output.Contains(expected, StringComparison.Ordinal), $"The consumer printed no '{expected}':\n{result.Tail()}");
            // The app restored MLNetTuning from the pack of this run, not some other copy.
            Assert.True(File.Exists(Path.Combine(app, "obj", "project.assets.json")));
            Assert.Contains($"\"MLNetTuning/{pack.Version}\"", File.ReadAllText(Path.Combine(app, "obj", "project.assets.json")));
            pack.CheckRestoredCopy();
            log.WriteLine($"Consumer restore, build and run: {result.Elapsed.TotalSeconds:F0} s.");
        }
        finally
        {
            try { Directory.Delete(app, recursive: true); } catch (IOException) { }
        }
    }
}
