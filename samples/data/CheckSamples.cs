#:package Microsoft.ML

// Checks that ML.NET's TextLoader (hasHeader: true, separator '\t', allowQuoting: false) reads every row of every
// sample TSV intact: same row count as the file has lines, the header's column count on each row, no empty field,
// and numeric columns that parse. Run: dotnet run samples/data/CheckSamples.cs -- samples/data

using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;

var root = args.Length == 1 ? args[0] : throw new ArgumentException("Usage: dotnet run samples/data/CheckSamples.cs -- <samples/data folder>");
var ml = new MLContext(seed: 0);
var failedFiles = 0;
var files = Directory.GetFiles(root, "*.tsv", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
if (files.Length == 0) throw new FileNotFoundException($"No .tsv files under '{root}'.");

foreach (var file in files)
{
    var bytes = File.ReadAllBytes(file);
    var hasBom = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF;
    var text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
    var lines = text.Split('\n');
    var header = lines[0].Split('\t');
    var expectedRows = lines.Length - 2; // header, and the empty string after the final '\n'
    var numeric = header.Select(h => h == "Valence").ToArray();
    var columns = header.Select((name, i) => new TextLoader.Column(name, numeric[i] ? DataKind.Single : DataKind.String, i)).ToArray();
    var data = ml.Data.LoadFromTextFile(file, columns, separatorChar: '\t', hasHeader: true, allowQuoting: false);

    var rows = 0;
    var problems = new List<string>();
    using (var cursor = data.GetRowCursor(data.Schema))
    {
        var stringGetters = header.Select((_, i) => numeric[i] ? null : cursor.GetGetter<ReadOnlyMemory<char>>(data.Schema[i])).ToArray();
        var numberGetters = header.Select((_, i) => numeric[i] ? cursor.GetGetter<float>(data.Schema[i]) : null).ToArray();
        while (cursor.MoveNext())
        {
            rows++;
            for (var i = 0; i < header.Length; i++)
            {
                if (numeric[i])
                {
                    float value = 0;
                    numberGetters[i]!(ref value);
                    if (float.IsNaN(value)) problems.Add($"row {rows}: {header[i]} is not a number");
                }
                else
                {
                    ReadOnlyMemory<char> value = default;
                    stringGetters[i]!(ref value);
                    if (value.Length == 0) problems.Add($"row {rows}: {header[i]} is empty");
                }
            }
        }
    }
    var badLines = lines.Skip(1).Take(expectedRows).Count(l => l.Split('\t').Length != header.Length || l.Contains('\r'));
    if (rows != expectedRows) problems.Add($"TextLoader read {rows} rows, the file has {expectedRows} data lines");
    if (badLines > 0) problems.Add($"{badLines} lines do not have {header.Length} tab-separated fields");
    if (hasBom) problems.Add("file starts with a UTF-8 BOM");
    if (!text.EndsWith('\n')) problems.Add("file does not end with '\\n'");
    if (problems.Count > 0) failedFiles++;
    Console.WriteLine($"{(problems.Count == 0 ? "ok  " : "FAIL")} {Path.GetRelativePath(root, file)}: {rows} rows, columns {string.Join(",", header)}");
    foreach (var problem in problems.Take(5)) Console.WriteLine("     " + problem);
}
Console.WriteLine($"{files.Length} files checked, {failedFiles} failed");
return failedFiles == 0 ? 0 : 1;
