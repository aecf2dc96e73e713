using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetTuning.MlNet;

/// <summary>The lazy result of <see cref="BatchedMappingTransformer.Transform"/>.</summary>
internal sealed class BatchedMappedDataView(BatchedMappingTransformer transformer, IDataView input, DataViewSchema schema)
    : IDataView
{
    public DataViewSchema Schema { get; } = schema;

    public bool CanShuffle => input.CanShuffle;

    public long? GetRowCount() => input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        ArgumentNullException.ThrowIfNull(columnsNeeded);
        var active = new bool[Schema.Count];
        foreach (DataViewSchema.Column column in columnsNeeded)
            active[column.Index] = true;
        int inputCount = input.Schema.Count;
        bool anyOutput = active.Skip(inputCount).Any(a => a);

        DataViewSchema.Column[] required = transformer.ValidateInputs(input.Schema);
        var inputColumnsNeeded = Enumerable.Range(0, inputCount).Where(i => active[i]).Select(i => input.Schema[i]);
        if (anyOutput)
            inputColumnsNeeded = inputColumnsNeeded.Concat(required);
        DataViewRowCursor cursor = input.GetRowCursor(inputColumnsNeeded.DistinctBy(c => c.Index).ToList(), rand);
        return new BatchedCursor(transformer, cursor, Schema, active, anyOutput ? required : null);
    }

    // One cursor: the mapper itself batches (and, for torch, uses all cores); parallel cursors would oversubscribe.
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    /// <summary>Reads up to BatchSize input rows ahead, maps them in one call, then serves them one by one.</summary>
    private sealed class BatchedCursor : DataViewRowCursor
    {
        private readonly DataViewRowCursor _input;
        private readonly bool[] _active;
        private readonly int _inputCount;
        private readonly int _capacity;
        private readonly ColumnBuffer?[] _passThrough;       // by input column index, for active input columns
        private readonly ColumnBuffer[] _mapperInputs = [];  // by declared input index
        private readonly ColumnBuffer[] _outputs = [];       // by declared output index
        private readonly ValueGetter<DataViewRowId> _inputIds;
        private readonly DataViewRowId[] _ids;
        private readonly IBatchMapper? _mapper;
        private readonly InputBatch? _inputBatch;
        private readonly OutputBatch? _outputBatch;
        private int _count;
        private int _slot;
        private long _position = -1;

        public BatchedCursor(BatchedMappingTransformer transformer, DataViewRowCursor input, DataViewSchema schema,
            bool[] active, DataViewSchema.Column[]? required)
        {
            _input = input;
            Schema = schema;
            _active = active;
            _inputCount = input.Schema.Count;
            _capacity = transformer.BatchSize;
            _passThrough = new ColumnBuffer?[_inputCount];
            for (int i = 0; i < _inputCount; i++)
            {
                if (active[i])
                    _passThrough[i] = ColumnBuffer.Create(input.Schema[i].Type, _capacity, input, input.Schema[i]);
            }
            _inputIds = input.GetIdGetter();
            _ids = new DataViewRowId[_capacity];
            if (required is null)
                return;
            _mapperInputs = required.Select(c => ColumnBuffer.Create(c.Type, _capacity, input, c)).ToArray();
            _outputs = transformer.OutputColumns.Select(o => ColumnBuffer.Create(o.Type, _capacity)).ToArray();
            _inputBatch = new InputBatch(_mapperInputs);
            _outputBatch = new OutputBatch(_outputs, active.Skip(_inputCount).ToArray());
            _mapper = transformer.CreateBatchMapper();
        }

        public override DataViewSchema Schema { get; }

        public override long Position => _position;

        public override long Batch => _input.Batch;

        public override bool IsColumnActive(DataViewSchema.Column column) => _active[column.Index];

        public override bool MoveNext()
        {
            if (++_slot >= _count && !FillBatch())
                return false;
            _position++;
            return true;
        }

        private bool FillBatch()
        {
            _count = 0;
            _slot = 0;
            while (_count < _capacity && _input.MoveNext())
            {
                foreach (ColumnBuffer? buffer in _passThrough)
                    buffer?.Fetch(_count);
                foreach (ColumnBuffer buffer in _mapperInputs)
                    buffer.Fetch(_count);
                _inputIds(ref _ids[_count]);
                _count++;
            }
            if (_count == 0)
                return false;
            if (_mapper is not null)
            {
                _inputBatch!.Count = _count;
                _outputBatch!.Count = _count;
                _mapper.MapBatch(_inputBatch, _outputBatch);
            }
            return true;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!_active[column.Index])
                throw new ArgumentOutOfRangeException(nameof(column),
                    $"Column '{column.Name}' was not requested when this cursor was created; request it in columnsNeeded.");
            ColumnBuffer buffer = column.Index < _inputCount ? _passThrough[column.Index]! : _outputs[column.Index - _inputCount];
            return buffer.CreateGetter(CurrentSlot) as ValueGetter<TValue> ?? throw new InvalidOperationException(
                $"Column '{column.Name}' is {column.Type}; get it as {column.Type.RawType.Name}, not {typeof(TValue).Name}.");
        }

        public override ValueGetter<DataViewRowId> GetIdGetter() =>
            (ref DataViewRowId id) => id = _ids[CurrentSlot()];

        private int CurrentSlot() => _position >= 0 && _slot < _count ? _slot
            : throw new InvalidOperationException("The cursor is not on a row: call MoveNext first and check it returned true.");

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _mapper?.Dispose();
                _input.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
