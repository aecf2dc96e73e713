using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace MLNetTuning.Cli.Data;

/// <summary>
/// Where the words and tags of a token-classification file are: column numbers of a CoNLL-style file (null: the default for
/// its extension), or the header names of a TSV file's words and tags columns.
/// </summary>
internal sealed record TaggedColumns(int? WordColumn, int? TagColumn, string WordsName, string TagsName)
{
    /// <summary>Reads <paramref name="path"/>: a .tsv file by its named columns, any other file as CoNLL-style by column numbers.</summary>
    public List<TaggedSentence> Read(string path, string option)
    {
        if (IsTsv(path)) return TaggedSentenceFile.ReadTsv(path, WordsName, TagsName, option);
        // A CSV read as CoNLL would silently give one-column "words"; say which layouts there are instead.
        if (path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"The data file '{path}' ({option}) is a CSV file, which token classification does not read. Give a CoNLL-style file " +
                "(one word per line with its tag, a blank line between sentences) or a .tsv file with the words and the tags of a sentence in two columns.");
        var (word, tag) = ConllDefaults(path);
        return TaggedSentenceFile.ReadConll(path, WordColumn ?? word, TagColumn ?? tag, option);
    }

    public static bool IsTsv(string path) => path.EndsWith(".tsv", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The default columns: .conll files (as the bundled samples: ID, word, tag) have the word in column 1 and the tag last;
    /// CoNLL-U has the word in column 1 and the universal POS tag in column 3 (its last column, MISC, is no tag); other files,
    /// as CoNLL-2003's "word POS chunk NER", start with the word and end with the tag.
    /// </summary>
    public static (int Word, int Tag) ConllDefaults(string path) =>
        path.EndsWith(".conllu", StringComparison.OrdinalIgnoreCase) ? (1, 3)
        : path.EndsWith(".conll", StringComparison.OrdinalIgnoreCase) ? (1, -1)
        : (0, -1);
}

/// <summary>
/// ML.NET views of tagged sentences: the words as a text vector (the model's input, column Text) and the tags as a key vector
/// (column Label) whose key mapping is fitted on the training tags only, so that every view numbers the tags alike.
/// </summary>
internal sealed class TaggedViews
{
    private const string TagsColumn = "Tags";
    private readonly MLContext _ml;
    private readonly ITransformer _toKeys;
    private readonly HashSet<string> _known;

    private TaggedViews(MLContext ml, ITransformer toKeys, IReadOnlyList<string> tagNames)
    {
        (_ml, _toKeys, TagNames) = (ml, toKeys, tagNames);
        _known = new HashSet<string>(tagNames, StringComparer.Ordinal);
    }

    /// <summary>The tag names in key order (sorted ordinally), as the model's classes.</summary>
    public IReadOnlyList<string> TagNames { get; }

    /// <summary>Fits the tag-to-key mapping on <paramref name="training"/>; it needs at least two distinct tags.</summary>
    public static TaggedViews FromTraining(MLContext ml, IReadOnlyList<TaggedSentence> training, string source)
    {
        var tags = training.SelectMany(s => s.Tags).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (tags.Count < 2)
            throw new CliException($"The training sentences of {source} have {tags.Count} distinct tag(s) ({string.Join(", ", tags)}); token classification needs at least two.");
        // Sorted by value, so the key order (and the model's class order, --class-weights included) does not depend on which tag came first.
        var toKeys = ml.Transforms.Conversion.MapValueToKey(ExampleViews.LabelColumn, TagsColumn, keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Fit(Raw(ml, training));
        return new TaggedViews(ml, toKeys, tags);
    }

    /// <summary>Tag names of a model (its classes in key order), for evaluating files against it.</summary>
    public static TaggedViews ForModel(MLContext ml, IReadOnlyList<string> tagNames)
    {
        var toKeys = ml.Transforms.Conversion.MapValueToKey(ExampleViews.LabelColumn, TagsColumn, keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Fit(Raw(ml, [new TaggedSentence([.. tagNames], [.. tagNames], 0)]));
        return new TaggedViews(ml, toKeys, tagNames);
    }

    /// <summary>
    /// The labelled view of <paramref name="sentences"/>. A tag the training data lacks would become ML.NET's missing key and
    /// could be neither learned nor scored, so it stops the run here, naming the file line of its sentence.
    /// </summary>
    public IDataView Labeled(IReadOnlyList<TaggedSentence> sentences, string source)
    {
        foreach (var sentence in sentences)
            foreach (var tag in sentence.Tags)
                if (!_known.Contains(tag))
                    throw new CliException($"{source}, the sentence at line {sentence.Line}, has the tag '{tag}', which the training data does not have " +
                        $"(its tags: {string.Join(", ", TagNames)}). Remove such sentences, retag them, or train on data that has this tag.");
        return _toKeys.Transform(Raw(_ml, sentences));
    }

    /// <summary>The words alone, as the model reads them.</summary>
    public static IDataView Unlabeled(MLContext ml, IEnumerable<string[]> sentences) =>
        ml.Data.LoadFromEnumerable(sentences.Select(words => new WordsRow { Text = words }).ToList());

    /// <summary>The input schema a saved token model declares: a text-vector column of words.</summary>
    public static DataViewSchema InputSchema(MLContext ml) => Unlabeled(ml, []).Schema;

    private static IDataView Raw(MLContext ml, IEnumerable<TaggedSentence> sentences) =>
        ml.Data.LoadFromEnumerable(sentences.Select(s => new TaggedRow { Text = s.Words, Tags = s.Tags }).ToList());

    private sealed class WordsRow
    {
        public string[] Text { get; set; } = [];
    }

    private sealed class TaggedRow
    {
        public string[] Text { get; set; } = [];
        public string[] Tags { get; set; } = [];
    }
}
