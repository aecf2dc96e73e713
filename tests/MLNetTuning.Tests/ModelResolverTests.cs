using MLNetTuning.Models;
using MLNetTuning.Native;
using MLNetTuning.Pretrained;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

/// <summary>
/// Tests that set process-wide environment variables. xunit runs a collection with parallelisation disabled on its
/// own, after the parallel ones, so no other test reads a variable while one of these has changed it.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironmentCollection
{
    public const string Name = "Process environment";

    /// <summary>Sets <paramref name="name"/> for the duration of <paramref name="action"/>, then restores it.</summary>
    internal static void With(string name, string? value, Action action)
    {
        string? saved = Environment.GetEnvironmentVariable(name);
        Environment.SetEnvironmentVariable(name, value);
        try { action(); }
        finally { Environment.SetEnvironmentVariable(name, saved); }
    }
}

public sealed class ModelResolverTests : IDisposable, IClassFixture<EmbeddedModelFixture>
{
    // Importing an embedded model parses its 90 MB ONNX export: the tests share one import per model (disposed when the class ends).
    private readonly Lazy<PretrainedBert> MiniLm, ArcticXs;

    private readonly string _root = Directory.CreateTempSubdirectory("mlnt-hub").FullName;

    public ModelResolverTests(EmbeddedModelFixture models)
    {
        TorchNativeLoader.EnsureLoaded();
        (MiniLm, ArcticXs) = (models.MiniLm, models.ArcticXs);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void EmbeddedMiniLm_ResolvesWithItsConfigAndTokenizer()
    {
        var model = MiniLm.Value;

        Assert.Equal(30522, model.Config.VocabSize);
        Assert.Equal(384, model.Config.HiddenSize);
        Assert.Equal(6, model.Config.NumHiddenLayers);
        Assert.Equal(12, model.Config.NumAttentionHeads);
        Assert.Equal(1536, model.Config.IntermediateSize);
        Assert.Equal(512, model.Config.MaxPositionEmbeddings);
        Assert.Equal(30522, model.Tokenizer.VocabSize);
        Assert.Contains("all-MiniLM-L6-v2", model.Source);
        // An uncased vocabulary: upper case is lowered before lookup, so both spellings give the same ids.
        Assert.Equal(model.Tokenizer.Encode("hello world").Ids, model.Tokenizer.Encode("Hello WORLD").Ids);
        Assert.Equal("[CLS]", model.Tokenizer.TokenOf(model.Tokenizer.Encode("hello").Ids[0]));

        using var encoder = new BertModel(model.Config);
        model.LoadEncoderInto(encoder);
        Assert.True(TensorAsserts.SameValues(encoder.Pooler!.state_dict()["dense.weight"], model.Weights["pooler.dense.weight"]));
    }

    [Fact]
    public void EmbeddedNames_AcceptTheHubIdAndAnyCase()
    {
        Assert.True(EmbeddedModels.TryGet("sentence-transformers/all-MiniLM-L6-v2", out var byId));
        Assert.True(EmbeddedModels.TryGet("ALL-minilm-l6-v2", out var byCase));
        Assert.Same(byId, byCase);
        Assert.True(EmbeddedModels.TryGet("Snowflake/snowflake-arctic-embed-xs", out var arctic));
        Assert.Equal("snowflake-arctic-embed-xs", arctic.Name);
    }

    [Fact]
    public void EmbeddedMiniLm_IntoAnEncoderWithoutPooler_NeedsIgnorePooler()
    {
        var model = MiniLm.Value;
        using var encoder = new BertModel(model.Config, addPoolingLayer: false);

        var e = Assert.Throws<InvalidDataException>(() => model.LoadEncoderInto(encoder));
        Assert.Contains("Unexpected in the checkpoint, not in the model (2):", e.Message);
        Assert.Contains("pooler.dense.weight", e.Message);
        Assert.Contains("pooler.dense.bias", e.Message);

        model.LoadEncoderInto(encoder, ignorePooler: true);
        Assert.True(TensorAsserts.SameValues(encoder.Embeddings.WordEmbeddings.weight!, model.Weights["embeddings.word_embeddings.weight"]));
    }

    [Fact]
    public void ArcticXs_WithoutAPooler_LoadsIntoABertModel_WithAFreshPooler()
    {
        var model = ArcticXs.Value;
        Assert.DoesNotContain(model.Weights.Keys, k => k.StartsWith("pooler.", StringComparison.Ordinal));
        using var encoder = new BertModel(model.Config);
        using (no_grad())
        {
            // Values no initialisation would give, so the test sees that the pooler was initialised again.
            encoder.Pooler!.state_dict()["dense.weight"].fill_(5f);
            encoder.Pooler!.state_dict()["dense.bias"].fill_(5f);
        }

        model.LoadEncoderInto(encoder);

        var state = encoder.state_dict();
        foreach (var (key, value) in model.Weights) Assert.True(TensorAsserts.SameValues(value, state[key]), $"{key} was not loaded");
        Assert.Equal(0f, state["pooler.dense.bias"].abs().max().item<float>());
        // Hugging Face initialises a new Linear with N(0, initializer_range = 0.02).
        Assert.InRange(state["pooler.dense.weight"].std().item<float>(), 0.019f, 0.021f);
        Assert.InRange(state["pooler.dense.weight"].mean().item<float>(), -0.001f, 0.001f);
    }

    [Fact]
    public void PlainFolderPath_Resolves()
    {
        string folder = TinyCheckpoint.Create(seed: 8);
        try
        {
            using var model = ModelResolver.Load(folder);
            Assert.Equal(folder, model.Source);
            Assert.Equal(32, model.Config.HiddenSize);
            Assert.Equal(TinyCheckpoint.Vocab.Length, model.Tokenizer.VocabSize);
        }
        finally { Directory.Delete(Path.GetDirectoryName(folder)!, recursive: true); }
    }

    [Fact]
    public void EmptyName_IsACallerMistake_ListingTheEmbeddedNames()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelResolver.Load(" "));
        Assert.Contains("all-MiniLM-L6-v2", e.Message);
        Assert.Contains("snowflake-arctic-embed-xs", e.Message);
    }

    [Fact]
    public void HubCache_FindsTheSnapshotThatRefsMainNames()
    {
        string repo = Path.Combine(_root, "models--org--name");
        string named = MakeSnapshot(repo, "abc123", DateTime.UtcNow.AddDays(-2));
        MakeSnapshot(repo, "newer456", DateTime.UtcNow);
        WriteRef(repo, "abc123\n");

        Assert.True(HubCache.TryFind("org/name", out string snapshot, out string looked, _root));

        Assert.Equal(named, snapshot);
        Assert.Equal(repo, looked);
    }

    [Fact]
    public void HubCache_WithoutAUsableRef_TakesTheNewestSnapshot()
    {
        string repo = Path.Combine(_root, "models--org--name");
        MakeSnapshot(repo, "older", DateTime.UtcNow.AddDays(-2));
        string newest = MakeSnapshot(repo, "newest", DateTime.UtcNow.AddDays(-1));

        Assert.True(HubCache.TryFind("org/name", out string noRef, out _, _root));
        Assert.Equal(newest, noRef);

        WriteRef(repo, "deleted789");
        Assert.True(HubCache.TryFind("org/name", out string danglingRef, out _, _root));
        Assert.Equal(newest, danglingRef);
    }

    [Fact]
    public void HubCache_RefLeadingOutOfTheSnapshots_IsNotFollowed()
    {
        string repo = Path.Combine(_root, "models--org--name");
        string only = MakeSnapshot(repo, "real", DateTime.UtcNow);
        Directory.CreateDirectory(Path.Combine(_root, "elsewhere"));
        WriteRef(repo, "../../elsewhere");

        Assert.True(HubCache.TryFind("org/name", out string snapshot, out _, _root));

        Assert.Equal(only, snapshot);
    }

    [Theory]
    [InlineData("nobody/nothing")]
    [InlineData("../models--org--name")]
    public void HubCache_UnknownOrEscapingIds_AreNotFound(string id)
    {
        MakeSnapshot(Path.Combine(_root, "models--org--name"), "abc", DateTime.UtcNow);

        Assert.False(HubCache.TryFind(id, out string snapshot, out string looked, _root));

        Assert.Equal("", snapshot);
        Assert.StartsWith(_root, looked);
    }

    [Fact]
    public void HubCache_Root_FollowsHuggingFacesVariables_InOrder()
    {
        var env = new Dictionary<string, string?> { ["HF_HUB_CACHE"] = "/hub", ["HF_HOME"] = "/home-hf", ["XDG_CACHE_HOME"] = "/xdg" };
        string? Read(string name) => env.GetValueOrDefault(name);

        Assert.Equal("/hub", HubCache.CacheRoot(Read));
        env["HF_HUB_CACHE"] = "";
        Assert.Equal(Path.Combine("/home-hf", "hub"), HubCache.CacheRoot(Read));
        env.Remove("HF_HOME");
        Assert.Equal(Path.Combine("/xdg", "huggingface", "hub"), HubCache.CacheRoot(Read));
        env.Clear();
        Assert.Equal(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "huggingface", "hub"), HubCache.CacheRoot(Read));
    }

    /// <summary>A snapshot folder holding a tiny checkpoint, as huggingface_hub lays one out.</summary>
    internal static string MakeSnapshot(string repo, string hash, DateTime writtenUtc)
    {
        string snapshot = Path.Combine(repo, "snapshots", hash);
        Directory.CreateDirectory(Path.GetDirectoryName(snapshot)!);
        string tiny = TinyCheckpoint.Create(seed: 9);
        Directory.Move(tiny, snapshot);
        Directory.Delete(Path.GetDirectoryName(tiny)!);
        Directory.SetLastWriteTimeUtc(snapshot, writtenUtc);
        return snapshot;
    }

    internal static void WriteRef(string repo, string hash)
    {
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), hash);
    }
}

/// <summary>Model resolution through the process's HF_HUB_CACHE variable, as an application meets it.</summary>
[Collection(ProcessEnvironmentCollection.Name)]
public sealed class ModelResolverEnvironmentTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("mlnt-hub-env").FullName;

    public ModelResolverEnvironmentTests() => TorchNativeLoader.EnsureLoaded();

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void ModelId_ResolvesThroughHfHubCache()
    {
        string repo = Path.Combine(_root, "models--org--name");
        string snapshot = ModelResolverTests.MakeSnapshot(repo, "abc123", DateTime.UtcNow);
        ModelResolverTests.WriteRef(repo, "abc123");

        ProcessEnvironmentCollection.With("HF_HUB_CACHE", _root, () =>
        {
            using var model = ModelResolver.Load("org/name");
            Assert.Equal(snapshot, model.Source);
            Assert.Equal(32, model.Config.HiddenSize);
        });
    }

    [Fact]
    public void UnknownName_ListsTheEmbeddedNames_AndTheCachePathLookedAt()
    {
        ProcessEnvironmentCollection.With("HF_HUB_CACHE", _root, () =>
        {
            var e = Assert.Throws<ArgumentException>(() => ModelResolver.Load("nobody/nothing"));
            Assert.Contains("all-MiniLM-L6-v2", e.Message);
            Assert.Contains("snowflake-arctic-embed-xs", e.Message);
            Assert.Contains(Path.Combine(_root, "models--nobody--nothing"), e.Message);
            Assert.Equal("model", e.ParamName);
        });
    }
}
