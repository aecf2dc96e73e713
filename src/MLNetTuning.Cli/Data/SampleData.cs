namespace MLNetTuning.Cli.Data;

/// <summary>The bundled SpamAssassin sample that `train` with no arguments fine-tunes on.</summary>
internal static class SampleData
{
    /// <summary>samples/data/spam, found from the working folder or the app folder upwards (dotnet run and an installed tool both work in a checkout).</summary>
    public static string FindSpamFolder()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "samples", "data", "spam");
                if (File.Exists(Path.Combine(candidate, "train.tsv"))) return candidate;
            }
        throw new CliException("`train` without a data file uses the bundled sample samples/data/spam/train.tsv, which was not found above the working folder " +
            $"({Environment.CurrentDirectory}) or the app folder. Run it inside the MLNetTuning repository, or give a data file: mlnet-tune train data.tsv --label-column Label --text-column Text.");
    }
}
