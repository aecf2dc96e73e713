using System.Text;

namespace MLNetTuning.Cli.Data;

/// <summary>
/// Reads token-classification files in the two layouts people have them in, as <see cref="TaggedSentence"/>s:
/// <list type="bullet">
/// <item>CoNLL style (<see cref="ReadConll"/>): one word per line with its tag in a chosen column, a blank line between
/// sentences, as in CoNLL-2003, CoNLL-U and the bundled samples/data/ner-ewt and pos-ewt files;</item>
/// <item>TSV (<see cref="ReadTsv"/>): a header row, then one sentence per row, with the words separated by spaces in one
/// column and as many space-separated tags in another.</item>
/// </list>
/// Every error names the file, the option that gave it and the line, and says what to change.
/// </summary>
internal static class TaggedSentenceFile
{
    /// <summary>
    /// Reads a CoNLL-style file. If the first word line holds a tab, columns are tab-separated (words may then hold spaces);
    /// otherwise they are separated by runs of spaces, as in CoNLL-2003. Lines that start with <c>#</c> before the first word
    /// of a sentence are comments, as in CoNLL-U (so a sentence must not start with a word that begins with <c>#</c> unless
    /// another column, such as CoNLL-U's word number, comes first); <c>-DOCSTART-</c> lines (CoNLL-2003's document breaks)
    /// are skipped. In a <c>.conllu</c> file, multiword-token lines (<c>3-4</c>) and empty nodes (<c>8.1</c>) are skipped,
    /// because CoNLL-U tags the words inside them instead.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="wordColumn">The column of the word, counting from 0; negative counts from the end (-1 is the last).</param>
    /// <param name="tagColumn">The column of the tag, counting from 0; negative counts from the end (-1 is the last).</param>
    /// <param name="option">The option that gave the file, for messages.</param>
    public static List<TaggedSentence> ReadConll(string path, int wordColumn, int tagColumn, string option)
    {
        RequireFile(path, option);
        bool conllU = path.EndsWith(".conllu", StringComparison.OrdinalIgnoreCase);
        var sentences = new List<TaggedSentence>();
        var (words, tags) = (new List<string>(), new List<string>());
        int sentenceLine = 0, columns = 0, firstWordLine = 0, word = 0, tag = 0, lineNumber = 0;
        bool? tabs = null;

        void EndSentence()
        {
            if (words.Count > 0) sentences.Add(new TaggedSentence([.. words], [.. tags], sentenceLine));
            words.Clear();
            tags.Clear();
        }

        foreach (var raw in File.ReadLines(path, Encoding.UTF8))
        {
            lineNumber++;
            string line = raw.TrimEnd('\r');
            if (line.Trim().Length == 0) { EndSentence(); continue; }
            if (words.Count == 0 && line.StartsWith('#')) continue;
            tabs ??= line.Contains('\t');
            string[] fields = tabs.Value ? line.Split('\t') : line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields[0] == "-DOCSTART-") { EndSentence(); continue; }
            if (conllU && (fields[0].Contains('-') || fields[0].Contains('.'))) continue;

            if (columns == 0)
            {
                // The first word line fixes the layout; the columns are checked once here, with the line that set them.
                (columns, firstWordLine) = (fields.Length, lineNumber);
                word = Column(wordColumn, "word", path, option, columns, lineNumber);
                tag = Column(tagColumn, "tag", path, option, columns, lineNumber);
            }
            else if (fields.Length != columns)
                throw new CliException($"The data file '{path}' ({option}), line {lineNumber}, has {fields.Length} column(s) but line {firstWordLine} " +
                    $"has {columns}. Every word line needs the same columns, {(tabs.Value ? "separated by tabs" : "separated by spaces")}; " +
                    "a blank line ends a sentence.");
            if (fields[word].Length == 0 || fields[tag].Length == 0)
                throw new CliException($"The data file '{path}' ({option}), line {lineNumber}, has an empty {(fields[word].Length == 0 ? "word" : "tag")} " +
                    $"in column {(fields[word].Length == 0 ? word : tag)}. Give every word a tag (O for none).");
            if (words.Count == 0) sentenceLine = lineNumber;
            words.Add(fields[word]);
            tags.Add(fields[tag]);
        }
        EndSentence();
        if (sentences.Count == 0)
            throw new CliException($"The data file '{path}' ({option}) holds no sentences: expected one word per line with its tag, and a blank line between sentences.");
        return sentences;
    }

    /// <summary>
    /// Reads a TSV file with a header row and one sentence per row: <paramref name="wordsColumn"/> holds the words separated by
    /// spaces and <paramref name="tagsColumn"/> one tag per word, separated by spaces too. Blank lines are skipped.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="wordsColumn">The header name of the words column.</param>
    /// <param name="tagsColumn">The header name of the tags column.</param>
    /// <param name="option">The option that gave the file, for messages.</param>
    public static List<TaggedSentence> ReadTsv(string path, string wordsColumn, string tagsColumn, string option)
    {
        RequireFile(path, option);
        string[]? header = null;
        int words = 0, tags = 0, lineNumber = 0;
        var sentences = new List<TaggedSentence>();
        foreach (var raw in File.ReadLines(path, Encoding.UTF8))
        {
            lineNumber++;
            string line = raw.TrimEnd('\r');
            if (line.Trim().Length == 0) continue;
            string[] fields = line.Split('\t');
            if (header is null)
            {
                header = fields.Select(f => f.Trim()).ToArray();
                words = HeaderColumn(header, wordsColumn, "words", path, option);
                tags = HeaderColumn(header, tagsColumn, "tags", path, option);
                continue;
            }
            if (fields.Length != header.Length)
                throw new CliException($"The data file '{path}' ({option}), line {lineNumber}, has {fields.Length} fields but the header has {header.Length} " +
                    $"({string.Join(", ", header)}). Separate the columns with tabs, and the words and tags inside a column with spaces.");
            string[] rowWords = fields[words].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            string[] rowTags = fields[tags].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (rowWords.Length == 0)
                throw new CliException($"The data file '{path}' ({option}), line {lineNumber}, has no words in column '{header[words]}'. Remove the row, or give its words.");
            if (rowWords.Length != rowTags.Length)
                throw new CliException($"The data file '{path}' ({option}), line {lineNumber}, has {rowWords.Length} words in column '{header[words]}' but " +
                    $"{rowTags.Length} tags in column '{header[tags]}'. Give one tag per word, both separated by single spaces; a word cannot hold a space.");
            sentences.Add(new TaggedSentence(rowWords, rowTags, lineNumber));
        }
        if (header is null)
            throw new CliException($"The data file '{path}' ({option}) is empty: it needs a header row with the column names ('{wordsColumn}', '{tagsColumn}'), then one sentence per row.");
        if (sentences.Count == 0)
            throw new CliException($"The data file '{path}' ({option}) has a header but no sentences.");
        return sentences;
    }

    private static void RequireFile(string path, string option)
    {
        if (!File.Exists(path))
            throw new CliException($"The data file '{path}' ({option}) does not exist. Give the path of a CoNLL-style or TSV file of tagged sentences.");
    }

    private static int Column(int column, string what, string path, string option, int columns, int line)
    {
        int index = column < 0 ? columns + column : column;
        if (index < 0 || index >= columns)
            throw new CliException($"The data file '{path}' ({option}): the {what} column (--{what}-column) is {column}, but line {line}, the first word line, has {columns} " +
                $"column(s), so it must be 0 to {columns - 1} (or -1 to -{columns} counting from the end). Columns count from 0.");
        return index;
    }

    private static int HeaderColumn(string[] header, string name, string what, string path, string option)
    {
        int index = Array.IndexOf(header, name);
        if (index >= 0) return index;
        var caseInsensitive = header.FirstOrDefault(h => string.Equals(h, name, StringComparison.OrdinalIgnoreCase));
        string hint = caseInsensitive is null ? "" : $" Did you mean '{caseInsensitive}'? Names are case-sensitive.";
        throw new CliException($"The data file '{path}' ({option}) has no {what} column '{name}'. Its columns are: {string.Join(", ", header)}.{hint}");
    }
}
