using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Training;

namespace MLNetTuning.MlNet;

/// <summary>Reads sentences of words and their tags from a data view for token classification.</summary>
internal static class TaggedSentenceReader
{
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

    internal static ArgumentException Missing(DataViewSchema schema, string name, string option, string dataName) => new(
        $"The {dataName} has no column '{name}' (BertFineTuneOptions.{option}). Its columns are: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => $"{c.Name} ({c.Type})"))}.", "options");

}
