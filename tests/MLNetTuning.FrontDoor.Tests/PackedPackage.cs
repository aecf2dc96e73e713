using System.IO.Compression;

namespace MLNetTuning.FrontDoor.Tests;

/// <summary>
/// One <c>dotnet pack</c> of the library per test run, shared by every test that needs the package. The version is unique
/// per run (0.1.0-ci.&lt;ticks&gt;) because NuGet's global packages folder keeps the first copy of a version forever, so a
/// fixed version would test a stale package.
/// </summary>
public sealed class PackedPackage : IDisposable
{
    private readonly Lazy<PackResult> _pack;
    private readonly string _folder = Directory.CreateTempSubdirectory("mlnt-pack").FullName;

    public PackedPackage() => _pack = new Lazy<PackResult>(Pack, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Set by each test before <see cref="Get"/>, so that the pack's output goes to the test that triggered it.</summary>
    public PackResult Get(ITestOutputHelper log)
    {
        _log = log;
        return _pack.Value;
    }

    private ITestOutputHelper? _log;

    private PackResult Pack()
    {
        string version = $"0.1.0-ci.{DateTime.UtcNow.Ticks}";
        var result = ChildProcess.Dotnet(_log!, RepoPaths.Root, TimeSpan.FromMinutes(6),
            "pack", RepoPaths.LibraryProject, "-c", "Release", "-o", _folder, $"-p:Version={version}");
        string nupkg = Path.Combine(_folder, $"MLNetTuning.{version}.nupkg");
        if (result.ExitCode != 0 || !File.Exists(nupkg))
            throw new InvalidOperationException($"dotnet pack failed (exit {result.ExitCode}) or wrote no {nupkg}:\n{result.Tail()}");
        _log!.WriteLine($"Packed {nupkg} in {result.Elapsed.TotalSeconds:F0} s.");
        return new PackResult(_folder, version, nupkg, result.Elapsed);
    }

    public void Dispose()
    {
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>A packed MLNetTuning: the folder to use as a NuGet source, its version and the .nupkg file.</summary>
public sealed record PackResult(string Folder, string Version, string NupkgPath, TimeSpan PackTime)
{
    /// <summary>The entry names inside the .nupkg.</summary>
    public IReadOnlyList<string> Entries()
    {
        using var zip = ZipFile.OpenRead(NupkgPath);
        return zip.Entries.Select(e => e.FullName).ToList();
    }

    public string ReadEntry(string name)
    {
        using var zip = ZipFile.OpenRead(NupkgPath);
        var entry = zip.GetEntry(name) ?? throw new FileNotFoundException($"{NupkgPath} has no entry '{name}'. Entries: {string.Join(", ", zip.Entries.Select(e => e.FullName))}");
        using var reader = new StreamReader(entry.Open());
        return reader.ReadToEnd();
    }
}

/// <summary>
/// Every front-door test in one collection: they run one after another (each one already keeps two cores busy) and share
/// one pack.
/// </summary>
[CollectionDefinition(Name)]
public sealed class FrontDoorCollection : ICollectionFixture<PackedPackage>
{
    public const string Name = "Front doors";
}
