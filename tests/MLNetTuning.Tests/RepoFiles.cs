namespace MLNetTuning.Tests;

/// <summary>Files of this repository (the bundled samples), found from the test binaries by walking up to MLNetTuning.sln.</summary>
internal static class RepoFiles
{
    public static string Root { get; } = FindRoot();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    /// <summary>Rows of a bundled TSV sample (header skipped), each split on tabs. A missing file fails the test, never skips it.</summary>
    public static List<string[]> ReadTsv(params string[] parts)
    {
        string path = Path(parts);
        Assert.True(File.Exists(path), $"The bundled sample {path} is missing; it is committed under samples/data (see samples/data/README.md).");
        return File.ReadLines(path).Skip(1).Select(l => l.Split('\t')).ToList();
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "MLNetTuning.sln"))) return dir.FullName;
        throw new InvalidOperationException($"MLNetTuning.sln not found above {AppContext.BaseDirectory}.");
    }
}
