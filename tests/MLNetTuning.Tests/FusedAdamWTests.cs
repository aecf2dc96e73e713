using MLNetTuning.Native;
using MLNetTuning.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

[Collection(TorchRandomCollection.Name)]
public sealed class FusedAdamWTests
{
    public FusedAdamWTests() => TorchNativeLoader.EnsureLoaded();

    private sealed class TwoLayers : nn.Module
    {
        // 1,000 + 37 odd-sized elements, so the vectorised loop and its scalar tail both run.
        public readonly TorchSharp.Modules.Linear dense = nn.Linear(40, 25);
        public readonly TorchSharp.Modules.LayerNorm LayerNorm = nn.LayerNorm(37);

        public TwoLayers() : base("TwoLayers") => RegisterComponents();
    }

    [Fact]
    public void MatchesTorchSharpsAdamWOverStepsWithDecayGroupsAndAChangingRate()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(9);
        using var fusedModel = new TwoLayers();
        using var torchModel = new TwoLayers();
        torchModel.load_state_dict(fusedModel.state_dict());
        var options = new BertFineTuneOptions { LearningRate = 1e-2f, WeightDecay = 0.1f, AdamBeta1 = 0.8f, AdamBeta2 = 0.95f, AdamEpsilon = 1e-6f };
        using var fused = FusedAdamW.Create(fusedModel, FineTuneSession.Arguments(options));
        Assert.IsType<FusedAdamW>(fused);
        var named = torchModel.named_parameters().ToList();
        using var reference = optim.AdamW([
            new TorchSharp.Modules.AdamW.ParamGroup(named.Where(p => !p.name.EndsWith("bias") && !p.name.Contains("LayerNorm")).Select(p => p.parameter), new TorchSharp.Modules.AdamW.Options { weight_decay = 0.1 }),
            new TorchSharp.Modules.AdamW.ParamGroup(named.Where(p => p.name.EndsWith("bias") || p.name.Contains("LayerNorm")).Select(p => p.parameter), new TorchSharp.Modules.AdamW.Options { weight_decay = 0 }),
        ], 1e-2, 0.8, 0.95, 1e-6);

        for (int step = 0; step < 5; step++)
        {
            double rate = 1e-2 * (1 - step / 5.0);
            fused.LearningRate = rate;
            foreach (var group in reference.ParamGroups) group.LearningRate = rate;
            var x = randn(8, 40);
            var y = randn(8, 37);
            Loss(fusedModel, x, y).backward();
            Loss(torchModel, x, y).backward();
            fused.Step();
            reference.step();
            fused.ZeroGrad();
            reference.zero_grad();
        }
        var expected = torchModel.state_dict();
        foreach (var (name, value) in fusedModel.state_dict())
            Assert.True(value.allclose(expected[name], rtol: 1e-5, atol: 1e-6), $"{name} differs from TorchSharp's AdamW");
        Assert.All(fusedModel.parameters(), p => Assert.Null(p.grad));

        static Tensor Loss(TwoLayers model, Tensor x, Tensor y) =>
            (model.dense.forward(x).sum(1, keepdim: true) * model.LayerNorm.forward(y)).pow(2).mean();
    }
}
