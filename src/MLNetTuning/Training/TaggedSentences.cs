using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetTuning.Training;

/// <summary>Sentences as words with one tag each (0-based; -1 where the tag is missing), read from a data view for token classification.</summary>
internal sealed class TaggedSentences
{
    public List<string[]> Words { get; } = [];
    public List<int[]> Tags { get; } = [];
    /// <summary>The tag names, in key order (the label column's KeyValues).</summary>
    public IReadOnlyList<string> TagNames { get; private init; } = [];
    public bool WordsAreVector { get; private init; }
    public int Count => Words.Count;

    /// <summary>Reads every row; an empty word vector is a sentence of no words (it trains nothing, and scores to an empty vector).</summary>
    /// <exception cref="ArgumentException">A column is missing or of the wrong type, or the tag set has fewer than two tags.</exception>
    /// <exception cref="InvalidDataException">A row's tag count differs from its word count.</exception>
    public static TaggedSentences Read(IDataView data, BertFineTuneOptions options, string dataName)
    {
        var text = data.Schema.GetColumnOrNull(options.TextColumnName) ?? throw Missing(data.Schema, options.TextColumnName, nameof(options.TextColumnName), dataName);
        bool vector = text.Type is VectorDataViewType { ItemType: TextDataViewType };
        if (!vector && text.Type is not TextDataViewType)
            throw new ArgumentException($"Text column '{options.TextColumnName}' (TextColumnName) of the {dataName}: token classification needs the words as a vector of text " +
                $"(ml.Transforms.Text.TokenizeIntoWords) or a text to split on whitespace, but it is {text.Type}.", "options");
        var label = data.Schema.GetColumnOrNull(options.LabelColumnName) ?? throw Missing(data.Schema, options.LabelColumnName, nameof(options.LabelColumnName), dataName);
        FineTuneTasks.Describe(BertTask.TokenClassification).CheckLabelType(label.Type, options.LabelColumnName, dataName, classNamesGiven: false);
        var tagNames = TagNamesOf(label, dataName);
        var result = new TaggedSentences { TagNames = tagNames, WordsAreVector = vector };

        using var cursor = data.GetRowCursor([text, label]);
        var getTags = cursor.GetGetter<VBuffer<uint>>(label);
        var getWords = vector ? cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(text) : null;
        var getText = vector ? null : cursor.GetGetter<ReadOnlyMemory<char>>(text);
        VBuffer<uint> tags = default;
        VBuffer<ReadOnlyMemory<char>> words = default;
        ReadOnlyMemory<char> line = default;
        long row = 0;
        while (cursor.MoveNext())
        {
            row++;
            string[] sentence;
            if (getWords is not null)
            {
                getWords(ref words);
                sentence = words.DenseValues().Select(w => w.ToString()).ToArray();
            }
            else
            {
                getText!(ref line);
                sentence = WordInput.SplitText(line.Span);
            }
            getTags(ref tags);
            if (tags.Length != sentence.Length)
                throw new InvalidDataException($"Row {row} of the {dataName} has {sentence.Length} words in '{options.TextColumnName}' but {tags.Length} tags in '{options.LabelColumnName}'. " +
                    "Give exactly one tag per word (split the words and the tags the same way).");
            // Key 0 is a missing tag: the word is still read, and the loss ignores it.
            result.Words.Add(sentence);
            result.Tags.Add(tags.DenseValues().Select(k => (int)k - 1).ToArray());
        }
        return result;
    }

    private static string[] TagNamesOf(DataViewSchema.Column label, string dataName)
    {
        var keyType = (KeyDataViewType)((VectorDataViewType)label.Type).ItemType;
        string[] names;
        if (label.Annotations.Schema.GetColumnOrNull("KeyValues") is not null)
        {
            VBuffer<ReadOnlyMemory<char>> values = default;
            label.GetKeyValues(ref values);
            names = values.DenseValues().Select(v => v.ToString()).ToArray();
        }
        else names = Enumerable.Range(0, checked((int)keyType.Count)).Select(i => $"LABEL_{i}").ToArray();
        if (names.Length < 2)
            throw new ArgumentException($"Label column '{label.Name}' of the {dataName} has {names.Length} tag{(names.Length == 1 ? $" ('{names[0]}')" : "s")}; token classification needs at least two " +
                "(for example O and B-PER). Check that the tags were split per word and mapped to keys on the whole training data.", "options");
        return names;
    }

    private static ArgumentException Missing(DataViewSchema schema, string name, string option, string dataName) => new(
        $"The {dataName} has no column '{name}' (BertFineTuneOptions.{option}). Its columns are: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => $"{c.Name} ({c.Type})"))}.", "options");

    /// <summary>Holds out a random share of the sentences for validation.</summary>
    public (TaggedSentences Train, TaggedSentences Validation) Split(float fraction, Random random)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        random.Shuffle(order);
        var held = order.Take((int)Math.Round(Count * fraction)).ToHashSet();
        return (Subset(i => !held.Contains(i)), Subset(held.Contains));
    }

    private TaggedSentences Subset(Func<int, bool> keep)
    {
        var subset = new TaggedSentences { TagNames = TagNames, WordsAreVector = WordsAreVector };
        for (int i = 0; i < Count; i++)
        {
            if (!keep(i)) continue;
            subset.Words.Add(Words[i]);
            subset.Tags.Add(Tags[i]);
        }
        return subset;
    }

    /// <summary>Every sentence as one or more windows that fit the model, tags on each word's first sub-token.</summary>
    public List<TokenizedExample> Windows(Text.BertTextTokenizer tokenizer, int maxLength, int stride)
    {
        var windows = new List<WordWindow>[Count];
        Parallel.For(0, Count, i => windows[i] = WordWindows.Cut(tokenizer, Words[i], Tags[i], maxLength, stride));
        // A window with no tagged word (an empty sentence, a stretch inside one long word) would give a loss of 0/0.
        return windows.SelectMany(w => w).Select(w => w.Example).Where(e => e.TokenLabels!.Any(t => t >= 0)).ToList();
    }
}
