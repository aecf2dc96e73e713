using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Checkpoints;
using MLNetTuning.MlNet;
using MLNetTuning.Models;
using MLNetTuning.Training;
using static TorchSharp.torch;

namespace MLNetTuning;

/// <summary>
/// A fine-tuned BERT as an ML.NET transformer. It scores text in batches and adds the task's output columns:
/// multiclass <c>Score</c> (probabilities, with class SlotNames) and key <c>PredictedLabel</c>; binary <c>Score</c>,
/// <c>Probability</c> and bool <c>PredictedLabel</c>; regression <c>Score</c>; multi-label <c>Score</c> (per-label
/// probabilities) and a bool vector <c>PredictedLabel</c>, both with label SlotNames. It saves inside an ML.NET model zip.
/// </summary>
public sealed class BertFineTuneTransformer : ITransformer, ICanSaveModel, IModelLoadable<BertFineTuneTransformer>, IDisposable
{
    internal const string LoaderSignature = "MLNetTuningBertFineTune";
    private readonly Mapping _mapping;

    internal BertFineTuneTransformer(FineTunedBert model, string textColumn, string? secondTextColumn)
        => _mapping = new Mapping(model, textColumn, secondTextColumn);

    private BertFineTuneTransformer(Mapping mapping) => _mapping = mapping;

    static ModelFormat IModelLoadable<BertFineTuneTransformer>.Format => Mapping.ModelFormat;

    /// <summary>The task it was trained for.</summary>
    public BertTask Task => _mapping.Model.Task.Kind;

    /// <summary>The class names in key order (multiclass), the tags (token classification), the labels in slot order (multi-label), or empty.</summary>
    public IReadOnlyList<string> ClassNames => _mapping.Model.Task.ClassNames;

    /// <summary>Multi-label: each label's decision threshold on its probability, in label order (0.5 unless tuned); empty for other tasks.</summary>
    public IReadOnlyList<float> Thresholds => (_mapping.Model.Task as MultiLabelClassificationTask)?.Thresholds ?? [];

    /// <summary>
    /// The number format it scores in: the <see cref="BertFineTuneOptions.Precision"/> it was trained with, which the model zip
    /// keeps, except that a Bf16 model scores in Fp32 on a CPU without bfloat16 instructions.
    /// </summary>
    public NumericPrecision Precision => _mapping.Model.Precision;

    /// <summary>The loss curve and the validation metrics of every evaluation, for plots and reports.</summary>
    public TrainingHistory History => _mapping.Model.History;

    /// <summary>The fine-tuned model itself, for the library's tools (the benchmark, the CLI).</summary>
    internal FineTunedBert FineTuned => _mapping.Model;

    /// <summary>
    /// Writes the fine-tuned model as a Hugging Face folder (config.json with labels, model.safetensors, tokenizer files),
    /// loadable by <c>AutoModelForSequenceClassification.from_pretrained</c> in Python and by this library. Its head gives
    /// what this transformer gives: multiclass logits whose softmax is <c>Score</c>; for regression one output equal to
    /// <c>Score</c>, in label units (the label standardisation used in training is folded into the head); for binary two
    /// logits [0, <c>Score</c>] (problem_type single_label_classification, id2label "False" and "True"), whose softmax is
    /// [1 − <c>Probability</c>, <c>Probability</c>]; multi-label writes problem_type multi_label_classification and id2label
    /// with the label names, one logit per label whose sigmoid is <c>Score</c> (the thresholds are not part of the folder). The model in memory is not changed. The target folder is replaced whole,
    /// only once the new one is complete; on Linux and macOS the swap is atomic, so the path always holds the old folder or
    /// the new one.
    /// </summary>
    /// <param name="folder">The target folder.</param>
    /// <exception cref="IOException"><paramref name="folder"/> names a file, or the folder cannot be written.</exception>
    public void ExportHuggingFaceFolder(string folder) => ExportHuggingFaceFolder(folder, binaryClassNames: null);

    /// <summary>As <see cref="ExportHuggingFaceFolder(string)"/>, with the binary class names (negative, positive) when the caller knows them.</summary>
    internal void ExportHuggingFaceFolder(string folder, IReadOnlyList<string>? binaryClassNames)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        HuggingFaceExport.Save(folder, _mapping.Model, binaryClassNames);
    }

    /// <summary>
    /// Writes the fine-tuned model as an ONNX graph for ONNX Runtime (and the servers built on it): opset 17, dynamic batch
    /// and sequence axes, inputs <c>input_ids</c>, <c>attention_mask</c> and, for BERT only, <c>token_type_ids</c> (int64
    /// [batch, sequence]; RoBERTa, XLM-RoBERTa and DistilBERT have no token types, as in Hugging Face's exports), and the head's raw outputs as Hugging Face's exporter names them: <c>logits</c> ([batch, K] per text,
    /// [batch, sequence, K] per token) or <c>start_logits</c> and <c>end_logits</c> for question answering. The tokenizer
    /// files of the model's family (vocab.txt, or vocab.json and merges.txt, or sentencepiece.bpe.model, with
    /// tokenizer_config.json and special_tokens_map.json) and <c>mlnet_scoring.json</c> (task, labels,
    /// regression mean and scale, multi-label thresholds, maximum length, windows) are written to the same folder; with
    /// them, <c>MLNetTuning.Onnx</c>'s scorer gives this transformer's columns without TorchSharp, for every task and
    /// family. Each file is replaced
    /// atomically; the model in memory is not changed.
    /// </summary>
    /// <param name="path">The .onnx file to write; its folder is created when missing.</param>
    /// <param name="quantization"><see cref="OnnxQuantization.None"/> for float32, or <see cref="OnnxQuantization.Int8"/> for dynamic int8 products.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="quantization"/> is not a defined value.</exception>
    /// <exception cref="IOException"><paramref name="path"/> names a folder, or a file cannot be written.</exception>
    public void ExportOnnx(string path, OnnxQuantization quantization = OnnxQuantization.None)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Onnx.OnnxExport.Save(path, _mapping.Model, quantization, _mapping.TextColumn, _mapping.SecondTextColumn);
    }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _mapping.GetOutputSchema(inputSchema);

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => _mapping.GetRowToRowMapper(inputSchema);

    /// <summary>Lazy: rows are scored in batches (no-grad) as the result is cursored.</summary>
    public IDataView Transform(IDataView input) => _mapping.Transform(input);

    void ICanSaveModel.Save(ModelSaveContext ctx) => ((ICanSaveModel)_mapping).Save(ctx);

    static BertFineTuneTransformer IModelLoadable<BertFineTuneTransformer>.Load(ModelReader reader) => new(Mapping.Load(reader));

    /// <summary>Frees the native weights.</summary>
    public void Dispose() => _mapping.Model.Dispose();

    /// <summary>The batched mapping and its zip layout.</summary>
    private sealed class Mapping : BatchedMappingTransformer
    {
        private const string ModelEntry = "HuggingFaceModel.bin";
        private const string HistoryEntry = "TrainingHistory.json";

        public static ModelFormat ModelFormat { get; } = new(
            Signature: "BERTFINE", LoaderSignature, typeof(BertFineTuneTransformer).Assembly, Version: VersionWithThresholds, OldestReadableVersion: 0x00010001);

        // v1.2 adds the precision after the label scaling; a v1.1 zip scores in Fp32, as it was trained.
        private const uint VersionWithPrecision = 0x00010002;
        // v1.3 adds how a token classifier reads its words (a text vector or one text) and its window stride.
        private const uint VersionWithWordInput = 0x00010003;
        // v1.4 adds how a question-answering model windows its contexts and picks its answers.
        private const uint VersionWithAnswers = 0x00010004;
        // v1.5 adds the multi-label thresholds (a count, then one float per label; 0 for other tasks).
        private const uint VersionWithThresholds = 0x00010005;

        public Mapping(FineTunedBert model, string textColumn, string? secondTextColumn) : base(ModelFormat, model.ScoringBatchSize)
        {
            Model = model;
            TextColumn = textColumn;
            SecondTextColumn = secondTextColumn;
            // Token classification may read its words as a vector of text; every other input is one text per row.
            DataViewType textType = model.Task is TokenClassificationTask { WordsAreVector: true } ? new VectorDataViewType(TextDataViewType.Instance) : TextDataViewType.Instance;
            InputColumns = secondTextColumn is null
                ? [new InputColumn(textColumn, textType)]
                : [new InputColumn(textColumn, textType), new InputColumn(secondTextColumn, TextDataViewType.Instance)];
            OutputColumns = model.Task.OutputColumns;
        }

        public FineTunedBert Model { get; }
        public string TextColumn { get; }
        public string? SecondTextColumn { get; }
        public override IReadOnlyList<InputColumn> InputColumns { get; }
        public override IReadOnlyList<OutputColumn> OutputColumns { get; }
        protected override string DisplayName => "BertFineTuneTransformer";

        protected internal override IBatchMapper CreateBatchMapper() => new Mapper(this);

        // Layout v1.5: main stream = task, columns, lengths, label scaling, precision, word input, answer settings, thresholds; the model as a Hugging Face
        // folder in one entry; the training history as JSON.
        protected override void SaveModel(ModelWriter writer)
        {
            writer.Writer.Write((int)Model.Task.Kind);
            writer.WriteString(TextColumn);
            writer.WriteString(SecondTextColumn);
            writer.Writer.Write(Model.MaxSequenceLength);
            writer.Writer.Write(Model.ScoringBatchSize);
            var (labelMean, labelScale) = Model.Task.LabelScaling;
            writer.Writer.Write(labelMean);
            writer.Writer.Write(labelScale);
            writer.Writer.Write((int)Model.Precision);
            var words = (Model.Task as TokenClassificationTask)?.Words ?? new WordInput(false, 0);
            writer.Writer.Write(words.WordsAreVector);
            writer.Writer.Write(words.WindowStride);
            var answers = (Model.Task as QuestionAnsweringTask)?.Settings ?? AnswerSettings.Default;
            writer.Writer.Write(answers.DocumentStride);
            writer.Writer.Write(answers.MaxAnswerLength);
            writer.Writer.Write(answers.TopK);
            writer.Writer.Write(answers.AllowNoAnswer);
            var thresholds = (Model.Task as MultiLabelClassificationTask)?.Thresholds ?? [];
            writer.Writer.Write(thresholds.Count);
            foreach (float threshold in thresholds) writer.Writer.Write(threshold);
            EmbeddedFolder.WriteModel(writer, ModelEntry, Model.Config, Model.Model.state_dict(), Model.Tokenizer);
            writer.WriteBinaryStream(HistoryEntry, w => w.Write(HistoryJson.Serialize(Model.History)));
        }

        public static Mapping Load(ModelReader reader)
        {
            var task = (BertTask)reader.Reader.ReadInt32();
            if (!Enum.IsDefined(task)) throw new InvalidDataException($"The model zip names an unknown BERT task ({(int)task}); it was written by a newer MLNetTuning.");
            string textColumn = reader.ReadString() ?? throw new InvalidDataException("The model zip lacks the text column name.");
            string? secondTextColumn = reader.ReadString();
            int maxLength = reader.Reader.ReadInt32();
            int batchSize = reader.Reader.ReadInt32();
            float labelMean = reader.Reader.ReadSingle();
            float labelScale = reader.Reader.ReadSingle();
            var precision = reader.VersionWritten >= VersionWithPrecision ? (NumericPrecision)reader.Reader.ReadInt32() : NumericPrecision.Fp32;
            if (!Enum.IsDefined(precision)) throw new InvalidDataException($"The model zip names an unknown precision ({(int)precision}); it was written by a newer MLNetTuning.");
            var words = reader.VersionWritten >= VersionWithWordInput ? new WordInput(reader.Reader.ReadBoolean(), reader.Reader.ReadInt32()) : null;
            var answers = reader.VersionWritten >= VersionWithAnswers
                ? new AnswerSettings(reader.Reader.ReadInt32(), reader.Reader.ReadInt32(), reader.Reader.ReadInt32(), reader.Reader.ReadBoolean()) : null;
            float[]? thresholds = null;
            if (reader.VersionWritten >= VersionWithThresholds)
            {
                int count = reader.Reader.ReadInt32();
                if (count is < 0 or > 1_000_000) throw new InvalidDataException($"The model zip has {count} label thresholds; it is damaged.");
                thresholds = new float[count];
                for (int i = 0; i < count; i++) thresholds[i] = reader.Reader.ReadSingle();
            }
            TrainingHistory history = new();
            reader.ReadBinaryStream(HistoryEntry, r => history = HistoryJson.Deserialize(r.ReadString()));
            using var pretrained = EmbeddedFolder.ReadModel(reader, ModelEntry);
            ZipFields.CheckScoring(pretrained, ModelEntry, secondTextColumn is not null, maxLength, batchSize);
            ZipFields.CheckTask(pretrained, ModelEntry, task, labelMean, labelScale, words, answers, thresholds);
            var fineTuneTask = FineTuneTasks.ForScoring(task, pretrained.Config.Labels, labelMean, labelScale, words, answers, thresholds);
            var model = fineTuneTask.CreateModel(pretrained.Config);
            pretrained.LoadTaskModelInto(model);
            // Score as trained: a Bf16 model's weights were tuned through bf16 products. Where the CPU cannot, Fp32 is closer
            // than emulated bf16 and faster; ML.NET gives a loader no log, so the Precision property is where that shows.
            model.Precision = TorchPrecision.Resolve(precision, CPU, _ => { }, activity: "scoring");
            var fine = new FineTunedBert(model, pretrained.Tokenizer, fineTuneTask, maxLength, batchSize, history, CPU);
            return new Mapping(fine, textColumn, secondTextColumn);
        }

        /// <summary>One per cursor or prediction engine; the model itself serialises forward passes.</summary>
        private sealed class Mapper(Mapping mapping) : IBatchMapper
        {
            public void MapBatch(InputBatch inputs, OutputBatch outputs) =>
                mapping.Model.Task.MapBatch(mapping.Model, inputs, mapping.SecondTextColumn is not null, outputs);

            public void Dispose() { }
        }
    }
}

/// <summary>The training history as JSON, so that a loaded model still shows its curves.</summary>
internal static class HistoryJson
{
    private sealed record Dto(List<TrainingStep> Steps, List<TrainingEvaluation> Evaluations, int? BestIndex, string? SelectionMetric,
        bool StoppedEarly, double TrainingSeconds, int TrainingExamples, int ValidationExamples);

    // An undefined metric (AUC of a one-class validation set) is NaN, which plain JSON cannot hold.
    private static readonly JsonSerializerOptions Options = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static string Serialize(TrainingHistory history) => JsonSerializer.Serialize(new Dto(
        history.StepList, history.EvaluationList, history.Best is null ? null : history.EvaluationList.IndexOf(history.Best),
        history.SelectionMetric, history.StoppedEarly, history.TrainingTime.TotalSeconds, history.ExampleCounts.Training, history.ExampleCounts.Validation), Options);

    public static TrainingHistory Deserialize(string json)
    {
        var dto = JsonSerializer.Deserialize<Dto>(json, Options) ?? throw new InvalidDataException("The model zip's training history is empty.");
        var history = new TrainingHistory
        {
            SelectionMetric = dto.SelectionMetric,
            StoppedEarly = dto.StoppedEarly,
            TrainingTime = TimeSpan.FromSeconds(dto.TrainingSeconds),
            ExampleCounts = (dto.TrainingExamples, dto.ValidationExamples),
        };
        history.StepList.AddRange(dto.Steps);
        history.EvaluationList.AddRange(dto.Evaluations);
        if (dto.BestIndex is int best && best >= 0 && best < history.EvaluationList.Count) history.Best = history.EvaluationList[best];
        return history;
    }
}
