using Onnx;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

/// <summary>
/// One import and one parsed graph per real model, shared by <see cref="OnnxImportTests"/> and released when its tests end.
/// </summary>
/// <remarks>
/// They were static: two state dicts (180 MB native) and two parsed graphs (180 MB managed) then stayed alive for the whole
/// test run, beside every later test's own models.
/// </remarks>
public sealed class OnnxImportFixture : IDisposable
{
    public Lazy<(Dictionary<string, Tensor> StateDict, TimeSpan Elapsed)> MiniLmImport { get; } = new(() => OnnxImportTests.Import(OnnxImportTests.MiniLm));
    public Lazy<(Dictionary<string, Tensor> StateDict, TimeSpan Elapsed)> ArcticImport { get; } = new(() => OnnxImportTests.Import(OnnxImportTests.ArcticXs));
    public Lazy<GraphProto> MiniLmGraph { get; } = new(() => OnnxImportTests.ReadGraph(OnnxImportTests.MiniLm));
    public Lazy<GraphProto> ArcticGraph { get; } = new(() => OnnxImportTests.ReadGraph(OnnxImportTests.ArcticXs));

    public void Dispose()
    {
        foreach (var import in new[] { MiniLmImport, ArcticImport })
            if (import.IsValueCreated)
                foreach (var tensor in import.Value.StateDict.Values) tensor.Dispose();
    }
}
