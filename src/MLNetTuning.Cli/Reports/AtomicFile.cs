namespace MLNetTuning.Cli.Reports;

/// <summary>Files written beside their target and moved into place, so that a failure never leaves a half-written file.</summary>
internal static class AtomicFile
{
    public static void Write(string path, Action<string> writeTemp)
    {
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(folder);
        string temp = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            writeTemp(temp);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    public static void WriteAllText(string path, string text) => Write(path, temp => File.WriteAllText(temp, text));

    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, temp => File.WriteAllBytes(temp, bytes));
}
