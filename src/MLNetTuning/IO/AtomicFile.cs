namespace MLNetTuning.IO;

/// <summary>
/// Files written beside their target and renamed over it only when writing succeeded, so that a failure never leaves a
/// half-written file where a good one stood. The temp file sits in the target's folder, so the rename stays on one file
/// system and is atomic.
/// </summary>
internal static class AtomicFile
{
    /// <summary>Lets <paramref name="writeTemp"/> write a temp file (given its path), then moves it over <paramref name="path"/>.</summary>
    public static void Write(string path, Action<string> writeTemp)
    {
        string fullPath = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(fullPath)!;
        Directory.CreateDirectory(folder);
        string temp = Path.Combine(folder, $".{Path.GetFileName(fullPath)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            writeTemp(temp);
            File.Move(temp, fullPath, overwrite: true);
        }
        finally
        {
            try { if (File.Exists(temp)) File.Delete(temp); }
            catch (IOException) { /* the original failure matters more */ }
        }
    }

    /// <summary>Writes through <paramref name="write"/> into a new temp file, flushed to disk, then moves it over <paramref name="path"/>.</summary>
    public static void WriteStream(string path, Action<FileStream> write) => Write(path, temp =>
    {
        using var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        write(stream);
        stream.Flush(flushToDisk: true);
    });

    public static void WriteAllText(string path, string text) => Write(path, temp => File.WriteAllText(temp, text));

    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, temp => File.WriteAllBytes(temp, bytes));
}
