using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetTuning.MlNet;

/// <summary>
/// A multi-label column in either form a user has: a known-size vector of booleans (one per label, named by its SlotNames),
/// or a vector of keys holding the labels that apply (as TokenizeIntoWords then MapValueToKey make; named by its KeyValues).
/// </summary>
internal static class MultiLabelColumn
{
    /// <summary>Whether <paramref name="type"/> is one of the two forms.</summary>
    public static bool Accepts(DataViewType type) =>
        type is VectorDataViewType { ItemType: KeyDataViewType } or VectorDataViewType { ItemType: BooleanDataViewType, IsKnownSize: true };

    /// <summary>What a multi-label column must be, ending a sentence.</summary>
    public static string Need(string column) =>
        $"a known-size vector of Boolean (one per label) or a vector of keys (the labels that apply, e.g. ml.Transforms.Text.TokenizeIntoWords(\"{column}\") then ml.Transforms.Conversion.MapValueToKey(\"{column}\")).";

    /// <exception cref="ArgumentException">The column is neither form; the message names it with the expected and actual type.</exception>
    public static void Check(DataViewType type, string column, string dataName)
    {
        if (!Accepts(type))
            throw new ArgumentException($"Label column '{column}' of the {dataName}: multi-label classification needs {Need(column)} It is {type}.", "options");
    }

    /// <summary>The label names: a key vector's KeyValues or a bool vector's SlotNames, else LABEL_i.</summary>
    public static string[] Names(DataViewSchema.Column column)
    {
        int count = Count(column.Type);
        var names = default(VBuffer<ReadOnlyMemory<char>>);
        bool isKey = column.Type is VectorDataViewType { ItemType: KeyDataViewType };
        string kind = isKey ? OutputColumn.KeyValuesKind : OutputColumn.SlotNamesKind;
        if (column.Annotations.Schema.GetColumnOrNull(kind) is { Type: VectorDataViewType { ItemType: TextDataViewType } })
            column.Annotations.GetValue(kind, ref names);
        var found = names.DenseValues().Select(n => n.ToString()).ToArray();
        return found.Length == count && found.All(n => n.Length > 0) && found.Distinct().Count() == count
            ? found : Enumerable.Range(0, count).Select(i => $"LABEL_{i}").ToArray();
    }

    /// <summary>The number of labels: the key count or the vector's size.</summary>
    public static int Count(DataViewType type) => type switch
    {
        VectorDataViewType { ItemType: KeyDataViewType key } => checked((int)key.Count),
        VectorDataViewType vector => vector.Size,
        _ => 0,
    };

    /// <summary>Reads each row's labels as 0/1 targets, one per label; an empty set is a row where no label applies.</summary>
    /// <exception cref="InvalidDataException">A key vector holds key 0 (a value its MapValueToKey did not know) or a key past the labels.</exception>
    public static Func<long, float[]> Reader(DataViewRow cursor, DataViewSchema.Column column, string dataName)
    {
        int count = Count(column.Type);
        if (column.Type is VectorDataViewType { ItemType: BooleanDataViewType })
        {
            var getBools = cursor.GetGetter<VBuffer<bool>>(column);
            var bools = default(VBuffer<bool>);
            return _ =>
            {
                getBools(ref bools);
                var targets = new float[count];
                foreach (var (slot, value) in bools.Items()) if (value) targets[slot] = 1;
                return targets;
            };
        }
        var getKeys = cursor.GetGetter<VBuffer<uint>>(column);
        var keys = default(VBuffer<uint>);
        return row =>
        {
            getKeys(ref keys);
            var targets = new float[count];
            foreach (uint key in keys.DenseValues())
            {
                // Keys are 1-based; 0 is a value the fitted MapValueToKey did not know.
                if (key == 0 || key > count)
                    throw new InvalidDataException($"Label column '{column.Name}' of the {dataName}, row {row}: key {key} is not one of the {count} labels (1 to {count}). " +
                        "Key 0 is a label the fitted MapValueToKey did not know: fit it on data with every label, or remove the row.");
                targets[key - 1] = 1;
            }
            return targets;
        };
    }
}
