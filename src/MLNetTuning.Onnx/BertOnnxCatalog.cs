using Microsoft.ML;
using MLNetTuning.MlNet;

[assembly: LoadableClass(typeof(MLNetTuning.BertOnnxScoringTransformer), typeof(MlNetModelLoader<MLNetTuning.BertOnnxScoringTransformer>), null,
    typeof(SignatureLoadModel), "MLNetTuning BERT ONNX scorer", MLNetTuning.BertOnnxScoringTransformer.LoaderSignature)]

namespace MLNetTuning;

/// <summary>MLNetTuning.Onnx's entry point on ML.NET's catalogs: <c>ml.Transforms.Text.BertOnnxScorer("model.onnx")</c>.</summary>
public static class BertOnnxCatalog
{
    /// <summary>
    /// Scores text with a model written by MLNetTuning's <c>ExportOnnx</c> (or <c>mlnet-tune export --format onnx</c>), on
    /// ONNX Runtime, adding the same output columns as the TorchSharp stage that was exported. Binary, multiclass,
    /// regression, multi-label, token-classification and question-answering models are supported, of the BERT, RoBERTa,
    /// XLM-RoBERTa and DistilBERT families.
    /// </summary>
    /// <param name="catalog">The text transforms catalog.</param>
    /// <param name="modelPath">The .onnx file; <c>mlnet_scoring.json</c> and the tokenizer files must be beside it.</param>
    /// <param name="textColumnName">The text column (token classification: the words, a text vector or one text as trained; question answering: the question); null for the column the model was trained on (or "Text").</param>
    /// <param name="secondTextColumnName">The second text column of sentence pairs (question answering: the context); null for the one the model was trained on, if any.</param>
    /// <exception cref="ArgumentException"><paramref name="modelPath"/> is empty.</exception>
    /// <exception cref="FileNotFoundException">The graph or its <c>mlnet_scoring.json</c> is missing.</exception>
    /// <exception cref="InvalidDataException">A file is invalid, or the task is one this package does not score; the message names the file.</exception>
    public static BertOnnxScorerEstimator BertOnnxScorer(this TransformsCatalog.TextTransforms catalog, string modelPath,
        string? textColumnName = null, string? secondTextColumnName = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelPath);
        return new BertOnnxScorerEstimator(modelPath, textColumnName, secondTextColumnName);
    }
}
