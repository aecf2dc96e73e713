using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetTuning.MlNet;

/// <summary>
/// Row-at-a-time mapping for PredictionEngine: each <see cref="GetRow"/> gets its own mapper, and PredictionEngine
/// calls it once per engine, so engines used one per thread never share mapper state.
/// </summary>
internal sealed class BatchedRowToRowMapper(BatchedMappingTransformer transformer, DataViewSchema inputSchema,
    DataViewSchema outputSchema) : IRowToRowMapper
{
    public DataViewSchema InputSchema { get; } = inputSchema;

    public DataViewSchema OutputSchema { get; } = outputSchema;

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
    {
        ArgumentNullException.ThrowIfNull(dependingColumns);
        var needed = new List<DataViewSchema.Column>();
        bool anyOutput = false;
        foreach (DataViewSchema.Column column in dependingColumns)
        {
            if (column.Index < InputSchema.Count) needed.Add(InputSchema[column.Index]);
            else anyOutput = true;
        }
        if (anyOutput)
            needed.AddRange(transformer.ValidateInputs(InputSchema));
        return needed.DistinctBy(c => c.Index).ToList();
    }

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(activeColumns);
        if (input.Schema.Count != InputSchema.Count)
            throw new ArgumentException(
                $"The row has {input.Schema.Count} columns but this mapper was created for a schema of {InputSchema.Count}.",
                nameof(input));
        return new MappedRow(transformer, input, OutputSchema, activeColumns.Select(c => c.Index).ToHashSet());
    }

    /// <summary>Passes input columns through and computes the outputs once per input position, on first use.</summary>
    private sealed class MappedRow : DataViewRow
    {
        private readonly DataViewRow _input;
        private readonly HashSet<int> _active;
        private readonly int _inputCount;
        private readonly ColumnBuffer[] _mapperInputs;
        private readonly ColumnBuffer[] _outputs;
        private readonly InputBatch _inputBatch;
        private readonly OutputBatch _outputBatch;
        private readonly IBatchMapper _mapper;
        private long _computedPosition = -1;

        public MappedRow(BatchedMappingTransformer transformer, DataViewRow input, DataViewSchema schema, HashSet<int> active)
        {
            _input = input;
            Schema = schema;
            _active = active;
            _inputCount = input.Schema.Count;
            DataViewSchema.Column[] required = transformer.ValidateInputs(input.Schema);
            _mapperInputs = required.Select(c => ColumnBuffer.Create(c.Type, 1, input, c)).ToArray();
            _outputs = transformer.OutputColumns.Select(o => ColumnBuffer.Create(o.Type, 1)).ToArray();
            bool[] outputActive = Enumerable.Range(_inputCount, _outputs.Length).Select(active.Contains).ToArray();
            _inputBatch = new InputBatch(_mapperInputs) { Count = 1 };
            _outputBatch = new OutputBatch(_outputs, outputActive) { Count = 1 };
            _mapper = transformer.CreateBatchMapper();
        }

        public override DataViewSchema Schema { get; }

        public override long Position => _input.Position;

        public override long Batch => _input.Batch;

        public override ValueGetter<DataViewRowId> GetIdGetter() => _input.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) => _active.Contains(column.Index);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index < _inputCount)
                return _input.GetGetter<TValue>(_input.Schema[column.Index]);
            ValueGetter<TValue> read = _outputs[column.Index - _inputCount].CreateGetter(() => 0) as ValueGetter<TValue>
                ?? throw new InvalidOperationException(
                    $"Column '{column.Name}' is {column.Type}; get it as {column.Type.RawType.Name}, not {typeof(TValue).Name}.");
            return (ref TValue value) =>
            {
                EnsureComputed();
                read(ref value);
            };
        }

        // PredictionEngine advances the input row's Position for every example, so it keys the cache.
        private void EnsureComputed()
        {
            long position = _input.Position;
            if (position == _computedPosition && position >= 0)
                return;
            foreach (ColumnBuffer buffer in _mapperInputs)
                buffer.Fetch(0);
            _mapper.MapBatch(_inputBatch, _outputBatch);
            _computedPosition = position;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                _mapper.Dispose();
            base.Dispose(disposing);
        }
    }
}
