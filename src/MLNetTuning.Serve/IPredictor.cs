using System.Text.Json.Nodes;

namespace MLNetTuning.Serve;

/// <summary>
/// A loaded model as the server sees it: what it is (<see cref="Card"/>) and a batch of inputs in, one JSON object per
/// input out (the shapes <see cref="PredictionJson"/> builds). The server calls <see cref="Predict"/> from one worker at a
/// time, so an implementation need not be thread-safe.
/// </summary>
internal interface IPredictor : IDisposable
{
    ModelCard Card { get; }

    /// <summary>One prediction per input, in input order.</summary>
    IReadOnlyList<JsonObject> Predict(IReadOnlyList<PredictInput> inputs);
}
