using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetTuning.MlNet;

/// <summary>Values of one column for the rows of a batch, one slot per row.</summary>
/// <remarks>
/// A batched cursor reads ahead N rows, so the input cursor's getters no longer describe the row being served:
/// every column the consumer asked for is copied into slots. Vectors are deep-copied because upstream getters
/// may reuse their buffers.
/// </remarks>
internal abstract class ColumnBuffer
{
    public abstract DataViewType Type { get; }

    /// <summary>Copies the source row's current value into <paramref name="slot"/>.</summary>
    public abstract void Fetch(int slot);

    /// <summary>A getter that serves the value at the slot <paramref name="currentSlot"/> returns.</summary>
    public abstract Delegate CreateGetter(Func<int> currentSlot);

    /// <summary>A buffer of <paramref name="capacity"/> slots, filled from <paramref name="source"/> when given.</summary>
    public static ColumnBuffer Create(DataViewType type, int capacity, DataViewRow? source = null, DataViewSchema.Column? column = null)
    {
        Type raw = type.RawType;
        MethodInfo factory = raw.IsGenericType && raw.GetGenericTypeDefinition() == typeof(VBuffer<>)
            ? CreateVectorMethod.MakeGenericMethod(raw.GetGenericArguments()[0])
            : CreateScalarMethod.MakeGenericMethod(raw);
        return (ColumnBuffer)factory.Invoke(null, [type, capacity, source, column])!;
    }

    private static readonly MethodInfo CreateScalarMethod =
        typeof(ColumnBuffer).GetMethod(nameof(CreateScalar), BindingFlags.NonPublic | BindingFlags.Static)!;
    private static readonly MethodInfo CreateVectorMethod =
        typeof(ColumnBuffer).GetMethod(nameof(CreateVector), BindingFlags.NonPublic | BindingFlags.Static)!;

    private static ColumnBuffer CreateScalar<T>(DataViewType type, int capacity, DataViewRow? source, DataViewSchema.Column? column) =>
        new ScalarBuffer<T>(type, capacity, source is null ? null : source.GetGetter<T>(column!.Value));

    private static ColumnBuffer CreateVector<T>(DataViewType type, int capacity, DataViewRow? source, DataViewSchema.Column? column) =>
        new VectorBuffer<T>(type, capacity, source is null ? null : source.GetGetter<VBuffer<T>>(column!.Value));
}

/// <summary>Typed slots; <see cref="Values"/> is what a batch mapper reads or fills.</summary>
internal abstract class ColumnBuffer<T>(DataViewType type, int capacity) : ColumnBuffer
{
    public override DataViewType Type { get; } = type;
    public T[] Values { get; } = new T[capacity];
}

// Text, numbers, bools, keys and row ids are immutable values: copying the struct is a full copy.
internal sealed class ScalarBuffer<T>(DataViewType type, int capacity, ValueGetter<T>? source)
    : ColumnBuffer<T>(type, capacity)
{
    public override void Fetch(int slot) => source!(ref Values[slot]);

    public override Delegate CreateGetter(Func<int> currentSlot) =>
        (ValueGetter<T>)((ref T value) => value = Values[currentSlot()]);
}

internal sealed class VectorBuffer<T>(DataViewType type, int capacity, ValueGetter<VBuffer<T>>? source)
    : ColumnBuffer<VBuffer<T>>(type, capacity)
{
    private VBuffer<T> _scratch;

    public override void Fetch(int slot)
    {
        source!(ref _scratch);
        _scratch.CopyTo(ref Values[slot]);
    }

    // The consumer owns what it receives: copy, so later batches never change a value it kept.
    public override Delegate CreateGetter(Func<int> currentSlot) =>
        (ValueGetter<VBuffer<T>>)((ref VBuffer<T> value) => Values[currentSlot()].CopyTo(ref value));
}

/// <summary>The input rows of one batch, column by column, in the order the transformer declared its inputs.</summary>
internal sealed class InputBatch(IReadOnlyList<ColumnBuffer> columns)
{
    /// <summary>Number of rows in this batch (the last batch may be short).</summary>
    public int Count { get; internal set; }

    /// <summary>The values of declared input <paramref name="inputIndex"/>, e.g. <c>Get&lt;VBuffer&lt;float&gt;&gt;(0)</c>.</summary>
    public ReadOnlySpan<T> Get<T>(int inputIndex) => Typed<T>(columns, inputIndex, "input").Values.AsSpan(0, Count);

    /// <summary>The texts of text input <paramref name="inputIndex"/> as strings, in row order.</summary>
    public List<string> Texts(int inputIndex)
    {
        var texts = new List<string>(Count);
        foreach (var text in Get<ReadOnlyMemory<char>>(inputIndex)) texts.Add(text.ToString());
        return texts;
    }

    internal static ColumnBuffer<T> Typed<T>(IReadOnlyList<ColumnBuffer> columns, int index, string kind)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, columns.Count);
        return columns[index] as ColumnBuffer<T> ?? throw new ArgumentException(
            $"The {kind} column #{index} is {columns[index].Type} (raw type {columns[index].Type.RawType.Name}); " +
            $"read it as {columns[index].Type.RawType.Name}, not {typeof(T).Name}.");
    }
}

/// <summary>The outputs of one batch, in the order the transformer declared them; the mapper fills each span.</summary>
internal sealed class OutputBatch(IReadOnlyList<ColumnBuffer> columns, IReadOnlyList<bool> active)
{
    /// <summary>Number of rows to fill.</summary>
    public int Count { get; internal set; }

    /// <summary>Whether the consumer reads output <paramref name="outputIndex"/>; a mapper may skip inactive ones.</summary>
    public bool IsActive(int outputIndex) => active[outputIndex];

    /// <summary>
    /// The slots of output <paramref name="outputIndex"/>. Vector slots keep their previous batch's buffers, so a
    /// mapper may reuse them with <c>VBufferEditor.Create(ref span[i], length)</c>.
    /// </summary>
    public Span<T> Get<T>(int outputIndex) => InputBatch.Typed<T>(columns, outputIndex, "output").Values.AsSpan(0, Count);
}

/// <summary>
/// Computes a transformer's outputs for batches of rows. One instance serves one cursor or one PredictionEngine,
/// on one thread at a time, so it may keep scratch state; state shared between instances must be read-only.
/// </summary>
internal interface IBatchMapper : IDisposable
{
    void MapBatch(InputBatch inputs, OutputBatch outputs);
}
