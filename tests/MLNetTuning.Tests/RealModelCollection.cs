namespace MLNetTuning.Tests;

/// <summary>
/// Tests that load the real MiniLM (90 MB of weights, an ONNX Runtime session, a training run of a few GB) run one at a time,
/// beside the tiny-model tests but never beside each other, so the suite's peak memory stays that of one real model.
/// </summary>
[CollectionDefinition(Name)]
public sealed class RealModelCollection
{
    public const string Name = "Real MiniLM model";
}
