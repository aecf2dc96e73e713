using System.Text.Json.Nodes;
using MLNetTuning.Serve;

namespace MLNetTuning.Tests.Serve;

/// <summary>
/// A model stand-in for the server's own behaviour (errors, limits, batching, draining): "spam" when a text holds
/// "offer", else "ham"; it records each batch's size and can be held closed to keep requests in flight.
/// </summary>
internal sealed class KeywordPredictor : IPredictor
{
    private readonly ManualResetEventSlim _open = new(initialState: true);

    public ModelCard Card { get; } = new("BinaryClassification", ["ham", "spam"], "keyword stand-in", "float32", InputKind.Texts);

    public List<int> BatchSizes { get; } = [];

    /// <summary>Set when the predictor is inside a call of <see cref="Predict"/>.</summary>
    public ManualResetEventSlim Entered { get; } = new();

    public void Hold() => _open.Reset();

    public void Release() => _open.Set();

    public IReadOnlyList<JsonObject> Predict(IReadOnlyList<PredictInput> inputs)
    {
        Entered.Set();
        if (!_open.Wait(TimeSpan.FromSeconds(30))) throw new TimeoutException("The test never released the predictor.");
        lock (BatchSizes) BatchSizes.Add(inputs.Count);
        return inputs.Select(i => PredictionJson.Classification(Card.Labels, i.Text.Contains("offer") ? [0.1f, 0.9f] : [0.8f, 0.2f])).ToList();
    }

    public void Dispose() { }
}
