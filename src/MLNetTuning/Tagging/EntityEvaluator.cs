using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetTuning.Tagging;

/// <summary>
/// Reads a label and a predicted column of word tags (variable-length vectors of keys whose KeyValues are the tag names) and
/// scores the entities they spell, through <see cref="EntityCounter"/>.
/// </summary>
internal static class EntityEvaluator
{
    public static EntityMetrics Evaluate(IDataView data, string labelColumnName, string predictedLabelColumnName)
    {
        ArgumentNullException.ThrowIfNull(data);
        var label = KeyVectorColumn(data.Schema, labelColumnName, nameof(labelColumnName));
        var predicted = KeyVectorColumn(data.Schema, predictedLabelColumnName, nameof(predictedLabelColumnName));

        var counter = new EntityCounter();
        // Index 0 is the missing key. A missing prediction reads as O (no entity); a missing label has no name to score.
        var labelTags = TagsByKey(counter, label, nameof(labelColumnName));
        var predictedTags = TagsByKey(counter, predicted, nameof(predictedLabelColumnName));
        predictedTags[0] = counter.Tag("O")!.Value;

        using var cursor = data.GetRowCursor(label.Index == predicted.Index ? [label] : [label, predicted]);
        var getLabel = cursor.GetGetter<VBuffer<uint>>(label);
        var getPredicted = cursor.GetGetter<VBuffer<uint>>(predicted);
        VBuffer<uint> labelKeys = default, predictedKeys = default;
        var labelRow = new List<EntityTag>();
        var predictedRow = new List<EntityTag>();
        while (cursor.MoveNext())
        {
            getLabel(ref labelKeys);
            getPredicted(ref predictedKeys);
            if (labelKeys.Length != predictedKeys.Length)
                throw new ArgumentException($"Row {cursor.Position} (counting from 0) has {labelKeys.Length} tags in '{label.Name}' but " +
                    $"{predictedKeys.Length} in '{predicted.Name}'. Both columns must hold one tag per word of the same sentence; " +
                    "score the same rows that were labelled, without re-tokenizing them.", nameof(data));
            labelRow.Clear();
            predictedRow.Clear();
            int word = 0;
            foreach (uint key in labelKeys.DenseValues())
            {
                if (key == 0)
                    throw new ArgumentException($"Row {cursor.Position} (counting from 0), word {word}: '{label.Name}' holds the missing key (0), " +
                        "so the word has no tag to score. A tag that MapValueToKey did not see when it was fitted becomes missing: fit it on " +
                        "data that holds every tag, or give untagged words the tag O.", nameof(data));
                labelRow.Add(labelTags[key]);
                word++;
            }
            foreach (uint key in predictedKeys.DenseValues()) predictedRow.Add(predictedTags[key]);
            counter.Add(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(labelRow),
                System.Runtime.InteropServices.CollectionsMarshal.AsSpan(predictedRow));
        }
        return counter.ToMetrics();
    }

    private static DataViewSchema.Column KeyVectorColumn(DataViewSchema schema, string name, string parameter)
    {
        ArgumentNullException.ThrowIfNull(name, parameter);
        var column = schema.GetColumnOrNull(name) ?? throw new ArgumentException(
            $"The data has no column '{name}'. Its columns are: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => c.Name))}. " +
            $"Pass the column's name as {parameter}.", parameter);
        if (column.Type is not VectorDataViewType { ItemType: KeyDataViewType { RawType: var raw } } || raw != typeof(uint))
            throw new ArgumentException($"Column '{name}' must be a vector of keys (Vector<Key<UInt32>>) with one tag per word, but it is {column.Type}. " +
                "Map the tag strings to keys with MapValueToKey, which keeps their names as KeyValues.", parameter);
        return column;
    }

    /// <summary>The parsed tag of every key of <paramref name="column"/>, indexed by key (1-based; index 0 is filled by the caller).</summary>
    private static EntityTag[] TagsByKey(EntityCounter counter, DataViewSchema.Column column, string parameter)
    {
        int keys = checked((int)((KeyDataViewType)((VectorDataViewType)column.Type).ItemType).Count);
        if (column.Annotations.Schema.GetColumnOrNull("KeyValues") is not { Type: VectorDataViewType { ItemType: TextDataViewType } })
            throw new ArgumentException($"Key column '{column.Name}' has no text KeyValues annotation, so its tag names (B-PER, I-PER, O) are unknown. " +
                "Make it with MapValueToKey, or copy the label's KeyValues onto the predicted column.", parameter);
        VBuffer<ReadOnlyMemory<char>> names = default;
        column.GetKeyValues(ref names);
        if (names.Length != keys)
            throw new ArgumentException($"Key column '{column.Name}' has {keys} keys but {names.Length} KeyValues; each key needs its tag name.", parameter);
        var tags = new EntityTag[keys + 1];
        int key = 1;
        foreach (var name in names.DenseValues())
        {
            string text = name.ToString();
            tags[key++] = counter.Tag(text) ?? throw new ArgumentException(
                $"Column '{column.Name}' has the tag '{text}', which is not an entity tag: expected O, or B-, I-, E- or S- and a type " +
                "(B-PER, I-PER), as in IOB2. Part-of-speech and other per-word labels spell no entities, so they have no entity metrics.", parameter);
        }
        return tags;
    }
}
