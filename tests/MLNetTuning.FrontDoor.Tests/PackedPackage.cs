using System.IO.Compression;

namespace MLNetTuning.FrontDoor.Tests;

/// <summary>
/// One <c>dotnet pack</c> of the library per test run, shared by every test that needs the package. It packs the way
/// notebooks/README.md tells a person to (<c>dotnet pack src/MLNetTuning -c Release -o artifacts/packages</c>, the
/// project's own version), because the committed notebooks restore exactly that folder and version, unmodified.
/// NuGet's global packages folder keeps the first copy of a version forever, so the pack then evicts that version's
/// cached copy (the remedy the README gives a person): the next restore, by a notebook or the consumer app, extracts this
/// pack. <see cref="PackResult.CheckRestoredCopy"/> proves afterwards that it did.
/// </summary>
public sealed class PackedPackage
{
    private readonly Lazy<PackResult> _pack;

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
        string folder = RepoPaths.Packages;
        // The version is the project's. dotnet pack skips writing a .nupkg whose inputs did not change, so the file is
        // found by that version, not by its time.
        var query = ChildProcess.Dotnet(_log!, RepoPaths.Root, TimeSpan.FromMinutes(2),
            "msbuild", RepoPaths.LibraryProject, "-getProperty:PackageVersion", "-p:Configuration=Release");
        string version = query.Output.Trim().Split('\n')[^1].Trim();
        if (query.ExitCode != 0 || version.Length == 0)
            throw new InvalidOperationException($"Could not read the library's PackageVersion (exit {query.ExitCode}):\n{query.Tail()}");
        var result = ChildProcess.Dotnet(_log!, RepoPaths.Root, TimeSpan.FromMinutes(6),
            "pack", RepoPaths.LibraryProject, "-c", "Release", "-o", folder);
        string nupkg = Path.Combine(folder, $"MLNetTuning.{version}.nupkg");
        if (result.ExitCode != 0 || !File.Exists(nupkg))
            throw new InvalidOperationException($"dotnet pack failed (exit {result.ExitCode}) or wrote no {nupkg}:\n{result.Tail()}");
        string cached = Path.Combine(RepoPaths.GlobalPackages, "mlnettuning", version.ToLowerInvariant());
        if (Directory.Exists(cached)) Directory.Delete(cached, recursive: true);
        _log!.WriteLine($"Packed {nupkg} in {result.Elapsed.TotalSeconds:F0} s; evicted the cached copy {cached}.");
        return new PackResult(folder, version, nupkg, result.Elapsed);
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

    /// <summary>
    /// Fails unless the copy of this version in NuGet's global packages folder was extracted from this pack (its
    /// recorded SHA-512 is the pack's). Another pack of the same version between our pack and a restore (a second
    /// checkout of the repository running these tests at the same time) would otherwise go unnoticed.
    /// </summary>
    public void CheckRestoredCopy()
    {
        string id = "mlnettuning", version = Version.ToLowerInvariant();
        string hashFile = Path.Combine(RepoPaths.GlobalPackages, id, version, $"{id}.{version}.nupkg.sha512");
        Assert.True(File.Exists(hashFile), $"No {hashFile}: nothing restored MLNetTuning {Version} from {Folder}.");
        using var stream = File.OpenRead(NupkgPath);
        string packed = Convert.ToBase64String(System.Security.Cryptography.SHA512.HashData(stream));
        Assert.True(File.ReadAllText(hashFile).Trim() == packed,
            $"The restored MLNetTuning {Version} in {Path.GetDirectoryName(hashFile)} is not this run's pack {NupkgPath}: another pack of the same " +
            "version replaced it (is a second checkout running these tests?). Run them again.");
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
