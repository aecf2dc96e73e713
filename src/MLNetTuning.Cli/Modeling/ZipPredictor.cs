using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetTuning.Cli.Commands;
using MLNetTuning.Serve;

namespace MLNetTuning.Cli.Modeling;

/// <summary>
/// What `serve` scores a model zip with: the TorchSharp stage, through the same code as `predict` (every task, token
/// classification and question answering included). A path ending in .onnx goes to MLNetTuning.Onnx instead.
/// </summary>
internal sealed class ZipPredictor : IPredictor
{
    private readonly MLContext _ml = new(seed: 1);
    private readonly BertFineTuneTransformer _model;
    private readonly ModelInfo _info;

    private ZipPredictor(BertFineTuneTransformer model, ModelInfo info, string path)
    {
        (_model, _info) = (model, info);
        var input = info.Task switch
        {
            BertTask.QuestionAnswering => InputKind.Questions,
            BertTask.TokenClassification => InputKind.Texts,
            _ => info.SecondTextColumn is null ? InputKind.Texts : InputKind.Pairs,
        };
        Card = new ModelCard(info.Task.ToString(), info.ClassNames, $"{Path.GetFullPath(path)} (fine-tuned from {info.Model})", model.Precision == NumericPrecision.Bf16 ? "bfloat16" : "float32", input);
    }

    public ModelCard Card { get; }

    /// <summary>Opens a model zip, or an ONNX export when the path ends in .onnx.</summary>
    public static IPredictor Open(string path)
    {
        if (path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)) return OnnxPredictor.Open(path);
        var (model, info) = ModelFile.Load(new MLContext(seed: 1), path, "model");
        return new ZipPredictor(model, info, path);
    }

    public IReadOnlyList<JsonObject> Predict(IReadOnlyList<PredictInput> inputs)
    {
        switch (_info.Task)
        {
            case BertTask.QuestionAnswering:
                return AnswerPredictions.Predict(_ml, _model, inputs.Select(i => (i.Text, i.Second ?? "")).ToList())
                    .Select(a => PredictionJson.Answer(a.Answer, a.Start, a.End, a.Score)).ToList();
            case BertTask.TokenClassification:
                return TagPredictions.Predict(_ml, _model, _info.ClassNames, inputs.Select(i => i.Text).ToList())
                    .Select(t => PredictionJson.Tagged(t.Entities?.Select(e => new PredictionJson.Entity(e.Type, e.Start, e.End, e.Text, e.Score)).ToList(), t.Tags)).ToList();
        }
        int k = Math.Max(_info.ClassNames.Count, 2);
        var predictions = PredictCommand.Predict(_ml, _model, _info, inputs.Select(i => (i.Text, i.Second)).ToList(), k);
        return _info.Task switch
        {
            BertTask.Regression => predictions.Select(p => PredictionJson.Regression((float)p.Score!.Value)).ToList(),
            BertTask.MultiLabelClassification => predictions.Select(p =>
            {
                // Top holds every label (k is the label count), most probable first; back to label order for the JSON.
                var byLabel = p.Top!.ToDictionary(t => t.Label, t => (float)t.Probability);
                var chosen = p.Labels!.Select(l => l.Label).ToHashSet();
                return PredictionJson.MultiLabel(_info.ClassNames, _info.ClassNames.Select(l => byLabel[l]).ToList(), _info.ClassNames.Select(chosen.Contains).ToList());
            }).ToList(),
            _ => predictions.Select(p =>
            {
                var byLabel = p.Top!.ToDictionary(t => t.Label, t => (float)t.Probability);
                return PredictionJson.Classification(_info.ClassNames, _info.ClassNames.Select(l => byLabel[l]).ToList());
            }).ToList(),
        };
    }

    public void Dispose() => _model.Dispose();
}
