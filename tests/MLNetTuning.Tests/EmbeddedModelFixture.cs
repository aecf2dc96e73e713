using MLNetTuning.Native;
using MLNetTuning.Pretrained;

namespace MLNetTuning.Tests;

/// <summary>
/// One load per embedded model, shared by <see cref="ModelResolverTests"/> and disposed when its tests end (it was static,
/// which kept 180 MB of weights alive for the whole test run).
/// </summary>
public sealed class EmbeddedModelFixture : IDisposable
{
    internal Lazy<PretrainedBert> MiniLm { get; } = new(() => { TorchNativeLoader.EnsureLoaded(); return ModelResolver.Load("all-MiniLM-L6-v2"); });
    internal Lazy<PretrainedBert> ArcticXs { get; } = new(() => { TorchNativeLoader.EnsureLoaded(); return ModelResolver.Load("snowflake-arctic-embed-xs"); });

    public void Dispose()
    {
        if (MiniLm.IsValueCreated) MiniLm.Value.Dispose();
        if (ArcticXs.IsValueCreated) ArcticXs.Value.Dispose();
    }
}
