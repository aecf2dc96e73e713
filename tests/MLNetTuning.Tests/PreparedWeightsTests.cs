using System.Runtime.InteropServices;
using MLNetTuning.Models;
using MLNetTuning.Native;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetTuning.Tests;

/// <summary>
/// Scoring on weights prepared for oneDNN (<see cref="PreparedWeights"/>, <see cref="EncoderModel.ScoringOnly"/>) must give
/// what the ordinary kernels give, for every row count (oneDNN lays a weight out differently for different row counts),
/// every fused activation, both precisions and every family, and must stay out of training.
/// </summary>
[Collection(TorchRandomCollection.Name)]
public sealed class PreparedWeightsTests
{
    public PreparedWeightsTests() => TorchNativeLoader.EnsureLoaded();

    [Fact]
    public void TheOneDnnOperatorsLoadOnThisMachine()
    {
        // CI runs on x64 Linux with the TorchSharp release the library pins: the speed-up must not switch itself off there.
        Assert.Equal(Architecture.X64, RuntimeInformation.ProcessArchitecture);
        Assert.True(OneDnnOps.Available, "libtorch's oneDNN operators did not load from the TorchScript archive");
    }

    [Theory]
    [InlineData("0", Architecture.X64, true, "0.107.0.0", false)]
    [InlineData(null, Architecture.X64, true, "0.107.0.0", true)]
    [InlineData("1", Architecture.X64, true, "0.107.0.0", true)]
    [InlineData(null, Architecture.Arm64, true, "0.107.0.0", false)]
    [InlineData(null, Architecture.X64, false, "0.107.0.0", false)]
    [InlineData(null, Architecture.X64, true, "0.108.0.0", false)]
    [InlineData(null, Architecture.X64, true, null, false)]
    public void TheOperatorsAreLoadedOnlyWhereTheyAreKnownToExist(string? switchValue, Architecture architecture, bool linuxOrWindows, string? version, bool expected) =>
        Assert.Equal(expected, OneDnnOps.Allowed(switchValue, architecture, linuxOrWindows, version is null ? null : Version.Parse(version)));

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void EveryRowCountAndActivationMatchesTheOrdinaryKernel(ScalarType type)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(11);
        using var layer = nn.Linear(96, 160);
        using var prepared = new PreparedWeights();
        var prepareMode = new LinearKernelMode(type == ScalarType.Float32 ? null : type, prepared);
        var ordinaryMode = prepareMode with { Prepared = null };
        using var noGrad = no_grad();
        // Row counts that oneDNN lays MiniLM's weights out differently for (bench/README.md), revisited out of order, so
        // that the resident layout changes back and forth.
        foreach (long rows in new long[] { 1, 7, 16, 37, 64, 100, 128, 200, 2048, 64, 7, 128 })
        foreach (string? activation in new[] { null, "gelu", "gelu_new", "relu" })
        {
            var input = randn(rows, 96);
            var fast = LinearKernel.Apply(layer, input, prepareMode, activation).to_type(ScalarType.Float32);
            var ordinary = LinearKernel.Apply(layer, input, ordinaryMode, activation).to_type(ScalarType.Float32);
            Assert.Equal(ordinary.shape, fast.shape);
            // bfloat16 keeps 8 bits of mantissa; the prepared path also rounds the bias to bfloat16.
            double tolerance = type == ScalarType.Float32 ? 1e-5 : 0.06;
            double difference = (fast - ordinary).abs().max().item<float>();
            Assert.True(difference <= tolerance * Math.Max(1, ordinary.abs().max().item<float>()),
                $"{type}, {rows} rows, activation {activation ?? "none"}: differs by {difference}");
        }
        Assert.True(prepared.PreparedProducts > 0, "no product ran on prepared weights");
    }

    [Fact]
    public void TheResidentCopyIsTheLayoutAskedForMostAndOthersRunTheOrdinaryKernel()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(16);
        // MiniLM's intermediate layer: oneDNN lays its weight out differently for some of these row counts.
        using var layer = nn.Linear(384, 1536);
        var layouts = new long[] { 1, 7, 16, 37, 64, 100, 128, 200 }.GroupBy(rows => OneDnnOps.LayoutKey(OneDnnOps.Pack(layer.weight!.detach(), rows))).ToList();
        Assert.True(layouts.Count >= 2, "oneDNN used one layout for every row count on this CPU, so the policy cannot be observed");
        long common = layouts[0].First(), rare = layouts[1].First();
        using var prepared = new PreparedWeights();
        var mode = new LinearKernelMode(null, prepared);
        using var noGrad = no_grad();
        long Run(long rows)
        {
            long before = prepared.PreparedProducts;
            var input = randn(rows, 384);
            var output = LinearKernel.Apply(layer, input, mode, "gelu");
            Assert.True(output.allclose(F.gelu(F.linear(input, layer.weight!, layer.bias)), rtol: 1e-4, atol: 1e-5), $"{rows} rows");
            return prepared.PreparedProducts - before;
        }
        for (int i = 0; i < 3; i++) Assert.Equal(1, Run(common));
        string resident = prepared.ResidentLayout(layer)!;
        // A new row count is packed to learn its layout, and that copy serves the call that asked.
        Assert.Equal(1, Run(rare));
        Assert.Equal(resident, prepared.ResidentLayout(layer));
        // Asked for less often than the resident layout: the ordinary kernel, and the resident copy stays.
        Assert.Equal(0, Run(rare));
        Assert.Equal(0, Run(rare));
        Assert.Equal(1, Run(common));
        Assert.Equal(resident, prepared.ResidentLayout(layer));
        // Once the other layout is asked for more often than the resident one, it takes the resident place.
        Assert.Equal(0, Run(rare));   // 4 against 4
        Assert.Equal(1, Run(rare));   // 5 against 4: repacked for it
        Assert.NotEqual(resident, prepared.ResidentLayout(layer));
        Assert.Equal(1, Run(rare));
        Assert.Equal(0, Run(common));
    }

    [Fact]
    public void ABatchOfSequencesKeepsItsShape()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(12);
        using var layer = nn.Linear(32, 48);
        using var prepared = new PreparedWeights();
        using var noGrad = no_grad();
        var input = randn(3, 5, 32);
        var fast = LinearKernel.Apply(layer, input, new LinearKernelMode(null, prepared), "gelu");
        Assert.Equal([3, 5, 48], fast.shape);
        Assert.True(fast.allclose(F.gelu(F.linear(input, layer.weight!, layer.bias)), rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void WithAutogradOnOrWithoutABiasTheOrdinaryKernelRuns()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(13);
        using var prepared = new PreparedWeights();
        var mode = new LinearKernelMode(null, prepared);
        using var layer = nn.Linear(16, 8);
        var input = randn(4, 16);
        // Autograd on: the prepared copy would give no gradient to the weights.
        var trained = LinearKernel.Apply(layer, input, mode);
        Assert.True(trained.requires_grad);
        trained.sum().backward();
        Assert.NotNull(layer.weight!.grad);
        Assert.Equal(0, prepared.PreparedProducts);
        using var noBias = nn.Linear(16, 8, hasBias: false);
        using (no_grad())
        {
            var output = LinearKernel.Apply(noBias, input, mode);
            Assert.True(output.allclose(F.linear(input, noBias.weight!), rtol: 1e-5, atol: 1e-6));
        }
        Assert.Equal(0, prepared.PreparedProducts);
    }

    public static TheoryData<string, string, string> Families => new()
    {
        { "bert", "gelu", "fp32" },
        { "bert", "gelu", "bf16" },
        { "bert", "gelu_new", "fp32" },
        { "bert", "relu", "fp32" },
        { "roberta", "gelu", "fp32" },
        { "distilbert", "gelu", "fp32" },
        { "distilbert", "gelu", "bf16" },
    };

    [Theory]
    [MemberData(nameof(Families))]
    public void AModelThatIsOnlyScoredGivesTheSameLogits(string family, string activation, string precision)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(14);
        var config = Config(family, activation);
        using var model = ModelFamilies.Of(config).CreateSequenceClassifier(config, null);
        model.Bert.InitializeWeights();
        model.Precision = precision == "bf16" ? NumericPrecision.Bf16 : NumericPrecision.Fp32;
        model.eval();
        var ids = randint(4, config.VocabSize, [3, 9], ScalarType.Int64);
        var mask = ones(3, 9, ScalarType.Int64);
        mask[2, TensorIndex.Slice(5)].fill_(0);   // padding in one row
        using var noGrad = no_grad();
        var ordinary = model.Forward(ids, mask);
        model.Bert.ScoringOnly = true;
        var prepared = model.Bert.Prepared!;
        var fast = model.Forward(ids, mask);
        // Every linear layer of the encoder ran prepared: query/key/value, attention output, intermediate, output.
        Assert.Equal(config.NumHiddenLayers * 4, prepared.PreparedProducts);
        double tolerance = precision == "bf16" ? 0.05 : 1e-5;
        Assert.True(fast.allclose(ordinary, rtol: tolerance, atol: tolerance), $"logits differ by {(fast - ordinary).abs().max().item<float>()}");
        // A second pass reuses the copies and still agrees.
        Assert.True(model.Forward(ids, mask).allclose(fast, rtol: 1e-6, atol: 1e-6));
        Assert.Equal(config.NumHiddenLayers * 8, prepared.PreparedProducts);
    }

    [Fact]
    public void ChangingPrecisionOrLeavingScoringDropsThePreparedCopies()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(15);
        var config = TinyBert.Config();
        using var model = new BertForSequenceClassification(config);
        model.Bert.InitializeWeights();
        model.eval();
        var ids = randint(4, config.VocabSize, [2, 6], ScalarType.Int64);
        var mask = ones(2, 6, ScalarType.Int64);
        using var noGrad = no_grad();
        model.Bert.ScoringOnly = true;
        var fp32 = model.Bert.Prepared!;
        var fp32Logits = model.Forward(ids, mask);
        model.Precision = NumericPrecision.Bf16;
        Assert.NotSame(fp32, model.Bert.Prepared);
        Assert.Throws<ObjectDisposedException>(() => LinearKernel.Apply(model.Classifier, randn(1, config.HiddenSize), new LinearKernelMode(null, fp32)));
        var bf16Logits = model.Forward(ids, mask);
        Assert.True(model.Bert.Prepared!.PreparedProducts > 0, "the bf16 pass did not use prepared weights");
        Assert.False(bf16Logits.allclose(fp32Logits, rtol: 0, atol: 0), "bf16 gave float32's logits exactly: the float32 copies were reused");
        model.Bert.ScoringOnly = false;
        Assert.Null(model.Bert.Prepared);
        // Training again: the weights change and every pass must see them.
        foreach (var parameter in model.Bert.Layers[0].parameters()) parameter.add_(randn_like(parameter));
        model.Precision = NumericPrecision.Fp32;
        var changed = model.Forward(ids, mask);
        Assert.False(changed.allclose(fp32Logits, rtol: 1e-3, atol: 1e-3), "the changed weights were not used");
    }

    private static BertConfig Config(string family, string activation)
    {
        var config = family switch
        {
            "distilbert" => new DistilBertConfig(),
            "roberta" => (BertConfig)ModelFamilies.Get("roberta", "test").NewConfig(),
            _ => new BertConfig(),
        };
        var tiny = TinyBert.Config();
        config.VocabSize = tiny.VocabSize;
        config.HiddenSize = tiny.HiddenSize;
        config.NumHiddenLayers = tiny.NumHiddenLayers;
        config.NumAttentionHeads = tiny.NumAttentionHeads;
        config.IntermediateSize = tiny.IntermediateSize;
        config.MaxPositionEmbeddings = tiny.MaxPositionEmbeddings;
        config.Labels = tiny.Labels;
        config.HiddenAct = activation;
        if (family == "roberta") config.PadTokenId = 1;
        return config;
    }
}
