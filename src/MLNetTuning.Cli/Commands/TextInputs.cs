using MLNetTuning.Cli.Data;

namespace MLNetTuning.Cli.Commands;

/// <summary>The texts predict and embed work on: command-line arguments, else a file, else standard input (one per line).</summary>
internal static class TextInputs
{
    /// <summary>
    /// Reads the texts. A .tsv/.csv file gives its text column(s); any other file and standard input give one text per line.
    /// For sentence pairs, a line (or argument) holds the two texts separated by a tab.
    /// </summary>
    public static List<(string Text, string? Pair)> Read(CliHost host, string[] arguments, string? file, ColumnNames columns, bool pair)
    {
        if (arguments.Length > 0 && file is not null) throw new UsageException("Give texts either as arguments or with --file, not both.");
        IEnumerable<string> lines;
        if (arguments.Length > 0) lines = arguments;
        else if (file is not null)
        {
            if (file.EndsWith(".tsv", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
                return Examples.Read(DataFile.Read(file, "--file"), columns, withLabel: false).Select(e => (e.Text, e.Pair)).ToList();
            if (!File.Exists(file)) throw new CliException($"The text file '{file}' (--file) does not exist.");
            lines = File.ReadLines(file).Where(line => line.Length > 0);
        }
        else if (host.InputRedirected) lines = ReadAll(host.In);
        else throw new UsageException("No texts: give them as arguments, with --file FILE, or on standard input (one per line).");

        var texts = new List<(string, string?)>();
        foreach (var line in lines)
        {
            if (!pair) { texts.Add((line, null)); continue; }
            int tab = line.IndexOf('\t');
            if (tab < 0) throw new UsageException($"This model scores sentence pairs: separate the two texts of each input with a tab. Got: \"{Shorten(line)}\"");
            texts.Add((line[..tab], line[(tab + 1)..]));
        }
        if (texts.Count == 0) throw new UsageException("No texts were given (the input is empty).");
        return texts;
    }

    public static string Shorten(string text, int length = 60)
    {
        string flat = text.ReplaceLineEndings(" ");
        return flat.Length <= length ? flat : flat[..(length - 1)] + "…";
    }

    private static IEnumerable<string> ReadAll(TextReader reader)
    {
        while (reader.ReadLine() is { } line)
            if (line.Length > 0) yield return line;
    }
}
