namespace MLNetTuning.Training;

/// <summary>The error for a model used after its native weights were freed.</summary>
internal static class DisposedModel
{
    // A disposed TorchSharp module silently drops its parameters from state_dict, so without this check a save would write
    // an empty checkpoint. The usual cause is ML.NET's PredictionEngine, which by default disposes the model it was made from.
    public static ObjectDisposedException Error(string transformer) => new(transformer,
        $"This {transformer} was disposed, so its weights are freed. A PredictionEngine disposes the model it was created from when the engine is disposed: " +
        "create engines with ml.Model.CreatePredictionEngine<TIn, TOut>(model, new PredictionEngineOptions { OwnsTransformer = false }) to keep using the model.");
}
