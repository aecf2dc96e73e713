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
/// regression <c>Score</c> in label units; multi-label <c>Score</c> and a bool vector <c>PredictedLabel</c>; token
/// classification a key vector <c>PredictedLabel</c> and a float vector <c>Score</c>, one item per word; question answering
/// <c>PredictedAnswer</c>, <c>PredictedAnswerStart</c> and <c>Score</c> (and <c>PredictedAnswers</c>, <c>Scores</c> with top k
/// above 1). BERT, RoBERTa, XLM-RoBERTa and DistilBERT exports are read with their own tokenizers. It saves into an ML.NET
/// model zip with the graph and the tokenizer inside, and loads back in a process without TorchSharp.
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

    /// <summary>The head's labels in output order: the classes (multiclass), the labels (multi-label), the tags (token classification), or one name.</summary>
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

    /// <summary>config.json's <c>model_type</c> of the exported model: <c>bert</c>, <c>roberta</c>, <c>xlm-roberta</c> or <c>distilbert</c>.</summary>
    public string ModelType => _mapping.Model.Settings.ModelType;

    /// <summary>The input columns the scorer reads: the text (or words, or question) column, then the pair's (or context's) column if any.</summary>
    public IReadOnlyList<string> InputColumnNames => _mapping.InputColumns.Select(c => c.Name).ToArray();

    /// <summary>Frees the ONNX Runtime session.</summary>
    public void Dispose() => _mapping.Model.Dispose();

    /// <summary>Reads an export folder: the graph, <c>mlnet_scoring.json</c> and the tokenizer files beside it.</summary>
    internal static OnnxTextModel LoadExport(string modelPath)
    {
        var settings = LoadSettings(modelPath);
        string fullPath = Path.GetFullPath(modelPath);
        var tokenizer = TokenizerFolder.Load(Path.GetDirectoryName(fullPath)!, settings.Tokenizer);
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

        private const string TokenizerEntryPrefix = "tokenizer/";

        // 1.1: WordPiece only, as vocab.txt and tokenizer_config.json entries. 1.2: any tokenizer kind, as its folder's files.
        private const uint WordPieceEntriesVersion = 0x00010001;

        public static ModelFormat ModelFormat { get; } = new(
            Signature: "BERTONNX", LoaderSignature, typeof(BertOnnxScoringTransformer).Assembly, Version: 0x00010002, OldestReadableVersion: WordPieceEntriesVersion);

        public Mapping(OnnxTextModel model, string textColumn, string? secondTextColumn) : base(ModelFormat, batchSize: 32)
        {
            Model = model;
            TextColumn = textColumn;
            SecondTextColumn = secondTextColumn;
            InputColumns = OnnxTextModel.InputColumnsFor(model.Settings, textColumn, secondTextColumn);
            OutputColumns = model.OutputColumns;
        }

        public OnnxTextModel Model { get; }
        public string TextColumn { get; }
        public string? SecondTextColumn { get; }
        public override IReadOnlyList<InputColumn> InputColumns { get; }
        public override IReadOnlyList<OutputColumn> OutputColumns { get; }
        protected override string DisplayName => nameof(BertOnnxScoringTransformer);

        protected internal override IBatchMapper CreateBatchMapper() => new Mapper(this);

        // Layout v1.2: main stream = the two column names and the tokenizer's file names; entries = the graph, the settings
        // JSON and each tokenizer file under tokenizer/ (whatever the kind writes: vocab.txt, vocab.json and merges.txt, or
        // sentencepiece.bpe.model, with the tokenizer configs).
        protected override void SaveModel(ModelWriter writer)
        {
            writer.WriteString(TextColumn);
            writer.WriteString(SecondTextColumn);
            writer.WriteBinaryStream(GraphEntry, w => WriteBytes(w, Model.Graph));
            writer.WriteBinaryStream(SettingsEntry, w => w.Write(Model.Settings.ToJson()));
            var folder = Directory.CreateTempSubdirectory("mlnt-onnx-tokenizer-");
            try
            {
                Model.Tokenizer.Save(folder.FullName);
                var files = folder.GetFiles().OrderBy(f => f.Name, StringComparer.Ordinal).ToArray();
                writer.Writer.Write(files.Length);
                foreach (var file in files)
                {
                    writer.WriteString(file.Name);
                    writer.WriteBinaryStream(TokenizerEntryPrefix + file.Name, w => WriteBytes(w, File.ReadAllBytes(file.FullName)));
                }
            }
            finally { folder.Delete(recursive: true); }
        }

        public static Mapping Load(ModelReader reader)
        {
            string textColumn = reader.ReadString() ?? throw new InvalidDataException("The model zip lacks the ONNX scorer's text column name.");
            string? secondTextColumn = reader.ReadString();
            byte[] graph = [];
            string settingsJson = "";
            reader.ReadBinaryStream(GraphEntry, r => graph = ReadBytes(r, GraphEntry));
            reader.ReadBinaryStream(SettingsEntry, r => settingsJson = r.ReadString());
            var settings = OnnxScoringSettings.Parse(settingsJson, $"the model zip's {SettingsEntry}");
            ITextTokenizer tokenizer;
            if (reader.VersionWritten <= WordPieceEntriesVersion)
            {
                byte[] vocab = [], tokenizerConfig = [];
                reader.ReadBinaryStream(VocabEntry, r => vocab = ReadBytes(r, VocabEntry));
                reader.ReadBinaryStream(TokenizerConfigEntry, r => tokenizerConfig = ReadBytes(r, TokenizerConfigEntry));
                tokenizer = BertTextTokenizer.FromStreams(new MemoryStream(vocab), new MemoryStream(tokenizerConfig), "the model zip");
            }
            else tokenizer = ReadTokenizer(reader, settings);
            return new Mapping(new OnnxTextModel(graph, tokenizer, settings, "the model zip's model.onnx"), textColumn, secondTextColumn);
        }

        /// <summary>Writes the zip's tokenizer files into a temporary folder and loads them as the settings' kind, as from an export.</summary>
        private static ITextTokenizer ReadTokenizer(ModelReader reader, OnnxScoringSettings settings)
        {
            int count = reader.Reader.ReadInt32();
            if (count is < 1 or > 16) throw new InvalidDataException($"The model zip names {count} tokenizer files; it is damaged (1 to 16 expected).");
            var folder = Directory.CreateTempSubdirectory("mlnt-onnx-tokenizer-");
            try
            {
                for (int i = 0; i < count; i++)
                {
                    string name = reader.ReadString() ?? "";
                    // A name is a plain file name: a path in it would write outside the temporary folder.
                    if (name.Length == 0 || name != Path.GetFileName(name) || name is "." or "..")
                        throw new InvalidDataException($"The model zip's tokenizer file name '{name}' is not a plain file name; the zip is damaged.");
                    string entry = TokenizerEntryPrefix + name;
                    reader.ReadBinaryStream(entry, r => File.WriteAllBytes(Path.Combine(folder.FullName, name), ReadBytes(r, entry)));
                }
                return TokenizerFolder.Load(folder.FullName, settings.Tokenizer);
            }
            finally { folder.Delete(recursive: true); }
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

        private sealed class Mapper(Mapping mapping) : IBatchMapper
        {
            public void MapBatch(InputBatch inputs, OutputBatch outputs) => mapping.Model.MapBatch(inputs, mapping.SecondTextColumn is not null, outputs);

            public void Dispose() { }
        }
    }
}
