using System.Text;

namespace MLNetTuning.Cli.Data;

/// <summary>
/// A TSV or CSV file with a header row, read whole. TSV fields are split on tabs with no quoting (texts may hold quotes);
/// CSV follows RFC 4180 (quoted fields may hold commas, quotes as "" and line breaks).
/// </summary>
internal sealed class DataFile
{
    private DataFile(string path, string[] header, List<string[]> rows) => (Path, Header, Rows) = (path, header, rows);

    public string Path { get; }
    public string[] Header { get; }
    public List<string[]> Rows { get; }

    /// <summary>Reads <paramref name="path"/>; <paramref name="option"/> names the option that gave it, for messages.</summary>
    public static DataFile Read(string path, string option)
    {
        if (!File.Exists(path))
            throw new CliException($"The data file '{path}' ({option}) does not exist. Give the path of a TSV or CSV file with a header row.");
        bool csv = path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase);
        var records = csv ? ReadCsv(path) : ReadTsv(path);
        if (records.Count == 0 || records[0].Fields.Length == 0 || records[0].Fields.All(string.IsNullOrWhiteSpace))
            throw new CliException($"The data file '{path}' ({option}) is empty: it needs a header row with the column names, then one row per example.");
        string[] header = records[0].Fields.Select(h => h.Trim()).ToArray();
        var rows = new List<string[]>(records.Count - 1);
        foreach (var (line, fields) in records.Skip(1))
        {
            if (fields.Length == 1 && fields[0].Length == 0) continue;   // blank line
            if (fields.Length != header.Length)
                throw new CliException($"The data file '{path}' ({option}), line {line}, has {fields.Length} fields but the header has {header.Length} " +
                    $"({string.Join(", ", header)}). {(csv ? "Quote fields that contain commas or line breaks." : "Texts in a TSV file must not contain tabs or line breaks.")}");
            rows.Add(fields);
        }
        return new DataFile(path, header, rows);
    }

    /// <summary>The index of column <paramref name="name"/>, or a message that names the file, the option and the columns there are.</summary>
    public int Column(string name, string option)
    {
        int index = Array.IndexOf(Header, name);
        if (index >= 0) return index;
        var caseInsensitive = Header.FirstOrDefault(h => string.Equals(h, name, StringComparison.OrdinalIgnoreCase));
        string hint = caseInsensitive is null ? "" : $" Did you mean '{caseInsensitive}'? Names are case-sensitive.";
        throw new CliException($"The data file '{Path}' has no column '{name}' ({option}). Its columns are: {string.Join(", ", Header)}.{hint}");
    }

    private static List<(int Line, string[] Fields)> ReadTsv(string path)
    {
        var records = new List<(int, string[])>();
        int line = 0;
        foreach (var text in File.ReadLines(path, Encoding.UTF8))
        {
            line++;
            records.Add((line, text.TrimEnd('\r').Split('\t')));
        }
        return records;
    }

    private static List<(int Line, string[] Fields)> ReadCsv(string path)
    {
        string text = File.ReadAllText(path, Encoding.UTF8);
        var records = new List<(int, string[])>();
        var fields = new List<string>();
        var field = new StringBuilder();
        int line = 1, recordLine = 1;
        bool quoted = false, atFieldStart = true;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else { if (c == '\n') line++; field.Append(c); }
                continue;
            }
            switch (c)
            {
                case '"' when atFieldStart: quoted = true; atFieldStart = false; break;
                case ',': fields.Add(field.ToString()); field.Clear(); atFieldStart = true; break;
                case '\r': break;
                case '\n':
                    fields.Add(field.ToString()); field.Clear();
                    records.Add((recordLine, fields.ToArray())); fields.Clear();
                    line++; recordLine = line; atFieldStart = true;
                    break;
                default: field.Append(c); atFieldStart = false; break;
            }
        }
        if (quoted) throw new CliException($"The CSV file '{path}' ends inside a quoted field that starts on line {recordLine}: a closing quote is missing.");
        if (field.Length > 0 || fields.Count > 0)
        {
            fields.Add(field.ToString());
            records.Add((recordLine, fields.ToArray()));
        }
        return records;
    }
}
