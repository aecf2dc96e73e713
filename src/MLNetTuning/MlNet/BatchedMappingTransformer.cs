using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetTuning.MlNet;

/// <summary>
/// Base for transformers that compute output columns from input columns in batches and save themselves into an
/// ML.NET model zip. All input columns pass through; an output with an input's name hides that input.
/// </summary>
/// <remarks>
/// A subclass declares <see cref="InputColumns"/> (validated with errors naming column, expected and actual type),
/// <see cref="OutputColumns"/> (with SlotNames/KeyValues annotations), creates one <see cref="IBatchMapper"/> per
/// cursor or prediction engine, and writes its state in <see cref="SaveModel"/>. To be loadable it also implements
/// <see cref="IModelLoadable{TSelf}"/> and has one LoadableClass line in MlNetInternals.cs.
/// <see cref="Transform"/> is lazy: rows are mapped <see cref="BatchSize"/> at a time while a cursor moves.
/// </remarks>
internal abstract class BatchedMappingTransformer : ITransformer, ICanSaveModel
{
    /// <summary>Rows per <see cref="IBatchMapper.MapBatch"/> call when a data view is cursored.</summary>
    public const int DefaultBatchSize = 64;

    private readonly ModelFormat _format;

    protected BatchedMappingTransformer(ModelFormat format, int batchSize = DefaultBatchSize)
    {
        ArgumentNullException.ThrowIfNull(format);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        _format = format;
        BatchSize = batchSize;
    }

    /// <summary>Rows per batch in <see cref="Transform"/> (not saved: a load uses the subclass's default).</summary>
    public int BatchSize { get; }

    /// <summary>The columns the mapper reads, in the order <see cref="InputBatch.Get{T}"/> indexes them.</summary>
    public abstract IReadOnlyList<InputColumn> InputColumns { get; }

    /// <summary>The columns the mapper writes, in the order <see cref="OutputBatch.Get{T}"/> indexes them.</summary>
    public abstract IReadOnlyList<OutputColumn> OutputColumns { get; }

    /// <summary>Name used in error messages.</summary>
    protected virtual string DisplayName => GetType().Name;

    /// <summary>A mapper for one cursor or one prediction engine (used by one thread at a time).</summary>
    protected internal abstract IBatchMapper CreateBatchMapper();

    /// <summary>Writes the transformer's state; the versioned header is already written.</summary>
    protected abstract void SaveModel(ModelWriter writer);

    bool ITransformer.IsRowToRowMapper => true;

    /// <summary>The output schema for <paramref name="inputSchema"/>; throws if a required input is missing or mistyped.</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        ValidateInputs(inputSchema);
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        foreach (OutputColumn output in OutputColumns)
            builder.AddColumn(output.Name, output.Type, output.Annotations);
        return builder.ToSchema();
    }

    /// <summary>The output shape without data, for this transformer's estimator.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        ExtendSchemaShape(inputSchema, InputColumns, OutputColumns, DisplayName);

    /// <summary>
    /// What an estimator's <c>GetOutputSchema(SchemaShape)</c> returns before it has a transformer: validates the
    /// inputs and appends the outputs (an output replaces an input of the same name).
    /// </summary>
    public static SchemaShape ExtendSchemaShape(SchemaShape inputSchema, IReadOnlyList<InputColumn> inputs,
        IReadOnlyList<OutputColumn> outputs, string transformerName)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        foreach (InputColumn input in inputs)
            input.CheckIn(inputSchema, transformerName);
        var outputSchema = new DataViewSchema.Builder();
        foreach (OutputColumn output in outputs)
            outputSchema.AddColumn(output.Name, output.Type, output.Annotations);
        SchemaShape outputShape = MlNetSchemaShapes.FromSchema(outputSchema.ToSchema());
        var outputNames = outputs.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        return new SchemaShape(inputSchema.Where(c => !outputNames.Contains(c.Name)).Concat(outputShape));
    }

    /// <summary>A lazy view: nothing is computed until it is cursored, then <see cref="BatchSize"/> rows at a time.</summary>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new BatchedMappedDataView(this, input, GetOutputSchema(input.Schema));
    }

    /// <summary>Row-at-a-time mapping, as used by PredictionEngine.</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        return new BatchedRowToRowMapper(this, inputSchema, GetOutputSchema(inputSchema));
    }

    void ICanSaveModel.Save(ModelSaveContext ctx) => SaveModel(new ModelWriter(ctx, _format));

    /// <summary>The input schema's columns for <see cref="InputColumns"/>, checked.</summary>
    internal DataViewSchema.Column[] ValidateInputs(DataViewSchema inputSchema) =>
        InputColumns.Select(c => c.FindIn(inputSchema, DisplayName)).ToArray();
}
