namespace MLNetTuning.FrontDoor.Tests;

/// <summary>Folders of the repository these tests run in.</summary>
internal static class RepoPaths
{
    /// <summary>The folder holding MLNetTuning.sln, found upwards from the test assembly.</summary>
    public static string Root { get; } = FindRoot();

    public static string Notebooks => Path.Combine(Root, "notebooks");
    public static string Samples => Path.Combine(Root, "samples");
    /// <summary>Where notebooks/README.md has a person pack the library, and where the notebooks' nuget.config looks.</summary>
    public static string Packages => Path.Combine(Root, "artifacts", "packages");
    public static string LibraryProject => Path.Combine(Root, "src", "MLNetTuning", "MLNetTuning.csproj");

    /// <summary>NuGet's global packages folder (NUGET_PACKAGES, else ~/.nuget/packages).</summary>
    public static string GlobalPackages =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } custom ? custom
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MLNetTuning.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"No MLNetTuning.sln above '{AppContext.BaseDirectory}': run the tests from the repository.");
    }
}
