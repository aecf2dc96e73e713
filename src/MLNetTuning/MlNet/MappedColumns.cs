using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetTuning.MlNet;

/// <summary>An input column a batched transformer reads, with the type it expects.</summary>
/// <param name="Name">Column name in the input data.</param>
/// <param name="Type">Expected type. A <see cref="VectorDataViewType"/> of size 0 accepts any vector size.</param>
internal sealed record InputColumn(string Name, DataViewType Type)
{
    public string Name { get; } = !string.IsNullOrEmpty(Name) ? Name
        : throw new ArgumentException("An input column needs a non-empty name.", nameof(Name));
    public DataViewType Type { get; } = Type ?? throw new ArgumentNullException(nameof(Type));

    /// <summary>Whether a column of <paramref name="actual"/> type can be read as this input.</summary>
    public bool Accepts(DataViewType actual) =>
        Type is VectorDataViewType expected
            ? actual is VectorDataViewType vector && vector.ItemType.Equals(expected.ItemType)
              && (expected.Size == 0 || expected.Size == vector.Size)
            : Type.Equals(actual);

    /// <summary>Finds this column in <paramref name="schema"/> or throws an error naming expected and actual type.</summary>
    public DataViewSchema.Column FindIn(DataViewSchema schema, string transformerName)
    {
        DataViewSchema.Column? column = schema.GetColumnOrNull(Name);
        if (column is null)
            throw new ArgumentOutOfRangeException(nameof(schema),
                $"{transformerName} needs input column '{Name}' of type {Describe(Type)}, but the data has no such column. " +
                $"Columns present: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => $"'{c.Name}'"))}.");
        if (!Accepts(column.Value.Type))
            throw new ArgumentOutOfRangeException(nameof(schema),
                $"{transformerName}: input column '{Name}' must be {Describe(Type)} but is {column.Value.Type}. " +
                "Convert it in the pipeline first (e.g. Concatenate/ConvertType), or train on data of the same shape.");
        return column.Value;
    }

    /// <summary>The same check for an estimator's schema without data (no vector sizes there).</summary>
    public void CheckIn(SchemaShape schema, string transformerName)
    {
        SchemaShape.Column actual = schema.LastOrDefault(c => c.Name == Name);
        if (actual.Name is null)
            throw new ArgumentOutOfRangeException(nameof(schema),
                $"{transformerName} needs input column '{Name}' of type {Describe(Type)}, but the input has no such column. " +
                $"Columns present: {string.Join(", ", schema.Select(c => $"'{c.Name}'"))}.");
        var (kind, itemType, isKey) = ShapeOf(Type);
        bool kindMatches = actual.Kind == kind
            || (kind == SchemaShape.Column.VectorKind.VariableVector && actual.Kind == SchemaShape.Column.VectorKind.Vector);
        if (!kindMatches || actual.IsKey != isKey || !actual.ItemType.Equals(itemType))
            throw new ArgumentOutOfRangeException(nameof(schema),
                $"{transformerName}: input column '{Name}' must be {Describe(Type)} but is " +
                $"{actual.Kind} of {(actual.IsKey ? "key " : "")}{actual.ItemType}. Convert it in the pipeline first.");
    }

    private static string Describe(DataViewType type) =>
        type is VectorDataViewType { Size: 0 } vector ? $"a vector of {vector.ItemType} (any size)" : type.ToString() ?? type.GetType().Name;

    // Mirrors how ML.NET turns a type into a SchemaShape column (known-size vectors are Vector, keys keep their raw type).
    private static (SchemaShape.Column.VectorKind Kind, DataViewType ItemType, bool IsKey) ShapeOf(DataViewType type)
    {
        var kind = SchemaShape.Column.VectorKind.Scalar;
        DataViewType item = type;
        if (type is VectorDataViewType vector)
        {
            kind = vector.IsKnownSize ? SchemaShape.Column.VectorKind.Vector : SchemaShape.Column.VectorKind.VariableVector;
            item = vector.ItemType;
        }
        if (item is KeyDataViewType key)
            return (kind, ToPrimitive(key.RawType), true);
        return (kind, item, false);
    }

    private static DataViewType ToPrimitive(Type rawType) =>
        rawType == typeof(byte) ? NumberDataViewType.Byte
        : rawType == typeof(ushort) ? NumberDataViewType.UInt16
        : rawType == typeof(uint) ? NumberDataViewType.UInt32
        : NumberDataViewType.UInt64;
}

/// <summary>An output column a batched transformer computes, with its type and annotations.</summary>
/// <remarks>Use the factories: they attach the annotations ML.NET's evaluators and MapKeyToValue look for.</remarks>
internal sealed record OutputColumn(string Name, DataViewType Type, DataViewSchema.Annotations Annotations)
{
    // ML.NET's annotation kinds (AnnotationUtils.Kinds is internal); evaluators and MapKeyToValue look these up.
    internal const string SlotNamesKind = "SlotNames";
    internal const string KeyValuesKind = "KeyValues";

    public string Name { get; } = !string.IsNullOrEmpty(Name) ? Name
        : throw new ArgumentException("An output column needs a non-empty name.", nameof(Name));
    public DataViewType Type { get; } = Type ?? throw new ArgumentNullException(nameof(Type));
    public DataViewSchema.Annotations Annotations { get; } = Annotations ?? throw new ArgumentNullException(nameof(Annotations));

    /// <summary>A scalar column such as a regression <c>Score</c> (float) or a binary <c>PredictedLabel</c> (bool).</summary>
    public static OutputColumn Scalar(string name, PrimitiveDataViewType type) =>
        new(name, type, DataViewSchema.Annotations.Empty);

    /// <summary>A known-size float vector, e.g. a multiclass <c>Score</c>; <paramref name="slotNames"/> become SlotNames.</summary>
    public static OutputColumn FloatVector(string name, int size, IReadOnlyList<string>? slotNames = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        var annotations = new DataViewSchema.Annotations.Builder();
        if (slotNames is not null)
        {
            if (slotNames.Count != size)
                throw new ArgumentException(
                    $"Output column '{name}' has {size} slots but {slotNames.Count} slot names were given.", nameof(slotNames));
            VBuffer<ReadOnlyMemory<char>> names = ToTextVector(slotNames);
            annotations.Add(SlotNamesKind, new VectorDataViewType(TextDataViewType.Instance, size),
                (ref VBuffer<ReadOnlyMemory<char>> dst) => names.CopyTo(ref dst));
        }
        return new(name, new VectorDataViewType(NumberDataViewType.Single, size), annotations.ToAnnotations());
    }

    /// <summary>A known-size bool vector with <paramref name="slotNames"/> as SlotNames, e.g. a multi-label <c>PredictedLabel</c>.</summary>
    public static OutputColumn BoolVector(string name, IReadOnlyList<string> slotNames)
    {
        var floats = FloatVector(name, slotNames.Count, slotNames);
        return new(name, new VectorDataViewType(BooleanDataViewType.Instance, slotNames.Count), floats.Annotations);
    }

    /// <summary>
    /// A key column (<c>uint</c>, 1-based; 0 = missing) whose KeyValues are <paramref name="keyValues"/>, e.g. a
    /// multiclass <c>PredictedLabel</c> that MapKeyToValue and the multiclass evaluator understand.
    /// </summary>
    public static OutputColumn Key(string name, IReadOnlyList<string> keyValues)
    {
        ArgumentNullException.ThrowIfNull(keyValues);
        if (keyValues.Count == 0)
            throw new ArgumentException($"Key column '{name}' needs at least one key value.", nameof(keyValues));
        VBuffer<ReadOnlyMemory<char>> values = ToTextVector(keyValues);
        var annotations = new DataViewSchema.Annotations.Builder();
        annotations.Add(KeyValuesKind, new VectorDataViewType(TextDataViewType.Instance, keyValues.Count),
            (ref VBuffer<ReadOnlyMemory<char>> dst) => values.CopyTo(ref dst));
        return new(name, new KeyDataViewType(typeof(uint), keyValues.Count), annotations.ToAnnotations());
    }

    /// <summary>A float vector whose length varies by row (one value per word of a token classifier).</summary>
    public static OutputColumn VariableFloatVector(string name) =>
        new(name, new VectorDataViewType(NumberDataViewType.Single), DataViewSchema.Annotations.Empty);

    /// <summary>
    /// A key vector whose length varies by row, with <paramref name="keyValues"/> as KeyValues: one predicted tag per word,
    /// which MapKeyToValue turns back into tag names.
    /// </summary>
    public static OutputColumn KeyVector(string name, IReadOnlyList<string> keyValues)
    {
        var key = Key(name, keyValues);
        return new(name, new VectorDataViewType((KeyDataViewType)key.Type), key.Annotations);
    }

    private static VBuffer<ReadOnlyMemory<char>> ToTextVector(IReadOnlyList<string> values) =>
        new(values.Count, values.Select(v => (v ?? throw new ArgumentException("Names must not be null.")).AsMemory()).ToArray());
}

/// <summary>Reads the KeyValues of a key column (e.g. the label after MapValueToKey), to save with a model.</summary>
internal static class KeyValueNames
{
    public static string[] Read(DataViewSchema.Column column)
    {
        if (column.Type is not KeyDataViewType key)
            throw new ArgumentException($"Column '{column.Name}' must be a key column but is {column.Type}. " +
                "Map it with MapValueToKey first.", nameof(column));
        if (column.Annotations.Schema.GetColumnOrNull(OutputColumn.KeyValuesKind) is null)
            throw new ArgumentException($"Key column '{column.Name}' has no KeyValues annotation, so the class names are unknown.",
                nameof(column));
        var values = default(VBuffer<ReadOnlyMemory<char>>);
        column.GetKeyValues(ref values);
        if (values.Length != (int)key.Count)
            throw new ArgumentException(
                $"Key column '{column.Name}' has {key.Count} keys but {values.Length} KeyValues.", nameof(column));
        return values.DenseValues().Select(v => v.ToString()).ToArray();
    }
}
