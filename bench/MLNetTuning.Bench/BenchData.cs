namespace MLNetTuning.Bench;

/// <summary>Finds the bundled samples (samples/data) above the working folder or the bench's own folder.</summary>
internal static class BenchData
{
    /// <summary>The path of samples/data/<paramref name="relative"/>, e.g. <c>File("squad", "train.tsv")</c>.</summary>
    /// <exception cref="DirectoryNotFoundException">No folder above holds it: the bench runs from outside the repository.</exception>
    public static string File(params string[] relative)
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string path = Path.Combine([dir.FullName, "samples", "data", .. relative]);
                if (System.IO.File.Exists(path)) return path;
            }
        throw new DirectoryNotFoundException($"samples/data/{string.Join('/', relative)} was not found above {Environment.CurrentDirectory} or {AppContext.BaseDirectory}; run the bench from the repository.");
    }
}
