using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;

// Usage: MLNetTuning.ZipLoader <model.zip> <data.tsv> [column...]
// data.tsv: tab-separated, one header line, columns in the order of the model's saved input schema (a known-size
// vector takes that many fields). Prints {"columns": [...], "rows": [{column: value}]} for the named output columns
// (default: Score and, when present, PredictedLabel). Key columns print their KeyValues name; bool vectors print as arrays.
// Or: MLNetTuning.ZipLoader --dispose-race <model.zip> <rounds> (see DisposeRace.cs).
// Or: MLNetTuning.ZipLoader --train ... (see TrainChild.cs): a training process for the checkpoint tests.
if (args is ["--train", .. var trainArgs])
    return TrainChild.Run(trainArgs);
if (args is ["--dispose-race", string raceZip, string rounds])
    return DisposeRace.Run(raceZip, int.Parse(rounds, System.Globalization.CultureInfo.InvariantCulture));
if (args.Length < 2)
{
    Console.Error.WriteLine("Usage: MLNetTuning.ZipLoader <model.zip> <data.tsv> [column...]");
    return 2;
}
var ml = new MLContext(seed: 0);
ITransformer model = ml.Model.Load(args[0], out DataViewSchema? inputSchema);
if (inputSchema is null)
{
    Console.Error.WriteLine($"'{args[0]}' was saved without an input schema; save it with ml.Model.Save(model, data.Schema, path).");
    return 1;
}
IDataView data = ml.Data.LoadFromTextFile(args[1], new TextLoader.Options
{
    HasHeader = true,
    Separators = ['\t'],
    Columns = TextColumns(inputSchema).ToArray(),
});
IDataView scored = model.Transform(data);
string[] wanted = args.Length > 2 ? args[2..]
    : new[] { "Score", "PredictedLabel" }.Where(n => scored.Schema.GetColumnOrNull(n) is not null).ToArray();
DataViewSchema.Column[] columns = wanted.Select(n => scored.Schema.GetColumnOrNull(n)
    ?? throw new ArgumentException($"The scored data has no column '{n}'.")).ToArray();

var rows = new JsonArray();
using (DataViewRowCursor cursor = scored.GetRowCursor(columns))
{
    Func<JsonNode?>[] readers = columns.Select(c => Reader(cursor, c)).ToArray();
    while (cursor.MoveNext())
    {
        var row = new JsonObject();
        for (int i = 0; i < columns.Length; i++)
            row[columns[i].Name] = readers[i]();
        rows.Add(row);
    }
}
var result = new JsonObject
{
    ["columns"] = new JsonArray(columns.Select(c => (JsonNode)JsonValue.Create($"{c.Name}: {c.Type}")).ToArray()),
    ["rows"] = rows,
};
Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
return 0;

static IEnumerable<TextLoader.Column> TextColumns(DataViewSchema schema)
{
    int field = 0;
    foreach (DataViewSchema.Column column in schema.Where(c => !c.IsHidden))
    {
        DataViewType item = column.Type is VectorDataViewType v ? v.ItemType : column.Type;
        int size = column.Type is VectorDataViewType vector ? vector.Size : 1;
        if (size == 0)
            throw new NotSupportedException($"Input column '{column.Name}' is a variable-size vector; TSV input cannot express it.");
        // A scalar must load as a scalar: a one-field range would make it a Vector<T, 1>, which a text stage rejects.
        yield return column.Type is VectorDataViewType
            ? new TextLoader.Column(column.Name, KindOf(column.Name, item), field, field + size - 1)
            : new TextLoader.Column(column.Name, KindOf(column.Name, item), field);
        field += size;
    }
}

static DataKind KindOf(string name, DataViewType type) =>
    type == NumberDataViewType.Single ? DataKind.Single
    : type == NumberDataViewType.Double ? DataKind.Double
    : type == NumberDataViewType.Int32 ? DataKind.Int32
    : type == NumberDataViewType.Int64 ? DataKind.Int64
    : type == BooleanDataViewType.Instance ? DataKind.Boolean
    : type == TextDataViewType.Instance ? DataKind.String
    : throw new NotSupportedException($"Input column '{name}' has type {type}, which this loader does not read from TSV.");

static Func<JsonNode?> Reader(DataViewRow row, DataViewSchema.Column column)
{
    DataViewType type = column.Type;
    if (type == NumberDataViewType.Single)
    {
        ValueGetter<float> get = row.GetGetter<float>(column);
        return () => { float v = 0; get(ref v); return JsonValue.Create(v); };
    }
    if (type is VectorDataViewType vec && vec.ItemType == NumberDataViewType.Single)
    {
        ValueGetter<VBuffer<float>> get = row.GetGetter<VBuffer<float>>(column);
        return () =>
        {
            VBuffer<float> v = default;
            get(ref v);
            return new JsonArray(v.DenseValues().Select(x => (JsonNode)JsonValue.Create(x)).ToArray());
        };
    }
    if (type is VectorDataViewType { ItemType: BooleanDataViewType })
    {
        ValueGetter<VBuffer<bool>> get = row.GetGetter<VBuffer<bool>>(column);
        return () =>
        {
            VBuffer<bool> v = default;
            get(ref v);
            return new JsonArray(v.DenseValues().Select(x => (JsonNode)JsonValue.Create(x)).ToArray());
        };
    }
    if (type is KeyDataViewType)
    {
        ValueGetter<uint> get = row.GetGetter<uint>(column);
        VBuffer<ReadOnlyMemory<char>> names = default;
        bool hasNames = column.Annotations.Schema.GetColumnOrNull("KeyValues") is not null;
        if (hasNames)
            column.GetKeyValues(ref names);
        string[] nameArray = names.DenseValues().Select(n => n.ToString()).ToArray();
        return () =>
        {
            uint key = 0;
            get(ref key);
            return hasNames && key > 0 ? JsonValue.Create(nameArray[key - 1]) : JsonValue.Create(key);
        };
    }
    throw new NotSupportedException($"Output column '{column.Name}' has type {type}, which this loader does not print.");
}
