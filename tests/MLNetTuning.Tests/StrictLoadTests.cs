using MLNetTuning.Checkpoints;
using MLNetTuning.Native;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

public sealed class StrictLoadTests
{
    private static bool SameValues(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    public StrictLoadTests() => TorchNativeLoader.EnsureLoaded();

    /// <summary>A linear layer, a layer norm and a buffer: parameters and buffers both take part.</summary>
    private sealed class Tiny : nn.Module<Tensor, Tensor>
    {
        private readonly Linear dense;
        private readonly LayerNorm norm;

        public Tiny(int inputs = 4) : base(nameof(Tiny))
        {
            dense = nn.Linear(inputs, 3);
            norm = nn.LayerNorm(3);
            register_buffer("position_ids", arange(5L));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => norm.forward(dense.forward(x));
    }

    private static Dictionary<string, Tensor> CheckpointOf(Tiny source) =>
        source.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());

    [Fact]
    public void ASuccessfulLoadCopiesValuesAndKeepsTheParameterObjects()
    {
        manual_seed(1);
        using var model = new Tiny();
        manual_seed(2);
        using var other = new Tiny();
        var checkpoint = CheckpointOf(other);
        checkpoint["norm.weight"] = rand(3) + 1;   // LayerNorm starts at ones: make it differ too
        checkpoint["position_ids"] = arange(5L) * 2;
        var parametersBefore = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.False(SameValues(parametersBefore["dense.weight"], checkpoint["dense.weight"]));

        StrictLoad.LoadInto(model, checkpoint, "other.safetensors");

        var state = model.state_dict();
        foreach (var (key, value) in checkpoint) Assert.True(SameValues(state[key], value), key);
        foreach (var (name, parameter) in model.named_parameters())
        {
            Assert.Same(parametersBefore[name], parameter);
            Assert.True(parameter.requires_grad, name);
        }
        using var y = model.forward(ones(2, 4));   // still a working module
        Assert.Equal([2L, 3L], y.shape);
    }

    [Fact]
    public void AllProblemsAreListedInOneErrorAndNothingIsCopied()
    {
        manual_seed(3);
        using var model = new Tiny();
        var before = model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());
        using var wide = new Tiny(inputs: 8);
        var checkpoint = CheckpointOf(wide);
        checkpoint.Remove("norm.bias");
        checkpoint.Remove("position_ids");
        checkpoint["pooler.dense.weight"] = zeros(3, 3);

        var error = Assert.Throws<InvalidDataException>(() => StrictLoad.LoadInto(model, checkpoint, "/models/wide"));

        Assert.StartsWith("/models/wide:", error.Message);
        Assert.Contains("2 missing; 1 unexpected; 1 shape mismatches", error.Message);
        Assert.Contains("  norm.bias", error.Message);
        Assert.Contains("  position_ids", error.Message);
        Assert.Contains("  pooler.dense.weight", error.Message);
        Assert.Contains("dense.weight: [3, 4] vs [3, 8]", error.Message);
        foreach (var (key, value) in model.state_dict()) Assert.True(SameValues(value, before[key]), key);
    }

    [Fact]
    public void MapKeyRenamesAndDropsCheckpointKeys()
    {
        manual_seed(4);
        using var model = new Tiny();
        using var source = new Tiny();
        var checkpoint = CheckpointOf(source).ToDictionary(p => "bert." + p.Key, p => p.Value);
        checkpoint["cls.predictions.bias"] = zeros(7);

        StrictLoad.LoadInto(model, checkpoint, "renamed",
            mapKey: key => key.StartsWith("cls.", StringComparison.Ordinal) ? null : key["bert.".Length..]);

        Assert.True(SameValues(model.state_dict()["dense.weight"], checkpoint["bert.dense.weight"]));

        // Without the renaming every key is both missing and unexpected, and unexpected ones name their origin.
        var error = Assert.Throws<InvalidDataException>(() => StrictLoad.LoadInto(model, checkpoint, "renamed",
            mapKey: key => key == "bert.dense.bias" ? "dense.weight" : key));
        Assert.Contains("dense.weight (checkpoint key 'bert.dense.bias'): [3, 4] vs [3]", error.Message);
        Assert.Contains("  bert.norm.weight", error.Message);
    }

    [Fact]
    public void IgnorableKeysAreSkippedAndDTypesAreConverted()
    {
        manual_seed(5);
        using var model = new Tiny();
        using var source = new Tiny();
        var checkpoint = CheckpointOf(source).ToDictionary(p => p.Key, p => p.Value.is_floating_point() ? p.Value.to_type(ScalarType.BFloat16) : p.Value);
        checkpoint.Remove("position_ids");
        checkpoint["extra_counter"] = ones(1);
        var positionIds = model.state_dict()["position_ids"].clone();

        StrictLoad.LoadInto(model, checkpoint, "bf16", isIgnorableMissing: k => k == "position_ids", isIgnorableUnexpected: k => k == "extra_counter");

        var weight = model.state_dict()["dense.weight"];
        Assert.Equal(ScalarType.Float32, weight.dtype);
        Assert.True(SameValues(weight, checkpoint["dense.weight"].to_type(ScalarType.Float32)));
        Assert.True(SameValues(model.state_dict()["position_ids"], positionIds));
    }

    [Fact]
    public void TwoCheckpointKeysForOneModuleKeyAreAnError()
    {
        using var model = new Tiny();
        var checkpoint = CheckpointOf(model);
        checkpoint["old.dense.weight"] = zeros(3, 4);
        var error = Assert.Throws<InvalidDataException>(() =>
            StrictLoad.LoadInto(model, checkpoint, "dup", mapKey: k => k.StartsWith("old.", StringComparison.Ordinal) ? k[4..] : k));
        Assert.Contains("dense.weight <- dense.weight, old.dense.weight", error.Message);
    }

    [Fact]
    public void LoadsWhatSafeTensorsSaved()
    {
        manual_seed(6);
        using var source = new Tiny();
        using var model = new Tiny();
        string folder = Path.Combine(Path.GetTempPath(), "strict-" + Guid.NewGuid().ToString("N"));
        try
        {
            SafeTensors.SaveFolderWeights(folder, source.state_dict(), floatDType: null, maxShardBytes: 40);
            StrictLoad.LoadInto(model, SafeTensors.LoadFolderWeights(folder, ScalarType.Float32), folder);
            using var x = randn(2, 4);
            Assert.True(SameValues(source.forward(x), model.forward(x)));
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
