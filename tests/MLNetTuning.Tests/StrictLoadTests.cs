using MLNetTuning.Checkpoints;
using MLNetTuning.Native;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

public sealed class StrictLoadTests
{
    public StrictLoadTests() => TorchNativeLoader.EnsureLoaded();

    /// <summary>Keys first.weight [4, 3], first.bias [4], second.weight [2, 4], second.bias [2].</summary>
    private static Sequential TwoLayers() => nn.Sequential(("first", nn.Linear(3, 4)), ("second", nn.Linear(4, 2)));

    /// <summary>A checkpoint for <see cref="TwoLayers"/> whose values differ from any initialisation: i/100 + offset.</summary>
    private static Dictionary<string, Tensor> Checkpoint(float offset = 10f) => new()
    {
        ["first.weight"] = Values([4, 3], offset),
        ["first.bias"] = Values([4], offset),
        ["second.weight"] = Values([2, 4], offset),
        ["second.bias"] = Values([2], offset),
    };

    private static Tensor Values(long[] shape, float offset) =>
        arange(shape.Aggregate(1L, (a, b) => a * b), dtype: ScalarType.Float32).div(100).add(offset).reshape(shape);

    [Fact]
    public void Mismatch_ListsMissingUnexpectedAndShapes_InOneException_AndChangesNothing()
    {
        using var module = TwoLayers();
        var before = Snapshot(module);
        var checkpoint = Checkpoint();
        checkpoint.Remove("second.bias");
        checkpoint["first.weight"] = Values([5, 3], 0);
        checkpoint["pooler.extra"] = Values([1], 0);

        var e = Assert.Throws<InvalidDataException>(() => StrictLoad.LoadInto(module, checkpoint, "/models/broken"));

        Assert.Contains("'/models/broken'", e.Message);
        Assert.Contains("missing keys (1): second.bias", e.Message);
        Assert.Contains("unexpected keys (1): pooler.extra", e.Message);
        Assert.Contains("first.weight: checkpoint [5, 3] vs model [4, 3]", e.Message);
        // The valid keys must not have been copied either: a failed load leaves the module as it was.
        AssertUnchanged(before, module);
    }

    [Fact]
    public void MapKey_RenamesAndDrops()
    {
        using var module = TwoLayers();
        var checkpoint = Checkpoint().ToDictionary(kv => "model." + kv.Key, kv => kv.Value);
        checkpoint["optimizer.step"] = tensor(7L);

        StrictLoad.LoadInto(module, checkpoint, "renamed",
            mapKey: key => key.StartsWith("optimizer.", StringComparison.Ordinal) ? null : key["model.".Length..]);

        var state = module.state_dict();
        foreach (var (key, value) in checkpoint.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal)))
            Assert.True(SafeTensorsTests.SameValues(value, state[key["model.".Length..]]), key);
    }

    [Fact]
    public void MapKey_ToAnUnknownName_ReportsTheCheckpointKey()
    {
        using var module = TwoLayers();
        var checkpoint = Checkpoint();
        checkpoint["legacy.gamma"] = Values([1], 0);

        var e = Assert.Throws<InvalidDataException>(() => StrictLoad.LoadInto(module, checkpoint, "src", mapKey: key => key.Replace("legacy.", "renamed.")));

        // The user must be able to find the key in their file, so the original name is reported.
        Assert.Contains("unexpected keys (1): legacy.gamma", e.Message);
    }

    [Fact]
    public void TwoCheckpointKeys_MappedToOneModelKey_AreRefused()
    {
        using var module = TwoLayers();
        var checkpoint = Checkpoint();
        checkpoint["bert.first.bias"] = Values([4], 99);

        var e = Assert.Throws<InvalidDataException>(() => StrictLoad.LoadInto(module, checkpoint, "src",
            mapKey: key => key.StartsWith("bert.", StringComparison.Ordinal) ? key["bert.".Length..] : key));

        Assert.Contains("first.bias", e.Message);
        Assert.Contains("bert.first.bias", e.Message);
    }

    [Fact]
    public void MayBeMissing_LetsAPartStayAsItWas()
    {
        using var module = TwoLayers();
        var before = Snapshot(module);
        var checkpoint = Checkpoint();
        checkpoint.Remove("second.weight");
        checkpoint.Remove("second.bias");

        StrictLoad.LoadInto(module, checkpoint, "src", mayBeMissing: key => key.StartsWith("second.", StringComparison.Ordinal));

        var state = module.state_dict();
        Assert.True(SafeTensorsTests.SameValues(state["first.weight"], checkpoint["first.weight"]));
        Assert.True(SafeTensorsTests.SameValues(state["second.weight"], before["second.weight"]));
        Assert.True(SafeTensorsTests.SameValues(state["second.bias"], before["second.bias"]));
    }

    [Fact]
    public void MayBeMissing_DoesNotExcuseOtherKeys()
    {
        using var module = TwoLayers();
        var checkpoint = Checkpoint();
        checkpoint.Remove("first.bias");

        var e = Assert.Throws<InvalidDataException>(() => StrictLoad.LoadInto(module, checkpoint, "src", mayBeMissing: key => key.StartsWith("second.", StringComparison.Ordinal)));

        Assert.Contains("missing keys (1): first.bias", e.Message);
    }

    [Fact]
    public void Success_CopiesValues_IntoTheSameParameterObjects()
    {
        using var module = TwoLayers();
        var parameters = module.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var handles = parameters.ToDictionary(p => p.Key, p => p.Value.Handle);
        var checkpoint = Checkpoint();

        StrictLoad.LoadInto(module, checkpoint, "src");

        foreach (var (name, parameter) in module.named_parameters())
        {
            Assert.Same(parameters[name], parameter);
            Assert.Equal(handles[name], parameter.Handle);
            Assert.True(parameter.requires_grad, $"{name} must stay trainable");
            Assert.True(SafeTensorsTests.SameValues(parameter, checkpoint[name]), $"{name} was not copied");
        }
        // The module computes with the loaded values.
        using var input = ones(1, 3);
        using var output = module.call(input);
        using var hidden = input.matmul(checkpoint["first.weight"].t()).add(checkpoint["first.bias"]);
        using var expected = hidden.matmul(checkpoint["second.weight"].t()).add(checkpoint["second.bias"]);
        Assert.True(output.allclose(expected, rtol: 1e-6, atol: 1e-6));
        // A copy, not an alias: changing the checkpoint afterwards leaves the module alone.
        checkpoint["first.bias"].add_(1);
        Assert.False(SafeTensorsTests.SameValues(parameters["first.bias"], checkpoint["first.bias"]));
    }

    private static Dictionary<string, Tensor> Snapshot(nn.Module module) =>
        module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

    private static void AssertUnchanged(Dictionary<string, Tensor> before, nn.Module module)
    {
        foreach (var (key, value) in module.state_dict()) Assert.True(SafeTensorsTests.SameValues(value, before[key]), $"{key} changed");
    }
}
