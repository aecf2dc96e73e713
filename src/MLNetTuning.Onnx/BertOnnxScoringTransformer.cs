using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.MlNet;
using MLNetTuning.OnnxScoring;
using MLNetTuning.Text;

namespace MLNetTuning;

/// <summary>
/// Scores text with a model that MLNetTuning's <c>BertFineTuneTransformer.ExportOnnx</c> wrote, on ONNX Runtime, and adds
/// the columns the TorchSharp stage adds: multiclass <c>Score</c> (probabilities with class SlotNames) and key
/// <c>PredictedLabel</c> (with KeyValues); binary <c>Score</c>, <c>Probability</c> and bool <c>PredictedLabel</c>;
/// regression <c>Score</c> in label units; multi-label <c>Score</c> and a bool vector <c>PredictedLabel</c>. It saves into an
/// ML.NET model zip with the graph and the tokenizer inside, and loads back in a process without TorchSharp.
/// </summary>
public sealed class BertOnnxScoringTransformer : ITransformer, ICanSaveModel, IModelLoadable<BertOnnxScoringTransformer>, IDisposable
{
    internal const string LoaderSignature = "MLNetTuningBertOnnx";
    private readonly Mapping _mapping;

    internal BertOnnxScoringTransformer(OnnxTextModel model, string textColumn, string? secondTextColumn) => _mapping = new Mapping(model, textColumn, secondTextColumn);

    private BertOnnxScoringTransformer(Mapping mapping) => _mapping = mapping;

    static ModelFormat IModelLoadable<BertOnnxScoringTransformer>.Format => Mapping.ModelFormat;

    /// <summary>The task the model was trained for, as <c>BertTask</c> names it (for example <c>MulticlassClassification</c>).</summary>
    public string Task => _mapping.Model.Settings.Task;

    /// <summary>The head's labels in output order: the classes (multiclass), the labels (multi-label), or one name.</summary>
    public IReadOnlyList<string> Labels => _mapping.Model.Settings.HeadLabels;

    /// <summary>Multi-label: each label's decision threshold, in label order; empty for other tasks.</summary>
    public IReadOnlyList<float> Thresholds => _mapping.Model.Settings.Thresholds;

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _mapping.GetOutputSchema(inputSchema);

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => _mapping.GetRowToRowMapper(inputSchema);

    /// <summary>Lazy: rows are scored in batches as the result is cursored.</summary>
    public IDataView Transform(IDataView input) => _mapping.Transform(input);

    void ICanSaveModel.Save(ModelSaveContext ctx) => ((ICanSaveModel)_mapping).Save(ctx);

    static BertOnnxScoringTransformer IModelLoadable<BertOnnxScoringTransformer>.Load(ModelReader reader) => new(Mapping.Load(reader));

    /// <summary>Frees the ONNX Runtime session.</summary>
    public void Dispose() => _mapping.Model.Dispose();

    /// <summary>Reads an export folder: the graph, <c>mlnet_scoring.json</c> and the tokenizer files beside it.</summary>
    internal static OnnxTextModel LoadExport(string modelPath)
    {
        var settings = LoadSettings(modelPath);
        string fullPath = Path.GetFullPath(modelPath);
        var tokenizer = BertTextTokenizer.FromFolder(Path.GetDirectoryName(fullPath)!);
        return new OnnxTextModel(File.ReadAllBytes(fullPath), tokenizer, settings, fullPath);
    }

    /// <summary>Checks that the graph exists and reads <c>mlnet_scoring.json</c> beside it.</summary>
    internal static OnnxScoringSettings LoadSettings(string modelPath)
    {
        string fullPath = Path.GetFullPath(modelPath);
        if (!File.Exists(fullPath)) throw new FileNotFoundException($"The ONNX model '{modelPath}' does not exist; write it with BertFineTuneTransformer.ExportOnnx or `mlnet-tune export --format onnx`.", modelPath);
        string settingsPath = Path.Combine(Path.GetDirectoryName(fullPath)!, OnnxScoringSettings.FileName);
        if (!File.Exists(settingsPath))
            throw new FileNotFoundException($"'{settingsPath}' is missing: the scorer needs the settings file that ExportOnnx writes beside '{Path.GetFileName(fullPath)}'.", settingsPath);
        return OnnxScoringSettings.Parse(File.ReadAllText(settingsPath), settingsPath);
    }

    /// <summary>The batched mapping and its zip layout.</summary>
    private sealed class Mapping : BatchedMappingTransformer
    {
        private const string GraphEntry = "model.onnx";
        private const string VocabEntry = "vocab.txt";
        private const string TokenizerConfigEntry = "tokenizer_config.json";
        private const string SettingsEntry = OnnxScoringSettings.FileName;

        public static ModelFormat ModelFormat { get; } = new(
            Signature: "BERTONNX", LoaderSignature, typeof(BertOnnxScoringTransformer).Assembly, Version: 0x00010001, OldestReadableVersion: 0x00010001);

        public Mapping(OnnxTextModel model, string textColumn, string? secondTextColumn) : base(ModelFormat, batchSize: 32)
        {
            Model = model;
            TextColumn = textColumn;
            SecondTextColumn = secondTextColumn;
            InputColumns = secondTextColumn is null
                ? [new InputColumn(textColumn, TextDataViewType.Instance)]
                : [new InputColumn(textColumn, TextDataViewType.Instance), new InputColumn(secondTextColumn, TextDataViewType.Instance)];
            OutputColumns = model.Outputs.Columns;
        }

        public OnnxTextModel Model { get; }
        public string TextColumn { get; }
        public string? SecondTextColumn { get; }
        public override IReadOnlyList<InputColumn> InputColumns { get; }
        public override IReadOnlyList<OutputColumn> OutputColumns { get; }
        protected override string DisplayName => nameof(BertOnnxScoringTransformer);

        protected internal override IBatchMapper CreateBatchMapper() => new Mapper(this);

        // Layout v1.1: main stream = the two column names; entries = the graph, the tokenizer's two files and the settings JSON.
        protected override void SaveModel(ModelWriter writer)
        {
            writer.WriteString(TextColumn);
            writer.WriteString(SecondTextColumn);
            writer.WriteBinaryStream(GraphEntry, w => WriteBytes(w, Model.Graph));
            writer.WriteBinaryStream(VocabEntry, w => WriteBytes(w, Capture(Model.Tokenizer.WriteVocab)));
            writer.WriteBinaryStream(TokenizerConfigEntry, w => WriteBytes(w, Capture(Model.Tokenizer.WriteConfig)));
            writer.WriteBinaryStream(SettingsEntry, w => w.Write(SettingsJson(Model.Settings)));
        }

        public static Mapping Load(ModelReader reader)
        {
            string textColumn = reader.ReadString() ?? throw new InvalidDataException("The model zip lacks the ONNX scorer's text column name.");
            string? secondTextColumn = reader.ReadString();
            byte[] graph = [], vocab = [], tokenizerConfig = [];
            string settingsJson = "";
            reader.ReadBinaryStream(GraphEntry, r => graph = ReadBytes(r, GraphEntry));
            reader.ReadBinaryStream(VocabEntry, r => vocab = ReadBytes(r, VocabEntry));
            reader.ReadBinaryStream(TokenizerConfigEntry, r => tokenizerConfig = ReadBytes(r, TokenizerConfigEntry));
            reader.ReadBinaryStream(SettingsEntry, r => settingsJson = r.ReadString());
            var settings = OnnxScoringSettings.Parse(settingsJson, $"the model zip's {SettingsEntry}");
            var tokenizer = BertTextTokenizer.FromStreams(new MemoryStream(vocab), new MemoryStream(tokenizerConfig), "the model zip");
            return new Mapping(new OnnxTextModel(graph, tokenizer, settings, "the model zip's model.onnx"), textColumn, secondTextColumn);
        }

        private static byte[] Capture(Action<Stream> write)
        {
            using var buffer = new MemoryStream();
            write(buffer);
            return buffer.ToArray();
        }

        private static void WriteBytes(BinaryWriter writer, byte[] bytes)
        {
            writer.Write(bytes.LongLength);
            writer.Write(bytes);
        }

        private static byte[] ReadBytes(BinaryReader reader, string entry)
        {
            long length = reader.ReadInt64();
            if (length is < 0 or > int.MaxValue) throw new InvalidDataException($"The model zip's entry '{entry}' claims {length} bytes; it is damaged.");
            byte[] bytes = reader.ReadBytes((int)length);
            if (bytes.Length != length) throw new InvalidDataException($"The model zip's entry '{entry}' is truncated ({bytes.Length} of {length} bytes).");
            return bytes;
        }

        // The settings go back to JSON in the export's own key names, so that one parser reads both.
        private static string SettingsJson(OnnxScoringSettings s)
        {
            var json = new System.Text.Json.Nodes.JsonObject
            {
                ["format_version"] = 1,
                ["task"] = s.Task,
                ["head_labels"] = new System.Text.Json.Nodes.JsonArray(s.HeadLabels.Select(l => (System.Text.Json.Nodes.JsonNode?)l).ToArray()),
                ["max_length"] = s.MaxLength,
                ["label_mean"] = s.LabelMean,
                ["label_scale"] = s.LabelScale,
                ["thresholds"] = new System.Text.Json.Nodes.JsonArray(s.Thresholds.Select(t => (System.Text.Json.Nodes.JsonNode?)t).ToArray()),
            };
            return json.ToJsonString();
        }

        private sealed class Mapper(Mapping mapping) : IBatchMapper
        {
            public void MapBatch(InputBatch inputs, OutputBatch outputs)
            {
                var texts = new List<string?>(inputs.Count);
                foreach (var text in inputs.Get<ReadOnlyMemory<char>>(0)) texts.Add(text.ToString());
                List<string?>? pairs = null;
                if (mapping.SecondTextColumn is not null)
                {
                    pairs = new List<string?>(inputs.Count);
                    foreach (var text in inputs.Get<ReadOnlyMemory<char>>(1)) pairs.Add(text.ToString());
                }
                mapping.Model.Outputs.Write(mapping.Model.Score(texts, pairs), inputs.Count, outputs);
            }

            public void Dispose() { }
        }
    }
}
