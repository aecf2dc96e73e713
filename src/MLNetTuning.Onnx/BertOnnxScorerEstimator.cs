using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.MlNet;
using MLNetTuning.OnnxScoring;

namespace MLNetTuning;

/// <summary>
/// The estimator behind <see cref="BertOnnxCatalog.BertOnnxScorer"/>: nothing to train; <see cref="Fit"/> checks the input
/// columns and returns a <see cref="BertOnnxScoringTransformer"/> holding the graph in its own ONNX Runtime session.
/// </summary>
public sealed class BertOnnxScorerEstimator : IEstimator<BertOnnxScoringTransformer>
{
    private readonly string _modelPath;
    private readonly OnnxScoringSettings _settings;
    private readonly InputColumn[] _inputs;

    internal BertOnnxScorerEstimator(string modelPath, string? textColumn, string? secondTextColumn)
    {
        _modelPath = modelPath;
        // Read here, so that a wrong path or a bad settings file fails when the pipeline is built, naming the file.
        _settings = BertOnnxScoringTransformer.LoadSettings(modelPath);
        string text = textColumn ?? _settings.TextColumn ?? "Text";
        string? pair = secondTextColumn ?? _settings.SecondTextColumn;
        _inputs = OnnxTextModel.InputColumnsFor(_settings, text, pair);
    }

    /// <summary>Loads the graph into a new ONNX Runtime session and returns the scorer; the data is only checked for its columns.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A text column is missing or is not text; the message names it.</exception>
    public BertOnnxScoringTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var transformer = new BertOnnxScoringTransformer(BertOnnxScoringTransformer.LoadExport(_modelPath), _inputs[0].Name, _inputs.Length > 1 ? _inputs[1].Name : null);
        try { transformer.GetOutputSchema(input.Schema); }
        catch { transformer.Dispose(); throw; }
        return transformer;
    }

    /// <summary>The output columns for an input shape, without data.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        BatchedMappingTransformer.ExtendSchemaShape(inputSchema, _inputs, OnnxTextModel.OutputColumnsFor(_settings), nameof(BertOnnxScoringTransformer));
}
