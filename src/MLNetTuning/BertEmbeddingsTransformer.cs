using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Checkpoints;
using MLNetTuning.MlNet;
using MLNetTuning.Models;
using MLNetTuning.Pretrained;
using MLNetTuning.Training;

namespace MLNetTuning;

/// <summary>
/// Featurizes text with a pretrained BERT: a fixed-size <c>Vector&lt;float&gt;</c> per row (pooled last hidden states),
/// so that any ML.NET trainer can learn on it. Nothing is trained; <c>Fit</c> only loads the model.
/// </summary>
public sealed class BertEmbeddingsEstimator : IEstimator<BertEmbeddingsTransformer>
{
    private readonly string _outputColumnName, _inputColumnName, _model;
    private readonly BertPooling _pooling;
    private readonly bool _normalize;
    private readonly int _maxSequenceLength, _batchSize;

    internal BertEmbeddingsEstimator(string outputColumnName, string inputColumnName, string model, BertPooling pooling, bool normalize,
        int maxSequenceLength, int batchSize)
    {
        ArgumentException.ThrowIfNullOrEmpty(outputColumnName);
        ArgumentException.ThrowIfNullOrEmpty(inputColumnName);
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        if (maxSequenceLength < 3) throw new ArgumentOutOfRangeException(nameof(maxSequenceLength), maxSequenceLength, "maxSequenceLength must be at least 3 ([CLS], a token, [SEP]).");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be at least 1.");
        (_outputColumnName, _inputColumnName, _model, _pooling, _normalize, _maxSequenceLength, _batchSize) =
            (outputColumnName, inputColumnName, model, pooling, normalize, maxSequenceLength, batchSize);
    }

    /// <summary>Loads the model and checks the input column.</summary>
    public BertEmbeddingsTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        // Before loading the model, so that a wrong column neither waits for the weights nor leaks them.
        new InputColumn(_inputColumnName, TextDataViewType.Instance).FindIn(input.Schema, nameof(BertEmbeddingsTransformer));
        var pretrained = ModelResolver.Load(_model);
        try
        {
            if (_maxSequenceLength > pretrained.Config.MaxTokens)
                throw new ArgumentOutOfRangeException("maxSequenceLength", _maxSequenceLength, $"The model '{_model}' has only {pretrained.Config.MaxTokens} positions.");
            var encoder = pretrained.LoadEncoder();
            var embedder = new BertEmbedder(encoder, pretrained.Tokenizer, _pooling, _normalize, _maxSequenceLength, _batchSize);
            return new BertEmbeddingsTransformer(embedder, _outputColumnName, _inputColumnName);
        }
        finally { pretrained.Dispose(); }
    }

    /// <summary>The output shape: the input must be a text column; the output is a float vector.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) => BatchedMappingTransformer.ExtendSchemaShape(inputSchema,
        [new InputColumn(_inputColumnName, TextDataViewType.Instance)], [OutputColumn.FloatVector(_outputColumnName, 1)], nameof(BertEmbeddingsEstimator));
}

/// <summary>Adds a column of BERT sentence embeddings; saves inside an ML.NET model zip.</summary>
public sealed class BertEmbeddingsTransformer : ITransformer, ICanSaveModel, IModelLoadable<BertEmbeddingsTransformer>, IDisposable
{
    internal const string LoaderSignature = "MLNetTuningBertEmbed";
    private readonly Mapping _mapping;

    internal BertEmbeddingsTransformer(BertEmbedder embedder, string outputColumnName, string inputColumnName)
        => _mapping = new Mapping(embedder, outputColumnName, inputColumnName);

    private BertEmbeddingsTransformer(Mapping mapping) => _mapping = mapping;

    static ModelFormat IModelLoadable<BertEmbeddingsTransformer>.Format => Mapping.ModelFormat;

    /// <summary>The length of each embedding (the model's hidden size).</summary>
    public int Dimension => _mapping.Embedder.Dimension;

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _mapping.GetOutputSchema(inputSchema);

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => _mapping.GetRowToRowMapper(inputSchema);

    /// <summary>Lazy: rows are embedded in batches as the result is cursored.</summary>
    public IDataView Transform(IDataView input) => _mapping.Transform(input);

    void ICanSaveModel.Save(ModelSaveContext ctx) => ((ICanSaveModel)_mapping).Save(ctx);

    static BertEmbeddingsTransformer IModelLoadable<BertEmbeddingsTransformer>.Load(ModelReader reader) => new(Mapping.Load(reader));

    /// <summary>Frees the native weights.</summary>
    public void Dispose() => _mapping.Embedder.Dispose();

    private sealed class Mapping : BatchedMappingTransformer
    {
        private const string ModelEntry = "HuggingFaceEncoder.bin";

        public static ModelFormat ModelFormat { get; } = new(
            Signature: "BERTEMBD", LoaderSignature, typeof(BertEmbeddingsTransformer).Assembly, Version: 0x00010001, OldestReadableVersion: 0x00010001);

        public Mapping(BertEmbedder embedder, string outputColumnName, string inputColumnName) : base(ModelFormat, embedder.BatchSize)
        {
            Embedder = embedder;
            OutputColumnName = outputColumnName;
            InputColumnName = inputColumnName;
            InputColumns = [new InputColumn(inputColumnName, TextDataViewType.Instance)];
            OutputColumns = [OutputColumn.FloatVector(outputColumnName, embedder.Dimension)];
        }

        public BertEmbedder Embedder { get; }
        public string OutputColumnName { get; }
        public string InputColumnName { get; }
        public override IReadOnlyList<InputColumn> InputColumns { get; }
        public override IReadOnlyList<OutputColumn> OutputColumns { get; }
        protected override string DisplayName => "BertEmbeddingsTransformer";

        protected internal override IBatchMapper CreateBatchMapper() => new Mapper(this);

        // Layout v1: columns, pooling, normalisation, lengths; the encoder as a Hugging Face folder in one entry.
        protected override void SaveModel(ModelWriter writer)
        {
            writer.WriteString(OutputColumnName);
            writer.WriteString(InputColumnName);
            writer.Writer.Write((int)Embedder.Pooling);
            writer.Writer.Write(Embedder.Normalize);
            writer.Writer.Write(Embedder.MaxSequenceLength);
            writer.Writer.Write(Embedder.BatchSize);
            EmbeddedFolder.WriteModel(writer, ModelEntry, Embedder.Encoder.Config, Embedder.Encoder.state_dict(), Embedder.Tokenizer);
        }

        public static Mapping Load(ModelReader reader)
        {
            string output = reader.ReadString() ?? throw new InvalidDataException("The model zip lacks the embedding column name.");
            string input = reader.ReadString() ?? throw new InvalidDataException("The model zip lacks the text column name.");
            var pooling = (BertPooling)reader.Reader.ReadInt32();
            if (!Enum.IsDefined(pooling)) throw new InvalidDataException($"The model zip names an unknown pooling ({(int)pooling}).");
            bool normalize = reader.Reader.ReadBoolean();
            int maxLength = reader.Reader.ReadInt32();
            int batchSize = reader.Reader.ReadInt32();
            using var pretrained = EmbeddedFolder.ReadModel(reader, ModelEntry);
            ZipFields.CheckScoring(pretrained, ModelEntry, pairs: false, maxLength, batchSize);
            var encoder = pretrained.LoadEncoder();
            return new Mapping(new BertEmbedder(encoder, pretrained.Tokenizer, pooling, normalize, maxLength, batchSize), output, input);
        }

        private sealed class Mapper(Mapping mapping) : IBatchMapper
        {
            private readonly List<string?> _texts = [];

            public void MapBatch(InputBatch inputs, OutputBatch outputs)
            {
                _texts.Clear();
                foreach (var text in inputs.Get<ReadOnlyMemory<char>>(0)) _texts.Add(text.ToString());
                int h = mapping.Embedder.Dimension;
                float[] embeddings = mapping.Embedder.Embed(_texts);
                var column = outputs.Get<VBuffer<float>>(0);
                for (int row = 0; row < inputs.Count; row++)
                {
                    var editor = VBufferEditor.Create(ref column[row], h);
                    embeddings.AsSpan(row * h, h).CopyTo(editor.Values);
                    column[row] = editor.Commit();
                }
            }

            public void Dispose() { }
        }
    }
}
